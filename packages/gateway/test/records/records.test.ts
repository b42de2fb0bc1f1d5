// Records and key release on the real stack (anvil, Helia on disk, SQLite, the gateway on a socket): a patient
// encrypts and uploads a record, grants consent on chain, a clinic releases its wrap, unwraps it and decrypts the
// ciphertext it fetched from the gateway. Then every refusal: no consent, revoked, stale index, pairwise
// consent accounts, the owner's own key, uploads cut off or too large, the manifest pointer's CAS.
import { randomBytes } from "node:crypto";
import { connect } from "node:net";
import { expect } from "chai";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";
import { parseEther } from "ethers";
import { blindEmergencyScopes, consentAccount, signConsentAddressLink, type PatientScopes } from "@hygeia/chain";
import { deriveConsentAccountSeed, deriveConsentSecretFromKeystoreSecret, unwrapKey } from "@hygeia/crypto";
import { startTestStack, type TestStack } from "../support/stack.ts";
import type { RecordsApp } from "../../src/plugins/records/index.ts";
import { unpinUnregistered } from "../../src/plugins/records/uploads.ts";
import { receiptsOf } from "./world.ts";
import { expectProblem, request } from "../support/http.ts";
import {
  addRecord,
  askKey,
  auditEventsOf,
  dayAhead,
  encryptRecord,
  observationIds,
  patientScopes,
  readRecord,
  registryAs,
  signInParties,
  synced,
  upload,
  wrapContext,
  wrapFor,
  type KeyAnswer,
  type Party,
} from "./world.ts";

const UPLOAD_LIMIT = 256 * 1024;

describe("gateway records and key release", function () {
  let stack: TestStack;
  let alice: Party;
  let clinic: Party;
  let clinic2: Party;
  let bob: Party;
  let doctor: Party;
  let scopes: PatientScopes;
  let record: Awaited<ReturnType<typeof encryptRecord>>;
  let cid: string;
  let laboratory: string;

  before(async function () {
    stack = await startTestStack({ config: { limits: { uploadBytes: UPLOAD_LIMIT } } });
    const a = stack.accounts;
    const parties = await signInParties(stack, [a.alice, a.clinic, a.clinic2, a.bob, a.researcher]);
    [alice, clinic, clinic2, bob, doctor] = parties as [Party, Party, Party, Party, Party];
    scopes = patientScopes(alice.address);
    laboratory = scopes.id("category:laboratory");
    record = await encryptRecord("Observation: HbA1c 6.1 % (canary-records-e2e)");
    cid = await addRecord(stack, alice, record, observationIds(alice, scopes, "laboratory"), [clinic, doctor]);
  });

  after(async function () {
    await stack?.close();
  });

  it("registers the upload as the patient's record with its scope ids and the recipients of its wraps", async function () {
    const res = await request(stack, "GET", `/v1/records/${cid}`, { token: alice.token });
    expect(res.status, res.text).to.equal(200);
    const view = res.json as {
      patient: string;
      size: number;
      scopeIds: Record<string, string[]>;
      recipients: string[];
    };
    expect(view.patient).to.equal(alice.address);
    expect(view.size).to.equal(record.ciphertext.length);
    expect(view.scopeIds[alice.address]).to.include(laboratory);
    expect(view.recipients).to.have.members([alice.address, clinic.address, doctor.address]);
    const list = await request(stack, "GET", "/v1/records", { token: alice.token });
    expect((list.json as { records: { cid: string }[] }).records.map((r) => r.cid)).to.deep.equal([cid]);
    const events = await auditEventsOf(stack, alice.address);
    expect(events.some((e) => e.type === "record_added" && e.record === cid)).to.equal(true);
  });

  it("refuses a clinic without consent with 403 CONSENT_REQUIRED and writes a deny event", async function () {
    const res = await askKey(stack, clinic, alice, cid);
    expectProblem(res, 403, "CONSENT_REQUIRED");
    const last = (await auditEventsOf(stack, alice.address)).at(-1)!;
    expect(last).to.include({ type: "access_denied", decision: "deny", reason: "NO_CONSENT", actor: clinic.address });
  });

  it("answers an unknown CID exactly like a record without consent, so existence does not leak", async function () {
    const unknown = CID.createV1(raw.code, await sha256.digest(randomBytes(32))).toString();
    const a = await askKey(stack, bob, alice, cid);
    const b = await askKey(stack, bob, alice, unknown);
    expectProblem(a, 403, "CONSENT_REQUIRED");
    expectProblem(b, 403, "CONSENT_REQUIRED");
    expect((a.json as { detail: string }).detail).to.equal((b.json as { detail: string }).detail);
  });

  it("releases the clinic's wrap under consent; it unwraps and decrypts the ciphertext fetched from the gateway", async function () {
    await registryAs(stack, alice.wallet).grant({
      grantee: clinic.address,
      scope: laboratory,
      purpose: "Treatment",
      expiry: await dayAhead(stack),
    });
    await synced(stack);
    const { key, plaintext } = await readRecord(stack, clinic, alice, cid);
    expect(new TextDecoder().decode(plaintext)).to.equal(new TextDecoder().decode(record.plaintext));
    expect(key).to.include({
      cid,
      scope: laboratory,
      consentAddress: alice.address,
      purpose: "Treatment",
      emergency: false,
    });
    const events = await auditEventsOf(stack, alice.address);
    const release = events.find((e) => e.type === "key_release");
    expect(release).to.include({ decision: "permit", reason: "CONSENT_GRANTED", actor: clinic.address, record: cid });
    expect(release).to.include({ scope: laboratory, purpose: 1 });
  });

  it("gives the clinic only its own wrap: the patient's wrap is not openable with the clinic's key", async function () {
    const res = await askKey(stack, clinic, alice, cid);
    const key = res.json as KeyAnswer;
    const own = await askKey(stack, alice, alice, cid);
    expect(own.status, own.text).to.equal(200);
    const ownKey = own.json as KeyAnswer;
    expect(ownKey).to.include({ scope: null, consentAddress: alice.address, auditLog: stack.app.audit.origin });
    expect(ownKey.wrap).to.not.equal(key.wrap);
    expect(() => unwrapKey(Buffer.from(ownKey.wrap, "base64url"), clinic.keys, wrapContext(cid))).to.throw();
  });

  it("refuses the same clinic for another purpose than the one granted", async function () {
    expectProblem(await askKey(stack, clinic, alice, cid, "Research"), 403, "CONSENT_REQUIRED");
  });

  it("lists for a grantee only the records its consent covers now", async function () {
    const forClinic = await request(stack, "GET", `/v1/patients/${alice.address}/records?purpose=Treatment`, {
      token: clinic.token,
    });
    expect(forClinic.status, forClinic.text).to.equal(200);
    expect((forClinic.json as { records: unknown[] }).records).to.deep.equal([
      { cid, scope: laboratory, consentAddress: alice.address },
    ]);
    const forBob = await request(stack, "GET", `/v1/patients/${alice.address}/records?purpose=Treatment`, {
      token: bob.token,
    });
    expect((forBob.json as { records: unknown[] }).records).to.deep.equal([]);
  });

  it("serves the ciphertext to a caller without consent as 403, and asks a grantee for its purpose", async function () {
    const path = `/v1/patients/${alice.address}/records/${cid}/content`;
    expectProblem(
      await request(stack, "GET", `${path}?purpose=Treatment`, { token: bob.token }),
      403,
      "CONSENT_REQUIRED",
    );
    expectProblem(await request(stack, "GET", path, { token: clinic.token }), 400, "PURPOSE_REQUIRED");
    const own = await request(stack, "GET", path, { token: alice.token });
    expect(own.status).to.equal(200);
  });

  it("tells a grantee with consent but no wrap that the key is not shared yet, and releases it once added", async function () {
    await registryAs(stack, alice.wallet).grant({
      grantee: bob.address,
      scope: laboratory,
      purpose: "Treatment",
      expiry: await dayAhead(stack),
    });
    await synced(stack);
    expectProblem(await askKey(stack, bob, alice, cid), 403, "KEY_NOT_SHARED");
    const added = await request(stack, "POST", `/v1/records/${cid}/wraps`, {
      token: alice.token,
      json: { wraps: [wrapFor(record.dek, cid, bob)] },
    });
    expect(added.status, added.text).to.equal(200);
    const { plaintext } = await readRecord(stack, bob, alice, cid);
    expect(plaintext).to.deep.equal(record.plaintext);
  });

  it("revocation bites: once the indexer has seen the revoke's block, no wrap is released", async function () {
    await registryAs(stack, alice.wallet).revoke({ grantee: bob.address, scope: laboratory, purpose: "Treatment" });
    await synced(stack);
    expectProblem(await askKey(stack, bob, alice, cid), 403, "CONSENT_REQUIRED");
    const last = (await auditEventsOf(stack, alice.address)).at(-1)!;
    expect(last).to.include({ type: "access_denied", reason: "NO_CONSENT", actor: bob.address });
  });

  it("checks a pairwise consent account's grants with the record's ids under it, once the patient links it", async function () {
    const seed = deriveConsentAccountSeed(deriveConsentSecretFromKeystoreSecret(randomBytes(32)));
    const pairwise = consentAccount(seed, 0).connect(stack.provider);
    await (await stack.accounts.governance.sendTransaction({ to: pairwise.address, value: parseEther("1") })).wait();
    const pairwiseScopes = scopes.forAddress(pairwise.address);
    const pairwiseAddress = pairwise.address.toLowerCase();
    const second = await encryptRecord("Observation: LDL 2.9 mmol/L (canary-records-pairwise)");
    const secondCid = await addRecord(
      stack,
      alice,
      second,
      (c) => ({
        [alice.address]: scopes.forRecord({ cid: c, resourceType: "Observation", categories: ["laboratory"] }),
        [pairwiseAddress]: pairwiseScopes.forRecord({
          cid: c,
          resourceType: "Observation",
          categories: ["laboratory"],
        }),
      }),
      [clinic2],
    );
    // A grant from the main address does not count once the link routes clinic2 to the pairwise account.
    const expiry = await dayAhead(stack);
    await registryAs(stack, pairwise).grant({
      grantee: clinic2.address,
      scope: pairwiseScopes.id("category:laboratory"),
      purpose: "Treatment",
      expiry,
    });
    await synced(stack);
    expectProblem(await askKey(stack, clinic2, alice, secondCid), 403, "CONSENT_REQUIRED");

    const domain = await stack.services.chain.registry.domain();
    const link = await signConsentAddressLink(alice.wallet, pairwise, { grantee: clinic2.address }, domain);
    const put = await request(stack, "PUT", "/v1/consent-links", { token: alice.token, json: link });
    expect(put.status, put.text).to.equal(200);
    expect(put.json).to.include({ consentAddress: pairwiseAddress, grantee: clinic2.address });

    const { key, plaintext } = await readRecord(stack, clinic2, alice, secondCid);
    expect(plaintext).to.deep.equal(second.plaintext);
    expect(key).to.include({ consentAddress: pairwiseAddress, scope: pairwiseScopes.id("category:laboratory") });

    // Someone else cannot file Alice's link, and an older link of the pair is refused.
    expectProblem(
      await request(stack, "PUT", "/v1/consent-links", { token: bob.token, json: link }),
      403,
      "LINK_NOT_YOURS",
    );
    const older = await signConsentAddressLink(
      alice.wallet,
      pairwise,
      { grantee: clinic2.address, issuedAt: link.issuedAt - 60 },
      domain,
    );
    expectProblem(
      await request(stack, "PUT", "/v1/consent-links", { token: alice.token, json: older }),
      409,
      "LINK_SUPERSEDED",
    );
    const forged = { ...link, grantee: bob.wallet.address };
    expectProblem(
      await request(stack, "PUT", "/v1/consent-links", { token: alice.token, json: forged }),
      400,
      "INVALID_CONSENT_ADDRESS_LINK",
    );
    const links = await request(stack, "GET", "/v1/consent-links", { token: alice.token });
    expect((links.json as { links: { grantee: string }[] }).links.map((l) => l.grantee)).to.deep.equal([
      clinic2.address,
    ]);
  });

  it("break-glass: the registered emergency grantee gets the key only within the window it opened", async function () {
    const card = blindEmergencyScopes([laboratory]);
    await registryAs(stack, alice.wallet).setEmergencyGrantee(doctor.address, {
      maxDurationSeconds: 120,
      scopes: card,
    });
    await synced(stack);
    expectProblem(await askKey(stack, doctor, alice, cid, "Emergency"), 403, "CONSENT_REQUIRED");

    await registryAs(stack, doctor.wallet).breakGlass(alice.address, laboratory, { scopes: card });
    await synced(stack);
    const { key, plaintext } = await readRecord(stack, doctor, alice, cid, "Emergency");
    expect(plaintext).to.deep.equal(record.plaintext);
    expect(key).to.include({ emergency: true, purpose: "Emergency", scope: laboratory });
    const release = (await auditEventsOf(stack, alice.address)).find((e) => e.type === "emergency_release");
    expect(release).to.include({ decision: "permit", reason: "EMERGENCY_ACCESS", actor: doctor.address, purpose: 3 });

    await stack.provider.send("evm_increaseTime", [121]);
    await stack.mine();
    await synced(stack);
    expectProblem(await askKey(stack, doctor, alice, cid, "Emergency"), 403, "CONSENT_REQUIRED");
  });

  it("a stale consent index refuses with 503 INDEXER_STALE naming the indexer, and audits the deny", async function () {
    this.timeout(60_000);
    const indexer = stack.services.chain.indexer;
    await indexer.stop();
    try {
      const staleAfter = stack.config.chain.staleAfterMs;
      await new Promise((resolve) => setTimeout(resolve, staleAfter + 500));
      const res = await askKey(stack, clinic, alice, cid);
      expectProblem(res, 503, "INDEXER_STALE");
      expect(res.json).to.include({ dependency: "indexer" });
      const last = (await auditEventsOf(stack, alice.address)).at(-1)!;
      expect(last).to.include({ type: "access_denied", reason: "INDEXER_STALE", actor: clinic.address });
    } finally {
      await indexer.start();
    }
    await synced(stack);
    expect((await askKey(stack, clinic, alice, cid)).status).to.equal(200);
  });

  it("refuses a record without the owner's own wrap, an unstaged CID, and a malformed wrap", async function () {
    const other = await encryptRecord("Observation: glucose (canary-records-refusals)");
    const up = await upload(stack, alice.token, other.ciphertext);
    const otherCid = (up.json as { cid: string }).cid;
    const scopeIds = { [alice.address]: [laboratory] };
    expectProblem(
      await request(stack, "POST", "/v1/records", {
        token: alice.token,
        json: { cid: otherCid, scopeIds, wraps: [wrapFor(other.dek, otherCid, clinic)] },
      }),
      400,
      "SELF_WRAP_REQUIRED",
    );
    expectProblem(
      await request(stack, "POST", "/v1/records", {
        token: bob.token,
        json: { cid: otherCid, scopeIds, wraps: [wrapFor(other.dek, otherCid, bob)] },
      }),
      409,
      "UPLOAD_NOT_STAGED",
    );
    const bad = wrapFor(other.dek, otherCid, alice);
    const tampered = Buffer.from(bad.wrap, "base64url");
    tampered[0] = 2;
    expectProblem(
      await request(stack, "POST", "/v1/records", {
        token: alice.token,
        json: { cid: otherCid, scopeIds, wraps: [{ ...bad, wrap: tampered.toString("base64url") }] },
      }),
      400,
      "INVALID_WRAP",
    );
    expectProblem(await request(stack, "GET", "/v1/records", {}), 401, "NOT_SIGNED_IN");
  });

  it("refuses an upload over the configured limit with 413, by its declared length", async function () {
    const res = await upload(stack, alice.token, randomBytes(UPLOAD_LIMIT + 1));
    expectProblem(res, 413, "UPLOAD_TOO_LARGE");
  });

  it("refuses a streamed upload without a declared length with 413 once it passes the limit", async function () {
    const chunk = randomBytes(64 * 1024);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > UPLOAD_LIMIT + chunk.length) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    const res = await request(stack, "PUT", "/v1/uploads", {
      token: alice.token,
      body,
      headers: { "content-type": "application/octet-stream" },
    });
    expectProblem(res, 413, "UPLOAD_TOO_LARGE");
  });

  it("a connection dropped mid-upload leaves nothing pinned and nothing to register", async function () {
    const body = randomBytes(200 * 1024);
    const half = body.subarray(0, 100 * 1024);
    const cidOf = async (bytes: Uint8Array) => CID.createV1(raw.code, await sha256.digest(bytes)).toString();
    const url = new URL(stack.url);
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => {
        socket.write(
          `PUT /v1/uploads HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${alice.token}\r\n` +
            `Content-Type: application/octet-stream\r\nContent-Length: ${body.length}\r\n\r\n`,
        );
        socket.write(half, () => setTimeout(() => (socket.destroy(), resolve()), 300));
      });
      socket.on("error", reject);
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const bytes of [body, half]) {
      const c = await cidOf(bytes);
      expect(await stack.services.content.has(c), `content ${c}`).to.equal(false);
      expectProblem(
        await request(stack, "POST", "/v1/records", {
          token: alice.token,
          json: { cid: c, scopeIds: { [alice.address]: [laboratory] }, wraps: [wrapFor(record.dek, c, alice)] },
        }),
        409,
        "UPLOAD_NOT_STAGED",
      );
    }
    // The same bytes sent whole are kept: the check above could have seen them.
    const whole = await upload(stack, alice.token, body);
    expect(whole.status, whole.text).to.equal(201);
    expect((whole.json as { cid: string }).cid).to.equal(await cidOf(body));
    expect(await stack.services.content.has(await cidOf(body))).to.equal(true);
  });

  it("unpins an expired upload nobody registered, but never a CID that is some patient's record", async function () {
    const expire = unpinUnregistered(stack.app as unknown as RecordsApp, stack.app.log, await receiptsOf(stack));
    const stray = (await upload(stack, alice.token, randomBytes(1024))).json as { cid: string; size: number };
    expect((await stack.services.content.stat(stray.cid)).pinned).to.equal(true);
    await expire({ cid: stray.cid, patient: alice.address, size: stray.size, expiresAt: 0 });
    expect((await stack.services.content.stat(stray.cid)).pinned).to.equal(false);
    // Bob re-uploads Alice's ciphertext (a grantee can fetch it) and lets it expire: her record stays pinned.
    const copy = await upload(stack, bob.token, record.ciphertext);
    expect((copy.json as { cid: string }).cid).to.equal(cid);
    await expire({ cid, patient: bob.address, size: record.ciphertext.length, expiresAt: 0 });
    expect((await stack.services.content.stat(cid)).pinned).to.equal(true);
  });

  it("moves the manifest pointer by compare-and-swap; a stale expected pointer gets 409 with the current one", async function () {
    const first = (await upload(stack, alice.token, randomBytes(512))).json as { cid: string };
    const second = (await upload(stack, alice.token, randomBytes(512))).json as { cid: string };
    expect((await request(stack, "GET", "/v1/manifest", { token: alice.token })).json).to.deep.equal({
      cid: null,
      version: 0,
      updatedAt: null,
    });
    const put1 = await request(stack, "PUT", "/v1/manifest", {
      token: alice.token,
      json: { expected: null, cid: first.cid },
    });
    expect(put1.status, put1.text).to.equal(200);
    expect(put1.json).to.include({ cid: first.cid, version: 1 });
    const stale = await request(stack, "PUT", "/v1/manifest", {
      token: alice.token,
      json: { expected: null, cid: second.cid },
    });
    expectProblem(stale, 409, "MANIFEST_CONFLICT");
    expect((stale.json as { current: unknown }).current).to.include({ cid: first.cid, version: 1 });
    const put2 = await request(stack, "PUT", "/v1/manifest", {
      token: alice.token,
      json: { expected: first.cid, cid: second.cid },
    });
    expect(put2.json).to.include({ cid: second.cid, version: 2 });
    // Bob's pointer is his own.
    expect((await request(stack, "GET", "/v1/manifest", { token: bob.token })).json).to.include({ version: 0 });
  });
});
