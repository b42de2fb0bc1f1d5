// The bad-input matrix of issue 4: every case yields ok = false with the failing check named, never a throw.
import { expect } from "chai";
import { createHmac } from "node:crypto";
import { TrustRegistryClient, TrustRole } from "@hygeia/chain";
import { JsonRpcProvider } from "ethers";
import type { MemoryChallengeStore } from "../src/index.ts";
import {
  Bitstring,
  CredentialType,
  CredentialVerifier,
  IdentityAgent,
  IssuerTrust,
  createPresentation,
  ethrDidPrefix,
  issueCredential,
  issueSdJwtCredential,
  issueStatusListCredential,
  presentSdJwtCredential,
  statusEntry,
  type CheckName,
  type ManagedDid,
  type PresentationRequest,
  type PresentationVerification,
} from "../src/index.ts";
import type { TestChain } from "./helpers/chain.ts";
import { presentSdJwtSignedBy } from "./helpers/forge.ts";
import { accredit, createVerifier, startIssuerWorld, subjects, type Issuers } from "./helpers/fixtures.ts";

const DOMAIN = "clinic.example";

function failed(result: PresentationVerification, name: CheckName): string | undefined {
  expect(result.ok, JSON.stringify(result.checks)).to.equal(false);
  const check = result.checks.find((c) => c.name === name && !c.pass);
  expect(check, `expected a failed ${name} check in ${JSON.stringify(result.checks)}`).to.not.equal(undefined);
  expect(result.disclosed).to.deep.equal({});
  return check?.reason;
}

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString("base64url");
}

describe("identity: bad input", function () {
  let testChain: TestChain;
  let agent: IdentityAgent;
  let issuers: Issuers;
  let patient: ManagedDid;
  let verifier: CredentialVerifier;
  let challenges: MemoryChallengeStore;
  const lists = new Map<string, string>();
  const revocations = new Bitstring();
  const suspensions = new Bitstring();

  before(async function () {
    ({ testChain, agent, issuers, patient } = await startIssuerWorld());
    revocations.set(1, true);
    suspensions.set(2, true);
    for (const [url, purpose, list] of [
      ["https://gw.example/r", "revocation", revocations],
      ["https://gw.example/s", "suspension", suspensions],
    ] as const) {
      lists.set(url, await issueStatusListCredential(agent, { issuer: issuers.identity.did, url, purpose, list }));
    }
    ({ verifier, challenges } = createVerifier(testChain, agent, {
      statusListFetcher: async (url) => lists.get(url)!,
    }));
  });
  after(async function () {
    await agent?.close();
    await testChain?.stop();
  });

  const identitySubject = () => subjects(patient.did, patient.did, patient.did).PatientIdentityCredential;
  const issueIdentity = (overrides: Partial<Parameters<typeof issueCredential>[1]> = {}) =>
    issueCredential(agent, {
      issuer: issuers.identity.did,
      type: CredentialType.PatientIdentity,
      subject: identitySubject(),
      ...overrides,
    });

  async function request(): Promise<PresentationRequest> {
    return {
      challenge: await challenges.issue(DOMAIN),
      domain: DOMAIN,
      credentials: [{ type: CredentialType.PatientIdentity, claims: ["givenName"] }],
    };
  }

  async function presentJwt(
    credential: string,
    req: PresentationRequest,
    overrides: { challenge?: string; domain?: string } = {},
  ) {
    return createPresentation(agent, {
      holder: patient.did,
      credentials: [credential],
      challenge: overrides.challenge ?? req.challenge,
      domain: overrides.domain ?? req.domain,
    });
  }

  /** A VP signed by the patient around credentials Veramo would refuse to wrap. */
  function rawPresentation(credential: string, req: PresentationRequest) {
    const now = Math.floor(Date.now() / 1000);
    return agent.signJwt(patient.did, {
      iss: patient.did,
      nonce: req.challenge,
      aud: req.domain,
      nbf: now,
      vp: { type: ["VerifiablePresentation"], verifiableCredential: [credential] },
    });
  }

  async function sdJwtPresentation(req: PresentationRequest) {
    const credential = await issueSdJwtCredential(agent, {
      issuer: issuers.identity.did,
      type: CredentialType.PatientIdentity,
      subject: identitySubject(),
      holderPublicJwk: await agent.signingPublicJwk(patient.did),
    });
    const presented = await presentSdJwtCredential(agent, {
      holder: patient.did,
      credential,
      disclose: ["givenName"],
      challenge: req.challenge,
      domain: req.domain,
    });
    return { credential, presented };
  }

  it("control: a well-formed presentation passes", async function () {
    const req = await request();
    const result = await verifier.verifyPresentation(await presentJwt(await issueIdentity(), req), req);
    expect(result.checks.filter((c) => !c.pass)).to.deep.equal([]);
  });

  it("malformed JWT", async function () {
    const req = await request();
    for (const bad of ["", "a.b", "a.b.c.d", "!!!.???.***", `${b64("x")}.${b64({})}.`, undefined, null, 42, {}, [1]]) {
      failed(await verifier.verifyPresentation(bad, req), "format");
    }
    const vp = await agent.signJwt(patient.did, {
      iss: patient.did,
      nonce: req.challenge,
      aud: DOMAIN,
      vp: { verifiableCredential: ["not-a-jwt"] },
    });
    failed(await verifier.verifyPresentation(vp, req), "format");
  });

  it("malformed SD-JWT", async function () {
    const req = await request();
    for (const bad of ["~", "~~~", "abc~def~", `${b64({ alg: "ES256K" })}.${b64({})}.sig~!!~`, ["x~"]]) {
      failed(await verifier.verifyPresentation(bad, req), "format");
    }
  });

  it("alg: none", async function () {
    const req = await request();
    const [, payload] = (await issueIdentity()).split(".");
    const unsigned = `${b64({ alg: "none", typ: "JWT" })}.${payload}.`;
    const reason = failed(await verifier.verifyPresentation(await rawPresentation(unsigned, req), req), "signature");
    expect(reason).to.contain("not allowed");
  });

  it("algorithm confusion (HS256 keyed with the issuer's public key)", async function () {
    const req = await request();
    const [, payload] = (await issueIdentity()).split(".");
    const header = b64({ alg: "HS256", typ: "JWT" });
    const mac = createHmac("sha256", await agent.signingPublicKeyHex(issuers.identity.did))
      .update(`${header}.${payload}`)
      .digest("base64url");
    const reason = failed(
      await verifier.verifyPresentation(await rawPresentation(`${header}.${payload}.${mac}`, req), req),
      "signature",
    );
    expect(reason).to.contain("not allowed");
  });

  it("tampered payload", async function () {
    const req = await request();
    const [h, p, s] = (await issueIdentity()).split(".") as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, "base64url").toString());
    payload.vc.credentialSubject.givenName = "Mallory";
    failed(await verifier.verifyPresentation(await presentJwt(`${h}.${b64(payload)}.${s}`, req), req), "signature");
  });

  it("tampered disclosure", async function () {
    const req = await request();
    const { presented } = await sdJwtPresentation(req);
    const parts = presented.split("~");
    const disclosure = JSON.parse(Buffer.from(parts[1]!, "base64url").toString());
    disclosure[2] = "Mallory";
    parts[1] = b64(disclosure);
    const result = await verifier.verifyPresentation(parts.join("~"), req);
    failed(result, "disclosures");
    failed(result, "holder-binding"); // the KB-JWT's sd_hash no longer matches either
  });

  it("forged disclosure (holder adds a claim and signs a fresh key binding over it)", async function () {
    const req = await request();
    const { presented } = await sdJwtPresentation(req);
    const withoutKb = presented.split("~").slice(0, -1).join("~");
    const forged = `${withoutKb}~${b64(["c2FsdHNhbHRzYWx0", "familyName", "Mallory"])}~`;
    const { sdHash } = await import("../src/index.ts");
    const kb = await agent.signJwt(
      patient.did,
      { iat: Math.floor(Date.now() / 1000), aud: DOMAIN, nonce: req.challenge, sd_hash: sdHash(forged) },
      { typ: "kb+jwt" },
    );
    const result = await verifier.verifyPresentation(`${forged}${kb}`, req);
    expect(failed(result, "disclosures")).to.contain("not referenced");
  });

  it("missing key binding", async function () {
    const req = await request();
    const { presented } = await sdJwtPresentation(req);
    const withoutKb = `${presented.split("~").slice(0, -1).join("~")}~`;
    expect(failed(await verifier.verifyPresentation(withoutKb, req), "holder-binding")).to.contain(
      "missing key binding",
    );
  });

  it("key binding by another key than cnf", async function () {
    const req = await request();
    const credential = await issueSdJwtCredential(agent, {
      issuer: issuers.identity.did,
      type: CredentialType.PatientIdentity,
      subject: identitySubject(),
      holderPublicJwk: await agent.signingPublicJwk(patient.did),
    });
    const thief = await agent.createDid();
    // presentSdJwtCredential refuses this up front (HolderMismatchError); a thief builds it by hand.
    const stolen = await presentSdJwtSignedBy(agent, thief.did, {
      credential,
      disclose: ["givenName"],
      challenge: req.challenge,
      domain: DOMAIN,
    });
    failed(await verifier.verifyPresentation(stolen, req), "holder-binding");
  });

  it("wrong nonce (JWT VP and SD-JWT)", async function () {
    const req = await request();
    const other = await challenges.issue(DOMAIN);
    failed(
      await verifier.verifyPresentation(await presentJwt(await issueIdentity(), req, { challenge: other }), req),
      "challenge",
    );
    const { presented } = await sdJwtPresentation({ ...req, challenge: other });
    failed(await verifier.verifyPresentation(presented, req), "challenge");
  });

  it("a challenge the verifier never issued", async function () {
    const req = { ...(await request()), challenge: "never-issued-challenge-0123456789" };
    const reason = failed(
      await verifier.verifyPresentation(await presentJwt(await issueIdentity(), req), req),
      "challenge",
    );
    expect(reason).to.contain("unknown");
  });

  it("wrong domain (JWT VP and SD-JWT)", async function () {
    const req = await request();
    failed(
      await verifier.verifyPresentation(await presentJwt(await issueIdentity(), req, { domain: "evil.example" }), req),
      "domain",
    );
    const { presented } = await sdJwtPresentation({ ...req, domain: "evil.example" });
    failed(await verifier.verifyPresentation(presented, req), "domain");
  });

  it("expired", async function () {
    const req = await request();
    const credential = await issueIdentity({
      validFrom: new Date(Date.now() - 7200_000),
      validUntil: new Date(Date.now() - 3600_000),
    });
    failed(await verifier.verifyPresentation(await presentJwt(credential, req), req), "expiry");
  });

  it("not yet valid", async function () {
    const req = await request();
    const credential = await issueIdentity({ validFrom: new Date(Date.now() + 3600_000) });
    failed(await verifier.verifyPresentation(await presentJwt(credential, req), req), "not-before");
  });

  it("revoked", async function () {
    const req = await request();
    const credential = await issueIdentity({ status: [statusEntry("https://gw.example/r", "revocation", 1)] });
    expect(failed(await verifier.verifyPresentation(await presentJwt(credential, req), req), "status")).to.equal(
      "revoked",
    );
  });

  it("suspended", async function () {
    const req = await request();
    const credential = await issueIdentity({ status: [statusEntry("https://gw.example/s", "suspension", 2)] });
    expect(failed(await verifier.verifyPresentation(await presentJwt(credential, req), req), "status")).to.equal(
      "suspended",
    );
  });

  it("untrusted issuer (not accredited, or accredited for another role)", async function () {
    const req = await request();
    const rogue = await issueIdentity({ issuer: issuers.rogue.did });
    failed(await verifier.verifyPresentation(await presentJwt(rogue, req), req), "issuer-trust");
    const wrongRole = await issueIdentity({ issuer: issuers.insurer.did });
    failed(await verifier.verifyPresentation(await presentJwt(wrongRole, req), req), "issuer-trust");
  });

  it("issuer accreditation expired (trusted at issuance, not now)", async function () {
    const req = await request();
    const lapsed = await agent.createDid();
    const now = Math.floor(Date.now() / 1000);
    await accredit(testChain, lapsed, TrustRole.IdentityIssuer, now - 7200, now + 30);
    const credential = await issueIdentity({ issuer: lapsed.did, validFrom: new Date((now - 5400) * 1000) });
    // Let the accreditation run out on-chain (the chain's clock, not the wall clock, decides isTrusted).
    await testChain.provider.send("evm_increaseTime", [120]);
    await testChain.provider.send("evm_mine", []);
    expect(
      failed(await verifier.verifyPresentation(await presentJwt(credential, req), req), "issuer-trust"),
    ).to.contain("now");
  });

  it("issuer accreditation revoked by governance", async function () {
    const req = await request();
    const revoked = await agent.createDid();
    await accredit(testChain, revoked, TrustRole.IdentityIssuer);
    const credential = await issueIdentity({ issuer: revoked.did });
    await testChain.trust.revokeAccreditation(revoked.ownerAddress!, TrustRole.IdentityIssuer);
    failed(await verifier.verifyPresentation(await presentJwt(credential, req), req), "issuer-trust");
  });

  it("subject that violates the type's schema (signed by a trusted issuer all the same)", async function () {
    const req = await request();
    const now = Math.floor(Date.now() / 1000);
    const credential = await agent.signJwt(issuers.identity.did, {
      iss: issuers.identity.did,
      sub: patient.did,
      nbf: now,
      vc: {
        "@context": ["https://www.w3.org/2018/credentials/v1"],
        type: ["VerifiableCredential", CredentialType.PatientIdentity],
        credentialSubject: { givenName: "Ada", birthDate: "yesterday", favouriteColour: "blue" },
      },
    });
    const reason = failed(await verifier.verifyPresentation(await rawPresentation(credential, req), req), "schema");
    expect(reason).to.contain("birthDate");
  });

  it("unknown DID (holder or issuer)", async function () {
    const req = await request();
    const [h, p, s] = (await issueIdentity()).split(".") as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, "base64url").toString());
    payload.iss = "did:web:issuer.example";
    failed(await verifier.verifyPresentation(await presentJwt(`${h}.${b64(payload)}.${s}`, req), req), "signature");
    const vp = await presentJwt(await issueIdentity(), req);
    const [vh, vpPayload, vs] = vp.split(".") as [string, string, string];
    const body = JSON.parse(Buffer.from(vpPayload, "base64url").toString());
    body.iss = "did:ethr:0x1:0x0000000000000000000000000000000000000001";
    failed(await verifier.verifyPresentation(`${vh}.${b64(body)}.${vs}`, req), "signature");
  });

  it("unreachable chain: resolution and trust fail closed with reasons", async function () {
    const req = await request();
    const vp = await presentJwt(await issueIdentity(), req);
    const offlineAgent = await IdentityAgent.create({
      network: { ...testChain.network, rpcUrl: "http://127.0.0.1:9" },
      watchRegistry: false,
    });
    const offlineProvider = new JsonRpcProvider("http://127.0.0.1:9", testChain.network.chainId, {
      staticNetwork: true,
      cacheTimeout: -1,
    });
    try {
      const offlineTrust = new IssuerTrust({
        registry: new TrustRegistryClient(testChain.deployment.contracts.TrustRegistry, offlineProvider),
        didPrefix: ethrDidPrefix(testChain.network),
      });
      // DIDs resolvable, trust registry unreachable.
      const noTrust = new CredentialVerifier({ resolver: agent.resolver, trust: offlineTrust, challenges });
      expect(failed(await noTrust.verifyPresentation(vp, req), "issuer-trust")).to.contain("unavailable");
      // Nothing reachable.
      const nothing = new CredentialVerifier({ resolver: offlineAgent.resolver, trust: offlineTrust, challenges });
      expect(failed(await nothing.verifyPresentation(vp, req), "signature")).to.contain("unresolvable");
    } finally {
      offlineProvider.destroy();
      await offlineAgent.close();
    }
  });

  it("oversized input is refused before parsing", async function () {
    const req = await request();
    const huge = "a".repeat(300 * 1024);
    failed(await verifier.verifyPresentation(`${huge}.${huge}.${huge}`, req), "format");
    failed(await verifier.verifyPresentation(`${huge}~${huge}~`, req), "format");
    failed(
      await verifier.verifyPresentation(
        Array.from({ length: 100 }, () => "x~y~"),
        req,
      ),
      "format",
    );
    const bigSubject = { ...identitySubject(), givenName: "A".repeat(70 * 1024) };
    const [h, , s] = (await issueIdentity()).split(".");
    const oversizedVc = `${h}.${b64({ iss: issuers.identity.did, vc: { type: ["VerifiableCredential"], credentialSubject: bigSubject } })}.${s}`;
    failed(await verifier.verifyPresentation(await rawPresentation(oversizedVc, req), req), "format");
    const result = await verifier.verifyCredential("x".repeat(10 * 1024 * 1024));
    expect(result.ok).to.equal(false);
  });
});
