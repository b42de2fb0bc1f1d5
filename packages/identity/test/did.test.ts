import { expect } from "chai";
import {
  UnwrapError,
  generateDataKey,
  generateX25519KeyPair,
  unwrapKey,
  wrapKeyForRecipients,
  x25519KeysFromDidDocument,
} from "@hygeia/crypto";
import { IdentityAgent, UnknownDidError, UnresolvableDidError, dropDanglingReferences } from "../src/index.ts";
import { fund, startTestChain, type TestChain } from "./helpers/chain.ts";

describe("identity: DIDs on the local chain", function () {
  let testChain: TestChain;
  let agent: IdentityAgent;

  before(async function () {
    testChain = await startTestChain();
    agent = await IdentityAgent.create({ network: testChain.network });
  });
  after(async function () {
    await agent?.close();
    await testChain?.stop();
  });

  it("creates a did:ethr on the configured chain and resolves it", async function () {
    const alice = await agent.createDid({ alias: "alice" });
    expect(alice.did).to.match(/^did:ethr:0x7a69:0x[0-9a-fA-F]{40}$/);
    const doc = await agent.resolve(alice.did);
    expect(doc.id.toLowerCase()).to.equal(alice.did.toLowerCase());
    expect((await agent.getDid(alice.did)).alias).to.equal("alice");
    expect((await agent.resolve(`${alice.did}#controller`)).id).to.equal(doc.id); // a DID URL resolves too
  });

  it("creates a did:key and resolves it without the chain", async function () {
    const bob = await agent.createDid({ method: "key" });
    expect(bob.did).to.match(/^did:key:z/);
    const doc = await agent.resolve(bob.did);
    expect(doc.verificationMethod?.length).to.be.greaterThan(0);
  });

  it("publishes, replaces and revokes the X25519 keyAgreement key; never lists a revoked key", async function () {
    const patient = await agent.createDid();
    await fund(testChain, patient.ownerAddress!);
    const first = generateX25519KeyPair();
    await agent.publishEncryptionKey(patient.did, first.publicKey);
    let keys = await agent.encryptionKeys(patient.did);
    expect(keys.map((k) => Buffer.from(k.publicKey).toString("hex"))).to.deep.equal([
      Buffer.from(first.publicKey).toString("hex"),
    ]);

    const second = generateX25519KeyPair();
    await agent.publishEncryptionKey(patient.did, second.publicKey);
    keys = await agent.encryptionKeys(patient.did);
    expect(keys.map((k) => Buffer.from(k.publicKey).toString("hex"))).to.deep.equal([
      Buffer.from(second.publicKey).toString("hex"),
    ]);
    const doc = await agent.resolve(patient.did);
    const ids = new Set(doc.verificationMethod?.map((vm) => vm.id));
    for (const ref of doc.keyAgreement ?? []) expect(ids.has(typeof ref === "string" ? ref : ref.id)).to.equal(true);

    await agent.revokeEncryptionKey(patient.did, second.publicKey);
    expect(await agent.encryptionKeys(patient.did)).to.deep.equal([]);
  });

  it("publishing a second key replaces the first: one current key, and a sender wrapping to encryptionKeys reaches the holder of the latest", async function () {
    const patient = await agent.createDid();
    await fund(testChain, patient.ownerAddress!);
    const first = generateX25519KeyPair();
    const second = generateX25519KeyPair(); // re-running onboarding made a new key
    await agent.publishEncryptionKey(patient.did, first.publicKey);
    const result = await agent.publishEncryptionKey(patient.did, second.publicKey);
    expect(result.changed).to.equal(true);
    expect(result.transactions).to.have.length(2); // publish the new key, revoke the old one

    const keys = await agent.encryptionKeys(patient.did);
    expect(
      keys.map((k) => ({ publicKey: Buffer.from(k.publicKey).toString("hex"), current: k.current })),
    ).to.deep.equal([{ publicKey: Buffer.from(second.publicKey).toString("hex"), current: true }]);
    // A sender (another agent, fresh resolution) wraps a record key to whatever the DID lists.
    const sender = await IdentityAgent.create({ network: testChain.network, watchRegistry: false });
    try {
      const dek = generateDataKey();
      const wraps = wrapKeyForRecipients(dek, await sender.encryptionKeys(patient.did), "hygeia:record:r1");
      expect(wraps).to.have.length(1);
      expect(Buffer.from(unwrapKey(wraps[0]!.wrap, second, "hygeia:record:r1"))).to.deep.equal(Buffer.from(dek));
      expect(() => unwrapKey(wraps[0]!.wrap, first, "hygeia:record:r1")).to.throw(UnwrapError);
      // @hygeia/crypto reading the DID document directly sees the same single key.
      const fromDocument = x25519KeysFromDidDocument(await sender.resolve(patient.did));
      expect(fromDocument.map((k) => Buffer.from(k.publicKey).toString("hex"))).to.deep.equal([
        Buffer.from(second.publicKey).toString("hex"),
      ]);
    } finally {
      await sender.close();
    }
  });

  it("publishing the key that is already current sends no transaction", async function () {
    const patient = await agent.createDid();
    await fund(testChain, patient.ownerAddress!);
    const key = generateX25519KeyPair();
    expect((await agent.publishEncryptionKey(patient.did, key.publicKey)).transactions).to.have.length(1);
    const block = await testChain.provider.getBlockNumber();
    const again = await agent.publishEncryptionKey(patient.did, key.publicKey);
    expect(again).to.deep.equal({ changed: false, transactions: [], superseded: false });
    expect(await testChain.provider.getBlockNumber()).to.equal(block);
    const renewed = await agent.publishEncryptionKey(patient.did, key.publicKey, { renew: true });
    expect(renewed.transactions).to.have.length(1);
    expect(await agent.encryptionKeys(patient.did)).to.have.length(1);
  });

  it("addEncryptionKey keeps earlier keys listed, the newest marked current and first", async function () {
    const patient = await agent.createDid();
    await fund(testChain, patient.ownerAddress!);
    const laptop = generateX25519KeyPair();
    const phone = generateX25519KeyPair();
    await agent.publishEncryptionKey(patient.did, laptop.publicKey);
    await agent.addEncryptionKey(patient.did, phone.publicKey);
    const hexOf = (k: { publicKey: Uint8Array; current: boolean }) => [
      Buffer.from(k.publicKey).toString("hex"),
      k.current,
    ];
    expect((await agent.encryptionKeys(patient.did)).map(hexOf)).to.deep.equal([
      [Buffer.from(phone.publicKey).toString("hex"), true],
      [Buffer.from(laptop.publicKey).toString("hex"), false],
    ]);
    expect(Buffer.from((await agent.currentEncryptionKey(patient.did))!.publicKey)).to.deep.equal(
      Buffer.from(phone.publicKey),
    );
    // Making the laptop's key current again (republished) and the only one.
    await agent.publishEncryptionKey(patient.did, laptop.publicKey);
    expect((await agent.encryptionKeys(patient.did)).map(hexOf)).to.deep.equal([
      [Buffer.from(laptop.publicKey).toString("hex"), true],
    ]);
  });

  it("drops keyAgreement references to verification methods that no longer exist", function () {
    const doc = dropDanglingReferences({
      id: "did:ethr:0x7a69:0x0000000000000000000000000000000000000001",
      verificationMethod: [{ id: "#a", type: "X25519KeyAgreementKey2019", controller: "x", publicKeyBase64: "" }],
      keyAgreement: ["#a", "#gone"],
    });
    expect(doc.keyAgreement).to.deep.equal(["#a"]);
  });

  it("adds and revokes a delegate, and rotates the owner key", async function () {
    const clinic = await agent.createDid();
    await fund(testChain, clinic.ownerAddress!);
    const delegate = testChain.wallet(5).address;
    await agent.addDelegate(clinic.did, delegate);
    let doc = await agent.resolve(clinic.did);
    expect(JSON.stringify(doc.verificationMethod).toLowerCase()).to.contain(delegate.toLowerCase().slice(2));
    await agent.revokeDelegate(clinic.did, delegate);
    // ERC-1056 ends a delegate at the revoking block's timestamp and the resolver compares with the wall clock:
    // it is gone once the clock has passed that second.
    const revokedAt = (await testChain.provider.getBlock("latest"))!.timestamp;
    while (Date.now() / 1000 <= revokedAt + 1) await new Promise((r) => setTimeout(r, 100));
    agent.resolver.invalidate(clinic.did);
    doc = await agent.resolve(clinic.did);
    expect(JSON.stringify(doc.verificationMethod).toLowerCase()).not.to.contain(delegate.toLowerCase().slice(2));

    const rotated = await agent.rotateOwnerKey(clinic.did);
    expect(rotated.did).to.equal(clinic.did);
    expect(rotated.ownerAddress).not.to.equal(clinic.ownerAddress);
    await fund(testChain, rotated.ownerAddress!);
    doc = await agent.resolve(clinic.did);
    expect(JSON.stringify(doc).toLowerCase()).to.contain(rotated.ownerAddress!.toLowerCase().slice(2));
    // The new owner can write: publish a key with it.
    await agent.publishEncryptionKey(clinic.did, generateX25519KeyPair().publicKey);
    expect(await agent.encryptionKeys(clinic.did)).to.have.length(1);
  });

  it("revoking a key never published, or a delegate never added, sends nothing and says changed: false", async function () {
    const patient = await agent.createDid();
    await fund(testChain, patient.ownerAddress!);
    const nonce = () => testChain.provider.getTransactionCount(patient.ownerAddress!);
    const noop = { changed: false, transactions: [] };
    expect(await agent.revokeEncryptionKey(patient.did, generateX25519KeyPair().publicKey)).to.deep.equal(noop);
    expect(await agent.revokeDelegate(patient.did, testChain.wallet(6).address)).to.deep.equal(noop);
    expect(await nonce()).to.equal(0);

    // A listed key / valid delegate is revoked with one transaction; revoking it again is a no-op.
    const key = generateX25519KeyPair();
    await agent.publishEncryptionKey(patient.did, key.publicKey);
    const revoked = await agent.revokeEncryptionKey(patient.did, key.publicKey);
    expect(revoked.changed).to.equal(true);
    expect(revoked.transactions).to.have.length(1);
    expect(await agent.revokeEncryptionKey(patient.did, key.publicKey)).to.deep.equal(noop);
    const delegate = testChain.wallet(6).address;
    await agent.addDelegate(patient.did, delegate); // veriKey
    expect(await agent.revokeDelegate(patient.did, delegate, "sigAuth")).to.deep.equal(noop); // another type
    const removed = await agent.revokeDelegate(patient.did, delegate);
    expect([removed.changed, removed.transactions.length]).to.deep.equal([true, 1]);
    expect(await agent.revokeDelegate(patient.did, delegate)).to.deep.equal(noop);
    expect(await nonce()).to.equal(4); // publish, revoke key, add delegate, revoke delegate
  });

  it("invalidates the cache when someone else changes the DID on-chain", async function () {
    const other = await IdentityAgent.create({ network: testChain.network });
    try {
      const remote = await other.createDid();
      await fund(testChain, remote.ownerAddress!);
      expect(await agent.encryptionKeys(remote.did)).to.deep.equal([]); // cached by `agent`
      await other.publishEncryptionKey(remote.did, generateX25519KeyPair().publicKey);
      const deadline = Date.now() + 10_000;
      let keys = await agent.encryptionKeys(remote.did);
      while (keys.length === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        keys = await agent.encryptionKeys(remote.did);
      }
      expect(keys).to.have.length(1);
    } finally {
      await other.close();
    }
  });

  it("gives typed errors for unknown and malformed DIDs", async function () {
    for (const bad of [
      "did:web:example.com",
      "not-a-did",
      "did:ethr:0x1:0x0000000000000000000000000000000000000001",
      "did:" + "a".repeat(10_000),
    ]) {
      try {
        await agent.resolve(bad);
        expect.fail(`resolved ${bad.slice(0, 40)}`);
      } catch (error) {
        expect(error).to.be.instanceOf(UnknownDidError);
      }
    }
  });

  it("persists keys in node:sqlite with private keys sealed", async function () {
    const { mkdtemp, rm } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { DatabaseSync } = await import("node:sqlite");
    const dir = await mkdtemp(join(tmpdir(), "hygeia-identity-"));
    const secretBoxKey = "11".repeat(32);
    try {
      const path = join(dir, "identity.db");
      const first = await IdentityAgent.create({
        network: testChain.network,
        databasePath: path,
        secretBoxKey,
        watchRegistry: false,
      });
      const ownerKey = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
      const created = await first.importEthrDid(ownerKey, "persisted");
      const jwt = await first.signJwt(created.did, { hello: "world" });
      await first.close();
      const db = new DatabaseSync(path);
      const rows = db.prepare("SELECT sealed FROM identity_private_keys").all() as { sealed: string }[];
      db.close();
      expect(rows).to.have.length(1);
      const { readFile } = await import("node:fs/promises");
      for (const file of [path, `${path}-wal`]) {
        const bytes = await readFile(file).catch(() => Buffer.alloc(0));
        expect(bytes.toString("latin1")).not.to.contain(ownerKey); // sealed, never in clear
      }
      const again = await IdentityAgent.create({
        network: testChain.network,
        databasePath: path,
        secretBoxKey,
        watchRegistry: false,
      });
      expect((await again.listDids()).map((d) => d.did)).to.deep.equal([created.did]);
      expect((await again.signJwt(created.did, { hello: "world" })).split(".")[1]).to.equal(jwt.split(".")[1]);
      await again.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reports an unreachable chain as an unresolvable DID", async function () {
    const offline = await IdentityAgent.create({
      network: { ...testChain.network, rpcUrl: "http://127.0.0.1:9" },
      watchRegistry: false,
    });
    try {
      await offline.resolve("did:ethr:0x7a69:0x0000000000000000000000000000000000000001");
      expect.fail("resolved offline");
    } catch (error) {
      expect(error).to.be.instanceOf(UnresolvableDidError);
    } finally {
      await offline.close();
    }
  });
});
