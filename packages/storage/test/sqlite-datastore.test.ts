// The node's datastore on node:sqlite: the Datastore contract Helia and libp2p rely on, atomic batches and
// transactions, persistence, and the one-time migration of an earlier data dir's `datastore/` directory.
import { access, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { expect } from "chai";
import { FsDatastore } from "datastore-fs";
import { Key } from "interface-datastore";
import type { Pair } from "interface-datastore";
import { DataDirError, HeliaContentStore } from "../src/index.ts";
import {
  DATASTORE_FILE,
  LEGACY_DATASTORE_DIR,
  MIGRATED_DATASTORE_DIR,
  openNodeDatastore,
} from "../src/helia/node-datastore.ts";
import { SqliteDatastore } from "../src/helia/sqlite-datastore.ts";
import { expectRejection } from "./helpers/expect.ts";
import { TestNodes, collect, testBytes } from "./helpers/nodes.ts";

async function all<T>(source: AsyncIterable<T> | Iterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of source) items.push(item);
  return items;
}

const keysOf = (pairs: Pair[]): string[] => pairs.map(({ key }) => key.toString());

describe("SqliteDatastore", () => {
  const nodes = new TestNodes();
  let dir: string;
  let store: SqliteDatastore;

  beforeEach(async () => {
    dir = await nodes.dir();
    store = new SqliteDatastore(join(dir, "test.sqlite"));
    await store.open();
  });
  afterEach(async () => {
    await store.close();
    await nodes.cleanup();
  });

  it("puts, gets, overwrites, has, deletes; a missing key is a NotFoundError", async () => {
    const key = new Key("/pin/abc");
    await store.put(key, Uint8Array.of(1, 2, 3));
    expect(await store.get(key)).to.deep.equal(Uint8Array.of(1, 2, 3));
    await store.put(key, Uint8Array.of(9));
    expect(await store.get(key)).to.deep.equal(Uint8Array.of(9));
    expect(await store.has(key)).to.equal(true);
    await store.delete(key);
    expect(await store.has(key)).to.equal(false);
    const error = await expectRejection(store.get(key), Error);
    expect(error.name).to.equal("NotFoundError");
    await store.delete(key); // deleting a missing key is fine
    await store.put(new Key("/empty"), new Uint8Array(0));
    expect(await store.get(new Key("/empty"))).to.deep.equal(new Uint8Array(0));
  });

  it("queries by prefix in key order, across pages, with filters, orders, offset and limit", async () => {
    const names = Array.from({ length: 600 }, (_, i) => `/pinned-block/${String(i).padStart(4, "0")}`);
    for (const name of names) await store.put(new Key(name), Uint8Array.of(name.length));
    await store.put(new Key("/pin/root"), Uint8Array.of(1));
    await store.put(new Key("/pinned"), Uint8Array.of(2));
    await store.put(new Key("/peers/x"), Uint8Array.of(3));

    expect(keysOf(await all(store.query({ prefix: "/pinned-block/" })))).to.deep.equal(names);
    expect(keysOf(await all(store.query({ prefix: "/pin/" })))).to.deep.equal(["/pin/root"]);
    expect(keysOf(await all(store.query({ prefix: "/pinned" })))).to.have.length(601);
    expect(await all(store.query({}))).to.have.length(603);
    expect((await all(store.queryKeys({ prefix: "/pe" }))).map(String)).to.deep.equal(["/peers/x"]);
    const page = await all(
      store.query({
        prefix: "/pinned-block/",
        filters: [({ key }) => key.toString().endsWith("5")],
        orders: [(a, b) => (a.key.toString() < b.key.toString() ? 1 : -1)],
        offset: 1,
        limit: 2,
      }),
    );
    expect(keysOf(page)).to.deep.equal(["/pinned-block/0585", "/pinned-block/0575"]);
    expect((await all(store.query({ prefix: "/nothing" }))).length).to.equal(0);
  });

  it("putMany / getMany / deleteMany", async () => {
    const pairs = [1, 2, 3].map((i) => ({ key: new Key(`/k/${i}`), value: Uint8Array.of(i) }));
    expect((await all(store.putMany(pairs))).map(String)).to.deep.equal(["/k/1", "/k/2", "/k/3"]);
    const got = await all(store.getMany(pairs.map(({ key }) => key)));
    expect(got.map(({ value }) => value[0])).to.deep.equal([1, 2, 3]);
    await all(store.deleteMany([new Key("/k/1"), new Key("/k/3")]));
    expect(keysOf(await all(store.query({})))).to.deep.equal(["/k/2"]);
  });

  it("commits a batch atomically: one failing operation leaves none applied", async () => {
    await store.put(new Key("/keep"), Uint8Array.of(1));
    const batch = store.batch();
    batch.put(new Key("/a"), Uint8Array.of(1));
    batch.delete(new Key("/keep"));
    batch.put(new Key("/b"), null as unknown as Uint8Array); // NOT NULL: fails mid-batch
    await expectRejection(Promise.resolve(batch.commit()), Error);
    expect(keysOf(await all(store.query({})))).to.deep.equal(["/keep"]);

    const good = store.batch();
    good.put(new Key("/a"), Uint8Array.of(1));
    good.delete(new Key("/keep"));
    await good.commit();
    expect(keysOf(await all(store.query({})))).to.deep.equal(["/a"]);
  });

  it("runs a read-modify-write transaction, and rolls it back when it throws", async () => {
    const key = new Key("/counter");
    const increment = (): number =>
      store.transaction((tx) => {
        const next = (tx.get(key)?.[0] ?? 0) + 1;
        tx.put(key, Uint8Array.of(next));
        return next;
      });
    expect(increment()).to.equal(1);
    expect(increment()).to.equal(2);
    expect(() =>
      store.transaction((tx) => {
        tx.put(key, Uint8Array.of(99));
        tx.delete(new Key("/other"));
        throw new Error("changed my mind");
      }),
    ).to.throw("changed my mind");
    expect(await store.get(key)).to.deep.equal(Uint8Array.of(2));
  });

  it("commits durably (synchronous=FULL), and awaits the write barrier before every put and batch commit", async () => {
    // synchronous is per connection and the store's is private: see what the store's own open runs
    await store.close();
    const exec = DatabaseSync.prototype.exec;
    const executed: string[] = [];
    DatabaseSync.prototype.exec = function (this: DatabaseSync, sql: string) {
      executed.push(sql);
      return exec.call(this, sql);
    };
    try {
      store = new SqliteDatastore(join(dir, "test.sqlite"));
      await store.open();
    } finally {
      DatabaseSync.prototype.exec = exec;
    }
    expect(executed.join(";")).to.match(/synchronous = FULL/);
    const order: string[] = [];
    const stored = async (): Promise<string> =>
      (await Promise.all([store.has(new Key("/a")), store.has(new Key("/b"))])).join(",");
    store.setWriteBarrier(async () => {
      order.push(`barrier (/a,/b stored: ${await stored()})`); // the write it guards has not happened yet
      await new Promise((resolve) => setTimeout(resolve, 10));
      order.push("barrier done");
    });
    await store.put(new Key("/a"), Uint8Array.of(1));
    order.push("put");
    const batch = store.batch();
    batch.put(new Key("/b"), Uint8Array.of(2));
    await batch.commit();
    order.push("batch");
    expect(order).to.deep.equal([
      "barrier (/a,/b stored: false,false)",
      "barrier done",
      "put",
      "barrier (/a,/b stored: true,false)",
      "barrier done",
      "batch",
    ]);
  });

  it("persists across reopen, and refuses use while closed", async () => {
    await store.put(new Key("/pin/x"), Uint8Array.of(7));
    await store.close();
    const error = await expectRejection(store.get(new Key("/pin/x")), Error);
    expect(error.name).to.equal("NotStartedError");
    await store.open();
    expect(await store.get(new Key("/pin/x"))).to.deep.equal(Uint8Array.of(7));
  });
});

describe("node datastore migration (datastore/ directory -> datastore.sqlite)", () => {
  const nodes = new TestNodes();
  after(() => nodes.cleanup());

  /** Turns a data dir back into the earlier layout: its datastore as one file per key under datastore/. */
  async function toLegacyLayout(dataDir: string): Promise<number> {
    const current = new SqliteDatastore(join(dataDir, DATASTORE_FILE));
    await current.open();
    const legacy = new FsDatastore(join(dataDir, LEGACY_DATASTORE_DIR));
    await legacy.open();
    const pairs = await all(current.query({}));
    for (const { key, value } of pairs) await legacy.put(key, value);
    await legacy.close();
    await current.close();
    await Promise.all(
      ["", "-wal", "-shm"].map((suffix) => rm(join(dataDir, DATASTORE_FILE + suffix), { force: true })),
    );
    return pairs.length;
  }

  it("an earlier data dir keeps its peer id, pins and blocks, and its old datastore is kept as a backup", async () => {
    const dataDir = await nodes.dir();
    const data = testBytes(2_500_000, 41);
    const first = await HeliaContentStore.create({ dataDir, listen: [] });
    const { cid } = await first.put([data]);
    const peerId = first.peerId;
    await first.close();
    const keys = await toLegacyLayout(dataDir);
    expect(keys).to.be.above(4); // the peer key and the pin records at least
    // A migration that crashed half-way left its temp file behind: it is redone from the original.
    await writeFile(join(dataDir, `${DATASTORE_FILE}.migrating`), "torn");

    const second = await nodes.node({ dataDir, listen: [] });
    expect(second.peerId).to.equal(peerId);
    expect(await second.stat(cid)).to.deep.include({ size: data.length, pinned: true });
    expect(Buffer.compare(await collect(second.get(cid)), data)).to.equal(0);
    const entries = await readdir(dataDir);
    expect(entries).to.include(DATASTORE_FILE).and.include(MIGRATED_DATASTORE_DIR);
    expect(entries).to.not.include(LEGACY_DATASTORE_DIR).and.not.include(`${DATASTORE_FILE}.migrating`);
    await second.unpin(cid);
    expect((await second.stat(cid)).pinned).to.equal(false);
  });

  it("a fresh data dir gets a SQLite datastore and no directory", async () => {
    const dataDir = await nodes.dir();
    const datastore = await openNodeDatastore(dataDir);
    await datastore.close();
    await access(join(dataDir, DATASTORE_FILE));
    expect(await readdir(dataDir)).to.not.include(LEGACY_DATASTORE_DIR);
  });

  it("an unreadable datastore fails store creation with DataDirError naming the database file, not a crash", async () => {
    const dataDir = await nodes.dir();
    await mkdir(join(dataDir, DATASTORE_FILE)); // a directory where the database file should be
    const error = await expectRejection(HeliaContentStore.create({ dataDir, listen: [] }), DataDirError);
    expect(error.code).to.equal("DATA_DIR_UNUSABLE");
    expect(error.field).to.equal("dataDir");
    expect(error.reason).to.equal("SQLITE_CANTOPEN");
    expect(error.path).to.equal(join(dataDir, DATASTORE_FILE));
    expect(error.message).to.include("SQLite cannot open");
  });
});
