// Virtual-clinic check-in with mutual verification: the patient's wallet verifies the clinic's accreditation and
// its standing before disclosing anything, then answers only that clinic, sealed to the clinic's key (the README's
// "Virtual-clinic check-in" sample).
// Run: node packages/identity/examples/check-in.ts
import assert from "node:assert/strict";
import { TrustRegistryClient, TrustRole, startLocalDeployment } from "@hygeia/chain";
import { generateX25519KeyPair } from "@hygeia/crypto";
import {
  Bitstring,
  ClinicNotTrustedError,
  IdentityAgent,
  ethrNetworkFromDeployment,
  issueCredential,
  issueSdJwtCredential,
  issueStatusListCredential,
  statusEntry,
} from "@hygeia/identity";

// Setup: a local chain with Hygeia deployed (account #0 is governance); three agents: the issuers' (a medical
// board and an identity issuer), the clinic's and the patient's wallet. Governance accredits the board as
// medical-board, the identity issuer as identity-issuer and the clinic itself as clinic. The clinic publishes its
// X25519 key on its DID. The board has issued the clinic a revocable, expiring accreditation and serves its
// revocation list; the identity issuer has issued the patient an SD-JWT identity.
const { rpcUrl, deployment, account, stop } = await startLocalDeployment();
const governance = account(0);
const network = ethrNetworkFromDeployment(deployment, rpcUrl);
const issuerAgent = await IdentityAgent.create({ network });
const clinicAgent = await IdentityAgent.create({ network });
const patientAgent = await IdentityAgent.create({ network });
const board = await issuerAgent.createDid({ alias: "medical-board" });
const idIssuer = await issuerAgent.createDid({ alias: "identity-issuer" });
const clinic = await clinicAgent.importEthrDid(account(5).privateKey, "virtual-clinic"); // a funded account
const patient = await patientAgent.createDid({ alias: "patient" });
const trustRegistry = new TrustRegistryClient(deployment.contracts.TrustRegistry, governance);
const now = Math.floor(Date.now() / 1000);
for (const [issuer, role] of [
  [board, TrustRole.MedicalBoard],
  [idIssuer, TrustRole.IdentityIssuer],
  [clinic, TrustRole.Clinic],
] as const) {
  await trustRegistry.accredit({ issuer: issuer.ownerAddress!, role, validFrom: now - 60, validUntil: now + 86_400 });
}
const clinicKeys = generateX25519KeyPair();
await clinicAgent.publishEncryptionKey(clinic.did, clinicKeys.publicKey);
const boardListUrl = "https://board.example/status/accreditations";
const served = new Map([
  // the board's revocation list, as its web server would serve it
  [
    boardListUrl,
    await issueStatusListCredential(issuerAgent, {
      issuer: board.did,
      url: boardListUrl,
      purpose: "revocation",
      list: new Bitstring(),
    }),
  ],
]);
const statusListFetcher = async (url: string) => served.get(url) ?? assert.fail(`404 ${url}`);
const accreditationVc = await issueCredential(issuerAgent, {
  issuer: board.did,
  type: "ClinicAccreditationCredential",
  subject: {
    id: clinic.did,
    clinicName: "Asclepius Virtual Clinic",
    accreditationNumber: "MB-2026-0042",
    specialties: ["cardiology"],
    virtual: true,
    jurisdiction: "EU",
  },
  validUntil: new Date((now + 365 * 86_400) * 1000), // an accreditation must expire…
  status: [statusEntry(boardListUrl, "revocation", 42)], // …and be revocable
});
const identity = await issueSdJwtCredential(issuerAgent, {
  issuer: idIssuer.did,
  type: "PatientIdentityCredential",
  subject: { id: patient.did, givenName: "Ada", familyName: "Lovelace", birthDate: "1985-12-10" },
  holderPublicJwk: await patientAgent.signingPublicJwk(patient.did),
});

// #region check-in
import {
  CredentialType,
  MemoryChallengeStore,
  answerVerifiedClinic,
  challengeClinic,
  createAgentVerifier,
  createPresentation,
  verifyCheckIn,
  verifyClinic,
} from "@hygeia/identity";

// Wallet: challenges the clinic before disclosing anything
const walletChallenges = new MemoryChallengeStore();
const walletVerifier = createAgentVerifier(patientAgent, {
  trustRegistry: deployment.contracts.TrustRegistry,
  challenges: walletChallenges,
  statusListFetcher, // the accreditation's revocation entry is checked against the board's list
});
const toClinic = await challengeClinic(walletChallenges, patient.did); // domain = the patient's DID
// Clinic: proves its accreditation (issued by a medical board) for that challenge
const clinicProof = await createPresentation(clinicAgent, {
  holder: clinic.did,
  credentials: [accreditationVc],
  challenge: toClinic.challenge,
  domain: toClinic.domain,
});
// Requires: the accreditation issued by a medical-board, not revoked, with an expiry; the clinic's own DID
// accredited as clinic on the TrustRegistry now
const verified = await verifyClinic(walletVerifier, clinicProof, toClinic);
// verified.clinic = { did: clinic.did, clinicName: "Asclepius Virtual Clinic", accreditationNumber: "MB-2026-0042",
//                     virtual: true } when verified.ok

// Clinic desk: asks for the patient's name and birth date, addressed from its own DID
const deskChallenges = new MemoryChallengeStore();
const desk = createAgentVerifier(clinicAgent, {
  trustRegistry: deployment.contracts.TrustRegistry,
  challenges: deskChallenges,
});
const request = {
  challenge: await deskChallenges.issue(clinic.did),
  domain: clinic.did,
  credentials: [{ type: CredentialType.PatientIdentity, claims: ["givenName", "birthDate"] }],
};
// Sealed to the clinic's current keyAgreement key from its DID document: whoever relays it reads nothing
const answer = await answerVerifiedClinic(patientAgent, {
  patient: patient.did,
  clinic: verified,
  request,
  credentials: [{ sdJwt: identity, disclose: ["givenName", "birthDate"] }], // UnknownClaimError for a claim it lacks
});
// throws ClinicNotTrustedError if the clinic failed or request.domain is not the verified clinic's DID,
// NoEncryptionKeyError if the clinic publishes no X25519 key
const checkIn = await verifyCheckIn(desk, answer, { request, keyPairs: clinicKeys }); // opens, then verifies
// checkIn.disclosed = { PatientIdentityCredential: { givenName: "Ada", birthDate: "1985-12-10" } }
// #endregion check-in

assert.equal(verified.ok, true, JSON.stringify(verified.checks));
assert.deepEqual(verified.clinic, {
  did: clinic.did,
  clinicName: "Asclepius Virtual Clinic",
  accreditationNumber: "MB-2026-0042",
  virtual: true,
});
assert.equal(checkIn.ok, true, JSON.stringify(checkIn.checks));
assert.deepEqual(checkIn.disclosed, { PatientIdentityCredential: { givenName: "Ada", birthDate: "1985-12-10" } });
// A request addressed from another DID than the verified clinic's is refused.
await assert.rejects(
  answerVerifiedClinic(patientAgent, {
    patient: patient.did,
    clinic: verified,
    request: { ...request, domain: "did:ethr:0x7a69:0x000000000000000000000000000000000000dEaD" },
    credentials: [{ sdJwt: identity, disclose: ["givenName"] }],
  }),
  ClinicNotTrustedError,
);
// The answer is ciphertext for anyone but the clinic.
assert.equal(JSON.stringify(answer).includes("1985-12-10"), false);
assert.equal((await verifyCheckIn(desk, answer, { request, keyPairs: generateX25519KeyPair() })).ok, false);
// The same check-in from a browser wallet, which has no IdentityAgent (its keys are the patient's wallet's).
const browserPatient = account(6); // a did:ethr is its address: nothing to publish first
const browserIdentity = await issueSdJwtCredential(issuerAgent, {
  issuer: idIssuer.did,
  type: "PatientIdentityCredential",
  subject: {
    id: `${ethrDidPrefix(network)}:${browserPatient.address}`,
    givenName: "Grace",
    familyName: "Hopper",
    birthDate: "1906-12-09",
  },
  holderPublicJwk: await privateKeyHolderKey(
    browserPatient.privateKey,
    `${ethrDidPrefix(network)}:${browserPatient.address}`,
  ).publicJwk(),
});

// #region check-in-browser
import { JsonRpcProvider } from "ethers";
import {
  CachedDidResolver,
  answerClinic,
  createChainVerifier,
  ethrDidPrefix,
  privateKeyHolderKey,
} from "@hygeia/identity/browser"; // no Node built-in on any path: bundles for browsers

// The patient presents with its own key (a HolderKey: the did:ethr of the key's address and an ES256K signer)
const holder = privateKeyHolderKey(browserPatient.privateKey, `${ethrDidPrefix(network)}:${browserPatient.address}`);
// DIDs resolved and issuer trust read on the chain, as the agent's verifier does
const provider = new JsonRpcProvider(rpcUrl, network.chainId, { staticNetwork: true });
const resolver = await CachedDidResolver.create({ network, provider }); // did:ethr only in browsers
const browserChallenges = new MemoryChallengeStore();
const browserWallet = createChainVerifier({
  trustRegistry: deployment.contracts.TrustRegistry,
  resolver,
  provider,
  network,
  challenges: browserChallenges,
  statusListFetcher,
});
const toClinicFromBrowser = await challengeClinic(browserChallenges, holder.did);
const browserVerified = await verifyClinic(
  browserWallet,
  await createPresentation(clinicAgent, { holder: clinic.did, credentials: [accreditationVc], ...toClinicFromBrowser }),
  toClinicFromBrowser,
);
const browserRequest = { ...request, challenge: await deskChallenges.issue(clinic.did) };
const browserAnswer = await answerClinic({
  holder,
  resolver, // the clinic's X25519 key comes from its DID document, as for the agent
  clinic: browserVerified,
  request: browserRequest,
  credentials: [{ sdJwt: browserIdentity, disclose: ["givenName", "birthDate"] }],
});
// #endregion check-in-browser

const browserCheckIn = await verifyCheckIn(desk, browserAnswer, { request: browserRequest, keyPairs: clinicKeys });
assert.equal(browserCheckIn.ok, true, JSON.stringify(browserCheckIn.checks));
assert.deepEqual(browserCheckIn.disclosed, {
  PatientIdentityCredential: { givenName: "Grace", birthDate: "1906-12-09" },
});
assert.equal(browserCheckIn.holder, holder.did);
await resolver.close();
provider.destroy();

// Governance revokes the clinic's own accreditation: the next check-in fails on its standing (once the wallet's
// cache of registry answers, 5 s by default, has expired; this wallet keeps none).
await trustRegistry.revokeAccreditation(clinic.ownerAddress!, TrustRole.Clinic);
const uncachedWallet = createAgentVerifier(patientAgent, {
  trustRegistry: deployment.contracts.TrustRegistry,
  challenges: walletChallenges,
  statusListFetcher,
  trustCacheTtlMs: 0,
});
const again = await challengeClinic(walletChallenges, patient.did);
const afterRevoke = await verifyClinic(
  uncachedWallet,
  await createPresentation(clinicAgent, { holder: clinic.did, credentials: [accreditationVc], ...again }),
  again,
);
assert.equal(afterRevoke.ok, false);
assert.deepEqual(
  afterRevoke.checks.filter((c) => !c.pass).map((c) => c.name),
  ["standing"],
);

await Promise.all([issuerAgent.close(), clinicAgent.close(), patientAgent.close()]);
await stop();
console.log("check-in: ok");
