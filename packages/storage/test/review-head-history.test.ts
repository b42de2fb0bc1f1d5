// Review finding 11 and the concurrent-adds finding: the head file's current value is read strictly and its history
// leniently (a bad earlier entry is dropped and reported, never blocks an add); adds on one instance run one at a
// time and never lose races to each other.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generateX25519KeyPair } from "@hygeia/crypto";
import { expect } from "chai";
import { FileManifestHead, InvalidManifestError, PatientRecords } from "../src/index.ts";
import type { DroppedHeadEntry } from "../src/index.ts";
import { expectRejection } from "./helpers/expect.ts";
import { LAB } from "./helpers/fixtures.ts";
import { TestNodes, testBytes } from "./helpers/nodes.ts";

describe("review: the head file's history and concurrent adds", function () {
  const nodes = new TestNodes();
  const patient = generateX25519KeyPair();
  afterEach(() => nodes.cleanup());

  it("drops a history entry that does not parse, reports it once, and adds on top of the intact current head", async () => {
    const store = await nodes.node({ listen: [] });
    const headPath = join(await nodes.dir(), "head.json");
    const writer = new PatientRecords({ store, head: new FileManifestHead(headPath), keyPair: patient });
    for (const seed of [1, 2, 3]) await writer.addRecord(testBytes(1000, seed), LAB);
    const file = JSON.parse(await readFile(headPath, "utf8")) as { cid: string; previous: object[] };
    const damaged = {
      ...file,
      previous: [{ cid: "garbage", version: 1 }, { cid: file.cid, version: 0 }, ...file.previous],
    };
    await writeFile(headPath, JSON.stringify(damaged));

    const reports: (readonly DroppedHeadEntry[])[] = [];
    const head = new FileManifestHead(headPath, { onDroppedHistory: (dropped) => reports.push(dropped) });
    expect((await head.previous()).map((entry) => entry.version)).to.deep.equal([2, 1]);
    const records = new PatientRecords({ store, head, keyPair: patient });
    const added = await records.addRecord(testBytes(1000, 4), LAB);
    expect(added.manifest.version).to.equal(4);
    expect(added.manifest.entries).to.have.length(4);
    expect(reports).to.have.length(1);
    expect(reports[0]!.map((entry) => entry.where)).to.deep.equal(["previous[0]", "previous[1]"]);
    await records.addRecord(testBytes(1000, 5), LAB);
    expect(reports).to.have.length(1); // the bad entries left the file with the first write
  });

  it("drops a history that is not a list, and still refuses a head file whose current value is bad", async () => {
    const store = await nodes.node({ listen: [] });
    const headPath = join(await nodes.dir(), "head.json");
    const records = new PatientRecords({ store, head: new FileManifestHead(headPath), keyPair: patient });
    const first = await records.addRecord(testBytes(1000, 1), LAB);
    const reports: (readonly DroppedHeadEntry[])[] = [];
    const head = new FileManifestHead(headPath, { onDroppedHistory: (dropped) => reports.push(dropped) });
    await writeFile(headPath, JSON.stringify({ cid: first.manifest.cid.toString(), version: 1, previous: 7 }));
    expect(await head.previous()).to.deep.equal([]);
    const again = new PatientRecords({ store, head, keyPair: patient });
    expect((await again.addRecord(testBytes(1000, 2), LAB)).manifest.version).to.equal(2);
    expect(reports).to.deep.equal([[{ where: "previous", reason: "not a list" }]]);

    await writeFile(headPath, JSON.stringify({ cid: "garbage", version: 2, previous: [] }));
    const error = await expectRejection(head.get(), InvalidManifestError);
    expect(error.message).to.include("current head cannot be read");
  });

  it("runs concurrent adds on one PatientRecords one at a time: none fails with ManifestConflictError", async () => {
    const store = await nodes.node({ listen: [] });
    const headPath = join(await nodes.dir(), "head.json");
    // maxAttempts 1: a single lost race would fail an add.
    const records = new PatientRecords({
      store,
      head: new FileManifestHead(headPath),
      keyPair: patient,
      maxAttempts: 1,
    });
    const results = await Promise.all([1, 2, 3, 4, 5].map((seed) => records.addRecord(testBytes(2000, seed), LAB)));
    const versions = results.map((result) => result.manifest.version).sort((x, y) => x - y);
    expect(versions).to.deep.equal([1, 2, 3, 4, 5]);
    expect((await records.manifest.latest())?.entries).to.have.length(5);
  });
});
