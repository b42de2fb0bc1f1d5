// Review finding 5: two nodes with their own data dirs share one head file. Each head entry records the store that
// wrote it (writtenBy, its peer id); a store falls back only from a version it wrote and lost, and fetches another
// store's version from peers or refuses with HeadContentElsewhereError, never unlisting that store's records.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { generateX25519KeyPair } from "@hygeia/crypto";
import { expect } from "chai";
import {
  ContentNotFoundError,
  FileManifestHead,
  HeadContentElsewhereError,
  PackBlockstore,
  PatientRecords,
} from "../src/index.ts";
import type { AddedRecord, HeadFallback, HeliaContentStore } from "../src/index.ts";
import { expectRejection } from "./helpers/expect.ts";
import { LAB } from "./helpers/fixtures.ts";
import { TestNodes, testBytes } from "./helpers/nodes.ts";

describe("review: a head file shared by two stores", function () {
  const nodes = new TestNodes();
  const patient = generateX25519KeyPair();
  afterEach(() => nodes.cleanup());

  function records(store: HeliaContentStore, headPath: string, fallbacks: HeadFallback[] = []): PatientRecords {
    return new PatientRecords({
      store,
      head: new FileManifestHead(headPath),
      keyPair: patient,
      onHeadFallback: (fallback) => fallbacks.push(fallback),
    });
  }

  it("adds on top of the other store's versions (fetched from it), keeping every record listed", async () => {
    const headPath = join(await nodes.dir(), "head.json");
    const a = await nodes.node();
    const b = await nodes.node({ peers: a.multiaddrs() });
    const onA = records(a, headPath);
    const fallbacksOfB: HeadFallback[] = [];
    const onB = records(b, headPath, fallbacksOfB);
    const first = await onA.addRecord(testBytes(1000, 1), LAB);
    await b.pin(first.entry.cid); // B keeps a replica of version 1
    await b.pin(first.manifest.cid);
    await onA.addRecord(testBytes(1000, 2), LAB);
    const third = await onA.addRecord(testBytes(1000, 3), LAB);

    const added = await onB.addRecord(testBytes(1000, 4), LAB);
    expect(fallbacksOfB).to.deep.equal([]);
    expect(added.manifest.version).to.equal(4);
    expect(added.manifest.prev?.equals(third.manifest.cid)).to.equal(true);
    expect(added.manifest.entries).to.have.length(4);
    const seenByA = await onA.manifest.latest();
    expect(seenByA?.version).to.equal(4);
    const file = JSON.parse(await readFile(headPath, "utf8")) as {
      writtenBy: string;
      previous: { writtenBy: string }[];
    };
    expect(file.writtenBy).to.equal(b.peerId);
    expect(file.previous.map((head) => head.writtenBy)).to.deep.equal([a.peerId, a.peerId, a.peerId]);
  });

  it("refuses with HeadContentElsewhereError when the other store is not connected, and changes nothing", async () => {
    const headPath = join(await nodes.dir(), "head.json");
    const a = await nodes.node({ listen: [] });
    const b = await nodes.node({ listen: [], timeoutMs: 500 });
    const fallbacksOfB: HeadFallback[] = [];
    const first = await records(a, headPath).addRecord(testBytes(1000, 1), LAB);
    await records(a, headPath).addRecord(testBytes(1000, 2), LAB);
    const before = await readFile(headPath, "utf8");

    const error = await expectRejection(
      records(b, headPath, fallbacksOfB).addRecord(testBytes(1000, 3), LAB),
      HeadContentElsewhereError,
    );
    expect(error).to.be.instanceOf(ContentNotFoundError);
    expect(error.code).to.equal("CONTENT_NOT_FOUND");
    expect(error.writtenBy).to.equal(a.peerId);
    expect(error.version).to.equal(2);
    expect(error.message).to.include(a.peerId).and.include("Connect this node to that one");
    expect(fallbacksOfB).to.deep.equal([]);
    expect(await readFile(headPath, "utf8")).to.equal(before);
    expect(first.manifest.version).to.equal(1);
  });

  it("falling back from its own lost version, never passes over the other store's version before it", async () => {
    const headPath = join(await nodes.dir(), "head.json");
    const dataDirA = await nodes.dir();
    const b = await nodes.node();
    let a = await nodes.node({ dataDir: dataDirA, peers: b.multiaddrs() });
    const added: AddedRecord[] = [];
    added.push(await records(a, headPath).addRecord(testBytes(1000, 1), LAB)); // v1 by A
    added.push(await records(b, headPath).addRecord(testBytes(1000, 2), LAB)); // v2 by B (fetches v1 from A)
    added.push(await records(a, headPath).addRecord(testBytes(1000, 3), LAB)); // v3 by A (reads v2 from B)
    await a.close();
    const blocks = new PackBlockstore(join(dataDirA, "packs"));
    await blocks.open();
    await blocks.delete(added[2]!.manifest.cid); // A loses its own newest version
    await blocks.close();

    const fallbacks: HeadFallback[] = [];
    a = await nodes.node({ dataDir: dataDirA, peers: b.multiaddrs() });
    const latest = await records(a, headPath, fallbacks).manifest.latest();
    // Version 2 lists B's record, which is only in B: A keeps it listed rather than going back to version 1.
    expect(latest?.version).to.equal(2);
    expect(latest?.entries.some((entry) => entry.cid.equals(added[1]!.entry.cid))).to.equal(true);
    expect(fallbacks).to.have.length(1);
    expect(fallbacks[0]!.lost.version).to.equal(3);
    expect(fallbacks[0]!.restored).to.deep.include({ version: 2, writtenBy: b.peerId });
  });
});
