import { expect } from "chai";
import {
  CredentialType,
  issueSdJwtCredential,
  presentSdJwtCredential,
  type IdentityAgent,
  type ManagedDid,
} from "../src/index.ts";
import type { TestChain } from "./helpers/chain.ts";
import { createVerifier, startIssuerWorld, subjects, type Issuers } from "./helpers/fixtures.ts";

describe("identity: SD-JWT VC with key binding", function () {
  let testChain: TestChain;
  let agent: IdentityAgent;
  let issuers: Issuers;
  let patient: ManagedDid;

  before(async function () {
    ({ testChain, agent, issuers, patient } = await startIssuerWorld());
  });
  after(async function () {
    await agent?.close();
    await testChain?.stop();
  });

  async function issueBoth() {
    const all = subjects(patient.did, patient.did, patient.did);
    const holderPublicJwk = await agent.signingPublicJwk(patient.did);
    const identity = await issueSdJwtCredential(agent, {
      issuer: issuers.identity.did,
      type: CredentialType.PatientIdentity,
      subject: all.PatientIdentityCredential,
      holderPublicJwk,
    });
    const insurance = await issueSdJwtCredential(agent, {
      issuer: issuers.insurer.did,
      type: CredentialType.HealthInsurance,
      subject: all.HealthInsuranceCredential,
      holderPublicJwk,
    });
    return { identity, insurance };
  }

  it("discloses only the chosen claims, verifies key binding, challenge and domain, once", async function () {
    const { identity, insurance } = await issueBoth();
    const { verifier, challenges } = createVerifier(testChain, agent);
    const domain = "virtual-clinic.example";
    const challenge = await challenges.issue(domain);
    const presentation = [
      await presentSdJwtCredential(agent, {
        holder: patient.did,
        credential: identity,
        disclose: ["givenName", "birthDate"],
        challenge,
        domain,
      }),
      await presentSdJwtCredential(agent, {
        holder: patient.did,
        credential: insurance,
        disclose: ["memberId", "insurerName"],
        challenge,
        domain,
      }),
    ];
    // The hidden claims are not in the presentation at all.
    expect(presentation.join()).not.to.contain("Lovelace");
    const request = {
      challenge,
      domain,
      credentials: [
        { type: CredentialType.PatientIdentity, claims: ["givenName", "birthDate"] },
        { type: CredentialType.HealthInsurance, claims: ["memberId"] },
      ],
    };
    const result = await verifier.verifyPresentation(presentation, request);
    expect(result.checks.filter((c) => !c.pass)).to.deep.equal([]);
    expect(result.ok).to.equal(true);
    expect(result.holder).to.equal(patient.did);
    expect(result.disclosed).to.deep.equal({
      PatientIdentityCredential: { givenName: "Ada", birthDate: "1985-12-10" },
      HealthInsuranceCredential: { memberId: "M-123456" },
    });
    const replay = await verifier.verifyPresentation(presentation, request);
    expect(replay.ok).to.equal(false);
    expect(replay.checks.find((c) => c.name === "challenge")?.reason).to.contain("already-used");
  });

  it("fails required-claims when a requested claim was withheld", async function () {
    const { identity } = await issueBoth();
    const { verifier, challenges } = createVerifier(testChain, agent);
    const challenge = await challenges.issue("clinic.example");
    const presentation = await presentSdJwtCredential(agent, {
      holder: patient.did,
      credential: identity,
      disclose: ["givenName"],
      challenge,
      domain: "clinic.example",
    });
    const result = await verifier.verifyPresentation(presentation, {
      challenge,
      domain: "clinic.example",
      credentials: [{ type: CredentialType.PatientIdentity, claims: ["givenName", "familyName"] }],
    });
    expect(result.ok).to.equal(false);
    expect(result.checks.find((c) => c.name === "required-claims")?.reason).to.contain("familyName");
  });
});
