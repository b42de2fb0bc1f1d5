// Check-in over the gateway, end to end with identity's mutual check-in: the clinic (holding the clinic role)
// opens a check-in with a challenge of its own desk verifier; the patient's wallet reads it, verifies the clinic
// (challengeClinic / verifyClinic), answers sealed to the clinic's key (answerVerifiedClinic); the gateway stores
// the answer opaque; the clinic fetches it and opens and verifies it (verifyCheckIn).
import { expect } from "chai";
import { TransactionSender, TrustRegistryClient, TrustRole } from "@hygeia/chain";
import { generateX25519KeyPair } from "@hygeia/crypto";
import {
  CredentialType,
  IdentityAgent,
  MemoryChallengeStore,
  answerVerifiedClinic,
  challengeClinic,
  createAgentVerifier,
  createPresentation,
  ethrNetworkFromDeployment,
  issueSdJwtCredential,
  verifyCheckIn,
  verifyClinic,
  type CredentialVerifier,
  type ManagedDid,
  type SealedCheckIn,
} from "@hygeia/identity";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { expectProblem, request } from "../support/http.ts";
import { closeAuthWorld, presentRole, signIn } from "../support/auth.ts";

interface CheckIn {
  id: string;
  url: string;
  status: string;
  expiresAt: number;
  request: { challenge: string; domain: string; credentials: { type: string; claims?: string[] }[] };
  clinic: { did: string; address: string; accreditation: string };
}

describe("gateway check-in: mutual verification relayed by the gateway", function () {
  let stack: TestStack;
  let clinicAgent: IdentityAgent;
  let patientAgent: IdentityAgent;
  let clinic: ManagedDid;
  let patient: ManagedDid;
  let clinicToken: string;
  let patientToken: string;
  let bobToken: string;
  let clinic2Token: string;
  let desk: CredentialVerifier;
  let deskChallenges: MemoryChallengeStore;
  let identitySdJwt: string;
  const clinicKeys = generateX25519KeyPair();

  before(async function () {
    stack = await startTestStack();
    const network = ethrNetworkFromDeployment(stack.deployment, stack.config.chain.rpcUrl);
    clinicAgent = await IdentityAgent.create({ network, watchRegistry: false });
    patientAgent = await IdentityAgent.create({ network, watchRegistry: false });
    clinic = await clinicAgent.importEthrDid(stack.accounts.clinic.privateKey, "clinic");
    patient = await patientAgent.importEthrDid(stack.accounts.alice.privateKey, "patient");
    const idIssuer = await patientAgent.importEthrDid(stack.accounts.clinic2.privateKey, "identity-issuer");
    // Governance accredits the clinic itself (its standing, checked by the wallet) and an identity issuer.
    const trust = new TrustRegistryClient(
      stack.deployment.contracts.TrustRegistry,
      new TransactionSender(stack.accounts.governance),
    );
    const now = Math.floor(Date.now() / 1000);
    for (const [issuer, role] of [
      [stack.accounts.clinic.address, TrustRole.Clinic],
      [stack.accounts.clinic2.address, TrustRole.IdentityIssuer],
    ] as const)
      await trust.accredit({ issuer, role, validFrom: now - 60, validUntil: now + 86_400 });
    await clinicAgent.publishEncryptionKey(clinic.did, clinicKeys.publicKey);
    identitySdJwt = await issueSdJwtCredential(patientAgent, {
      issuer: idIssuer.did,
      type: CredentialType.PatientIdentity,
      subject: { id: patient.did, givenName: "Ada", familyName: "Lovelace", birthDate: "1985-12-10" },
      holderPublicJwk: await patientAgent.signingPublicJwk(patient.did),
    });
    deskChallenges = new MemoryChallengeStore();
    desk = createAgentVerifier(clinicAgent, {
      trustRegistry: stack.deployment.contracts.TrustRegistry,
      challenges: deskChallenges,
    });
    clinicToken = await signIn(stack, stack.accounts.clinic);
    await presentRole(stack, clinicToken, stack.accounts.clinic, "clinic");
    patientToken = await signIn(stack, stack.accounts.alice);
    bobToken = await signIn(stack, stack.accounts.bob);
    clinic2Token = await signIn(stack, stack.accounts.clinic2);
    await presentRole(stack, clinic2Token, stack.accounts.clinic2, "clinic");
  });
  after(async function () {
    await clinicAgent?.close();
    await patientAgent?.close();
    if (stack) await closeAuthWorld(stack);
    await stack?.close();
  });

  async function open(challenge?: string, ttlSeconds?: number): Promise<CheckIn> {
    const res = await request(stack, "POST", "/v1/checkins", {
      token: clinicToken,
      json: {
        credentials: [{ type: CredentialType.PatientIdentity, claims: ["givenName", "birthDate"] }],
        ...(challenge === undefined ? {} : { challenge }),
        ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
      },
    });
    expect(res.status, res.text).to.equal(201);
    return res.json as CheckIn;
  }

  /** The patient's wallet: reads the check-in, verifies the clinic, answers sealed to it. */
  async function walletAnswer(checkIn: CheckIn): Promise<SealedCheckIn> {
    const read = await request(stack, "GET", new URL(checkIn.url).pathname);
    expect(read.status, read.text).to.equal(200);
    const seen = read.json as CheckIn;
    const walletChallenges = new MemoryChallengeStore();
    const wallet = createAgentVerifier(patientAgent, {
      trustRegistry: stack.deployment.contracts.TrustRegistry,
      challenges: walletChallenges,
      statusListFetcher: (url) => fetch(url, { redirect: "error" }).then((r) => r.text()),
      statusListHttpHosts: ["127.0.0.1"],
    });
    const toClinic = await challengeClinic(walletChallenges, patient.did);
    // The clinic proves its accreditation (the credential the gateway shows) for the wallet's challenge.
    const proof = await createPresentation(clinicAgent, {
      holder: clinic.did,
      credentials: [seen.clinic.accreditation],
      challenge: toClinic.challenge,
      domain: toClinic.domain,
    });
    const verified = await verifyClinic(wallet, proof, toClinic);
    expect(verified.ok, JSON.stringify(verified.checks.filter((c) => !c.pass))).to.equal(true);
    return answerVerifiedClinic(patientAgent, {
      patient: patient.did,
      clinic: verified,
      request: seen.request as Parameters<typeof answerVerifiedClinic>[1]["request"],
      credentials: [{ sdJwt: identitySdJwt, disclose: ["givenName", "birthDate"] }],
    });
  }

  /** A fresh wallet verifier and challenge (identity's challengeClinic), as the patient's device makes them. */
  async function walletChallenge() {
    const walletChallenges = new MemoryChallengeStore();
    const wallet = createAgentVerifier(patientAgent, {
      trustRegistry: stack.deployment.contracts.TrustRegistry,
      challenges: walletChallenges,
      statusListFetcher: (url) => fetch(url, { redirect: "error" }).then((r) => r.text()),
      statusListHttpHosts: ["127.0.0.1"],
    });
    return { wallet, toClinic: await challengeClinic(walletChallenges, patient.did) };
  }

  /** The clinic's desk: reads the pending challenge from its result route and proves its accreditation for it. */
  async function clinicProves(checkIn: CheckIn, token = clinicToken) {
    const result = await request(stack, "GET", `/v1/checkins/${checkIn.id}/result`, { token });
    expect(result.status, result.text).to.equal(200);
    const pending = (result.json as { clinicChallenge: { challenge: string; domain: string } | null }).clinicChallenge;
    expect(pending, "a pending wallet challenge").to.not.equal(null);
    const presentation = await createPresentation(clinicAgent, {
      holder: clinic.did,
      credentials: [checkIn.clinic.accreditation],
      challenge: pending!.challenge,
      domain: pending!.domain,
    });
    return request(stack, "POST", `/v1/checkins/${checkIn.id}/clinic-proof`, {
      token,
      json: { challenge: pending!.challenge, presentation },
    });
  }

  const challengePath = (checkIn: CheckIn) => `/v1/checkins/${checkIn.id}/clinic-challenge`;
  const proofPath = (checkIn: CheckIn) => `/v1/checkins/${checkIn.id}/clinic-proof`;

  it("relays the clinic's proof: the wallet challenges, the clinic proves itself, the wallet verifies it, then answers", async function () {
    const checkIn = await open(await deskChallenges.issue(clinic.did));
    const before = await request(stack, "GET", `/v1/checkins/${checkIn.id}/result`, { token: clinicToken });
    expect((before.json as { clinicChallenge: unknown }).clinicChallenge).to.equal(null);

    const { wallet, toClinic } = await walletChallenge();
    const posted = await request(stack, "POST", challengePath(checkIn), { token: patientToken, json: toClinic });
    expect(posted.status, posted.text).to.equal(202);
    expect(posted.json).to.include({ id: checkIn.id, status: "awaiting-proof", challenge: toClinic.challenge });

    // Not proved yet: 202 with Retry-After, and the clinic sees the challenge pending.
    const waiting = await request(stack, "GET", proofPath(checkIn), { token: patientToken });
    expect(waiting.status, waiting.text).to.equal(202);
    expect(waiting.headers.get("retry-after")).to.equal("1");
    const seenByClinic = await request(stack, "GET", `/v1/checkins/${checkIn.id}/result`, { token: clinicToken });
    expect((seenByClinic.json as { clinicChallenge: unknown }).clinicChallenge).to.deep.include({
      challenge: toClinic.challenge,
      domain: patient.did,
      provedAt: null,
    });
    // The public view of the check-in does not show who is checking in.
    expect((await request(stack, "GET", `/v1/checkins/${checkIn.id}`)).text).to.not.include(patient.did);

    const proved = await clinicProves(checkIn);
    expect(proved.status, proved.text).to.equal(200);
    const read = await request(stack, "GET", proofPath(checkIn), { token: patientToken });
    expect(read.status, read.text).to.equal(200);
    const proof = read.json as { status: string; challenge: string; domain: string; presentation: string };
    expect(proof).to.include({ status: "proved", challenge: toClinic.challenge, domain: patient.did });
    const verified = await verifyClinic(wallet, proof.presentation, toClinic);
    expect(verified.ok, JSON.stringify(verified.checks.filter((c) => !c.pass))).to.equal(true);
    expect(verified.clinic?.did).to.equal(checkIn.request.domain);

    const answer = await answerVerifiedClinic(patientAgent, {
      patient: patient.did,
      clinic: verified,
      request: checkIn.request as Parameters<typeof answerVerifiedClinic>[1]["request"],
      credentials: [{ sdJwt: identitySdJwt, disclose: ["givenName", "birthDate"] }],
    });
    const answered = await request(stack, "POST", `/v1/checkins/${checkIn.id}/response`, {
      token: patientToken,
      json: { answer },
    });
    expect(answered.status, answered.text).to.equal(200);
    const result = await request(stack, "GET", `/v1/checkins/${checkIn.id}/result`, { token: clinicToken });
    const opened = await verifyCheckIn(desk, (result.json as { answer: SealedCheckIn }).answer, {
      request: checkIn.request as never,
      keyPairs: [clinicKeys],
    });
    expect(opened.ok, JSON.stringify(opened.checks.filter((c) => !c.pass))).to.equal(true);
    // Answered: the round trip is over.
    expectProblem(await request(stack, "GET", proofPath(checkIn), { token: patientToken }), 409, "CHECK_IN_CLOSED");
  });

  it("binds a check-in to the first patient who challenges: another gets 409 CHECK_IN_TAKEN and sees no proof", async function () {
    const checkIn = await open();
    const { toClinic } = await walletChallenge();
    expect(
      (await request(stack, "POST", challengePath(checkIn), { token: patientToken, json: toClinic })).status,
    ).to.equal(202);
    expectProblem(
      await request(stack, "POST", challengePath(checkIn), { token: bobToken, json: toClinic }),
      409,
      "CHECK_IN_TAKEN",
    );
    expect((await clinicProves(checkIn)).status).to.equal(200);
    expectProblem(
      await request(stack, "GET", proofPath(checkIn), { token: bobToken }),
      404,
      "CLINIC_CHALLENGE_NOT_FOUND",
    );
    const answer = await walletAnswer(checkIn);
    expectProblem(
      await request(stack, "POST", `/v1/checkins/${checkIn.id}/response`, { token: bobToken, json: { answer } }),
      409,
      "CHECK_IN_TAKEN",
    );
    // The bound patient may replace its challenge (a restarted wallet): the old proof goes with the old challenge.
    const { toClinic: again } = await walletChallenge();
    expect(
      (await request(stack, "POST", challengePath(checkIn), { token: patientToken, json: again })).status,
    ).to.equal(202);
    expect((await request(stack, "GET", proofPath(checkIn), { token: patientToken })).status).to.equal(202);
    const stale = await request(stack, "POST", proofPath(checkIn), {
      token: clinicToken,
      json: { challenge: toClinic.challenge, presentation: "eyJhbGciOiJFUzI1NksifQ.eyJ2cCI6e319.c2ln" },
    });
    expectProblem(stale, 409, "CLINIC_CHALLENGE_STALE");
  });

  it("takes the clinic's proof from the clinic that opened the check-in only", async function () {
    const checkIn = await open();
    const fake = { challenge: "a".repeat(32), presentation: "eyJhbGciOiJFUzI1NksifQ.eyJ2cCI6e319.c2ln" };
    expectProblem(
      await request(stack, "POST", proofPath(checkIn), { token: clinicToken, json: fake }),
      409,
      "NO_CLINIC_CHALLENGE",
    );
    const { toClinic } = await walletChallenge();
    await request(stack, "POST", challengePath(checkIn), { token: patientToken, json: toClinic });
    const json = { ...fake, challenge: toClinic.challenge };
    expectProblem(await request(stack, "POST", proofPath(checkIn), { json }), 401, "NOT_SIGNED_IN");
    expectProblem(
      await request(stack, "POST", proofPath(checkIn), { token: patientToken, json }),
      403,
      "ROLE_REQUIRED",
    );
    expectProblem(
      await request(stack, "POST", proofPath(checkIn), { token: clinic2Token, json }),
      403,
      "NOT_CHECK_IN_CLINIC",
    );
    // Nothing was taken: the wallet still waits.
    expect((await request(stack, "GET", proofPath(checkIn), { token: patientToken })).status).to.equal(202);
  });

  it("ends the round trip with the check-in's expiry", async function () {
    const checkIn = await open(undefined, 30);
    const late = await open(undefined, 30);
    const { toClinic } = await walletChallenge();
    await request(stack, "POST", challengePath(checkIn), { token: patientToken, json: toClinic });
    const realNow = stack.services.now;
    stack.services.now = () => realNow() + 31_000;
    try {
      expectProblem(
        await request(stack, "POST", challengePath(late), { token: patientToken, json: toClinic }),
        409,
        "CHECK_IN_CLOSED",
      );
      expectProblem(
        await request(stack, "POST", proofPath(checkIn), {
          token: clinicToken,
          json: { challenge: toClinic.challenge, presentation: "eyJhbGciOiJFUzI1NksifQ.eyJ2cCI6e319.c2ln" },
        }),
        409,
        "CHECK_IN_CLOSED",
      );
      expectProblem(await request(stack, "GET", proofPath(checkIn), { token: patientToken }), 409, "CHECK_IN_CLOSED");
    } finally {
      stack.services.now = realNow;
    }
  });

  it("refuses challenges and proofs that are not one (400), and challenges or reads without a session (401)", async function () {
    const checkIn = await open();
    const { toClinic } = await walletChallenge();
    expectProblem(await request(stack, "POST", challengePath(checkIn), { json: toClinic }), 401, "NOT_SIGNED_IN");
    expectProblem(await request(stack, "GET", proofPath(checkIn)), 401, "NOT_SIGNED_IN");
    for (const body of [
      { ...toClinic, challenge: "short" },
      { ...toClinic, domain: "0x15d34aaf54267db7d7c367839aaf71a00a2c6a65" },
      { ...toClinic, extra: true },
      { challenge: toClinic.challenge },
    ])
      expectProblem(
        await request(stack, "POST", challengePath(checkIn), { token: patientToken, json: body }),
        400,
        "INVALID_REQUEST",
      );
    await request(stack, "POST", challengePath(checkIn), { token: patientToken, json: toClinic });
    for (const presentation of ["not a jwt", `eyJh.${"A".repeat(40_000)}.c2ln`, 42])
      expectProblem(
        await request(stack, "POST", proofPath(checkIn), {
          token: clinicToken,
          json: { challenge: toClinic.challenge, presentation },
        }),
        400,
        "INVALID_REQUEST",
      );
    expectProblem(
      await request(stack, "POST", `/v1/checkins/${"0".repeat(32)}/clinic-challenge`, {
        token: patientToken,
        json: toClinic,
      }),
      404,
      "CHECK_IN_NOT_FOUND",
    );
  });

  it("relays a check-in: the clinic opens it, the wallet answers sealed, the clinic opens and verifies the answer", async function () {
    const checkIn = await open(await deskChallenges.issue(clinic.did));
    expect(checkIn.status).to.equal("open");
    expect(checkIn.request.domain).to.equal(clinic.did); // as the clinic's accreditation spells it
    expect(checkIn.clinic.address).to.equal(stack.accounts.clinic.address.toLowerCase());

    const answer = await walletAnswer(checkIn);
    const posted = await request(stack, "POST", `/v1/checkins/${checkIn.id}/response`, {
      token: patientToken,
      json: { answer },
    });
    expect(posted.status, posted.text).to.equal(200);

    const result = await request(stack, "GET", `/v1/checkins/${checkIn.id}/result`, { token: clinicToken });
    expect(result.status, result.text).to.equal(200);
    const body = result.json as { status: string; answer: SealedCheckIn };
    expect(body.status).to.equal("answered");
    expect(body.answer).to.deep.equal(answer);
    const opened = await verifyCheckIn(desk, body.answer, {
      request: checkIn.request as never,
      keyPairs: [clinicKeys],
    });
    expect(opened.ok, JSON.stringify(opened.checks.filter((c) => !c.pass))).to.equal(true);
    expect(opened.disclosed).to.deep.equal({
      PatientIdentityCredential: { givenName: "Ada", birthDate: "1985-12-10" },
    });
  });

  it("keeps the answer opaque: what the gateway stored holds none of the disclosed claims", async function () {
    const checkIn = await open();
    const answer = await walletAnswer(checkIn);
    await request(stack, "POST", `/v1/checkins/${checkIn.id}/response`, { token: patientToken, json: { answer } });
    const row = await stack.services.store.getCheckIn(checkIn.id);
    expect(row?.result).to.be.a("string");
    // "Ada" alone is three letters a base64url ciphertext holds by chance (about 2% of runs at this length), so
    // the short value is looked for as a JSON string and the long ones also in each base64url alignment, the
    // form an SD-JWT disclosure would leak them in.
    expect(row!.result).to.not.include('"Ada"');
    for (const secret of ["1985-12-10", "givenName"]) {
      for (const form of [secret, ...base64urlAlignments(secret)]) expect(row!.result).to.not.include(form);
    }
  });

  it("accepts one answer only (409 CHECK_IN_CLOSED on the second)", async function () {
    const checkIn = await open();
    const answer = await walletAnswer(checkIn);
    const path = `/v1/checkins/${checkIn.id}/response`;
    expect((await request(stack, "POST", path, { token: patientToken, json: { answer } })).status).to.equal(200);
    expectProblem(
      await request(stack, "POST", path, { token: patientToken, json: { answer } }),
      409,
      "CHECK_IN_CLOSED",
    );
  });

  it("refuses an answer once the check-in expired", async function () {
    const checkIn = await open(undefined, 30);
    const answer = await walletAnswer(checkIn);
    const realNow = stack.services.now;
    // 31 s later: the check-in (30 s) has expired, the sessions (15 min) have not.
    stack.services.now = () => realNow() + 31_000;
    try {
      const res = await request(stack, "POST", `/v1/checkins/${checkIn.id}/response`, {
        token: patientToken,
        json: { answer },
      });
      expectProblem(res, 409, "CHECK_IN_CLOSED");
    } finally {
      stack.services.now = realNow;
    }
  });

  it("lets only a session with the clinic role open a check-in", async function () {
    const json = { credentials: [{ type: CredentialType.PatientIdentity }] };
    expectProblem(await request(stack, "POST", "/v1/checkins", { json }), 401, "NOT_SIGNED_IN");
    expectProblem(await request(stack, "POST", "/v1/checkins", { token: patientToken, json }), 403, "ROLE_REQUIRED");
  });

  it("refuses a request for claims the credential type does not have (400)", async function () {
    const res = await request(stack, "POST", "/v1/checkins", {
      token: clinicToken,
      json: { credentials: [{ type: CredentialType.PatientIdentity, claims: ["ssn"] }] },
    });
    expectProblem(res, 400, "INVALID_CHECK_IN_REQUEST");
  });

  it("shows the answer to the clinic that opened the check-in only (404 to anyone else)", async function () {
    const checkIn = await open();
    const path = `/v1/checkins/${checkIn.id}/result`;
    expectProblem(await request(stack, "GET", path, { token: patientToken }), 404, "CHECK_IN_NOT_FOUND");
    expectProblem(await request(stack, "GET", path), 401, "NOT_SIGNED_IN");
    const open200 = await request(stack, "GET", path, { token: clinicToken });
    expect((open200.json as { status: string; answer: unknown }).answer).to.equal(null);
  });

  it("answers 404 for an unknown check-in and 400 for an id that is not one", async function () {
    expectProblem(await request(stack, "GET", `/v1/checkins/${"0".repeat(32)}`), 404, "CHECK_IN_NOT_FOUND");
    expectProblem(await request(stack, "GET", "/v1/checkins/..%2F..%2Fetc"), 400, "INVALID_REQUEST");
  });

  it("refuses an answer from someone not signed in, and an answer that is not a sealed check-in", async function () {
    const checkIn = await open();
    const path = `/v1/checkins/${checkIn.id}/response`;
    const fake = { type: "hygeia-sealed-check-in", version: 1, recipient: "x", wrap: "AA", ciphertext: "AA" };
    expectProblem(await request(stack, "POST", path, { json: { answer: fake } }), 401, "NOT_SIGNED_IN");
    const wrongType = { ...fake, type: "something-else" };
    expectProblem(
      await request(stack, "POST", path, { token: patientToken, json: { answer: wrongType } }),
      400,
      "INVALID_REQUEST",
    );
  });
});

/** The base64url text `secret` becomes at each of the three byte offsets it can start at, cut to the characters
 * that depend on `secret` alone. */
function base64urlAlignments(secret: string): string[] {
  return [0, 1, 2].map((offset) => {
    const encoded = Buffer.concat([Buffer.alloc(offset), Buffer.from(secret)]).toString("base64url");
    const start = Math.ceil((offset * 8) / 6);
    const end = Math.floor(((offset + Buffer.byteLength(secret)) * 8) / 6);
    return encoded.slice(start, end);
  });
}
