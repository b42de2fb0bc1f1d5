// A head that names content the store lost (a power loss kept the head file but not the newest blocks) falls back,
// when read, to the newest complete version it recorded, says so, and adding works again on top of it.
import { readFile, readdir, stat, truncate, rm } from "node:fs/promises";
import { join } from "node:path";
import { generateX25519KeyPair } from "@hygeia/crypto";
import { expect } from "chai";
import {
  ContentNotFoundError,
  FileManifestHead,
  HeliaContentStore,
  PackBlockstore,
  PatientRecords,
} from "../src/index.ts";
import type { AddedRecord, HeadFallback } from "../src/index.ts";
import { expectRejection } from "./helpers/expect.ts";
import { LAB } from "./helpers/fixtures.ts";
import { TestNodes, testBytes } from "./helpers/nodes.ts";

/** Sizes of the block files under `<dataDir>/packs`, to cut the store back to them. */
async function packSizes(dataDir: string): Promise<Map<string, number>> {
  const packs = join(dataDir, "packs");
  const sizes = new Map<string, number>();
  for (const name of await readdir(packs)) {
    if (name.startsWith("LOCK")) continue;
    sizes.set(name, (await stat(join(packs, name))).size);
  }
  return sizes;
}

/** Cuts every block file back to `sizes` and removes newer ones: the newest blocks are gone, as after a power loss. */
async function cutTo(dataDir: string, sizes: Map<string, number>): Promise<void> {
  const packs = join(dataDir, "packs");
  for (const [name, size] of await packSizes(dataDir)) {
    const before = sizes.get(name);
    if (before === undefined) await rm(join(packs, name));
    else if (before < size) await truncate(join(packs, name), before);
  }
}

describe("manifest head fallback after lost blocks", function () {
  const nodes = new TestNodes();
  const patient = generateX25519KeyPair();
  after(() => nodes.cleanup());

  async function open(dataDir: string, headPath: string, fallbacks: HeadFallback[] = []) {
    const store = await HeliaContentStore.create({ dataDir, listen: [], timeoutMs: 2_000 });
    const records = new PatientRecords({
      store,
      head: new FileManifestHead(headPath),
      keyPair: patient,
      onHeadFallback: (fallback) => fallbacks.push(fallback),
    });
    return { store, records };
  }

  it("a head whose newest blocks were cut off the store's tail falls back to the newest complete version, reports it, and adds work again", async () => {
    const dataDir = await nodes.dir();
    const headPath = join(await nodes.dir(), "head.json");
    const plaintexts = [1, 2, 3].map((seed) => testBytes(20_000 * seed, seed));
    const added: AddedRecord[] = [];
    let { store, records } = await open(dataDir, headPath);
    for (const plaintext of plaintexts.slice(0, 2)) added.push(await records.addRecord(plaintext, LAB));
    await store.close();
    const sizes = await packSizes(dataDir);
    ({ store, records } = await open(dataDir, headPath));
    added.push(await records.addRecord(plaintexts[2]!, LAB));
    await store.close();
    await cutTo(dataDir, sizes); // record 3 and manifest version 3 are gone; the head still names version 3

    const fallbacks: HeadFallback[] = [];
    ({ store, records } = await open(dataDir, headPath, fallbacks));
    try {
      const latest = await records.manifest.latest();
      expect(latest?.version).to.equal(2);
      expect(latest?.cid.equals(added[1]!.manifest.cid)).to.equal(true);
      expect(fallbacks).to.have.length(1);
      const [fallback] = fallbacks;
      expect(fallback!.lost.cid.equals(added[2]!.manifest.cid)).to.equal(true);
      expect(fallback!.lost.version).to.equal(3);
      expect(fallback!.restored.version).to.equal(2);
      expect(fallback!.skipped).to.deep.equal([]);
      expect(records.manifest.lastHeadFallback).to.equal(fallback);
      // The lost head is kept in the head file for an operator.
      const file = JSON.parse(await readFile(headPath, "utf8")) as { abandoned: { cid: string }[] };
      expect(file.abandoned.map((head) => head.cid)).to.deep.equal([added[2]!.manifest.cid.toString()]);

      for (const [index, entry] of [added[0]!.entry, added[1]!.entry].entries()) {
        expect(Buffer.from(await records.readRecord(entry)).equals(Buffer.from(plaintexts[index]!))).to.equal(true);
      }
      const again = await records.addRecord(plaintexts[2]!, LAB);
      expect(again.manifest.version).to.equal(3);
      expect(again.manifest.prev?.equals(added[1]!.manifest.cid)).to.equal(true);
      expect(again.manifest.entries).to.have.length(3);
      expect(fallbacks).to.have.length(1); // reported once
      const versions: number[] = [];
      for await (const version of records.manifest.history()) versions.push(version.version);
      expect(versions).to.deep.equal([3, 2, 1]);
    } finally {
      await store.close();
    }
  });

  it("passes over an earlier version whose listed record is lost too, naming it, and restores the one before", async () => {
    const dataDir = await nodes.dir();
    const headPath = join(await nodes.dir(), "head.json");
    let { store, records } = await open(dataDir, headPath);
    const added: AddedRecord[] = [];
    for (const seed of [1, 2, 3]) added.push(await records.addRecord(testBytes(10_000, seed), LAB));
    await store.close();
    // Lose manifest version 3 (the head) and record 2's root block, which version 2 lists.
    const blocks = new PackBlockstore(join(dataDir, "packs"));
    await blocks.open();
    await blocks.delete(added[2]!.manifest.cid);
    await blocks.delete(added[1]!.entry.cid);
    await blocks.close();

    const fallbacks: HeadFallback[] = [];
    ({ store, records } = await open(dataDir, headPath, fallbacks));
    try {
      const latest = await records.manifest.latest();
      expect(latest?.version).to.equal(1);
      expect(fallbacks).to.have.length(1);
      expect(fallbacks[0]!.skipped).to.have.length(1);
      expect(fallbacks[0]!.skipped[0]!.head.version).to.equal(2);
      expect(fallbacks[0]!.skipped[0]!.reason).to.include(added[1]!.entry.cid.toString());
      const again = await records.addRecord(testBytes(10_000, 4), LAB);
      expect(again.manifest.version).to.equal(2);
      expect(again.manifest.entries).to.have.length(2);
    } finally {
      await store.close();
    }
  });

  it("changes nothing and says what to check when no recorded version is complete (a store other than the head's)", async () => {
    const headPath = join(await nodes.dir(), "head.json");
    let { store, records } = await open(await nodes.dir(), headPath);
    for (const seed of [1, 2]) await records.addRecord(testBytes(1_000, seed), LAB);
    await store.close();
    const before = await readFile(headPath, "utf8");

    const fallbacks: HeadFallback[] = [];
    ({ store, records } = await open(await nodes.dir(), headPath, fallbacks)); // an empty data dir
    try {
      const error = await expectRejection(records.manifest.latest(), ContentNotFoundError);
      expect(error.message).to.include("not in this store").and.include("nothing was changed");
      await expectRejection(records.addRecord(testBytes(1_000, 3), LAB), ContentNotFoundError);
      expect(await readFile(headPath, "utf8")).to.equal(before);
      expect(fallbacks).to.deep.equal([]);
    } finally {
      await store.close();
    }
  });
});
