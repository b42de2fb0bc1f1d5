// The check-in, both sides, against the real stack (anvil with the contracts, Helia, the SQLite gateway on a
// socket): the clinic (ClinicClient, holding the clinic role) opens a check-in; the patient's wallet reads it,
// verifies the clinic before disclosing anything (the clinic proves its accreditation for the wallet's challenge),
// answers with only the claims asked for, sealed to the clinic's key; the clinic waits, opens and verifies it.
import { expect } from "chai";
import { TransactionSender, TrustRegistryClient, TrustRole } from "@hygeia/chain";
import { decryptToBuffer, generateX25519KeyPair, unwrapKey } from "@hygeia/crypto";
import {
  CredentialType,
  IdentityAgent,
  ethrNetworkFromDeployment,
  issueSdJwtCredential,
  type SealedCheckIn,
} from "@hygeia/identity";
import { startTestStack, type TestStack } from "../../gateway/test/support/stack.ts";
import { closeAuthWorld, issueRoleCredential } from "../../gateway/test/support/auth.ts";
import { AccessRefusedError, GatewayTransport, SdkInputError, signIn } from "../src/index.ts";
import { ClinicClient } from "../src/clinic/client.ts";
import { CheckInError, ClinicNotVerifiedError } from "../src/clinic/errors.ts";
import {
  answerCheckIn,
  keyCheckInWallet,
  readCheckIn,
  verifyCheckInClinic,
  type AgentCheckInWallet,
} from "../src/checkin/patient.ts";
import { privateKeyHolderKey } from "@hygeia/identity/browser";
import { HygeiaConnection } from "../src/connection.ts";

const caught = (promise: Promise<unknown>) => promise.catch((error: unknown) => error);

describe("sdk check-in: clinic and patient sides", function () {
  let stack: TestStack;
  let clinic: ClinicClient; // accredited: board credential and clinic standing on the TrustRegistry
  let unlisted: ClinicClient; // a board credential (so the gateway role), but no standing on the TrustRegistry
  let patientAgent: IdentityAgent;
  let issuerAgent: IdentityAgent;
  let patient: GatewayTransport;
  let wallet: AgentCheckInWallet;
  let identity: string; // Alice's SD-JWT PatientIdentityCredential
  const clinicKeys = generateX25519KeyPair();
  const asked = [{ type: CredentialType.PatientIdentity, claims: ["givenName", "birthDate"] }];

  async function connectClinic(signer: TestStack["accounts"]["clinic"], keys = generateX25519KeyPair()) {
    const client = await ClinicClient.connect({
      gatewayUrl: stack.url,
      rpcUrl: stack.local.rpcUrl,
      deployment: stack.deployment,
      signer,
      encryptionKeys: [keys],
    });
    await client.presentAccreditation((await issueRoleCredential(stack, signer, "clinic")).credential);
    await client.publishKey();
    return client;
  }

  before(async function () {
    stack = await startTestStack();
    const trust = new TrustRegistryClient(
      stack.deployment.contracts.TrustRegistry,
      new TransactionSender(stack.accounts.governance),
    );
    const now = Math.floor(Date.now() / 1000);
    for (const [issuer, role] of [
      [stack.accounts.clinic.address, TrustRole.Clinic],
      [stack.accounts.bob.address, TrustRole.IdentityIssuer],
    ] as const)
      await trust.accredit({ issuer, role, validFrom: now - 60, validUntil: now + 86_400 });
    clinic = await connectClinic(stack.accounts.clinic, clinicKeys);
    unlisted = await connectClinic(stack.accounts.clinic2);

    const network = ethrNetworkFromDeployment(stack.deployment, stack.local.rpcUrl);
    patientAgent = await IdentityAgent.create({ network, watchRegistry: false });
    issuerAgent = await IdentityAgent.create({ network, watchRegistry: false });
    const alice = await patientAgent.importEthrDid(stack.accounts.alice.privateKey, "alice");
    const idIssuer = await issuerAgent.importEthrDid(stack.accounts.bob.privateKey, "identity-issuer");
    identity = await issueSdJwtCredential(issuerAgent, {
      issuer: idIssuer.did,
      type: CredentialType.PatientIdentity,
      subject: { id: alice.did, givenName: "Ada", familyName: "Lovelace", birthDate: "1985-12-10" },
      holderPublicJwk: await patientAgent.signingPublicJwk(alice.did),
    });
    patient = new GatewayTransport({ url: stack.url });
    await signIn(patient, stack.accounts.alice);
    wallet = { agent: patientAgent, did: alice.did, trustRegistry: stack.deployment.contracts.TrustRegistry };
  });
  after(async function () {
    await clinic?.close();
    await unlisted?.close();
    await patientAgent?.close();
    await issuerAgent?.close();
    if (stack) await closeAuthWorld(stack);
    await stack?.close();
  });

  it("checks a patient in with mutual verification: only the claims asked for are disclosed, to the clinic alone", async function () {
    const opened = await clinic.checkIns.open({ credentials: asked, ttlSeconds: 300 });
    expect(opened.url).to.equal(`${stack.url}/v1/checkins/${opened.id}`);
    expect(opened.request.domain).to.equal(clinic.did);

    // The clinic's desk waits while the patient's wallet works.
    const ticks: string[] = [];
    const waiting = clinic.checkIns.waitForAnswer(opened.id, {
      intervalMs: 100,
      timeoutMs: 60_000,
      onTick: (t) => ticks.push(t.status),
    });

    const seen = await readCheckIn(patient, opened.url);
    expect(seen.request.credentials).to.deep.equal(asked);
    expect(seen.clinic.claimed).to.include({ clinicName: "Asclepius Virtual Clinic", virtual: true });
    const verified = await verifyCheckInClinic({
      wallet,
      checkIn: seen,
      prove: (challenge) => clinic.checkIns.prove(challenge),
    });
    expect(verified.clinic).to.include({ did: clinic.did, clinicName: "Asclepius Virtual Clinic" });
    const answered = await answerCheckIn({
      transport: patient,
      wallet,
      checkIn: seen,
      clinic: verified,
      credentials: [{ sdJwt: identity }], // discloses what was asked, nothing more
    });
    expect(answered.shown).to.deep.equal([{ type: "PatientIdentityCredential", claims: ["givenName", "birthDate"] }]);

    expect(await waiting).to.include({ id: opened.id, status: "answered" });
    expect(ticks.at(-1)).to.equal("answered");
    const result = await clinic.checkIns.result(opened.id);
    expect(result.ok, JSON.stringify(result.checks.filter((c) => !c.pass))).to.equal(true);
    expect(result.disclosed).to.deep.equal({
      PatientIdentityCredential: { givenName: "Ada", birthDate: "1985-12-10" },
    });
    expect(JSON.stringify(result)).to.not.include("Lovelace");
    expect(result.patient).to.deep.equal({ did: wallet.did, address: stack.accounts.alice.address.toLowerCase() });
    expect(result.checks.map((c) => c.name)).to.include.members(["signature", "holder-binding", "challenge"]);
    expect(await clinic.checkIns.result(opened.id)).to.deep.equal(result); // verified once, remembered

    // Independently of the SDK: open the sealed answer the gateway relayed, as identity's README specifies the seal
    // (X25519 sealed box of a content key bound to the request, a record envelope of the padded presentation),
    // and look at which claims the SD-JWT disclosures carry: exactly the two asked for.
    const relayed = await clinic.connection.transport.request<{ answer: SealedCheckIn }>(
      "GET",
      `/v1/checkins/${opened.id}/result`,
    );
    const context = `hygeia:check-in:v1:${JSON.stringify([opened.request.domain, opened.request.challenge])}`;
    const contentKey = unwrapKey(Buffer.from(relayed.answer.wrap, "base64url"), clinicKeys, context);
    const plaintext = new TextDecoder().decode(
      await decryptToBuffer(Buffer.from(relayed.answer.ciphertext, "base64url"), contentKey),
    );
    expect(plaintext).to.not.include("Lovelace");
    const { presentation } = JSON.parse(plaintext) as { presentation: string | string[] };
    const [sdJwt] = [presentation].flat();
    const disclosed = sdJwt!
      .split("~")
      .slice(1, -1)
      .map((d) => (JSON.parse(Buffer.from(d, "base64url").toString()) as [string, string, unknown])[1]);
    expect(disclosed.sort()).to.deep.equal(["birthDate", "givenName"]);
  });

  it("relays mutual verification through the gateway: the clinic proves itself while it waits, no shared channel needed", async function () {
    const opened = await clinic.checkIns.open({ credentials: asked, ttlSeconds: 300 });
    const waiting = clinic.checkIns.waitForAnswer(opened.id, { intervalMs: 100, timeoutMs: 60_000 });
    const seen = await readCheckIn(patient, opened.url);
    // No prove callback: the wallet's challenge and the clinic's proof travel through the gateway's relay routes.
    const verified = await verifyCheckInClinic({
      wallet,
      checkIn: seen,
      transport: patient,
      relay: { intervalMs: 100 },
    });
    expect(verified.clinic).to.include({ did: clinic.did, clinicName: "Asclepius Virtual Clinic" });
    await answerCheckIn({
      transport: patient,
      wallet,
      checkIn: seen,
      clinic: verified,
      credentials: [{ sdJwt: identity }],
    });
    expect(await waiting).to.include({ id: opened.id, status: "answered" });
    const result = await clinic.checkIns.result(opened.id);
    expect(result.ok, JSON.stringify(result.checks.filter((c) => !c.pass))).to.equal(true);
    expect(result.disclosed).to.deep.equal({
      PatientIdentityCredential: { givenName: "Ada", birthDate: "1985-12-10" },
    });
  });

  it("checks in the same way from a wallet without an agent (a HolderKey and the chain, as a browser wallet does)", async function () {
    const connection = await HygeiaConnection.open({
      gatewayUrl: stack.url,
      rpcUrl: stack.local.rpcUrl,
      deployment: stack.deployment,
    });
    const holder = privateKeyHolderKey(stack.accounts.alice.privateKey, wallet.did);
    // The key's public JWK is the one the SD-JWT is bound to (cnf), whoever holds the key.
    expect(await holder.publicJwk()).to.deep.equal(await patientAgent.signingPublicJwk(wallet.did));
    const keyWallet = await keyCheckInWallet(connection, holder);
    const opened = await clinic.checkIns.open({ credentials: asked, ttlSeconds: 300 });
    const waiting = clinic.checkIns.waitForAnswer(opened.id, { intervalMs: 100, timeoutMs: 60_000 });
    const seen = await readCheckIn(patient, opened.url);
    const verified = await verifyCheckInClinic({
      wallet: keyWallet,
      checkIn: seen,
      transport: patient,
      relay: { intervalMs: 100 },
    });
    expect(verified.clinic).to.include({ did: clinic.did, clinicName: "Asclepius Virtual Clinic" });
    const answered = await answerCheckIn({
      transport: patient,
      wallet: keyWallet,
      checkIn: seen,
      clinic: verified,
      credentials: [{ sdJwt: identity }],
    });
    expect(answered.shown).to.deep.equal([{ type: "PatientIdentityCredential", claims: ["givenName", "birthDate"] }]);
    expect(await waiting).to.include({ id: opened.id, status: "answered" });
    const result = await clinic.checkIns.result(opened.id);
    expect(result.ok, JSON.stringify(result.checks.filter((c) => !c.pass))).to.equal(true);
    expect(result.patient?.did).to.equal(wallet.did);
    expect(result.disclosed).to.deep.equal({
      PatientIdentityCredential: { givenName: "Ada", birthDate: "1985-12-10" },
    });

    // The key wallet refuses what the agent wallet refuses: a clinic without standing, before disclosing anything.
    const other = await unlisted.checkIns.open({ credentials: asked });
    const refused = await caught(
      verifyCheckInClinic({
        wallet: keyWallet,
        checkIn: await readCheckIn(patient, other.id),
        prove: (challenge) => unlisted.checkIns.prove(challenge),
      }),
    );
    expect(refused).to.be.instanceOf(ClinicNotVerifiedError);
    expect((refused as ClinicNotVerifiedError).checks.map((c) => c.name)).to.include("standing");
    // A key that does not hold the credential's cnf key cannot present it (refused before anything is sent).
    const bobKey = privateKeyHolderKey(
      stack.accounts.bob.privateKey,
      `${wallet.did.split(":").slice(0, 3).join(":")}:${stack.accounts.bob.address}`,
    );
    const third = await clinic.checkIns.open({ credentials: asked });
    const thirdSeen = await readCheckIn(patient, third.id);
    const bobWallet = await keyCheckInWallet(connection, bobKey);
    const bobVerified = await verifyCheckInClinic({
      wallet: bobWallet,
      checkIn: thirdSeen,
      prove: (challenge) => clinic.checkIns.prove(challenge),
    });
    const mismatch = await caught(
      answerCheckIn({
        transport: patient,
        wallet: bobWallet,
        checkIn: thirdSeen,
        clinic: bobVerified,
        credentials: [{ sdJwt: identity }],
      }),
    );
    expect(mismatch).to.include({ code: "HOLDER_MISMATCH" });
    expect(await clinic.checkIns.status(third.id)).to.equal("open");
    expect(await caught(keyCheckInWallet(connection, {} as never))).to.be.instanceOf(SdkInputError);
    // A DID of another chain: nobody here would verify it, so it is refused before anything is disclosed.
    const elsewhere = privateKeyHolderKey(
      stack.accounts.alice.privateKey,
      `did:ethr:0x1:${stack.accounts.alice.address}`,
    );
    expect(await caught(keyCheckInWallet(connection, elsewhere))).to.include({
      code: "INVALID_INPUT",
      field: "holder",
    });
    // Not a connection (no chain id, no provider): typed, not a TypeError.
    for (const fake of [
      { deployment: { contracts: { TrustRegistry: stack.deployment.contracts.TrustRegistry } } },
      null,
    ])
      expect(await caught(keyCheckInWallet(fake as never, holder))).to.include({ field: "connection" });
    // Options cannot replace the wallet's trust registry or holder.
    const guarded = await keyCheckInWallet(connection, holder, {
      trustRegistry: `0x${"ee".repeat(20)}`,
      holder: bobKey,
    } as never);
    expect(guarded.trustRegistry).to.equal(stack.deployment.contracts.TrustRegistry);
    expect(guarded.holder).to.equal(holder);
    connection.close();
  });

  it("relays the proof of a clinic without standing, and the wallet still refuses it before disclosing anything", async function () {
    const opened = await unlisted.checkIns.open({ credentials: asked });
    const waiting = caught(unlisted.checkIns.waitForAnswer(opened.id, { intervalMs: 100, timeoutMs: 3000 }));
    const seen = await readCheckIn(patient, opened.id);
    const error = await caught(
      verifyCheckInClinic({ wallet, checkIn: seen, transport: patient, relay: { intervalMs: 100 } }),
    );
    expect(error).to.be.instanceOf(ClinicNotVerifiedError);
    expect((error as ClinicNotVerifiedError).checks.map((c) => c.name)).to.include("standing");
    expect(await waiting).to.include({ code: "CHECK_IN_TIMEOUT" }); // nothing was answered
  });

  it("gives up on a clinic that is not waiting (CLINIC_PROOF_TIMEOUT), and needs a transport or a prove callback", async function () {
    const opened = await clinic.checkIns.open({ credentials: asked });
    const seen = await readCheckIn(patient, opened.id);
    const started = Date.now();
    const error = await caught(
      verifyCheckInClinic({ wallet, checkIn: seen, transport: patient, relay: { timeoutMs: 800, intervalMs: 100 } }),
    );
    expect(error).to.be.instanceOf(CheckInError);
    expect(error).to.include({ code: "CLINIC_PROOF_TIMEOUT", checkIn: opened.id });
    expect(Date.now() - started).to.be.lessThan(10_000);
    expect(await caught(verifyCheckInClinic({ wallet, checkIn: seen }))).to.be.instanceOf(SdkInputError);
  });

  it("refuses a clinic without standing on the trust registry before disclosing anything (CLINIC_NOT_TRUSTED)", async function () {
    const opened = await unlisted.checkIns.open({ credentials: asked });
    const seen = await readCheckIn(patient, opened.id);
    const error = await caught(
      verifyCheckInClinic({ wallet, checkIn: seen, prove: (challenge) => unlisted.checkIns.prove(challenge) }),
    );
    expect(error).to.be.instanceOf(ClinicNotVerifiedError);
    expect(error).to.be.instanceOf(AccessRefusedError);
    const refused = error as ClinicNotVerifiedError;
    expect([refused.code, refused.kind]).to.deep.equal(["CLINIC_NOT_TRUSTED", "refused"]);
    expect(refused.checks.map((c) => c.name)).to.include("standing");
    expect(refused.hint).to.match(/not accredited as a clinic/);
    // Nothing reached the clinic: the check-in is still open, without an answer.
    expect(await unlisted.checkIns.status(opened.id)).to.equal("open");
    expect((await caught(unlisted.checkIns.result(opened.id))) as CheckInError).to.include({
      code: "CHECK_IN_NOT_ANSWERED",
    });
  });

  it("refuses an accredited clinic proving itself for another clinic's check-in (an avatar is not an identity)", async function () {
    const opened = await unlisted.checkIns.open({ credentials: asked });
    const seen = await readCheckIn(patient, opened.url);
    const error = await caught(
      verifyCheckInClinic({ wallet, checkIn: seen, prove: (challenge) => clinic.checkIns.prove(challenge) }),
    );
    expect(error).to.be.instanceOf(ClinicNotVerifiedError);
    expect((error as ClinicNotVerifiedError).checks.map((c) => c.name)).to.deep.equal(["domain"]);
  });

  it("refuses to show claims or credentials the clinic did not ask for", async function () {
    const opened = await clinic.checkIns.open({ credentials: asked });
    const seen = await readCheckIn(patient, opened.url);
    const verified = await verifyCheckInClinic({ wallet, checkIn: seen, prove: (c) => clinic.checkIns.prove(c) });
    const extra = await caught(
      answerCheckIn({
        transport: patient,
        wallet,
        checkIn: seen,
        clinic: verified,
        credentials: [{ sdJwt: identity, disclose: ["givenName", "familyName"] }],
      }),
    );
    expect(extra).to.be.instanceOf(SdkInputError);
    expect(extra).to.include({ field: "credentials[0].disclose" });
    expect(await clinic.checkIns.status(opened.id)).to.equal("open");
    // Fewer claims than asked may be shown; the clinic's verification then says what is missing.
    await answerCheckIn({
      transport: patient,
      wallet,
      checkIn: seen,
      clinic: verified,
      credentials: [{ sdJwt: identity, disclose: ["givenName"] }],
    });
    const result = await clinic.checkIns.result(opened.id);
    expect(result.ok).to.equal(false);
    expect(result.disclosed).to.deep.equal({});
    expect(result.checks.filter((c) => !c.pass).map((c) => c.name)).to.include("required-claims");
  });

  it("stops waiting at the timeout or when aborted, and a wallet cannot answer a check-in twice", async function () {
    const opened = await clinic.checkIns.open({ credentials: asked });
    const timedOut = await caught(clinic.checkIns.waitForAnswer(opened.id, { timeoutMs: 300, intervalMs: 100 }));
    expect(timedOut).to.be.instanceOf(CheckInError);
    expect(timedOut).to.include({ code: "CHECK_IN_TIMEOUT", kind: "not-found" });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error("operator pressed ctrl-c")), 150);
    const aborted = await caught(
      clinic.checkIns.waitForAnswer(opened.id, { intervalMs: 1000, signal: controller.signal }),
    );
    expect((aborted as Error).message).to.equal("operator pressed ctrl-c");

    const seen = await readCheckIn(patient, opened.url);
    const verified = await verifyCheckInClinic({ wallet, checkIn: seen, prove: (c) => clinic.checkIns.prove(c) });
    await answerCheckIn({
      transport: patient,
      wallet,
      checkIn: seen,
      clinic: verified,
      credentials: [{ sdJwt: identity }],
    });
    const again = await caught(
      answerCheckIn({
        transport: patient,
        wallet,
        checkIn: await readCheckIn(patient, opened.url),
        clinic: verified,
        credentials: [{ sdJwt: identity }],
      }),
    );
    expect(again).to.be.instanceOf(CheckInError);
    expect(again).to.include({ code: "CHECK_IN_CLOSED", kind: "conflict" });
  });

  it("reads only check-in links of the gateway it is connected to", async function () {
    const error = await caught(readCheckIn(patient, `https://elsewhere.example/v1/checkins/${"a".repeat(32)}`));
    expect(error).to.be.instanceOf(SdkInputError);
    expect(error).to.include({ field: "checkIn" });
  });
});
