// Virtual-clinic check-in with mutual verification: the patient's wallet verifies the clinic's accreditation
// before disclosing anything, then answers only that clinic (the README's "Virtual-clinic check-in" sample).
// Run: node packages/identity/examples/check-in.ts
import assert from "node:assert/strict";
import { TrustRegistryClient, TrustRole, startLocalDeployment } from "@hygeia/chain";
import {
  ClinicNotTrustedError,
  IdentityAgent,
  ethrNetworkFromDeployment,
  issueCredential,
  issueSdJwtCredential,
} from "@hygeia/identity";

// Setup: a local chain with Hygeia deployed (account #0 is governance); three agents: the issuers' (a medical
// board and an identity issuer, both accredited on the TrustRegistry), the clinic's and the patient's wallet.
// The board has issued the clinic its accreditation; the identity issuer the patient an SD-JWT identity.
const { rpcUrl, deployment, account, stop } = await startLocalDeployment();
const governance = account(0);
const network = ethrNetworkFromDeployment(deployment, rpcUrl);
const issuerAgent = await IdentityAgent.create({ network });
const clinicAgent = await IdentityAgent.create({ network });
const patientAgent = await IdentityAgent.create({ network });
const board = await issuerAgent.createDid({ alias: "medical-board" });
const idIssuer = await issuerAgent.createDid({ alias: "identity-issuer" });
const clinic = await clinicAgent.createDid({ alias: "virtual-clinic" });
const patient = await patientAgent.createDid({ alias: "patient" });
const trustRegistry = new TrustRegistryClient(deployment.contracts.TrustRegistry, governance);
const now = Math.floor(Date.now() / 1000);
for (const [issuer, role] of [
  [board, TrustRole.MedicalBoard],
  [idIssuer, TrustRole.IdentityIssuer],
] as const) {
  await trustRegistry.accredit({ issuer: issuer.ownerAddress!, role, validFrom: now - 60, validUntil: now + 86_400 });
}
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
  verifyClinic,
} from "@hygeia/identity";

// Wallet: challenges the clinic before disclosing anything
const walletChallenges = new MemoryChallengeStore();
const walletVerifier = createAgentVerifier(patientAgent, {
  trustRegistry: deployment.contracts.TrustRegistry,
  challenges: walletChallenges,
});
const toClinic = await challengeClinic(walletChallenges, patient.did); // domain = the patient's DID
// Clinic: proves its accreditation (issued by a medical board) for that challenge
const clinicProof = await createPresentation(clinicAgent, {
  holder: clinic.did,
  credentials: [accreditationVc],
  challenge: toClinic.challenge,
  domain: toClinic.domain,
});
const verified = await verifyClinic(walletVerifier, clinicProof, toClinic); // medical-board trust required
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
const answer = await answerVerifiedClinic(patientAgent, {
  patient: patient.did,
  clinic: verified,
  request,
  credentials: [{ sdJwt: identity, disclose: ["givenName", "birthDate"] }], // UnknownClaimError for a claim it lacks
});
// throws ClinicNotTrustedError if the clinic failed or request.domain is not the verified clinic's DID
const checkIn = await desk.verifyPresentation(answer, request);
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

await Promise.all([issuerAgent.close(), clinicAgent.close(), patientAgent.close()]);
await stop();
console.log("check-in: ok");
