// PatientRecords.readRecord / openRecord take a ManifestEntry or its CID (a string or a CID), since
// RecordStore.readRecord takes a CID and the two are easily mixed up; anything else, and undefined or wrong types
// given to the other PatientRecords / PatientManifest methods, is a typed error naming the argument.
import { join } from "node:path";
import { generateX25519KeyPair } from "@hygeia/crypto";
import { expect } from "chai";
import {
  FileManifestHead,
  InvalidArgumentError,
  InvalidCidError,
  PatientManifest,
  PatientRecords,
  RecordNotFoundError,
} from "../src/index.ts";
import type { AddedRecord, HeliaContentStore, ManifestEntry } from "../src/index.ts";
import { expectRejection } from "./helpers/expect.ts";
import { TestNodes, collect } from "./helpers/nodes.ts";
import { expectField, rejection, thrown } from "./helpers/expect.ts";
import { LAB } from "./helpers/fixtures.ts";

const observation = new TextEncoder().encode('{"resourceType":"Observation","valueQuantity":{"value":7.2}}');

describe("PatientRecords / PatientManifest inputs", () => {
  const nodes = new TestNodes();
  const patient = generateX25519KeyPair();
  let store: HeliaContentStore;
  let head: FileManifestHead;
  let records: PatientRecords;
  let lab: AddedRecord;

  before(async () => {
    store = await nodes.node();
    head = new FileManifestHead(join(await nodes.dir(), "head.json"));
    records = new PatientRecords({ store, head, keyPair: patient });
    lab = await records.addRecord(observation, LAB);
  });
  after(() => nodes.cleanup());

  it("readRecord takes the entry, its CID as a string (the reported mix-up) or as a CID", async () => {
    expect(await records.readRecord(lab.entry)).to.deep.equal(observation);
    expect(await records.readRecord(lab.entry.cid.toString())).to.deep.equal(observation);
    expect(await records.readRecord(lab.entry.cid)).to.deep.equal(observation);
  });

  it("openRecord takes the entry or its CID too", async () => {
    expect(await collect(records.openRecord(lab.entry.cid.toString()))).to.deep.equal(observation);
    expect(await collect(records.openRecord(lab.entry))).to.deep.equal(observation);
  });

  it("a CID the manifest does not list is RecordNotFoundError, a malformed CID string InvalidCidError", async () => {
    const other = await new PatientRecords({
      store,
      head: new FileManifestHead(join(await nodes.dir(), "other.json")),
      keyPair: generateX25519KeyPair(),
    }).addRecord(new Uint8Array([1, 2, 3]), LAB);
    const notListed = await expectRejection(records.readRecord(other.entry.cid.toString()), RecordNotFoundError);
    expect(notListed.cid).to.equal(other.entry.cid.toString());
    await expectRejection(collect(records.openRecord(other.entry.cid)), RecordNotFoundError);
    await expectRejection(records.readRecord("bafy-not-a-cid"), InvalidCidError);
  });

  it("refuses anything but an entry or a CID, naming record (and pointing at .entry for addRecord's result)", async () => {
    for (const wrong of [undefined, null, 42, [lab.entry], { cid: lab.entry.cid }]) {
      const error = await rejection(records.readRecord(wrong as unknown as ManifestEntry));
      expect(error).to.be.instanceOf(InvalidArgumentError);
      expect((error as InvalidArgumentError).field).to.match(/^record/);
    }
    expectField(await rejection(records.readRecord(undefined as unknown as ManifestEntry)), "record");
    expectField(await rejection(collect(records.openRecord(undefined as unknown as ManifestEntry))), "record");
    const whole = await rejection(records.readRecord(lab as unknown as ManifestEntry));
    expectField(whole, "record");
    expect((whole as Error).message).to.include("pass its .entry");
    expectField(await rejection(records.readRecord({ ...lab.entry, dekWrap: undefined } as never)), "record.dekWrap");
    expectField(
      await rejection(records.readRecord({ ...lab.entry, plaintextSize: "1" } as never)),
      "record.plaintextSize",
    );
  });

  it("names store, head, keyPair and options of the constructors", () => {
    expectField(
      thrown(() => new PatientRecords(undefined as never)),
      "options",
    );
    expectField(
      thrown(() => new PatientRecords({ head, keyPair: patient } as never)),
      "store",
    );
    expectField(
      thrown(() => new PatientManifest({ store, keyPair: patient } as never)),
      "head",
    );
    expectField(
      thrown(() => new PatientRecords({ store, head } as never)),
      "keyPair",
    );
  });

  it("names additions, base, records and entry of the manifest's methods, and writes nothing", async () => {
    const before = await head.get();
    const manifest = records.manifest;
    expectField(await rejection(manifest.addEntries(undefined as never)), "additions");
    expectField(await rejection(manifest.addEntries([undefined] as never)), "additions[0]");
    expectField(await rejection(manifest.addEntries([{ ...lab.entry, created: "today" }])), "additions[0].created");
    expectField(await rejection(manifest.addEntries([{ ...lab.entry, size: -1 }])), "additions[0].size");
    expectField(
      await rejection(manifest.addEntries([{ ...lab.entry, sharedWith: undefined } as never])),
      "additions[0].sharedWith",
    );
    expectField(await rejection(manifest.commit("bafy…" as never, [])), "base");
    expectField(await rejection(manifest.commit(lab.manifest, "entries" as never)), "additions");
    expectField(await rejection(manifest.addRecords(undefined as never)), "records");
    expectField(await rejection(manifest.addRecords([lab.entry] as never)), "records[0]");
    expectField(
      thrown(() => manifest.unwrapRecordKey(undefined as never)),
      "entry",
    );
    expectField(
      thrown(() => manifest.unwrapRecordKey(lab.entry.cid as never)),
      "entry",
    );
    await expectRejection(manifest.shareRecord(undefined as never, []), InvalidCidError);
    await expectRejection(manifest.merge(undefined as never), InvalidCidError);
    expect((await head.get())?.cid.toString()).to.equal(before?.cid.toString());
  });
});
