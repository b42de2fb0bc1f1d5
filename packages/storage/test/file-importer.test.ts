// The Helia adapter's streaming importer and its lean file writers: same CIDs as ipfs-unixfs-importer with the
// unixfs-v1-2025 profile, same on-disk layout as blockstore-fs (each reads the other's blocks), and no
// partially written block ever readable under its final name.
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { FsBlockstore } from "blockstore-fs";
import { NextToLast } from "blockstore-fs/sharding";
import { importer } from "ipfs-unixfs-importer";
import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { balanced } from "ipfs-unixfs-importer/layout";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";
import { importFile } from "../src/helia/file-importer.ts";
import type { BlockSink } from "../src/helia/file-importer.ts";
import { WholeBlockFsBlockstore } from "../src/helia/whole-block-fs-blockstore.ts";
import { collect, pieces, testBytes } from "./helpers/nodes.ts";

class MemorySink implements BlockSink {
  readonly blocks = new Map<string, Uint8Array>();
  async put(cid: CID, bytes: Uint8Array): Promise<void> {
    this.blocks.set(cid.toString(), bytes.slice()); // copy: the importer reuses its leaf buffers
  }
}

async function referenceCid(bytes: Uint8Array, options: Record<string, unknown>): Promise<CID> {
  const sink = new MemorySink();
  let root: CID | undefined;
  const blockstore = sink as unknown as Parameters<typeof importer>[1];
  for await (const entry of importer([{ content: pieces(bytes, 7) }], blockstore, options)) root = entry.cid;
  return root!;
}

describe("streaming UnixFS importer", () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), "hygeia-importer-"))));
  after(() => rm(dir, { recursive: true, force: true }));

  // Small leaves and fan-out so multi-level trees (a group of one, a partial last leaf) stay small.
  for (const length of [0, 1, 15, 16, 17, 64, 65, 257, 1000, 16 * 4 * 4 * 4 + 1]) {
    it(`${length} bytes, 16-byte leaves, 4 links per node: same CID as ipfs-unixfs-importer`, async () => {
      const bytes = testBytes(length, length + 1);
      const expected = await referenceCid(bytes, {
        cidVersion: 1,
        rawLeaves: true,
        reduceSingleLeafToSelf: true,
        chunker: fixedSize({ chunkSize: 16 }),
        layout: balanced({ maxChildrenPerNode: 4 }),
      });
      const sink = new MemorySink();
      const imported = await importFile(pieces(bytes, 5), sink, {
        chunkSize: 16,
        maxChildrenPerNode: 4,
        maxWritesInFlight: 3,
      });
      expect(imported.cid.toString()).to.equal(expected.toString());
      expect(imported.size).to.equal(length);
    });
  }

  for (const length of [0, 1, 1024 * 1024, 3 * 1024 * 1024 + 5]) {
    it(`${length} bytes with the defaults: the unixfs-v1-2025 profile's CID`, async () => {
      const bytes = testBytes(length, 7);
      const expected = await referenceCid(bytes, { profile: "unixfs-v1-2025", cidVersion: 1, rawLeaves: true });
      const imported = await importFile(pieces(bytes, 100_000), new MemorySink());
      expect(imported.cid.toString()).to.equal(expected.toString());
    });
  }

  it("stores every block under its CID, with the bytes that hash to it", async () => {
    const sink = new MemorySink();
    await importFile(pieces(testBytes(200, 3), 9), sink, { chunkSize: 16, maxChildrenPerNode: 4 });
    expect(sink.blocks.size).to.be.greaterThan(13);
    for (const [cid, bytes] of sink.blocks) {
      expect(CID.parse(cid).multihash.bytes).to.deep.equal((await sha256.digest(bytes)).bytes);
    }
  });

  it("a failed block write fails the import", async () => {
    const failing: BlockSink = { put: async () => Promise.reject(new Error("disk full")) };
    let caught: unknown;
    try {
      await importFile(pieces(testBytes(100, 1), 10), failing, { chunkSize: 16 });
    } catch (error) {
      caught = error;
    }
    expect((caught as Error).message).to.equal("disk full");
  });

  it("blocks written by WholeBlockFsBlockstore are read by blockstore-fs, and the other way round", async () => {
    const location = join(dir, "blocks");
    const ours = new WholeBlockFsBlockstore(location);
    const theirs = new FsBlockstore(location, { shardingStrategy: new NextToLast() });
    await ours.open();
    await theirs.open();
    const a = testBytes(70_000, 11);
    const b = testBytes(5, 12);
    const cidA = CID.createV1(raw.code, await sha256.digest(a));
    const cidB = CID.createV1(raw.code, await sha256.digest(b));
    await ours.put(cidA, a);
    await theirs.put(cidB, b);
    expect(await collect(theirs.get(cidA))).to.deep.equal(a);
    expect(await collect(ours.get(cidB))).to.deep.equal(b);
    expect(await theirs.has(cidA)).to.equal(true);
    await ours.put(cidA, a); // rewriting an existing block is fine
    expect(await collect(ours.get(cidA))).to.deep.equal(a);
  });

  it("a partially written block is never readable under its CID; no temp files are left behind", async () => {
    const location = join(dir, "torn");
    const store = new WholeBlockFsBlockstore(location);
    await store.open();
    const bytes = testBytes(100_000, 13);
    const cid = CID.createV1(raw.code, await sha256.digest(bytes));
    async function* torn(): AsyncGenerator<Uint8Array> {
      yield bytes.subarray(0, 1000);
      throw new Error("source died mid-block");
    }
    let caught: unknown;
    try {
      await store.put(cid, torn());
    } catch (error) {
      caught = error;
    }
    expect(caught).to.be.instanceOf(Error);
    expect(await store.has(cid)).to.equal(false);
    const shard = new NextToLast().encode(cid).dir;
    expect(await readdir(join(location, shard))).to.deep.equal([]);
    // A leftover temp file from a crash (blockstore-fs' naming or ours) is not a block either.
    await writeFile(join(location, shard, `.${new NextToLast().encode(cid).file}.tmp`), bytes.subarray(0, 10));
    expect(await store.has(cid)).to.equal(false);
  });
});
