// Issue 16, items 1, 2 and 5: who may accredit a clinic, what a relay in the middle of a check-in reads, and the
// clinic's own standing. Each test fails on the code before the fix (said at each test).
import { expect } from "chai";
import { TrustRole } from "@hygeia/chain";
import { generateX25519KeyPair } from "@hygeia/crypto";
import {
  ClinicNotTrustedError,
  CredentialType,
  IdentityAgent,
  InvalidIdentityInputError,
  NoEncryptionKeyError,
  answerVerifiedClinic,
  challengeClinic,
  createPresentation,
  issueCredential,
  issueSdJwtCredential,
  presentSdJwtCredential,
  verifyCheckIn,
  verifyClinic,
  type ClinicVerification,
  type ManagedDid,
  type PresentationRequest,
} from "../src/index.ts";
import { startTestChain, type TestChain } from "./helpers/chain.ts";
import { BOARD_LIST_URL, StatusHost, accreditationFor, createClinic, type CheckInClinic } from "./helpers/check-in.ts";
import { createIssuers, createVerifier, subjects, type Issuers } from "./helpers/fixtures.ts";

const NATIONAL_ID = "NID-1985-12-10-471142";

describe("identity: check-in hardening (roles, sealed answers, the clinic's standing)", function () {
  let testChain: TestChain;
  let issuerAgent: IdentityAgent;
  let clinicAgent: IdentityAgent;
  let patientAgent: IdentityAgent;
  let issuers: Issuers;
  let patient: ManagedDid;
  const statusHost = new StatusHost();

  before(async function () {
    testChain = await startTestChain();
    issuerAgent = await IdentityAgent.create({ network: testChain.network });
    clinicAgent = await IdentityAgent.create({ network: testChain.network });
    patientAgent = await IdentityAgent.create({ network: testChain.network });
    issuers = await createIssuers(testChain, issuerAgent);
    await statusHost.publish(issuerAgent, issuers.board.did, BOARD_LIST_URL);
    patient = await patientAgent.createDid({ alias: "patient" });
  });
  after(async function () {
    await Promise.all([issuerAgent?.close(), clinicAgent?.close(), patientAgent?.close()]);
    await testChain?.stop();
  });

  const walletOf = () =>
    createVerifier(testChain, patientAgent, { statusListFetcher: statusHost.fetcher, statusListTtlMs: 0 });

  /** The wallet challenges `clinic`, which presents `accreditation`; the wallet verifies. */
  async function checkClinic(clinic: ManagedDid, accreditation: string): Promise<ClinicVerification> {
    const wallet = walletOf();
    const toClinic = await challengeClinic(wallet.challenges, patient.did);
    const proof = await createPresentation(clinicAgent, {
      holder: clinic.did,
      credentials: [accreditation],
      ...toClinic,
    });
    return verifyClinic(wallet.verifier, proof, toClinic);
  }

  const failed = (result: ClinicVerification) => result.checks.filter((c) => !c.pass).map((c) => c.name);

  describe("roles: a clinic issues health records but cannot accredit a clinic", function () {
    it("a clinic accredited only as clinic: its health records verify, the clinic it accredits is refused by the wallet", async function () {
      // Before the fix a clinic had to be medical-board to issue health records, which also let it accredit clinics.
      const realClinic = await createClinic(testChain, clinicAgent, { alias: "real-clinic" });
      const record = await issueCredential(clinicAgent, {
        issuer: realClinic.did.did,
        type: CredentialType.HealthRecord,
        subject: subjects(patient.did, realClinic.did.did, patient.did).HealthRecordCredential,
      });
      const recordCheck = await walletOf().verifier.verifyCredential(record);
      expect(recordCheck.checks.filter((c) => !c.pass)).to.deep.equal([]);

      // The real clinic runs its own status list and accredits an unregistered "virtual clinic".
      const clinicListUrl = "https://real-clinic.example/status/1";
      await statusHost.publish(clinicAgent, realClinic.did.did, clinicListUrl);
      const fake = await createClinic(testChain, clinicAgent, { alias: "fake-clinic", accredited: false });
      const { jwt } = await accreditationFor(clinicAgent, realClinic.did.did, fake.did.did, statusHost, clinicListUrl);
      const result = await checkClinic(fake.did, jwt);
      expect(result.ok).to.equal(false);
      expect(result.clinic).to.equal(undefined);
      expect(failed(result)).to.include("issuer-trust"); // (and its status is not even fetched)
      expect(failed(result)).to.not.include("signature");
      expect(result.checks.find((c) => c.name === "issuer-trust")?.reason).to.contain("medical-board");
      const refused = await answerVerifiedClinic(patientAgent, {
        patient: patient.did,
        clinic: result,
        request: { challenge: "c".repeat(32), domain: fake.did.did, credentials: [] },
        credentials: [{ jwt: record }],
      }).catch((error: unknown) => error);
      expect(refused).to.be.instanceOf(ClinicNotTrustedError);
    });

    it("a medical board's health record is refused: records come from clinics only", async function () {
      const record = await issueCredential(issuerAgent, {
        issuer: issuers.board.did,
        type: CredentialType.HealthRecord,
        subject: subjects(patient.did, patient.did, patient.did).HealthRecordCredential,
      });
      const result = await walletOf().verifier.verifyCredential(record);
      expect(result.checks.filter((c) => !c.pass).map((c) => c.name)).to.deep.equal(["issuer-trust"]);
    });
  });

  describe("sealed answers: a relay in the middle reads nothing of what the patient discloses", function () {
    let clinic: CheckInClinic;
    let identity: string;

    before(async function () {
      clinic = await createClinic(testChain, clinicAgent);
      identity = await issueSdJwtCredential(issuerAgent, {
        issuer: issuers.identity.did,
        type: CredentialType.PatientIdentity,
        subject: {
          ...subjects(patient.did, clinic.did.did, patient.did).PatientIdentityCredential,
          nationalIdentifier: NATIONAL_ID,
        },
        holderPublicJwk: await patientAgent.signingPublicJwk(patient.did),
      });
    });

    /** Everything a relay could read in what it forwarded: the JSON, and every base64url run decoded. */
    function readableBy(relayed: readonly unknown[]): string {
      const text = JSON.stringify(relayed);
      const decoded = (text.match(/[A-Za-z0-9_-]{4,}/g) ?? []).map((run) =>
        Buffer.from(run, "base64url").toString("latin1"),
      );
      return [text, ...decoded].join("\n");
    }

    async function relayedCheckIn(disclose: string[]) {
      const relayed: unknown[] = [];
      const relay = <T>(message: T): T => {
        relayed.push(structuredClone(message));
        return message;
      };
      const wallet = walletOf();
      const desk = createVerifier(testChain, clinicAgent);
      const { jwt } = await accreditationFor(issuerAgent, issuers.board.did, clinic.did.did, statusHost);
      // Patient → relay → clinic: the wallet's challenge. Clinic → relay → patient: the accreditation proof.
      const toClinic = relay(await challengeClinic(wallet.challenges, patient.did));
      const proof = relay(
        await createPresentation(clinicAgent, { holder: clinic.did.did, credentials: [jwt], ...toClinic }),
      );
      const verified = await verifyClinic(wallet.verifier, proof, toClinic);
      expect(verified.ok, JSON.stringify(verified.checks)).to.equal(true);
      expect(verified.clinic?.did).to.equal(clinic.did.did); // the real clinic, not the relay
      // Clinic → relay → patient: the request. Patient → relay → clinic: the answer.
      const request: PresentationRequest = relay({
        challenge: await desk.challenges.issue(clinic.did.did),
        domain: clinic.did.did,
        credentials: [{ type: CredentialType.PatientIdentity, claims: disclose }],
      });
      const answer = relay(
        await answerVerifiedClinic(patientAgent, {
          patient: patient.did,
          clinic: verified,
          request,
          credentials: [{ sdJwt: identity, disclose }],
        }),
      );
      return { relayed, request, answer, desk };
    }

    it("the relay forwards challenge, proof, request and answer; only the clinic reads the national identifier", async function () {
      // Before the fix the answer was the SD-JWT presentation itself: its disclosures decode to the identifier.
      const { relayed, request, answer, desk } = await relayedCheckIn(["givenName", "nationalIdentifier"]);
      expect(relayed).to.have.length(4);
      expect(readableBy(relayed)).to.not.contain(NATIONAL_ID);
      // Control: the same presentation unsealed, as the answer was before the fix, gives the identifier away.
      const unsealed = await presentSdJwtCredential(patientAgent, {
        holder: patient.did,
        credential: identity,
        disclose: ["givenName", "nationalIdentifier"],
        challenge: request.challenge,
        domain: request.domain,
      });
      expect(readableBy([...relayed.slice(0, 3), unsealed])).to.contain(NATIONAL_ID);
      expect(answer.recipient).to.equal((await patientAgent.currentEncryptionKey(clinic.did.did))?.id);

      // The relay cannot open it with a key of its own.
      const relayKeys = generateX25519KeyPair();
      const byRelay = await verifyCheckIn(desk.verifier, answer, { request, keyPairs: relayKeys });
      expect(byRelay.ok).to.equal(false);
      expect(byRelay.checks).to.deep.equal([
        { name: "format", pass: false, reason: "the answer is not sealed to this clinic's key (or was modified)" },
      ]);

      // The real clinic opens and verifies it.
      const checkIn = await verifyCheckIn(desk.verifier, answer, { request, keyPairs: [relayKeys, clinic.keys] });
      expect(checkIn.checks.filter((c) => !c.pass)).to.deep.equal([]);
      expect(checkIn.disclosed).to.deep.equal({
        PatientIdentityCredential: { givenName: "Ada", nationalIdentifier: NATIONAL_ID },
      });
    });

    it("a sealed answer does not open for another request of the same clinic, nor once modified", async function () {
      const { request, answer, desk } = await relayedCheckIn(["givenName"]);
      const other = { ...request, challenge: await desk.challenges.issue(clinic.did.did) };
      const replayed = await verifyCheckIn(desk.verifier, answer, { request: other, keyPairs: clinic.keys });
      expect(replayed.checks).to.deep.equal([
        {
          name: "format",
          pass: false,
          reason: "the answer is sealed to this clinic but for another request (domain or challenge)",
        },
      ]);
      const flipped = Buffer.from(answer.ciphertext, "base64url");
      flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 1;
      const tampered = { ...answer, ciphertext: flipped.toString("base64url") };
      const modified = await verifyCheckIn(desk.verifier, tampered, { request, keyPairs: clinic.keys });
      expect(modified.ok).to.equal(false);
      expect(modified.checks[0]?.reason).to.match(/^the sealed answer does not decrypt/);
      for (const garbage of [undefined, "vp", { ...answer, version: 2 }, { ...answer, wrap: "!" }]) {
        const result = await verifyCheckIn(desk.verifier, garbage, { request, keyPairs: clinic.keys });
        expect(result.checks[0]?.reason).to.match(/^not a sealed check-in answer/);
      }
      expect((await verifyCheckIn(desk.verifier, answer, { request, keyPairs: clinic.keys })).ok).to.equal(true);
    });

    it("pads the sealed answer so its size does not tell which claims were shown", async function () {
      const { answer: one } = await relayedCheckIn(["givenName"]);
      const { answer: two } = await relayedCheckIn(["givenName", "birthDate"]);
      expect(one.ciphertext.length).to.equal(two.ciphertext.length);
    });

    it("a verified clinic that publishes no X25519 key: NoEncryptionKeyError naming clinic, nothing signed", async function () {
      const keyless = await clinicAgent.createDid({ alias: "keyless-clinic" });
      await testChain.trust.accredit({
        issuer: keyless.ownerAddress!,
        role: TrustRole.Clinic,
        validFrom: Math.floor(Date.now() / 1000) - 60,
        validUntil: Math.floor(Date.now() / 1000) + 86_400,
      });
      const { jwt } = await accreditationFor(issuerAgent, issuers.board.did, keyless.did, statusHost);
      const verified = await checkClinic(keyless, jwt);
      expect(verified.ok, JSON.stringify(verified.checks)).to.equal(true);
      const error = await answerVerifiedClinic(patientAgent, {
        patient: patient.did,
        clinic: verified,
        request: { challenge: "c".repeat(32), domain: keyless.did, credentials: [] },
        credentials: [{ sdJwt: identity, disclose: ["givenName"] }],
      }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(NoEncryptionKeyError);
      expect([(error as NoEncryptionKeyError).field, (error as NoEncryptionKeyError).did]).to.deep.equal([
        "clinic",
        keyless.did,
      ]);
    });

    it("verifyCheckIn names a missing request or key pair", async function () {
      const desk = createVerifier(testChain, clinicAgent);
      const request = { challenge: "c".repeat(32), domain: clinic.did.did, credentials: [] };
      for (const [params, field] of [
        [undefined, "params"],
        [{ keyPairs: clinic.keys }, "request"],
        [{ request, keyPairs: [] }, "keyPairs"],
        [{ request, keyPairs: [{ publicKey: "x" }] }, "keyPairs[0]"],
        // Not `keyPairs[0]`: nothing was indexed (the newcomer's report).
        [{ request }, "keyPairs"],
        [{ request, keyPairs: null }, "keyPairs"],
        [{ request, keyPairs: { publicKey: "x" } }, "keyPairs"],
      ] as const) {
        const error = await verifyCheckIn(desk.verifier, {}, params as never).catch((e: unknown) => e);
        expect(error).to.be.instanceOf(InvalidIdentityInputError);
        expect((error as InvalidIdentityInputError).field).to.equal(field);
      }
    });
  });

  describe("the clinic's own standing and its accreditation's terms", function () {
    it("a clinic whose accreditation is revoked on chain can no longer check in", async function () {
      // Before the fix only the board that issued the accreditation was checked.
      const clinic = await createClinic(testChain, clinicAgent, { alias: "revoked-clinic" });
      const { jwt } = await accreditationFor(issuerAgent, issuers.board.did, clinic.did.did, statusHost);
      expect((await checkClinic(clinic.did, jwt)).ok).to.equal(true);
      await testChain.trust.revokeAccreditation(clinic.did.ownerAddress!, TrustRole.Clinic);
      const result = await checkClinic(clinic.did, jwt);
      expect(result.ok).to.equal(false);
      expect(result.clinic).to.equal(undefined);
      expect(result.disclosed).to.deep.equal({});
      expect(failed(result)).to.deep.equal(["standing"]);
      expect(result.checks.find((c) => c.name === "standing")?.reason).to.equal(
        `the clinic ${clinic.did.did} is not accredited as clinic on the TrustRegistry now ` +
          "(its accreditation was revoked, has lapsed or was never granted)",
      );
      const refused = await answerVerifiedClinic(patientAgent, {
        patient: patient.did,
        clinic: result,
        request: { challenge: "c".repeat(32), domain: clinic.did.did, credentials: [] },
        credentials: [{ jwt }],
      }).catch((error: unknown) => error);
      expect(refused).to.be.instanceOf(ClinicNotTrustedError);
    });

    it("a clinic never accredited as clinic on chain is refused even with a board's accreditation", async function () {
      const clinic = await createClinic(testChain, clinicAgent, { alias: "unregistered", accredited: false });
      const { jwt } = await accreditationFor(issuerAgent, issuers.board.did, clinic.did.did, statusHost);
      expect(failed(await checkClinic(clinic.did, jwt))).to.deep.equal(["standing"]);
    });

    it("a board revoking the accreditation on its status list stops the check-in", async function () {
      const clinic = await createClinic(testChain, clinicAgent, { alias: "status-revoked" });
      const { jwt, index } = await accreditationFor(issuerAgent, issuers.board.did, clinic.did.did, statusHost);
      expect((await checkClinic(clinic.did, jwt)).ok).to.equal(true);
      await statusHost.revoke(BOARD_LIST_URL, index);
      const result = await checkClinic(clinic.did, jwt);
      expect(failed(result)).to.deep.equal(["status"]);
      expect(result.checks.find((c) => c.name === "status" && !c.pass)?.reason).to.equal("revoked");
    });

    it("refuses to issue an accreditation without a revocation status entry or an expiry, naming the field", async function () {
      const subject = subjects(patient.did, patient.did, patient.did).ClinicAccreditationCredential;
      const base = { issuer: issuers.board.did, type: CredentialType.ClinicAccreditation, subject } as const;
      const validUntil = new Date(Date.now() + 86_400_000);
      for (const [params, field] of [
        [{ ...base, validUntil }, "status"],
        [{ ...base, validUntil, status: [] }, "status"],
        [
          { ...base, validUntil, status: [{ ...statusHost.entry(BOARD_LIST_URL), statusPurpose: "suspension" }] },
          "status",
        ],
        [{ ...base, status: [statusHost.entry(BOARD_LIST_URL)] }, "validUntil"],
      ] as const) {
        const error = await issueCredential(issuerAgent, params as never).catch((e: unknown) => e);
        expect(error).to.be.instanceOf(InvalidIdentityInputError);
        expect((error as InvalidIdentityInputError).field).to.equal(field);
      }
    });

    it("the wallet refuses an accreditation signed without a status entry, or without an expiry, saying which", async function () {
      // Before the fix such an accreditation passed (as the tests used to issue them).
      const clinic = await createClinic(testChain, clinicAgent, { alias: "no-terms" });
      const now = Math.floor(Date.now() / 1000);
      const signed = (claims: Record<string, unknown>, vc: Record<string, unknown>) =>
        issuerAgent.signJwt(issuers.board.did, {
          iss: issuers.board.did,
          sub: clinic.did.did,
          nbf: now - 60,
          ...claims,
          vc: {
            "@context": ["https://www.w3.org/2018/credentials/v1"],
            type: ["VerifiableCredential", CredentialType.ClinicAccreditation],
            credentialSubject: subjects(patient.did, clinic.did.did, patient.did).ClinicAccreditationCredential,
            ...vc,
          },
        });
      const withoutStatus = await signed({ exp: now + 86_400 }, {});
      const withoutExpiry = await signed({}, { credentialStatus: statusHost.entry(BOARD_LIST_URL) });
      const noStatus = await checkClinic(clinic.did, withoutStatus);
      expect(failed(noStatus)).to.deep.equal(["status"]);
      expect(noStatus.checks.find((c) => c.name === "status" && !c.pass)?.reason).to.contain(
        "no revocation status entry",
      );
      const noExpiry = await checkClinic(clinic.did, withoutExpiry);
      expect(failed(noExpiry)).to.deep.equal(["expiry"]);
      expect(noExpiry.checks.find((c) => c.name === "expiry" && !c.pass)?.reason).to.contain("no expiry");
    });
  });
});
