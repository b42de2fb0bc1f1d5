import { expect } from "chai";
import {
  ClinicNotTrustedError,
  HolderMismatchError,
  UnknownClaimError,
  CredentialType,
  IdentityAgent,
  answerVerifiedClinic,
  challengeClinic,
  createPresentation,
  issueSdJwtCredential,
  verifyCheckIn,
  verifyClinic,
  type ManagedDid,
} from "../src/index.ts";
import { startTestChain, type TestChain } from "./helpers/chain.ts";
import { BOARD_LIST_URL, StatusHost, accreditationFor, createClinic, type CheckInClinic } from "./helpers/check-in.ts";
import { presentJwtSignedBy } from "./helpers/forge.ts";
import { createIssuers, createVerifier, subjects, type Issuers } from "./helpers/fixtures.ts";

describe("identity: mutual verification at a virtual clinic check-in", function () {
  let testChain: TestChain;
  let clinicAgent: IdentityAgent;
  let patientAgent: IdentityAgent;
  let issuers: Issuers;
  let clinicDid: CheckInClinic;
  let clinic: ManagedDid;
  let patient: ManagedDid;
  const statusHost = new StatusHost();

  before(async function () {
    testChain = await startTestChain();
    clinicAgent = await IdentityAgent.create({ network: testChain.network });
    patientAgent = await IdentityAgent.create({ network: testChain.network });
    issuers = await createIssuers(testChain, clinicAgent); // issuers live in the clinic's agent for brevity
    await statusHost.publish(clinicAgent, issuers.board.did, BOARD_LIST_URL);
    clinicDid = await createClinic(testChain, clinicAgent); // accredited as clinic, X25519 key published
    clinic = clinicDid.did;
    patient = await patientAgent.createDid({ alias: "patient" });
  });
  after(async function () {
    await clinicAgent?.close();
    await patientAgent?.close();
    await testChain?.stop();
  });

  async function accreditation(issuer: string) {
    return (await accreditationFor(clinicAgent, issuer, clinic.did, statusHost)).jwt;
  }
  const walletOf = () => createVerifier(testChain, patientAgent, { statusListFetcher: statusHost.fetcher });

  it("patient verifies the clinic first, then discloses only requested claims, sealed to that clinic", async function () {
    // 1. The wallet challenges the clinic; the clinic proves its accreditation.
    const wallet = walletOf();
    const toClinic = await challengeClinic(wallet.challenges, patient.did);
    const clinicProof = await createPresentation(clinicAgent, {
      holder: clinic.did,
      credentials: [await accreditation(issuers.board.did)],
      ...toClinic,
    });
    const verifiedClinic = await verifyClinic(wallet.verifier, clinicProof, toClinic);
    expect(verifiedClinic.checks.filter((c) => !c.pass)).to.deep.equal([]);
    expect(verifiedClinic.clinic).to.deep.equal({
      did: clinic.did,
      clinicName: "Asclepius Virtual Clinic",
      accreditationNumber: "MB-2026-0042",
      virtual: true,
    });

    // 2. The clinic asks for the patient's name and birth date; the wallet answers with an SD-JWT.
    const desk = createVerifier(testChain, clinicAgent);
    const request = {
      challenge: await desk.challenges.issue(clinic.did),
      domain: clinic.did,
      credentials: [{ type: CredentialType.PatientIdentity, claims: ["givenName", "birthDate"] }],
    };
    const identity = await issueSdJwtCredential(clinicAgent, {
      issuer: issuers.identity.did,
      type: CredentialType.PatientIdentity,
      subject: subjects(patient.did, clinic.did, clinic.did).PatientIdentityCredential,
      holderPublicJwk: await patientAgent.signingPublicJwk(patient.did),
    });
    // A claim the credential does not have is an error, not silently skipped.
    const misnamed = await answerVerifiedClinic(patientAgent, {
      patient: patient.did,
      clinic: verifiedClinic,
      request,
      credentials: [{ sdJwt: identity, disclose: ["givenName", "dateOfBirth"] }],
    }).catch((error: unknown) => error);
    expect(misnamed).to.be.instanceOf(UnknownClaimError);
    expect((misnamed as UnknownClaimError).field).to.equal("credentials[0].disclose");
    expect((misnamed as UnknownClaimError).unknownClaims).to.deep.equal(["dateOfBirth"]);
    const answer = await answerVerifiedClinic(patientAgent, {
      patient: patient.did,
      clinic: verifiedClinic,
      request,
      credentials: [{ sdJwt: identity, disclose: ["givenName", "birthDate"] }],
    });
    const checkIn = await verifyCheckIn(desk.verifier, answer, { request, keyPairs: clinicDid.keys });
    expect(checkIn.ok).to.equal(true);
    expect(checkIn.disclosed).to.deep.equal({
      PatientIdentityCredential: { givenName: "Ada", birthDate: "1985-12-10" },
    });
  });

  it("refuses a clinic whose accreditation comes from an issuer not trusted as medical board", async function () {
    const wallet = walletOf();
    const toClinic = await challengeClinic(wallet.challenges, patient.did);
    for (const issuer of [issuers.rogue.did, issuers.insurer.did, issuers.clinic.did]) {
      const proof = await createPresentation(clinicAgent, {
        holder: clinic.did,
        credentials: [await accreditation(issuer)],
        ...toClinic,
      });
      const result = await verifyClinic(wallet.verifier, proof, toClinic);
      expect(result.ok).to.equal(false);
      expect(result.clinic).to.equal(undefined);
      expect(result.checks.find((c) => c.name === "issuer-trust" && !c.pass)).to.not.equal(undefined);
      let refused: unknown;
      await answerVerifiedClinic(patientAgent, {
        patient: patient.did,
        clinic: result,
        request: { challenge: "c".repeat(32), domain: clinic.did, credentials: [] },
        credentials: [],
      }).catch((e) => (refused = e));
      expect(refused).to.be.instanceOf(ClinicNotTrustedError);
    }
  });

  it("refuses an avatar presenting someone else's accreditation, and a request from another DID", async function () {
    const wallet = walletOf();
    const toClinic = await challengeClinic(wallet.challenges, patient.did);
    const impostor = await clinicAgent.createDid({ alias: "impostor" });
    // createPresentation refuses this up front (HolderMismatchError); an impostor builds it by hand.
    const stolen = await presentJwtSignedBy(clinicAgent, impostor.did, {
      credentials: [await accreditation(issuers.board.did)],
      ...toClinic,
    });
    const result = await verifyClinic(wallet.verifier, stolen, toClinic);
    expect(result.ok).to.equal(false);
    expect(result.checks.find((c) => c.name === "holder-binding" && !c.pass)).to.not.equal(undefined);

    const fresh = await challengeClinic(wallet.challenges, patient.did);
    const genuine = await verifyClinic(
      wallet.verifier,
      await createPresentation(clinicAgent, {
        holder: clinic.did,
        credentials: [await accreditation(issuers.board.did)],
        ...fresh,
      }),
      fresh,
    );
    expect(genuine.ok).to.equal(true);
    let refused: unknown;
    await answerVerifiedClinic(patientAgent, {
      patient: patient.did,
      clinic: genuine,
      request: { challenge: "c".repeat(32), domain: impostor.did, credentials: [] },
      credentials: [],
    }).catch((e) => (refused = e));
    expect(refused).to.be.instanceOf(ClinicNotTrustedError);
  });

  it("answerVerifiedClinic refuses to show another DID's SD-JWT as the patient, naming the credential", async function () {
    const wallet = walletOf();
    const toClinic = await challengeClinic(wallet.challenges, patient.did);
    const verified = await verifyClinic(
      wallet.verifier,
      await createPresentation(clinicAgent, {
        holder: clinic.did,
        credentials: [await accreditation(issuers.board.did)],
        ...toClinic,
      }),
      toClinic,
    );
    expect(verified.ok).to.equal(true);
    const child = await patientAgent.createDid({ alias: "child" }); // another DID the wallet holds
    const childIdentity = await issueSdJwtCredential(clinicAgent, {
      issuer: issuers.identity.did,
      type: CredentialType.PatientIdentity,
      subject: { ...subjects(child.did, clinic.did, clinic.did).PatientIdentityCredential },
      holderPublicJwk: await patientAgent.signingPublicJwk(child.did),
    });
    const refused = await answerVerifiedClinic(patientAgent, {
      patient: patient.did,
      clinic: verified,
      request: { challenge: "c".repeat(32), domain: clinic.did, credentials: [] },
      credentials: [{ sdJwt: childIdentity, disclose: ["givenName"] }],
    }).catch((error: unknown) => error);
    expect(refused).to.be.instanceOf(HolderMismatchError);
    const mismatch = refused as HolderMismatchError;
    expect([mismatch.field, mismatch.holder, mismatch.subject]).to.deep.equal([
      "credentials[0].sdJwt",
      patient.did,
      child.did,
    ]);
  });
});
