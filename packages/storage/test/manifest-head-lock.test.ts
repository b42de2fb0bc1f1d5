// The manifest head's lock dies with its process (process-lock.ts), and an add that fails after pinning its
// record leaves nothing pinned and unlisted, unless the head had already moved (then the record is listed).
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { generateX25519KeyPair } from "@hygeia/crypto";
import { expect } from "chai";
import type { CID } from "multiformats/cid";
import { FileManifestHead, ManifestHeadLockedError, PatientRecords, StoreUnavailableError } from "../src/index.ts";
import type { ContentStore, HeliaContentStore, ManifestHead } from "../src/index.ts";
import { cidOf } from "./helpers/blocks.ts";
import { expectRejection } from "./helpers/expect.ts";
import { LAB } from "./helpers/fixtures.ts";
import { HEAD_WRITER, LOCK_HOLDER, killed, startChild } from "./helpers/lock-children.ts";
import { TestNodes, testBytes } from "./helpers/nodes.ts";

/** `store` with every put's CID noted, to find what a failed add had pinned (the edge of the unit). */
function notingPuts(store: ContentStore): { store: ContentStore; puts: CID[] } {
  const puts: CID[] = [];
  const noting: ContentStore = {
    put: async (source, options) => {
      const result = await store.put(source, options);
      puts.push(result.cid);
      return result;
    },
    get: (cid, options) => store.get(cid, options),
    has: (cid, options) => store.has(cid, options),
    stat: (cid, options) => store.stat(cid, options),
    pin: (cid, options) => store.pin(cid, options),
    unpin: (cid, options) => store.unpin(cid, options),
    gc: (options) => store.gc(options),
    close: () => store.close(),
  };
  return { store: noting, puts };
}

describe("manifest head lock", function () {
  const nodes = new TestNodes();
  const patient = generateX25519KeyPair();
  const children: ChildProcess[] = [];
  let store: HeliaContentStore;

  before(async () => {
    store = await nodes.node({ listen: [], timeoutMs: 2_000 });
  });
  afterEach(() => Promise.all(children.splice(0).map(killed)));
  after(() => nodes.cleanup());

  it("a writer SIGKILLed while moving the head never delays the next move: its lock died with it (5 kills)", async function () {
    this.timeout(180_000);
    const path = join(await nodes.dir(), "head.json");
    for (let kill = 0; kill < 5; kill++) {
      const writer = await startChild(HEAD_WRITER, [path], "moving");
      children.push(writer);
      await new Promise((resolve) => setTimeout(resolve, 150 + Math.random() * 300));
      await killed(writer);
      const head = new FileManifestHead(path); // default lockTimeoutMs (5 s): a left lock would show
      const started = Date.now();
      const current = await head.get();
      const next = { cid: cidOf(Buffer.from(`after kill ${kill}`)), version: (current?.version ?? 0) + 1 };
      expect(await head.compareAndSet(current?.cid, next)).to.equal(true);
      expect(Date.now() - started, `move after kill ${kill}`).to.be.below(1_000);
    }
  });

  it("a live writer holding the head's lock: compareAndSet gives up after lockTimeoutMs, naming its pid; nothing written", async function () {
    this.timeout(60_000);
    const path = join(await nodes.dir(), "head.json");
    const holder = await startChild(LOCK_HOLDER, ["head", path], "held");
    children.push(holder);
    const head = new FileManifestHead(path, { lockTimeoutMs: 300 });
    const error = await expectRejection(
      head.compareAndSet(undefined, { cid: cidOf(Buffer.from("x")), version: 1 }),
      ManifestHeadLockedError,
    );
    expect(error).to.be.instanceOf(StoreUnavailableError);
    expect(error.code).to.equal("MANIFEST_HEAD_LOCKED");
    expect(error.path).to.equal(path);
    expect(error.holder?.pid).to.equal(holder.pid);
    expect(error.message).to.include(`locked by process ${holder.pid}`).and.include("nothing was written");
    expect(await head.get()).to.equal(undefined);
    await killed(holder);
    expect(await head.compareAndSet(undefined, { cid: cidOf(Buffer.from("x")), version: 1 })).to.equal(true);
  });

  it("an add that fails after pinning its record (the head's lock held by another process) unpins it and lists nothing; the next add works", async function () {
    this.timeout(60_000);
    const path = join(await nodes.dir(), "head.json");
    const noted = notingPuts(store);
    const records = new PatientRecords({
      store: noted.store,
      head: new FileManifestHead(path, { lockTimeoutMs: 300 }),
      keyPair: patient,
    });
    const first = await records.addRecord(testBytes(2_000, 1), LAB);
    const holder = await startChild(LOCK_HOLDER, ["head", path], "held");
    children.push(holder);
    noted.puts.length = 0;
    await expectRejection(records.addRecord(testBytes(300_000, 2), LAB), ManifestHeadLockedError);
    // What the failed add stored: the record's ciphertext and the manifest version that was to list it.
    expect(noted.puts).to.have.length(2);
    for (const cid of noted.puts) expect((await store.stat(cid)).pinned, cid.toString()).to.equal(false);
    const latest = await records.manifest.latest();
    expect(latest?.cid.equals(first.manifest.cid)).to.equal(true);
    expect(latest?.entries).to.have.length(1);

    await killed(holder);
    const started = Date.now();
    const again = await records.addRecord(testBytes(300_000, 2), LAB);
    expect(Date.now() - started).to.be.below(2_000);
    expect(again.manifest.entries).to.have.length(2);
  });

  it("an add whose head write fails after the head moved keeps the record pinned and listed (never a dangling entry)", async () => {
    const file = new FileManifestHead(join(await nodes.dir(), "head.json"));
    // A head whose write lands and then reports a failure (as a failed directory fsync after the rename would).
    const failingAfterMove: ManifestHead = {
      get: () => file.get(),
      compareAndSet: async (expected, next) => {
        await file.compareAndSet(expected, next);
        throw new StoreUnavailableError("fsync of the head's directory failed");
      },
    };
    const noted = notingPuts(store);
    const records = new PatientRecords({ store: noted.store, head: failingAfterMove, keyPair: patient });
    const plaintext = testBytes(5_000, 3);
    await expectRejection(records.addRecord(plaintext, LAB), StoreUnavailableError);
    const [recordCid, manifestCid] = noted.puts;
    const latest = await records.manifest.latest();
    expect(latest?.cid.equals(manifestCid!)).to.equal(true);
    expect(latest?.entries.map((entry) => entry.cid.toString())).to.deep.equal([recordCid!.toString()]);
    for (const cid of noted.puts) expect((await store.stat(cid)).pinned).to.equal(true);
    expect(Buffer.from(await records.readRecord(recordCid!)).equals(Buffer.from(plaintext))).to.equal(true);
  });
});
