// PackBlockstore: Helia's Blockstore contract (put, get, has, delete and the *Many / getAll forms), persistence
// across reopen, segment rolling, and crash / corruption handling (a torn tail is dropped at open, a damaged
// record is reported, never served).
import { createHash, randomBytes } from "node:crypto";
import { appendFile, mkdtemp, open, readdir, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { CID } from "multiformats/cid";
import * as dagPb from "@ipld/dag-pb";
import * as raw from "multiformats/codecs/raw";
import { create as createDigest } from "multiformats/hashes/digest";
import { BlockCorruptError } from "../src/index.ts";
import { PackBlockstore } from "../src/helia/pack-blockstore.ts";
import { expectRejection } from "./helpers/expect.ts";

function block(size: number, codec = raw.code): { cid: CID; bytes: Uint8Array } {
  const bytes = new Uint8Array(randomBytes(size));
  const cid = CID.createV1(codec, createDigest(0x12, createHash("sha256").update(bytes).digest()));
  return { cid, bytes };
}

async function read(store: PackBlockstore, cid: CID): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const part of store.get(cid)) parts.push(part);
  return Buffer.concat(parts);
}

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
      expect(Buffer.compare(await read(store, cid), bytes)).to.equal(0);
    }
  });

  it("has / get / delete: a missing block is NotFoundError, deleting it twice is fine, a re-put is back", async () => {
    const { cid, bytes } = block(1000);
    expect(await store.has(cid)).to.equal(false);
    const missing = await expectRejection(read(store, cid), Error);
    expect(missing.name).to.equal("NotFoundError");
    await store.put(cid, bytes);
    await store.delete(cid);
    await store.delete(cid);
    expect(await store.has(cid)).to.equal(false);
    expect((await expectRejection(read(store, cid), Error)).name).to.equal("NotFoundError");
    await store.put(cid, bytes);
    expect(Buffer.compare(await read(store, cid), bytes)).to.equal(0);
  });

  it("keys by multihash: a CIDv0 and a CIDv1 of the same bytes are one block", async () => {
    const bytes = dagPb.encode({ Links: [] });
    const v1 = CID.createV1(dagPb.code, createDigest(0x12, createHash("sha256").update(bytes).digest()));
    await store.put(v1, bytes);
    expect(await store.has(v1.toV0())).to.equal(true);
    expect(Buffer.compare(await read(store, v1.toV0()), bytes)).to.equal(0);
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
    expect(Buffer.compare(await read(store, kept.cid), kept.bytes)).to.equal(0);
    const later = block(7000);
    await store.put(later.cid, later.bytes);
    await reopen();
    expect(Buffer.compare(await read(store, later.cid), later.bytes)).to.equal(0);
    expect(Buffer.compare(await read(store, kept.cid), kept.bytes)).to.equal(0);
  });

  it("rolls to a new segment past segmentSize and reads across segments after reopen", async () => {
    await reopen({ segmentSize: 10_000 });
    const blocks = Array.from({ length: 6 }, () => block(4000));
    for (const { cid, bytes } of blocks) await store.put(cid, bytes);
    expect((await readdir(dir)).filter((name) => name.endsWith(".pack")).length).to.be.greaterThan(2);
    await reopen({ segmentSize: 10_000 });
    for (const { cid, bytes } of blocks) expect(Buffer.compare(await read(store, cid), bytes)).to.equal(0);
  });

  it("concurrent puts (also of the same block) all land, each once", async () => {
    const blocks = Array.from({ length: 40 }, (_, i) => block(1000 + i * 97));
    await Promise.all([...blocks, ...blocks].map(({ cid, bytes }) => store.put(cid, bytes)));
    await Promise.all(
      blocks.map(async ({ cid, bytes }) => expect(Buffer.compare(await read(store, cid), bytes)).to.equal(0)),
    );
    const dataBytes = blocks.reduce((sum, { bytes }) => sum + bytes.length, 0);
    const fileSize = (await stat(await onlySegment(dir))).size;
    expect(fileSize).to.be.lessThan(dataBytes + blocks.length * 64 + 8); // no block stored twice
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
    for (const cut of [1, 10, 1500]) {
      await truncate(segment, fullSize - cut);
      await reopen();
      expect(await store.has(first.cid)).to.equal(true);
      expect(await store.has(torn.cid)).to.equal(false);
      await store.close();
      expect((await stat(segment)).size).to.be.lessThan(fullSize - cut + 1);
      await store.open();
      await store.put(torn.cid, torn.bytes); // re-put appends where the valid records end
      await store.close();
    }
    // Length in place but the data never reached the disk (zeros): caught by the CRC, dropped.
    await appendFile(segment, Buffer.alloc(100));
    const handle = await open(segment, "r+");
    const tail = Buffer.alloc(2000);
    await handle.write(tail, 0, tail.length, fullSize - 2000);
    await handle.close();
    store = new PackBlockstore(dir);
    await store.open();
    expect(await store.has(first.cid)).to.equal(true);
    expect(await store.has(torn.cid)).to.equal(false);
    expect((await stat(segment)).size).to.be.lessThan(fullSize);
    expect(Buffer.compare(await read(store, first.cid), first.bytes)).to.equal(0);
  });

  it("a corrupted record is reported as BlockCorruptError, never served", async () => {
    const victim = block(10_000);
    const last = block(100);
    await store.put(victim.cid, victim.bytes);
    await store.put(last.cid, last.bytes);
    const segment = await onlySegment(dir);
    const bytes = await readFile(segment);
    bytes[8 + 100 + 5000]! ^= 0x01; // a data byte of the first record
    await writeFile(segment, bytes);
    const error = await expectRejection(read(store, victim.cid), BlockCorruptError);
    expect(error.cid).to.equal(victim.cid.toString());
    await reopen(); // not the tail: indexed, still reported on read
    await expectRejection(read(store, victim.cid), BlockCorruptError);
    expect(Buffer.compare(await read(store, last.cid), last.bytes)).to.equal(0);
  });

  it("refuses to open a directory whose segment is not a pack segment", async () => {
    const { cid, bytes } = block(10);
    await store.put(cid, bytes);
    await store.close();
    await writeFile(await onlySegment(dir), Buffer.from("definitely not a pack segment"));
    store = new PackBlockstore(dir);
    await expectRejection(store.open(), BlockCorruptError);
    store = new PackBlockstore(join(dir, "fresh"));
    await store.open();
  });
});
