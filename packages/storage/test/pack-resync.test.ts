// PackBlockstore damage handling (issue 15 items 1, 5, 6): a damaged record header is skipped and every record
// before and after it stays readable, a damaged segment header does not stop the store from opening, only a
// genuine torn tail is cut, `check` / `discardDamaged` for the operator, and blocks are fdatasynced in batches.
import { randomBytes } from "node:crypto";
import { mkdtemp, open, readFile, rm, stat, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { BlockCorruptError } from "../src/index.ts";
import { PackBlockstore } from "../src/helia/pack-blockstore.ts";
import type { PackBlockstoreOptions } from "../src/helia/pack-blockstore.ts";
import { ALIGNMENT, HEADER_V3, MAGIC_V2, recordHeader, recordTrailer } from "../src/helia/pack-format.ts";
import { expectRejection } from "./helpers/expect.ts";
import { block } from "./helpers/blocks.ts";
import type { TestBlock } from "./helpers/blocks.ts";
import { fileHandlePrototype } from "./helpers/file-handle.ts";
import { flipByte, headerLength, paddedRecord, readBlock, segmentNames } from "./helpers/pack.ts";

describe("PackBlockstore resynchronizes past damage", () => {
  let dir: string;
  let store: PackBlockstore | undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "hygeia-resync-"));
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  async function openStore(options: PackBlockstoreOptions = {}): Promise<PackBlockstore> {
    await store?.close();
    store = new PackBlockstore(dir, options);
    await store.open();
    return store;
  }

  /** Puts `count` blocks of varied sizes into one segment; returns them with their offsets. */
  async function fill(count: number): Promise<Array<TestBlock & { offset: number }>> {
    const opened = await openStore();
    const blocks: Array<TestBlock & { offset: number }> = [];
    let offset = ALIGNMENT;
    for (let i = 0; i < count; i++) {
      const b = block(100 + ((i * 7919) % 20_000));
      await opened.put(b.cid, b.bytes);
      blocks.push({ ...b, offset });
      offset += paddedRecord(b);
    }
    await opened.close();
    store = undefined;
    return blocks;
  }

  for (const [name, at] of [
    ["its magic", (_b: TestBlock) => 1],
    ["its length", (_b: TestBlock) => 5],
    ["its kind", (_b: TestBlock) => 8],
    ["its CID length", (_b: TestBlock) => 10],
    ["its data CRC", (_b: TestBlock) => 13],
    ["a CID byte", (b: TestBlock) => HEADER_V3 + b.cid.bytes.length - 3],
    ["its header CRC", (b: TestBlock) => headerLength(b.cid) - 1],
  ] as const) {
    it(`one flipped header byte (${name}) at record 20 of 60: every other record reads back exactly, record 20 is BlockCorruptError, nothing is cut`, async () => {
      const blocks = await fill(60);
      const [segment] = await segmentNames(dir);
      const path = join(dir, segment!);
      const victim = blocks[20]!;
      const sizeBefore = (await stat(path)).size;
      await flipByte(path, victim.offset + at(victim));

      const reopened = await openStore();
      expect((await stat(path)).size).to.equal(sizeBefore);
      for (const [i, { cid, bytes }] of blocks.entries()) {
        if (i === 20) continue;
        expect(Buffer.compare(await readBlock(reopened, cid), bytes), `record ${i}`).to.equal(0);
      }
      const error = await expectRejection(readBlock(reopened, victim.cid), BlockCorruptError);
      expect(error.code).to.equal("BLOCK_CORRUPT");
      expect(error.cid).to.equal(victim.cid.toString());
      expect(reopened.damage).to.have.length(1);
      expect(reopened.damage[0]).to.include({ kind: "record", offset: victim.offset, cid: victim.cid.toString() });

      // Appends continue after the last record; a re-put of the damaged block writes a fresh copy.
      const later = block(5000);
      await reopened.put(later.cid, later.bytes);
      await reopened.put(victim.cid, victim.bytes);
      const again = await openStore();
      expect(Buffer.compare(await readBlock(again, later.cid), later.bytes)).to.equal(0);
      expect(Buffer.compare(await readBlock(again, victim.cid), victim.bytes)).to.equal(0);
      expect(Buffer.compare(await readBlock(again, blocks[59]!.cid), blocks[59]!.bytes)).to.equal(0);
    });
  }

  it("a damaged record in an earlier segment does not hide the records after it", async () => {
    const opened = await openStore({ segmentSize: 64 * 1024 });
    const blocks = Array.from({ length: 30 }, () => block(3000));
    for (const { cid, bytes } of blocks) await opened.put(cid, bytes);
    await opened.close();
    store = undefined;
    const names = await segmentNames(dir);
    expect(names.length).to.be.at.least(2);
    await flipByte(join(dir, names[0]!), 2 * ALIGNMENT + 6); // the length of the second record
    const reopened = await openStore({ segmentSize: 64 * 1024 });
    for (const [i, { cid, bytes }] of blocks.entries()) {
      if (i === 1) await expectRejection(readBlock(reopened, cid), BlockCorruptError);
      else expect(Buffer.compare(await readBlock(reopened, cid), bytes), `block ${i}`).to.equal(0);
    }
  });

  it("cuts only a genuine torn tail: a last record cut short; a whole one whose data fails its CRC is kept as damage", async () => {
    const blocks = await fill(5);
    const path = join(dir, (await segmentNames(dir))[0]!);
    const last = blocks[4]!;
    const lastEnd = last.offset + headerLength(last.cid) + last.bytes.length;
    await truncate(path, lastEnd - 100);
    let reopened = await openStore();
    expect(await reopened.has(last.cid)).to.equal(false);
    expect((await stat(path)).size).to.equal(last.offset);
    expect(reopened.damage.map(({ kind }) => kind)).to.deep.equal(["torn-tail"]);
    await reopened.put(last.cid, last.bytes);
    await reopened.close();
    store = undefined;
    // Header in place, whole, data zeros (written but never flushed, or damaged): kept and reported as `record`
    // damage, read as BlockCorruptError (review finding 10: a flipped byte must not turn a block into NotFound).
    const sizeBefore = (await stat(path)).size;
    const handle = await open(path, "r+");
    await handle.write(Buffer.alloc(200), 0, 200, last.offset + headerLength(last.cid));
    await handle.close();
    reopened = await openStore();
    expect((await stat(path)).size).to.equal(sizeBefore);
    await expectRejection(readBlock(reopened, last.cid), BlockCorruptError);
    expect(reopened.damage.map(({ kind, offset }) => [kind, offset])).to.deep.equal([["record", last.offset]]);
    for (const { cid, bytes } of blocks.slice(0, 4))
      expect(Buffer.compare(await readBlock(reopened, cid), bytes)).to.equal(0);
  });

  it("keeps a last record whose header is damaged but whose data verifies (damage, not a torn write)", async () => {
    const blocks = await fill(5);
    const path = join(dir, (await segmentNames(dir))[0]!);
    const last = blocks[4]!;
    const size = (await stat(path)).size;
    await flipByte(path, last.offset + 5);
    const reopened = await openStore();
    expect((await stat(path)).size).to.equal(size);
    await expectRejection(readBlock(reopened, last.cid), BlockCorruptError);
    const later = block(10);
    await reopened.put(later.cid, later.bytes);
    expect((await stat(path)).size).to.equal(size + paddedRecord(later));
  });
});

describe("PackBlockstore with a damaged segment header", () => {
  let dir: string;
  const stores: PackBlockstore[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "hygeia-seghead-"));
  });
  afterEach(async () => {
    await Promise.allSettled(stores.splice(0).map((store) => store.close()));
    await rm(dir, { recursive: true, force: true });
  });

  async function openStore(): Promise<PackBlockstore> {
    await Promise.allSettled(stores.splice(0).map((store) => store.close()));
    const store = new PackBlockstore(dir, { segmentSize: 64 * 1024 });
    await store.open();
    stores.push(store);
    return store;
  }

  async function fillSegments(): Promise<TestBlock[]> {
    const store = await openStore();
    const blocks = Array.from({ length: 40 }, () => block(3000));
    for (const { cid, bytes } of blocks) await store.put(cid, bytes);
    return blocks;
  }

  for (const which of ["an earlier", "the last"] as const) {
    it(`opens with ${which} segment's 4 KiB header damaged, reports it, serves every block, never writes to it`, async () => {
      const blocks = await fillSegments();
      const names = await segmentNames(dir);
      expect(names.length).to.be.at.least(3);
      const damaged = which === "the last" ? names.at(-1)! : names[1]!;
      await writeFile(join(dir, damaged), randomBytes(ALIGNMENT), { flag: "r+" }); // the whole header garbled
      const before = await readFile(join(dir, damaged));

      const store = await openStore();
      expect(store.damage).to.have.length(1);
      expect(store.damage[0]).to.include({ kind: "segment-header", segment: damaged });
      for (const { cid, bytes } of blocks) expect(Buffer.compare(await readBlock(store, cid), bytes)).to.equal(0);
      const check = await store.check({ data: true });
      expect(check).to.include({ ok: false, verified: blocks.length, blocks: blocks.length });
      const fresh = block(3000);
      await store.put(fresh.cid, fresh.bytes);
      expect(Buffer.compare(await readFile(join(dir, damaged)), before)).to.equal(0);
      const reopened = await openStore();
      expect(Buffer.compare(await readBlock(reopened, fresh.cid), fresh.bytes)).to.equal(0);
    });
  }

  it("opens past a damaged version 2 segment (its records cannot be found) and serves the other segments", async () => {
    const kept = block(2000);
    const lost = block(2000);
    const v2 = Buffer.alloc(ALIGNMENT);
    MAGIC_V2.copy(v2, 0);
    v2.writeUInt32LE(ALIGNMENT, 8);
    const { header } = recordHeader(1, lost.cid, lost.bytes.length);
    const record = Buffer.concat([header, lost.bytes, recordTrailer([header, lost.bytes])]);
    v2.write("XX", 0, "latin1"); // damaged magic
    await writeFile(join(dir, "segment-00000001.pack"), Buffer.concat([v2, record]));
    const store = await openStore();
    await store.put(kept.cid, kept.bytes);
    const reopened = await openStore();
    expect(reopened.damage[0]).to.include({ kind: "segment-header", segment: "segment-00000001.pack" });
    expect(await reopened.has(lost.cid)).to.equal(false);
    expect(Buffer.compare(await readBlock(reopened, kept.cid), kept.bytes)).to.equal(0);
  });
});

describe("PackBlockstore check, discardDamaged and sync", () => {
  let dir: string;
  let store: PackBlockstore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "hygeia-check-"));
    store = new PackBlockstore(dir);
    await store.open();
  });
  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("check({ data: true }) finds a flipped data byte; discardDamaged forgets the block so a put writes it again", async () => {
    const blocks = Array.from({ length: 5 }, () => block(6000));
    for (const { cid, bytes } of blocks) await store.put(cid, bytes);
    expect(await store.check({ data: true })).to.include({ ok: true, verified: 5 });
    const victim = blocks[2]!;
    const offset = ALIGNMENT + blocks.slice(0, 2).reduce((sum, b) => sum + paddedRecord(b), 0);
    await flipByte(join(dir, (await segmentNames(dir))[0]!), offset + headerLength(victim.cid) + 100);
    const check = await store.check({ data: true });
    expect(check).to.include({ ok: false, verified: 4 });
    expect(check.unreadable).to.deep.equal([victim.cid.toString()]);
    expect(check.damage[0]).to.include({ kind: "record", cid: victim.cid.toString(), reason: "CRC mismatch" });
    expect((await store.discardDamaged()).map(String)).to.deep.equal([victim.cid.toString()]);
    expect(await store.has(victim.cid)).to.equal(false);
    await store.put(victim.cid, victim.bytes);
    expect(Buffer.compare(await readBlock(store, victim.cid), victim.bytes)).to.equal(0);
  });

  it("sync() fdatasyncs each segment written since the last sync once, however many blocks went into it", async () => {
    const prototype = await fileHandlePrototype();
    const original = prototype.datasync;
    let calls = 0;
    prototype.datasync = function (this: unknown) {
      calls++;
      return original.call(this);
    };
    try {
      const first = block(10);
      await store.put(first.cid, first.bytes); // starts the segment: its header is synced when created
      calls = 0;
      for (const { cid, bytes } of Array.from({ length: 20 }, () => block(5000))) await store.put(cid, bytes);
      expect(calls).to.equal(0);
      await store.sync();
      expect(calls).to.equal(1);
      await store.sync();
      expect(calls).to.equal(1); // nothing new written
    } finally {
      prototype.datasync = original;
    }
  });
});
