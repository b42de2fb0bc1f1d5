// Issuing, presenting and verifying credentials (JWT VC / VP and SD-JWT VC), status lists, and the typed errors
// of careless calls (the README's "Issuing, presenting, verifying" and "Status lists" samples).
// Run: node packages/identity/examples/credentials.ts
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { TrustRegistryClient, TrustRole, startLocalDeployment } from "@hygeia/chain";
import {
  Bitstring,
  IdentityAgent,
  ethrNetworkFromDeployment,
  issueStatusListCredential,
  type StatusPurpose,
} from "@hygeia/identity";

// Setup: a local chain with Hygeia deployed (account #0 is governance), one agent holding the issuers' and
// the patient's DIDs (for brevity), the issuers accredited on the TrustRegistry, and a small HTTP server that
// serves status list credentials (the gateway will), with an empty revocation and suspension list published.
const { rpcUrl, deployment, account, stop } = await startLocalDeployment();
const governance = account(0);
const agent = await IdentityAgent.create({ network: ethrNetworkFromDeployment(deployment, rpcUrl) });
const idIssuer = await agent.createDid({ alias: "identity-issuer" });
const insurer = await agent.createDid({ alias: "insurer" });
const patient = await agent.createDid({ alias: "patient" });
const trustRegistry = new TrustRegistryClient(deployment.contracts.TrustRegistry, governance);
const now = Math.floor(Date.now() / 1000);
for (const [issuer, role] of [
  [idIssuer, TrustRole.IdentityIssuer],
  [insurer, TrustRole.Insurer],
] as const) {
  await trustRegistry.accredit({ issuer: issuer.ownerAddress!, role, validFrom: now - 60, validUntil: now + 86_400 });
}
const served = new Map<string, string>();
const server = createServer((req, res) => {
  const body = served.get(`${base}${req.url}`);
  res.writeHead(body ? 200 : 404).end(body);
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const listUrl = `${base}/status/revocation/1`;
const suspUrl = `${base}/status/suspension/1`;
const revocations = new Bitstring();
const publish = async (url: string, purpose: StatusPurpose, list: Bitstring) =>
  served.set(url, await issueStatusListCredential(agent, { issuer: insurer.did, url, purpose, list }));
await publish(listUrl, "revocation", revocations);
await publish(suspUrl, "suspension", new Bitstring());
const subject = { id: patient.did, givenName: "Ada", familyName: "Lovelace", birthDate: "1985-12-10" };

// #region verifier
import { MemoryChallengeStore, createAgentVerifier } from "@hygeia/identity";

// Verifier (a clinic desk, the gateway, a wallet): DIDs through the agent, trust from the TrustRegistry
const challenges = new MemoryChallengeStore(); // or new SqliteChallengeStore(path), shared by processes
const verifier = createAgentVerifier(agent, {
  trustRegistry: deployment.contracts.TrustRegistry,
  statusListFetcher: (url) => fetch(url, { redirect: "error" }).then((r) => r.text()), // status list (JWT)
  statusListOrigins: [base], // the only origin status lists are fetched from (default: any https origin)
  statusListHttpHosts: ["127.0.0.1"], // this local server over plain http (default: https to public addresses)
  challenges,
});
// or new CredentialVerifier({ resolver, trust: new IssuerTrust({ registry, didPrefix }), … }) to wire it yourself
// #endregion verifier

// #region issue-present-verify
import { CredentialType, createPresentation, issueCredential, statusEntry } from "@hygeia/identity";

// JWT VC — any type (issuance fails with SchemaViolationError on a bad subject)
const vc = await issueCredential(agent, {
  issuer: insurer.did, // a DID this agent holds (KeyNotFoundError, field "issuer", otherwise)
  type: CredentialType.HealthInsurance,
  subject: { id: patient.did, insurerName: "Acme", memberId: "M-1", planName: "Gold" },
  validFrom: new Date(), // a Date or an ISO 8601 string; default now
  validUntil: "2030-12-31T23:59:59Z", // same forms, after validFrom; default no expiry
  status: [statusEntry(listUrl, "revocation", 41), statusEntry(suspUrl, "suspension", 41)],
});
const request = {
  challenge: await challenges.issue("clinic.example"), // 32 random characters (at least 16 are required)
  domain: "clinic.example",
  credentials: [{ type: CredentialType.HealthInsurance, claims: ["memberId"] }],
};
const vp = await createPresentation(agent, {
  holder: patient.did,
  credentials: [vc],
  challenge: request.challenge,
  domain: request.domain,
});
const result = await verifier.verifyPresentation(vp, request);
// { ok: true, holder: patient.did, disclosed: { HealthInsuranceCredential: { memberId: "M-1" } },
//   checks: [{ name: "format", pass: true, reason: "JWT VP" }, { name: "signature", … }, …] }
// #endregion issue-present-verify

assert.equal(result.ok, true, JSON.stringify(result.checks));
assert.equal(result.holder, patient.did);
assert.deepEqual(result.disclosed, { HealthInsuranceCredential: { memberId: "M-1" } });
assert.equal(request.challenge.length, 32);

// #region sd-jwt
import { disclosableClaims, issueSdJwtCredential, presentSdJwtCredential } from "@hygeia/identity";

// SD-JWT VC — PatientIdentity and HealthInsurance; the holder discloses only what is asked
const sdjwt = await issueSdJwtCredential(agent, {
  issuer: idIssuer.did,
  type: CredentialType.PatientIdentity,
  subject, // { id: patient.did, givenName: "Ada", familyName: "Lovelace", birthDate: "1985-12-10" }
  holderPublicJwk: await agent.signingPublicJwk(patient.did), // cnf: only this key can present it
});
const claims = await disclosableClaims(sdjwt); // a Promise (it decodes the SD-JWT): await it
// claims = ["givenName", "familyName", "birthDate"]: what `disclose` may name
const identityRequest = {
  challenge: await challenges.issue("clinic.example"),
  domain: "clinic.example",
  credentials: [{ type: CredentialType.PatientIdentity, claims: ["givenName", "birthDate"] }],
};
const shown = await presentSdJwtCredential(agent, {
  holder: patient.did,
  credential: sdjwt,
  disclose: ["givenName", "birthDate"], // a claim the credential lacks throws UnknownClaimError
  challenge: identityRequest.challenge,
  domain: identityRequest.domain,
}); // KB-JWT: nonce = challenge, aud = domain
const identity = await verifier.verifyPresentation(shown, identityRequest); // or an array of SD-JWTs
// identity.disclosed = { PatientIdentityCredential: { givenName: "Ada", birthDate: "1985-12-10" } }

const single = await verifier.verifyCredential(vc); // one JWT VC, same checks minus presentation binding
// #endregion sd-jwt

assert.deepEqual(claims, ["givenName", "familyName", "birthDate"]);
assert.equal(identity.ok, true, JSON.stringify(identity.checks));
assert.deepEqual(identity.disclosed, { PatientIdentityCredential: { givenName: "Ada", birthDate: "1985-12-10" } });
assert.equal(single.ok, true, JSON.stringify(single.checks));

// #region mistakes
import { InvalidIdentityInputError, KeyNotFoundError, UnknownClaimError } from "@hygeia/identity";

const caught = (promise: Promise<unknown>) => promise.catch((error: unknown) => error);
const unknownClaim = await caught(
  presentSdJwtCredential(agent, {
    holder: patient.did,
    credential: sdjwt,
    disclose: ["ssn"],
    challenge: identityRequest.challenge,
    domain: identityRequest.domain,
  }),
); // UnknownClaimError: unknownClaims ["ssn"], disclosable ["givenName", "familyName", "birthDate"]
const shortChallenge = await caught(
  createPresentation(agent, { holder: patient.did, credentials: [vc], challenge: "1234", domain: "clinic.example" }),
); // InvalidIdentityInputError, field "challenge": "too short: 4 characters, at least 16 (use ChallengeStore.issue)"
const badDate = await caught(
  issueCredential(agent, {
    issuer: insurer.did,
    type: CredentialType.PatientIdentity,
    subject,
    validUntil: "31/12/2030",
  }),
); // InvalidIdentityInputError, field "validUntil"
const notHeld = await caught(
  issueCredential(agent, {
    issuer: "did:ethr:0x7a69:0x000000000000000000000000000000000000dEaD",
    type: CredentialType.PatientIdentity,
    subject,
  }),
); // KeyNotFoundError, field "issuer"
const shortRequest = await verifier.verifyPresentation(vp, { ...request, challenge: "1234" });
// shortRequest.checks[0] = { name: "format", pass: false,
//   reason: "invalid presentation request: challenge: too short: 4 characters, at least 16 (use ChallengeStore.issue)" }
// #endregion mistakes

assert.ok(unknownClaim instanceof UnknownClaimError);
assert.deepEqual(unknownClaim.unknownClaims, ["ssn"]);
assert.deepEqual([...unknownClaim.disclosable].sort(), ["birthDate", "familyName", "givenName"]);
assert.ok(shortChallenge instanceof InvalidIdentityInputError);
assert.equal(shortChallenge.field, "challenge");
assert.match(shortChallenge.message, /too short: 4 characters, at least 16 \(use ChallengeStore.issue\)/);
assert.ok(badDate instanceof InvalidIdentityInputError);
assert.equal(badDate.field, "validUntil");
assert.ok(notHeld instanceof KeyNotFoundError);
assert.equal(notHeld.field, "issuer");
assert.deepEqual(shortRequest.checks[0], {
  name: "format",
  pass: false,
  reason: "invalid presentation request: challenge: too short: 4 characters, at least 16 (use ChallengeStore.issue)",
});

// #region status-lists
revocations.set(41, true); // 131,072 entries (16 KB) minimum, index 0 = left-most bit
const listJwt = await issueStatusListCredential(agent, {
  issuer: insurer.did, // the credential's issuer signs its lists
  url: listUrl,
  purpose: "revocation",
  list: revocations,
  validForSeconds: 86400,
});
served.set(listUrl, listJwt); // serve listJwt at listUrl (the gateway will); verifiers cache it for 60 s
verifier.invalidateStatusLists(listUrl); // after publishing, for verifiers in the same process
const revoked = await verifier.verifyCredential(vc);
// revoked.ok === false; the "status" check fails: { name: "status", pass: false, reason: "revoked", code: "REVOKED" }
// #endregion status-lists

assert.equal(revoked.ok, false);
assert.deepEqual(
  revoked.checks.filter((c) => !c.pass),
  [{ name: "status", pass: false, reason: "revoked", code: "REVOKED" }],
);

await agent.close();
server.close();
await stop();
console.log("credentials: ok");
