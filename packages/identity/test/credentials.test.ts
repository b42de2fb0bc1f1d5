import { expect } from "chai";
import { verifyCredential as didJwtVcVerifyCredential } from "did-jwt-vc";
import {
  CREDENTIAL_TYPES,
  CredentialType,
  SchemaViolationError,
  createAgentVerifier,
  createPresentation,
  issueCredential,
  type CredentialTypeName,
  type IdentityAgent,
  type ManagedDid,
} from "../src/index.ts";
import { veramoOf } from "../src/did/internal.ts";
import type { TestChain } from "./helpers/chain.ts";
import { BOARD_LIST_URL, StatusHost } from "./helpers/check-in.ts";
import { createVerifier, startIssuerWorld, subjects, type Issuers } from "./helpers/fixtures.ts";

const ISSUER_OF: Record<CredentialTypeName, keyof Issuers> = {
  PatientIdentityCredential: "identity",
  HealthInsuranceCredential: "insurer",
  ClinicAccreditationCredential: "board",
  ResearcherCredential: "board",
  EthicsApprovalCredential: "irb",
  HealthRecordCredential: "clinic",
};

describe("identity: JWT credentials and presentations", function () {
  let testChain: TestChain;
  let agent: IdentityAgent;
  let issuers: Issuers;
  let patient: ManagedDid;
  let clinic: ManagedDid;
  let researcher: ManagedDid;
  const statusHost = new StatusHost();
  /** What an accreditation must carry (a revocation entry on the board's list, an expiry); nothing for other types. */
  const termsOf = (type: CredentialTypeName) =>
    type === CredentialType.ClinicAccreditation
      ? { status: [statusHost.entry(BOARD_LIST_URL)], validUntil: new Date(Date.now() + 86400_000) }
      : {};

  before(async function () {
    ({ testChain, agent, issuers, patient } = await startIssuerWorld());
    await statusHost.publish(agent, issuers.board.did, BOARD_LIST_URL);
    clinic = await agent.createDid({ alias: "clinic" });
    researcher = await agent.createDid({ method: "key", alias: "researcher" });
  });
  after(async function () {
    await agent?.close();
    await testChain?.stop();
  });

  for (const type of CREDENTIAL_TYPES) {
    it(`issues and verifies a ${type}`, async function () {
      const all = subjects(patient.did, clinic.did, researcher.did);
      const jwt = await issueCredential(agent, {
        issuer: issuers[ISSUER_OF[type]].did,
        type,
        subject: all[type],
        validUntil: new Date(Date.now() + 86400_000),
        ...termsOf(type),
      });
      const { verifier } = createVerifier(testChain, agent, { statusListFetcher: statusHost.fetcher });
      const result = await verifier.verifyCredential(jwt);
      expect(result.checks.filter((c) => !c.pass)).to.deep.equal([]);
      expect(result.ok).to.equal(true);
      expect(result.credential?.type).to.equal(type);
      expect(result.credential?.subject.id).to.equal(all[type].id);
    });
  }

  it("refuses to issue a credential whose subject violates the schema", async function () {
    let error: unknown;
    try {
      await issueCredential(agent, {
        issuer: issuers.identity.did,
        type: CredentialType.PatientIdentity,
        subject: { id: patient.did, givenName: "Ada", familyName: "Lovelace", birthDate: "10/12/1985" },
      });
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(SchemaViolationError);
    expect((error as SchemaViolationError).violations.join()).to.contain("birthDate");
  });

  it("verifies a challenge-bound presentation once, discloses only requested claims, and rejects the replay", async function () {
    const all = subjects(patient.did, clinic.did, researcher.did);
    const identity = await issueCredential(agent, {
      issuer: issuers.identity.did,
      type: CredentialType.PatientIdentity,
      subject: all.PatientIdentityCredential,
    });
    const insurance = await issueCredential(agent, {
      issuer: issuers.insurer.did,
      type: CredentialType.HealthInsurance,
      subject: all.HealthInsuranceCredential,
    });
    const { verifier, challenges } = createVerifier(testChain, agent);
    const domain = "clinic.example";
    const challenge = await challenges.issue(domain);
    const vp = await createPresentation(agent, {
      holder: patient.did,
      credentials: [identity, insurance],
      challenge,
      domain,
    });
    const request = {
      challenge,
      domain,
      credentials: [
        { type: CredentialType.PatientIdentity, claims: ["givenName", "birthDate"] },
        { type: CredentialType.HealthInsurance, claims: ["memberId"] },
      ],
    };
    const result = await verifier.verifyPresentation(vp, request);
    expect(result.checks.filter((c) => !c.pass)).to.deep.equal([]);
    expect(result.ok).to.equal(true);
    expect(result.holder).to.equal(patient.did);
    expect(result.disclosed).to.deep.equal({
      PatientIdentityCredential: { givenName: "Ada", birthDate: "1985-12-10" },
      HealthInsuranceCredential: { memberId: "M-123456" },
    });
    const replay = await verifier.verifyPresentation(vp, request);
    expect(replay.ok).to.equal(false);
    expect(replay.checks.find((c) => c.name === "challenge")?.reason).to.contain("already-used");
  });

  it("verifies credentials issued and presented by did:key holders", async function () {
    const all = subjects(researcher.did, clinic.did, researcher.did);
    const credential = await issueCredential(agent, {
      issuer: issuers.board.did,
      type: CredentialType.Researcher,
      subject: all.ResearcherCredential,
    });
    const { verifier, challenges } = createVerifier(testChain, agent);
    const challenge = await challenges.issue("irb.example");
    const vp = await createPresentation(agent, {
      holder: researcher.did,
      credentials: [credential],
      challenge,
      domain: "irb.example",
    });
    const result = await verifier.verifyPresentation(vp, {
      challenge,
      domain: "irb.example",
      credentials: [{ type: CredentialType.Researcher, claims: ["name"] }],
    });
    expect(result.checks.filter((c) => !c.pass)).to.deep.equal([]);
    expect(result.holder).to.equal(researcher.did);
  });

  it("createAgentVerifier wires the agent's resolver and the deployment's TrustRegistry", async function () {
    const credential = await issueCredential(agent, {
      issuer: issuers.clinic.did,
      type: CredentialType.HealthRecord,
      subject: subjects(patient.did, clinic.did, researcher.did).HealthRecordCredential,
    });
    const verifier = createAgentVerifier(agent, { trustRegistry: testChain.deployment.contracts.TrustRegistry });
    expect((await verifier.verifyCredential(credential)).ok).to.equal(true);
    const rogue = await issueCredential(agent, {
      issuer: issuers.rogue.did,
      type: CredentialType.HealthRecord,
      subject: subjects(patient.did, clinic.did, researcher.did).HealthRecordCredential,
    });
    expect((await verifier.verifyCredential(rogue)).ok).to.equal(false);
  });

  it("accepts a presentation once even when the same one is verified concurrently", async function () {
    const all = subjects(patient.did, clinic.did, researcher.did);
    const identity = await issueCredential(agent, {
      issuer: issuers.identity.did,
      type: CredentialType.PatientIdentity,
      subject: all.PatientIdentityCredential,
    });
    const { verifier, challenges } = createVerifier(testChain, agent);
    const challenge = await challenges.issue("clinic.example");
    const vp = await createPresentation(agent, {
      holder: patient.did,
      credentials: [identity],
      challenge,
      domain: "clinic.example",
    });
    const request = {
      challenge,
      domain: "clinic.example",
      credentials: [{ type: CredentialType.PatientIdentity }],
    };
    const results = await Promise.all(Array.from({ length: 5 }, () => verifier.verifyPresentation(vp, request)));
    expect(results.filter((r) => r.ok)).to.have.length(1);
  });

  it("agrees with did-jwt-vc and Veramo on valid and invalid credentials", async function () {
    const all = subjects(patient.did, clinic.did, researcher.did);
    const valid = await issueCredential(agent, {
      issuer: issuers.board.did,
      type: CredentialType.ClinicAccreditation,
      subject: all.ClinicAccreditationCredential,
      ...termsOf(CredentialType.ClinicAccreditation),
    });
    const [h, p, s] = valid.split(".") as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, "base64url").toString());
    payload.vc.credentialSubject.clinicName = "Evil Clinic";
    const tampered = `${h}.${Buffer.from(JSON.stringify(payload)).toString("base64url")}.${s}`;
    const sig = Buffer.from(s, "base64url");
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const highS = n - BigInt(`0x${sig.subarray(32).toString("hex")}`);
    const malleated = `${h}.${p}.${Buffer.concat([sig.subarray(0, 32), Buffer.from(highS.toString(16).padStart(64, "0"), "hex")]).toString("base64url")}`;
    const otherSigner = await issueCredential(agent, {
      issuer: issuers.rogue.did,
      type: CredentialType.ClinicAccreditation,
      subject: all.ClinicAccreditationCredential,
      ...termsOf(CredentialType.ClinicAccreditation),
    });
    const [, , rogueSig] = otherSigner.split(".");
    const forged = `${h}.${p}.${rogueSig}`;
    const expired = await issueCredential(agent, {
      issuer: issuers.board.did,
      type: CredentialType.ClinicAccreditation,
      subject: all.ClinicAccreditationCredential,
      validFrom: new Date(Date.now() - 7200_000),
      status: [statusHost.entry(BOARD_LIST_URL)],
      validUntil: new Date(Date.now() - 3600_000),
    });
    const future = await issueCredential(agent, {
      issuer: issuers.board.did,
      type: CredentialType.ClinicAccreditation,
      subject: all.ClinicAccreditationCredential,
      validFrom: new Date(Date.now() + 3600_000),
      ...termsOf(CredentialType.ClinicAccreditation),
      validUntil: new Date(Date.now() + 7200_000),
    });
    const { verifier } = createVerifier(testChain, agent);
    const resolver = agent.resolver.asResolvable();
    for (const [name, jwt, expected] of [
      ["valid", valid, true],
      ["tampered", tampered, false],
      ["high-S (malleated, accepted by did-jwt too)", malleated, true],
      ["forged", forged, false],
      ["expired", expired, false],
      ["not yet valid", future, false],
    ] as const) {
      // The reference libraries check signature and validity period (not trust, status or schema).
      const checks = (await verifier.verifyCredential(jwt)).checks;
      const ours = ["signature", "expiry", "not-before"].every((n) => checks.find((c) => c.name === n)?.pass);
      const reference = await didJwtVcVerifyCredential(jwt, resolver).then(
        () => true,
        () => false,
      );
      const veramo = await veramoOf(agent)
        .verifyCredential({ credential: jwt })
        .then(
          (r) => r.verified,
          () => false,
        );
      expect({ name, ours, reference, veramo }).to.deep.equal({
        name,
        ours: expected,
        reference: expected,
        veramo: expected,
      });
    }
  });
});
