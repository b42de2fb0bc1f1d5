// PackBlockstore: Helia's Blockstore contract (put, get, has, delete and the *Many / getAll forms), persistence
// across reopen, segment rolling, and crash / corruption handling (a torn tail is dropped at open, a damaged
// record is reported, never served).
import { spawnSync } from "node:child_process";
import { constants } from "node:fs";
import { mkdtemp, open, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import type { CID } from "multiformats/cid";
import * as dagPb from "@ipld/dag-pb";
import { BlockCorruptError, StoreUnavailableError } from "../src/index.ts";
import { PackBlockstore } from "../src/helia/pack-blockstore.ts";
import type { PackBlockstoreOptions } from "../src/helia/pack-blockstore.ts";
import {
  ALIGNMENT,
  HEADER,
  HEADER_CRC,
  HEADER_V3,
  KIND_BLOCK,
  MAGIC_V1,
  TRAILER,
  alignUp,
  recordHeader,
  recordTrailer,
} from "../src/helia/pack-format.ts";
import { expectRejection } from "./helpers/expect.ts";
import { block, cidOf } from "./helpers/blocks.ts";
import { headerLength, paddedRecord, readBlock } from "./helpers/pack.ts";

async function drain<T>(source: AsyncIterable<T> | Iterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of source) items.push(item);
  return items;
}

async function onlySegment(dir: string): Promise<string> {
  const names = (await readdir(dir)).filter((name) => name.endsWith(".pack"));
  expect(names).to.have.length(1);
  return join(dir, names[0]!);
}

describe("PackBlockstore", () => {
  let dir: string;
  let store: PackBlockstore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "hygeia-pack-"));
    store = new PackBlockstore(dir);
    await store.open();
  });

  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function reopen(options = {}): Promise<void> {
    await store.close();
    store = new PackBlockstore(dir, options);
    await store.open();
  }

  it("round-trips blocks of 0 bytes, 1 byte and 1 MiB, from a Uint8Array or (async) iterables", async () => {
    const blocks = [block(0), block(1), block(1024 * 1024)];
    await store.put(blocks[0]!.cid, blocks[0]!.bytes);
    await store.put(blocks[1]!.cid, [blocks[1]!.bytes]);
    await store.put(
      blocks[2]!.cid,
      (async function* () {
        yield blocks[2]!.bytes.subarray(0, 1000);
        yield blocks[2]!.bytes.subarray(1000);
      })(),
    );
    for (const { cid, bytes } of blocks) {
      expect(await store.has(cid)).to.equal(true);
      expect(Buffer.compare(await readBlock(store, cid), bytes)).to.equal(0);
    }
  });

  it("has / get / delete: a missing block is NotFoundError, deleting it twice is fine, a re-put is back", async () => {
    const { cid, bytes } = block(1000);
    expect(await store.has(cid)).to.equal(false);
    const missing = await expectRejection(readBlock(store, cid), Error);
    expect(missing.name).to.equal("NotFoundError");
    await store.put(cid, bytes);
    await store.delete(cid);
    await store.delete(cid);
    expect(await store.has(cid)).to.equal(false);
    expect((await expectRejection(readBlock(store, cid), Error)).name).to.equal("NotFoundError");
    await store.put(cid, bytes);
    expect(Buffer.compare(await readBlock(store, cid), bytes)).to.equal(0);
  });

  it("keys by multihash: a CIDv0 and a CIDv1 of the same bytes are one block", async () => {
    const bytes = dagPb.encode({ Links: [] });
    const v1 = cidOf(bytes, dagPb.code);
    await store.put(v1, bytes);
    expect(await store.has(v1.toV0())).to.equal(true);
    expect(Buffer.compare(await readBlock(store, v1.toV0()), bytes)).to.equal(0);
  });

  it("putMany, getMany, deleteMany and getAll", async () => {
    const blocks = [block(10), block(20), block(30)];
    const put = await drain(store.putMany(blocks.map(({ cid, bytes }) => ({ cid, bytes }))));
    expect(put.map(String)).to.deep.equal(blocks.map(({ cid }) => cid.toString()));
    const got = await drain(store.getMany(blocks.map(({ cid }) => cid)));
    for (const [i, pair] of got.entries()) {
      expect(pair.cid.toString()).to.equal(blocks[i]!.cid.toString());
      expect(Buffer.compare(Buffer.concat(await drain(pair.bytes)), blocks[i]!.bytes)).to.equal(0);
    }
    const deleted = await drain(store.deleteMany([blocks[0]!.cid]));
    expect(deleted.map(String)).to.deep.equal([blocks[0]!.cid.toString()]);
    const all = await drain(store.getAll());
    expect(all.map(({ cid }) => cid.toString()).sort()).to.deep.equal(
      blocks
        .slice(1)
        .map(({ cid }) => cid.toString())
        .sort(),
    );
  });

  it("persists blocks and deletes across reopen, and keeps appending after it", async () => {
    const kept = block(5000);
    const gone = block(6000);
    await store.put(kept.cid, kept.bytes);
    await store.put(gone.cid, gone.bytes);
    await store.delete(gone.cid);
    await reopen();
    expect(await store.has(kept.cid)).to.equal(true);
    expect(await store.has(gone.cid)).to.equal(false);
    expect(Buffer.compare(await readBlock(store, kept.cid), kept.bytes)).to.equal(0);
    const later = block(7000);
    await store.put(later.cid, later.bytes);
    await reopen();
    expect(Buffer.compare(await readBlock(store, later.cid), later.bytes)).to.equal(0);
    expect(Buffer.compare(await readBlock(store, kept.cid), kept.bytes)).to.equal(0);
  });

  it("rolls to a new segment past segmentSize and reads across segments after reopen", async () => {
    await reopen({ segmentSize: 10_000 });
    const blocks = Array.from({ length: 6 }, () => block(4000));
    for (const { cid, bytes } of blocks) await store.put(cid, bytes);
    expect((await readdir(dir)).filter((name) => name.endsWith(".pack")).length).to.be.greaterThan(2);
    await reopen({ segmentSize: 10_000 });
    for (const { cid, bytes } of blocks) expect(Buffer.compare(await readBlock(store, cid), bytes)).to.equal(0);
  });

  it("concurrent puts (also of the same block) all land, each once", async () => {
    const blocks = Array.from({ length: 40 }, (_, i) => block(1000 + i * 97));
    await Promise.all([...blocks, ...blocks].map(({ cid, bytes }) => store.put(cid, bytes)));
    await Promise.all(
      blocks.map(async ({ cid, bytes }) => expect(Buffer.compare(await readBlock(store, cid), bytes)).to.equal(0)),
    );
    const paddedRecords = blocks.reduce((sum, block) => sum + paddedRecord(block), 0);
    const fileSize = (await stat(await onlySegment(dir))).size;
    expect(fileSize).to.equal(ALIGNMENT + paddedRecords); // the segment header and each block once
    await reopen();
    expect(await drain(store.getAll())).to.have.length(blocks.length);
  });

  it("a torn tail (crash mid-append) is dropped at open; earlier blocks stay and new ones append cleanly", async () => {
    const first = block(3000);
    const torn = block(3000);
    await store.put(first.cid, first.bytes);
    await store.put(torn.cid, torn.bytes);
    await store.close();
    const segment = await onlySegment(dir);
    const fullSize = (await stat(segment)).size;
    const tornStart = 2 * ALIGNMENT; // segment header, then the first record padded to one alignment unit
    const tornEnd = tornStart + headerLength(torn.cid) + torn.bytes.length;
    expect(fullSize).to.equal(alignUp(tornEnd, ALIGNMENT));

    // Only the padding cut short: the record is whole, so it stays and the padding is restored.
    await truncate(segment, tornEnd + 10);
    await reopen();
    expect(await store.has(torn.cid)).to.equal(true);
    expect((await stat(segment)).size).to.equal(fullSize);

    for (const cut of [1, 10, 1500]) {
      await store.close();
      await truncate(segment, tornEnd - cut); // into the record: its CRC (or data) is gone
      await reopen();
      expect(await store.has(first.cid)).to.equal(true);
      expect(await store.has(torn.cid)).to.equal(false);
      expect((await stat(segment)).size).to.equal(tornStart);
      await store.put(torn.cid, torn.bytes); // re-put appends, aligned, where the valid records end
      await reopen();
      expect(Buffer.compare(await readBlock(store, torn.cid), torn.bytes)).to.equal(0);
    }
    await store.close();
    // Whole but its data fails the CRC (zeros: written but never flushed, or a flipped byte): damage, never cut
    // (review finding 10); it reads as BlockCorruptError and a put writes it again.
    const handle = await open(segment, "r+");
    await handle.write(Buffer.alloc(2000), 0, 2000, tornEnd - 2000);
    await handle.close();
    await reopen();
    expect(await store.has(first.cid)).to.equal(true);
    expect((await stat(segment)).size).to.equal(fullSize);
    await expectRejection(readBlock(store, torn.cid), BlockCorruptError);
    expect(store.damage.map(({ kind }) => kind)).to.deep.equal(["record"]);
    await store.put(torn.cid, torn.bytes);
    await reopen();
    expect(Buffer.compare(await readBlock(store, torn.cid), torn.bytes)).to.equal(0);
    expect(Buffer.compare(await readBlock(store, first.cid), first.bytes)).to.equal(0);
  });

  it("a corrupted record is reported as BlockCorruptError, never served", async () => {
    const victim = block(10_000);
    const last = block(100);
    await store.put(victim.cid, victim.bytes);
    await store.put(last.cid, last.bytes);
    const segment = await onlySegment(dir);
    const bytes = await readFile(segment);
    bytes[ALIGNMENT + HEADER_V3 + victim.cid.bytes.length + HEADER_CRC + 5000]! ^= 0x01; // a data byte of the first record
    await writeFile(segment, bytes);
    const error = await expectRejection(readBlock(store, victim.cid), BlockCorruptError);
    expect(error.cid).to.equal(victim.cid.toString());
    await reopen(); // not the tail: indexed, still reported on read
    await expectRejection(readBlock(store, victim.cid), BlockCorruptError);
    expect(Buffer.compare(await readBlock(store, last.cid), last.bytes)).to.equal(0);
  });

  it("opens a directory whose only segment is not a pack segment, reports it and writes a new segment", async () => {
    const { cid, bytes } = block(10);
    await store.put(cid, bytes);
    await store.close();
    const garbage = Buffer.from("definitely not a pack segment, and longer than one 4096-byte header ".repeat(100));
    await writeFile(await onlySegment(dir), garbage);
    store = new PackBlockstore(dir);
    await store.open();
    expect(store.damage.map(({ kind }) => kind)).to.deep.equal(["segment-header", "record"]);
    expect(await store.has(cid)).to.equal(false);
    await store.put(cid, bytes);
    await reopen();
    expect(Buffer.compare(await readBlock(store, cid), bytes)).to.equal(0);
    expect(Buffer.compare(await readFile(join(dir, "segment-00000001.pack")), garbage)).to.equal(0); // untouched
  });
});

describe("PackBlockstore directory lock", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "hygeia-pack-"));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("refuses a second store on an open directory (also in the same process), allows it after close", async () => {
    const first = new PackBlockstore(dir);
    await first.open();
    const error = await expectRejection(new PackBlockstore(dir).open(), StoreUnavailableError);
    expect(error.message).to.include(`process ${process.pid}`);
    const { cid, bytes } = block(100);
    await first.put(cid, bytes);
    await first.close();
    const second = new PackBlockstore(dir);
    await second.open();
    expect(Buffer.compare(await readBlock(second, cid), bytes)).to.equal(0);
    await second.close();
    expect(await readdir(dir)).to.not.include("LOCK");
  });

  it("takes over a lock left by a process that is gone", async () => {
    const gone = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
    await writeFile(join(dir, "LOCK"), `${gone.stdout.toString()}\n`);
    const store = new PackBlockstore(dir);
    await store.open();
    expect((await readFile(join(dir, "LOCK"), "utf8")).split("\n")[0]).to.equal(String(process.pid));
    await store.close();
  });
});

describe("PackBlockstore layouts and direct I/O", () => {
  let dir: string;
  const stores: PackBlockstore[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "hygeia-pack-"));
  });
  afterEach(async () => {
    await Promise.allSettled(stores.splice(0).map((store) => store.close()));
    await rm(dir, { recursive: true, force: true });
  });

  async function openStore(location: string, options: PackBlockstoreOptions = {}): Promise<PackBlockstore> {
    const store = new PackBlockstore(location, options);
    await store.open();
    stores.push(store);
    return store;
  }

  /** Whether this file system takes O_DIRECT at all (tmpfs does not). */
  async function supportsDirectIo(location: string): Promise<boolean> {
    const probe = join(location, "probe");
    await writeFile(probe, "");
    try {
      await (await open(probe, constants.O_RDONLY | constants.O_DIRECT)).close();
      return true;
    } catch {
      return false;
    } finally {
      await rm(probe);
    }
  }

  it("appends with O_DIRECT where the file system allows it, and writes the same bytes either way", async () => {
    const blocks = [block(0), block(1), block(4095), block(4096), block(1024 * 1024), block(70_000)];
    const direct = await openStore(join(dir, "direct"));
    const buffered = await openStore(join(dir, "buffered"), { directIo: false });
    for (const { cid, bytes } of blocks) {
      await direct.put(cid, bytes);
      await buffered.put(cid, bytes);
    }
    expect(direct.appendsDirect).to.equal(await supportsDirectIo(join(dir, "direct")));
    expect(buffered.appendsDirect).to.equal(false);
    for (const store of [direct, buffered]) {
      for (const { cid, bytes } of blocks) expect(Buffer.compare(await readBlock(store, cid), bytes)).to.equal(0);
    }
    const segmentOf = async (name: string): Promise<Buffer> => readFile(await onlySegment(join(dir, name)));
    expect(Buffer.compare(await segmentOf("direct"), await segmentOf("buffered"))).to.equal(0);
  });

  it("a record too large to stage goes through the page cache, in the same aligned layout", async () => {
    const store = await openStore(dir);
    const large = block(17 * 1024 * 1024); // above MAX_DIRECT_RECORD
    const small = block(100);
    await store.put(large.cid, large.bytes);
    await store.put(small.cid, small.bytes);
    await store.close();
    const reopened = await openStore(dir);
    expect(Buffer.compare(await readBlock(reopened, large.cid), large.bytes)).to.equal(0);
    expect(Buffer.compare(await readBlock(reopened, small.cid), small.bytes)).to.equal(0);
    const expected = ALIGNMENT + paddedRecord(large) + paddedRecord(small);
    expect((await stat(await onlySegment(dir))).size).to.equal(expected);
  });

  it("reads a version 1 segment (an earlier data dir), appends only to a new version 3 one", async () => {
    const old = [block(3000), block(1), block(65_536)];
    const segment1 = join(dir, "segment-00000001.pack");
    await writeFile(segment1, Buffer.concat([MAGIC_V1, ...old.map(({ cid, bytes }) => packedRecord(cid, bytes))]));
    const before = await readFile(segment1);
    const store = await openStore(dir);
    for (const { cid, bytes } of old) expect(Buffer.compare(await readBlock(store, cid), bytes)).to.equal(0);
    const fresh = block(5000);
    await store.put(fresh.cid, fresh.bytes);
    await store.close();
    expect(Buffer.compare(await readFile(segment1), before)).to.equal(0);
    const segment2 = await readFile(join(dir, "segment-00000002.pack"));
    expect(segment2.subarray(0, 8).toString("latin1")).to.equal("HYGPACK3");
    const reopened = await openStore(dir);
    for (const { cid, bytes } of [...old, fresh]) {
      expect(Buffer.compare(await readBlock(reopened, cid), bytes)).to.equal(0);
    }
  });

  it("never cuts a version 1 segment: a torn tail there is reported and left as it is", async () => {
    const [first, torn] = [block(3000), block(3000)];
    const segment1 = join(dir, "segment-00000001.pack");
    const tornRecord = packedRecord(torn.cid, torn.bytes);
    await writeFile(
      segment1,
      Buffer.concat([MAGIC_V1, packedRecord(first.cid, first.bytes), tornRecord.subarray(0, 2000)]),
    );
    const before = await readFile(segment1);
    const store = await openStore(dir);
    expect(Buffer.compare(await readBlock(store, first.cid), first.bytes)).to.equal(0);
    expect(await store.has(torn.cid)).to.equal(false);
    expect(store.damage).to.have.length(1);
    expect(store.damage[0]!.offset).to.equal(MAGIC_V1.length + HEADER + first.cid.bytes.length + 3000 + TRAILER);
    expect(Buffer.compare(await readFile(segment1), before)).to.equal(0);
  });
});

/** A record as version 1 segments pack them (no padding). */
function packedRecord(cid: CID, bytes: Uint8Array): Buffer {
  const { header } = recordHeader(KIND_BLOCK, cid, bytes.length);
  return Buffer.concat([header, bytes, recordTrailer([header, bytes])]);
}
