// What makes a record list recoverable without this gateway's state, on the real stack (anvil, Helia on disk, SQLite,
// the gateway on a socket): the relay of a wallet's record-list anchor (checked before any gas: signature, size,
// nonce; its own daily quota), the sealed-manifest route (only pinned content with the manifest header), and
// registering a record again after the database is lost (a restore, audited as such) only for the address whose
// registration receipt is pinned here.
import { randomBytes } from "node:crypto";
import { rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { manifestAnchorNonce, readManifestAnchor, signManifestAnchor } from "@hygeia/chain";
import { computeAddress, hexlify, SigningKey } from "ethers";
import { startTestStack, type TestStack } from "../support/stack.ts";
import type { RecordsApp } from "../../src/plugins/records/index.ts";
import { unpinUnregistered } from "../../src/plugins/records/uploads.ts";
import { receiptsOf } from "./world.ts";
import { expectProblem, request } from "../support/http.ts";
import { addRecord, auditEventsOf, encryptRecord, signInParties, upload, wrapFor, type Party } from "./world.ts";

const MANIFEST_HEADER = Buffer.from([0x48, 0x59, 0x47, 0x4d, 0x02]);

describe("gateway record-list anchors, sealed manifests and restore", function () {
  let stack: TestStack;
  let alice: Party;
  let bob: Party;
  let registry: string;

  before(async function () {
    // Audit anchoring only on demand: the relayer's transaction count is the test's to read.
    stack = await startTestStack({
      config: { limits: { anchorsPerDay: 5 }, audit: { anchorEveryMs: 86_400_000, anchorEveryEvents: 1_000_000 } },
    });
    [alice, bob] = (await signInParties(stack, [stack.accounts.alice, stack.accounts.bob])) as [Party, Party];
    registry = stack.deployment.contracts.EthereumDIDRegistry;
  });
  after(async function () {
    await stack?.close();
  });

  const anchor = (token: string, body: unknown) =>
    request(stack, "POST", "/v1/manifest/anchors", { token, json: body });

  it("relays a signed anchor (the relayer pays) and refuses a replay of its nonce with 409 and the current one", async function () {
    const key = randomBytes(32);
    const identity = computeAddress(new SigningKey(key));
    const value = randomBytes(70);
    const signed = signManifestAnchor(key, registry, 0, value);
    const sent = await anchor(alice.token, signed);
    expect(sent.status, sent.text).to.equal(200);
    expect((sent.json as { hash: string }).hash).to.match(/^0x[0-9a-f]{64}$/);
    expect(hexlify((await readManifestAnchor(stack.provider, registry, identity))!.value)).to.equal(hexlify(value));

    const replay = expectProblem(await anchor(alice.token, signed), 409, "ANCHOR_NONCE_STALE");
    expect(replay.nonce).to.equal(1);
    expect(await manifestAnchorNonce(stack.provider, registry, identity)).to.equal(1);
  });

  it("refuses before any gas: another key's signature, an oversized value, malformed fields", async function () {
    const key = randomBytes(32);
    const signed = signManifestAnchor(key, registry, 0, randomBytes(40));
    const forged = { ...signed, identity: computeAddress(new SigningKey(randomBytes(32))) };
    expectProblem(await anchor(alice.token, forged), 400, "INVALID_SIGNATURE");
    const big = { ...signed, value: hexlify(randomBytes(257)) };
    expect((await anchor(alice.token, big)).status).to.equal(400);
    expect((await anchor(alice.token, { ...signed, nonce: -1 })).status).to.equal(400);
    expect((await anchor(alice.token, { ...signed, signature: "0x12" })).status).to.equal(400);
    expect((await anchor(alice.token, { ...signed, extra: 1 })).status).to.equal(400);
    expectProblem(await request(stack, "POST", "/v1/manifest/anchors", { json: signed }), 401);
  });

  it("relays one of several concurrent anchors for one nonce and refuses the others before gas (409)", async function () {
    const key = randomBytes(32);
    const relayer = stack.accounts.gateway.address;
    const sent = await stack.provider.getTransactionCount(relayer);
    // A block a second, as on a real chain: without one anchor per identity at a time, all four would pass the
    // nonce check and the simulation before the first is mined, and three would revert at the relayer's cost.
    await stack.provider.send("evm_setAutomine", [false]);
    await stack.provider.send("evm_setIntervalMining", [1]);
    let answers;
    try {
      answers = await Promise.all(
        Array.from({ length: 4 }, () => anchor(bob.token, signManifestAnchor(key, registry, 0, randomBytes(40)))),
      );
    } finally {
      await stack.provider.send("evm_setIntervalMining", [0]);
      await stack.provider.send("evm_setAutomine", [true]);
    }
    expect(answers.map((answer) => answer.status).sort()).to.deep.equal([200, 409, 409, 409]);
    for (const answer of answers.filter((a) => a.status === 409)) expectProblem(answer, 409, "ANCHOR_NONCE_STALE");
    expect(await stack.provider.getTransactionCount(relayer)).to.equal(sent + 1);
  });

  it("counts anchors against their own daily quota per address (429 ANCHOR_QUOTA_EXCEEDED), not the consent relay's", async function () {
    // Alice used one of her five today; four more pass, the sixth is refused with the time to wait.
    for (let i = 0; i < 4; i++) {
      const ok = await anchor(alice.token, signManifestAnchor(randomBytes(32), registry, 0, randomBytes(40)));
      expect(ok.status, ok.text).to.equal(200);
    }
    const over = await anchor(alice.token, signManifestAnchor(randomBytes(32), registry, 0, randomBytes(40)));
    const problem = expectProblem(over, 429, "ANCHOR_QUOTA_EXCEEDED");
    expect(problem.retryAfter).to.be.a("number").above(0);
    // Bob's budget is his own.
    const bobs = await anchor(bob.token, signManifestAnchor(randomBytes(32), registry, 0, randomBytes(40)));
    expect(bobs.status, bobs.text).to.equal(200);
  });

  it("serves a pinned sealed manifest by CID to any signed-in wallet, and 404 for anything else", async function () {
    const sealed = Buffer.concat([MANIFEST_HEADER, randomBytes(200)]);
    const up = await upload(stack, alice.token, sealed);
    const cid = (up.json as { cid: string }).cid;
    const read = await fetch(`${stack.url}/v1/manifests/${cid}`, { headers: { authorization: `Bearer ${bob.token}` } });
    expect(read.status).to.equal(200);
    expect(read.headers.get("cache-control")).to.equal("no-store");
    expect(Buffer.from(await read.arrayBuffer()).equals(sealed)).to.equal(true);

    const record = await encryptRecord("not a manifest");
    const recordCid = await addRecord(stack, alice, record, () => ({ [alice.address]: [hexlify(randomBytes(32))] }));
    expectProblem(
      await request(stack, "GET", `/v1/manifests/${recordCid}`, { token: bob.token }),
      404,
      "MANIFEST_NOT_FOUND",
    );
    const unknown = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
    expectProblem(
      await request(stack, "GET", `/v1/manifests/${unknown}`, { token: bob.token }),
      404,
      "MANIFEST_NOT_FOUND",
    );
    expect((await request(stack, "GET", "/v1/manifests/not-a-cid", { token: bob.token })).status).to.equal(400);
    expectProblem(await request(stack, "GET", `/v1/manifests/${cid}`), 401);
  });

  it("after the database is lost, only the address that registered a record may register it again (RECORD_RESTORED)", async function () {
    const record = await encryptRecord("restored record");
    const ids = () => ({ [alice.address]: [hexlify(randomBytes(32))] });
    const cid = await addRecord(stack, alice, record, ids);

    await stack.restartGateway({ forgetDatabase: true });
    [alice, bob] = (await signInParties(stack, [stack.accounts.alice, stack.accounts.bob])) as [Party, Party];
    const register = (who: Party, wraps: { recipient: string; wrap: string }[]) =>
      request(stack, "POST", "/v1/records", {
        token: who.token,
        json: { cid, scopeIds: { [who.address]: [hexlify(randomBytes(32))] }, wraps },
      });

    // Bob knows the CID (a grantee fetched it): he cannot restore it as his, nor register a re-upload of its bytes.
    expectProblem(await register(bob, [wrapFor(record.dek, cid, bob)]), 409, "UPLOAD_NOT_STAGED");
    const copy = await upload(stack, bob.token, record.ciphertext);
    expect((copy.json as { cid: string }).cid).to.equal(cid);
    expectProblem(await register(bob, [wrapFor(record.dek, cid, bob)]), 409, "RECORD_EXISTS");
    // His copy expiring does not unpin the record, though the database holds no wrap of it now.
    const expire = unpinUnregistered(stack.app as unknown as RecordsApp, stack.app.log, await receiptsOf(stack));
    await expire({ cid, patient: bob.address, size: record.ciphertext.length, expiresAt: 0 });
    expect((await stack.services.content.stat(cid)).pinned).to.equal(true);

    // Alice restores it without uploading anything; a second restore is RECORD_EXISTS.
    const restored = await register(alice, [wrapFor(record.dek, cid, alice)]);
    expect(restored.status, restored.text).to.equal(201);
    expect((restored.json as { size: number }).size).to.equal(record.ciphertext.length);
    const reasons = (await auditEventsOf(stack, alice.address)).map((event) => event.reason);
    expect(reasons).to.include("RECORD_RESTORED");
    expectProblem(await register(alice, [wrapFor(record.dek, cid, alice)]), 409, "RECORD_EXISTS");

    // Content this gateway does not hold cannot be restored by anyone.
    const elsewhere = {
      cid: "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
      scopeIds: ids(),
      wraps: [wrapFor(record.dek, cid, alice)],
    };
    expectProblem(
      await request(stack, "POST", "/v1/records", { token: alice.token, json: elsewhere }),
      409,
      "UPLOAD_NOT_STAGED",
    );
  });

  it("keys its receipts (receipt.key, 0600): without that file nobody restores, and nothing is unpinned", async function () {
    const record = await encryptRecord("a record whose receipts outlive nothing");
    const cid = await addRecord(stack, alice, record, () => ({ [alice.address]: [hexlify(randomBytes(32))] }));
    const keyFile = join(stack.config.dataDir, "receipt.key");
    expect((await stat(keyFile)).mode & 0o777).to.equal(0o600);

    await stack.restartGateway({ forgetDatabase: true, beforeStart: () => rm(keyFile) });
    [alice] = (await signInParties(stack, [stack.accounts.alice])) as [Party];
    const restore = await request(stack, "POST", "/v1/records", {
      token: alice.token,
      json: {
        cid,
        scopeIds: { [alice.address]: [hexlify(randomBytes(32))] },
        wraps: [wrapFor(record.dek, cid, alice)],
      },
    });
    expectProblem(restore, 409, "UPLOAD_NOT_STAGED");
    expect((await stack.services.content.stat(cid)).pinned).to.equal(true);
  });
});
