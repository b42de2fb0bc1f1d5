import { readdir } from "node:fs/promises";
import { DatabaseSync } from "node:sqlite";
import { expect } from "chai";
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import {
  ContentNotFoundError,
  HeliaContentStore,
  InvalidArgumentError,
  InvalidCidError,
  StoreUnavailableError,
} from "../src/index.ts";
import { expectRejection } from "./helpers/expect.ts";
import { fileHandlePrototype } from "./helpers/file-handle.ts";
import { TestNodes, collect, pieces, pinRecords, testBytes } from "./helpers/nodes.ts";

const RAW_CODEC = 0x55;
const DAG_PB_CODEC = 0x70;
const ABSENT_CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";

/** The CIDv1 (raw) of one leaf block holding `bytes`: names an upload's blocks without asking the store. */
async function rawCid(bytes: Uint8Array): Promise<CID> {
  return CID.createV1(RAW_CODEC, await sha256.digest(bytes));
}

for (const blockstore of ["pack", "flatfs"] as const) {
  describe(`HeliaContentStore (${blockstore} blockstore)`, () => {
    const nodes = new TestNodes();
    let store: HeliaContentStore;

    before(async () => {
      store = await nodes.node({ blockstore, listen: [] });
    });
    after(() => nodes.cleanup());

    for (const length of [0, 1, 262_143, 262_144, 262_145, 3_000_001]) {
      it(`round-trips ${length} bytes streamed in pieces`, async () => {
        const data = testBytes(length, length + 7);
        const { cid, size } = await store.put(pieces(data, 65_536));
        expect(size).to.equal(length);
        expect(cid.version).to.equal(1);
        expect(Buffer.compare(await collect(store.get(cid)), data)).to.equal(0);
        expect(Buffer.compare(await collect(store.get(cid.toString())), data)).to.equal(0);
      });
    }

    it("uses raw leaves: a one-block file is a raw CID, a larger one a dag-pb root", async () => {
      const small = await store.put([testBytes(1000)]);
      expect(small.cid.code).to.equal(RAW_CODEC);
      const large = await store.put([testBytes(2_000_000)]);
      expect(large.cid.code).to.equal(DAG_PB_CODEC);
    });

    it("is content-addressed: the same bytes give the same CID", async () => {
      const data = testBytes(500_000, 3);
      const first = await store.put([data]);
      const second = await store.put(pieces(data, 1000));
      expect(second.cid.equals(first.cid)).to.equal(true);
    });

    it("concurrent puts of the same bytes both succeed with one pinned CID", async () => {
      const data = testBytes(2_200_000, 17);
      const [first, second] = await Promise.all([store.put(pieces(data, 300_000)), store.put([data])]);
      expect(first.cid.equals(second.cid)).to.equal(true);
      expect((await store.stat(first.cid)).pinned).to.equal(true);
    });

    it("pins on put; has, stat, unpin, pin", async () => {
      const { cid } = await store.put([testBytes(300_000, 9)]);
      expect(await store.has(cid)).to.equal(true);
      expect(await store.stat(cid)).to.deep.include({ size: 300_000, pinned: true });
      await store.unpin(cid);
      expect((await store.stat(cid)).pinned).to.equal(false);
      await store.unpin(cid); // no-op
      await store.pin(cid);
      await store.pin(cid); // no-op
      expect((await store.stat(cid)).pinned).to.equal(true);
    });

    it("put writes the same pin records as Helia's own pins.add, and Helia's unpin removes them all", async () => {
      const data = testBytes(3_500_000, 23); // 4 leaves and a root
      const [dirA, dirB] = [await nodes.dir(), await nodes.dir()];
      const [a, b] = [
        await nodes.node({ blockstore, dataDir: dirA, listen: [] }),
        await nodes.node({ blockstore, dataDir: dirB, listen: [] }),
      ];
      const { cid } = await a.put([data]); // pinFreshDag
      await b.put([data]);
      await b.unpin(cid); // Helia's pins.rm
      expect(pinRecords(dirB)).to.deep.equal(new Map());
      await b.pin(cid); // Helia's pins.add
      const records = pinRecords(dirA);
      expect(records.size).to.equal(6); // 5 blocks and the root's pin
      expect(records).to.deep.equal(pinRecords(dirB));
      await a.unpin(cid);
      expect(pinRecords(dirA)).to.deep.equal(new Map());
    });

    it("put flushes its blocks to stable storage before it records the pin, in a few syncs, not one per block", async () => {
      const events: string[] = [];
      const prototype = await fileHandlePrototype();
      const { datasync, sync } = prototype;
      const exec = DatabaseSync.prototype.exec;
      prototype.datasync = function (this: unknown) {
        events.push("flush");
        return datasync.call(this);
      };
      prototype.sync = function (this: unknown) {
        events.push("flush");
        return sync.call(this);
      };
      DatabaseSync.prototype.exec = function (this: DatabaseSync, sql: string) {
        if (sql === "BEGIN IMMEDIATE") events.push("pin");
        return exec.call(this, sql);
      };
      try {
        await store.put([testBytes(3_500_000, 41)]); // 4 blocks
      } finally {
        Object.assign(prototype, { datasync, sync });
        DatabaseSync.prototype.exec = exec;
      }
      const pin = events.indexOf("pin");
      expect(pin, events.join(" ")).to.be.greaterThan(0);
      expect(events.slice(0, pin)).to.include("flush");
      // pack: one fdatasync of the one segment written; flatfs: one per block file, then its (new) directories
      const flushes = events.slice(0, pin).filter((event) => event === "flush").length;
      if (blockstore === "pack") expect(flushes).to.equal(1);
      else expect(flushes).to.be.within(4, 12);
    });

    it("has() answers from the local store only", async () => {
      expect(await store.has(ABSENT_CID)).to.equal(false);
    });

    it("rejects malformed CIDs with InvalidCidError", async () => {
      for (const bad of ["", "not-a-cid", " bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", "Qm123"]) {
        expect(() => store.get(bad), bad).to.throw(InvalidCidError);
        await expectRejection(store.has(bad), InvalidCidError);
        await expectRejection(store.stat(bad), InvalidCidError);
        await expectRejection(store.pin(bad), InvalidCidError);
      }
      // @ts-expect-error a number is not a CID
      expect(() => store.get(42)).to.throw(InvalidCidError);
    });

    it("rejects a source that is not an iterable of bytes", async () => {
      // @ts-expect-error not a byte source
      await expectRejection(store.put("text"), InvalidArgumentError);
      // @ts-expect-error chunks must be Uint8Array
      await expectRejection(store.put([["x"]]), InvalidArgumentError);
      await expectRejection(
        store.get(ABSENT_CID, { timeoutMs: 0 })[Symbol.asyncIterator]().next(),
        InvalidArgumentError,
      );
    });

    it("a CID nobody has ends in ContentNotFoundError within the timeout, not a hang", async () => {
      const started = Date.now();
      await expectRejection(collect(store.get(ABSENT_CID, { timeoutMs: 400 })), ContentNotFoundError);
      await expectRejection(store.stat(ABSENT_CID, { timeoutMs: 400 }), ContentNotFoundError);
      await expectRejection(store.pin(ABSENT_CID, { timeoutMs: 400 }), ContentNotFoundError);
      expect(Date.now() - started).to.be.below(4_000);
    });

    it("the caller's abort signal wins, with its own reason", async () => {
      const reason = new Error("user cancelled");
      const controller = new AbortController();
      setTimeout(() => controller.abort(reason), 50);
      const error = await expectRejection(collect(store.get(ABSENT_CID, { signal: controller.signal })), Error);
      expect(error).to.equal(reason);
    });

    it("a source that fails mid-way rejects put with the source's error", async () => {
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield testBytes(400_000, 5);
        throw new Error("disk read failed");
      }
      const error = await expectRejection(store.put(failing()), Error);
      expect(error.message).to.equal("disk read failed");
    });

    it("gc removes an unpinned file's and an aborted put's blocks, never a pinned file's or a running put's", async () => {
      const kept = testBytes(1_500_000, 31);
      const keptCid = (await store.put(pieces(kept, 65_536))).cid;
      const unpinned = await store.put([testBytes(30_000, 32)]);
      await store.unpin(unpinned.cid);
      // A put that stops mid-way (a dropped upload): two full leaves, then it waits, then fails.
      const leafA = testBytes(1_048_576, 33);
      const leafB = testBytes(1_048_576, 34);
      const names = await Promise.all([leafA, leafB].map(async (leaf) => rawCid(leaf)));
      let fail!: () => void;
      const failing = new Promise<void>((resolve) => (fail = resolve));
      async function* dropped(): AsyncGenerator<Uint8Array> {
        yield leafA;
        yield leafB;
        yield new Uint8Array(10);
        await failing;
        throw new Error("the client closed the connection");
      }
      const put = store.put(dropped()).then(
        () => expect.fail("the put should fail"),
        (error: unknown) => error,
      );
      for (let tries = 0; !(await store.has(names[1]!)); tries++) {
        expect(tries).to.be.lessThan(200);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      // While the put runs, its written (unpinned) blocks are not garbage.
      await store.gc();
      expect(await store.has(names[0]!)).to.equal(true);
      expect(await store.has(names[1]!)).to.equal(true);
      expect(await store.has(unpinned.cid)).to.equal(false);
      fail();
      expect(((await put) as Error).message).to.equal("the client closed the connection");
      const { removed } = await store.gc();
      expect(removed).to.be.at.least(2);
      expect(await store.has(names[0]!)).to.equal(false);
      expect(await store.has(names[1]!)).to.equal(false);
      expect(Buffer.compare(await collect(store.get(keptCid)), kept)).to.equal(0);
      expect((await store.stat(keptCid)).pinned).to.equal(true);
      expect(await store.gc()).to.deep.equal({ removed: 0 });
    });

    it("a put running across a gc completes whole; an aborted gc rejects with the caller's reason", async () => {
      const data = testBytes(2_200_000, 35);
      let go!: () => void;
      const gate = new Promise<void>((resolve) => (go = resolve));
      async function* slow(): AsyncGenerator<Uint8Array> {
        yield data.subarray(0, 2_100_000);
        await gate;
        yield data.subarray(2_100_000);
      }
      const put = store.put(slow());
      const first = await rawCid(data.subarray(0, 1_048_576));
      for (let tries = 0; !(await store.has(first)); tries++) {
        expect(tries).to.be.lessThan(200);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      await store.gc();
      go();
      const { cid } = await put;
      expect(Buffer.compare(await collect(store.get(cid)), data)).to.equal(0);
      const reason = new Error("operator stopped the gc");
      const controller = new AbortController();
      controller.abort(reason);
      expect(await expectRejection(store.gc({ signal: controller.signal }), Error)).to.equal(reason);
    });

    it("persists blocks, pins and peer id across restarts of the same data dir", async () => {
      const dataDir = await nodes.dir();
      const first = await HeliaContentStore.create({ dataDir, blockstore, listen: [] });
      const data = testBytes(700_000, 11);
      const { cid } = await first.put([data]);
      const peerId = first.peerId;
      await first.close();
      await first.close(); // idempotent
      await expectRejection(first.has(cid), StoreUnavailableError);
      expect(() => first.get(cid)).to.throw(StoreUnavailableError);

      const second = await nodes.node({ blockstore, dataDir, listen: [] });
      expect(second.peerId).to.equal(peerId);
      expect(await second.stat(cid)).to.deep.include({ size: data.length, pinned: true });
      expect(Buffer.compare(await collect(second.get(cid, { timeoutMs: 1000 })), data)).to.equal(0);
    });

    it("closing the store ends an in-flight get with StoreUnavailableError", async () => {
      const doomed = await nodes.node({ blockstore, listen: [] });
      const pending = collect(doomed.get(ABSENT_CID, { timeoutMs: 10_000 }));
      setTimeout(() => void doomed.close(), 100);
      await expectRejection(pending, StoreUnavailableError);
    });

    it("validates options", async () => {
      await expectRejection(HeliaContentStore.create({ dataDir: "" }), InvalidArgumentError);
      await expectRejection(
        HeliaContentStore.create({ dataDir: await nodes.dir(), timeoutMs: -1 }),
        InvalidArgumentError,
      );
      await expectRejection(
        HeliaContentStore.create({ dataDir: await nodes.dir(), listen: ["nonsense"] }),
        InvalidArgumentError,
      );
      await expectRejection(store.dial("/ip4/127.0.0.1/tcp/x"), InvalidArgumentError);
    });
  });
}

describe("HeliaContentStore blockstore choice", () => {
  const nodes = new TestNodes();
  after(() => nodes.cleanup());

  it("defaults to the pack blockstore, keeps a flatfs data dir on flatfs, and refuses unknown kinds", async () => {
    const fresh = await nodes.dir();
    const data = testBytes(1_500_000, 3);
    const a = await nodes.node({ dataDir: fresh, listen: [] });
    const { cid } = await a.put([data]);
    await a.close();
    expect((await readdir(fresh)).sort())
      .to.include("packs")
      .and.not.include("blocks");

    const old = await nodes.dir();
    const b = await nodes.node({ dataDir: old, blockstore: "flatfs", listen: [] });
    const put = await b.put([data]);
    await b.close();
    const reopened = await nodes.node({ dataDir: old, listen: [] }); // no option: stays on flatfs
    expect(Buffer.compare(await collect(reopened.get(put.cid, { timeoutMs: 1000 })), data)).to.equal(0);
    expect(await readdir(old)).to.not.include("packs");
    expect(put.cid.toString()).to.equal(cid.toString());

    await expectRejection(
      HeliaContentStore.create({ dataDir: await nodes.dir(), blockstore: "leveldb" as "pack" }),
      InvalidArgumentError,
    );
  });
});
