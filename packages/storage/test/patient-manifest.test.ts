import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generateDataKey, generateX25519KeyPair } from "@hygeia/crypto";
import { expect } from "chai";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";
import {
  ContentNotFoundError,
  FileManifestHead,
  InvalidArgumentError,
  InvalidManifestError,
  MAX_MANIFEST_BYTES,
  ManifestConflictError,
  ManifestTooLargeError,
  PatientManifest,
  PatientRecords,
  manifestEntryFor,
  sealManifest,
} from "../src/index.ts";
import type { AddedRecord, ContentStore, HeliaContentStore, Manifest, RecordMetadata } from "../src/index.ts";
import { expectRejection } from "./helpers/expect.ts";
import { TestNodes, collect, testBytes } from "./helpers/nodes.ts";
import { LAB } from "./helpers/fixtures.ts";

const PDF: RecordMetadata = {
  kind: "file",
  type: "application/pdf",
  category: "discharge",
  created: "2026-11-20T09:30:00Z",
};

describe("PatientManifest and PatientRecords", () => {
  const nodes = new TestNodes();
  const patient = generateX25519KeyPair();
  let store: HeliaContentStore;
  let dir: string;

  before(async () => {
    dir = await nodes.dir();
    store = await nodes.node({ listen: [], timeoutMs: 2_000 });
  });
  after(() => nodes.cleanup());

  function patientRecords(headFile: string): PatientRecords {
    return new PatientRecords({ store, head: new FileManifestHead(join(dir, headFile)), keyPair: patient });
  }

  it("adds records as versions 1, 2, 3 linked by prev, and reads them back", async () => {
    const patientRecordsA = patientRecords("linear.json");
    const texts = ["first", "second", "third"].map((word) => new TextEncoder().encode(`{"note":"${word}"}`));
    const added: AddedRecord[] = [];
    for (const text of texts) added.push(await patientRecordsA.addRecord([text], LAB));
    const latest = (await patientRecordsA.manifest.latest())!;
    expect(latest.version).to.equal(3);
    expect(latest.entries).to.have.length(3);
    expect(latest.prev?.equals(added[1]!.manifest.cid)).to.equal(true);

    const history: Manifest[] = [];
    for await (const version of patientRecordsA.manifest.history()) history.push(version);
    expect(history.map((m) => m.version)).to.deep.equal([3, 2, 1]);
    expect(history.map((m) => m.entries.length)).to.deep.equal([3, 2, 1]);
    expect(history[2]!.prev).to.equal(undefined);

    for (const [index, text] of texts.entries()) {
      const entry = latest.entries.find((e) => e.cid.equals(added[index]!.entry.cid))!;
      expect(entry).to.deep.include({ ...LAB, plaintextSize: text.length });
      expect(Buffer.compare(await patientRecordsA.readRecord(entry), text)).to.equal(0);
      expect(Buffer.compare(await collect(patientRecordsA.openRecord(entry)), text)).to.equal(0);
    }
  });

  it("an empty record is listed and reads back as zero bytes", async () => {
    const { entry } = await patientRecords("empty.json").addRecord([], PDF);
    expect(entry.plaintextSize).to.equal(0);
    expect(await patientRecords("empty.json").readRecord(entry)).to.have.length(0);
  });

  it("the stored manifest is ciphertext: no CID, category or type in clear", async () => {
    const patientRecordsB = patientRecords("opaque.json");
    const { entry, manifest } = await patientRecordsB.addRecord([testBytes(100)], PDF);
    const sealed = Buffer.from(await collect(store.get(manifest.cid)));
    for (const secret of [entry.cid.toString(), "discharge", "application/pdf", "hygeia.manifest"]) {
      expect(sealed.includes(Buffer.from(secret)), secret).to.equal(false);
    }
  });

  it("commit on a stale base throws ManifestConflictError and leaves the head alone", async () => {
    const manifest = patientRecords("stale.json").manifest;
    const records = patientRecords("stale.json").records;
    const first = await records.putRecord([testBytes(10, 1)], LAB);
    const second = await records.putRecord([testBytes(10, 2)], LAB);
    const v1 = await manifest.commit(undefined, [manifestEntryFor(first, patient.publicKey)]);
    const v2 = await manifest.commit(v1, [manifestEntryFor(second, patient.publicKey)]);
    const third = await records.putRecord([testBytes(10, 3)], LAB);
    const conflict = await expectRejection(
      manifest.commit(v1, [manifestEntryFor(third, patient.publicKey)]),
      ManifestConflictError,
    );
    expect(conflict.expectedHead).to.equal(v1.cid.toString());
    expect(conflict.currentHead).to.equal(v2.cid.toString());
    expect((await manifest.latest())!.cid.equals(v2.cid)).to.equal(true);
    await expectRejection(manifest.commit(undefined, []), ManifestConflictError);
  });

  it("concurrent writers (two devices sharing the head) are merged: no entry is lost", async () => {
    const deviceA = patientRecords("concurrent.json");
    const deviceB = patientRecords("concurrent.json");
    const uploads = Array.from({ length: 6 }, (_, index) =>
      (index % 2 === 0 ? deviceA : deviceB).addRecord([testBytes(1000 + index, index + 50)], LAB),
    );
    const added = await Promise.all(uploads);
    const latest = (await deviceA.manifest.latest())!;
    expect(latest.entries.map((e) => e.cid.toString()).sort()).to.deep.equal(
      added.map((a) => a.entry.cid.toString()).sort(),
    );
    expect(latest.version).to.be.at.least(6);
    const versions: number[] = [];
    for await (const version of deviceB.manifest.history()) versions.push(version.version);
    expect(versions).to.deep.equal(Array.from({ length: latest.version }, (_, i) => latest.version - i));
  });

  it("gives up with ManifestConflictError after maxAttempts lost races", async () => {
    const head = new FileManifestHead(join(dir, "always-moving.json"));
    const alwaysMoving = { get: head.get.bind(head), compareAndSet: async () => false };
    const manifest = new PatientManifest({ store, head: alwaysMoving, keyPair: patient, maxAttempts: 3 });
    const record = await patientRecords("unused.json").records.putRecord([testBytes(5)], LAB);
    await expectRejection(manifest.addRecords([record]), ManifestConflictError);
  });

  it("merge() folds a divergent version's entries into the head", async () => {
    const main = patientRecords("main.json");
    const branch = patientRecords("branch.json"); // e.g. a device that wrote offline to its own head
    const onMain = await main.addRecord([testBytes(20, 7)], LAB);
    const onBranch = await branch.addRecord([testBytes(20, 8)], PDF);
    const merged = await main.manifest.merge(onBranch.manifest.cid);
    expect(merged.version).to.equal(2);
    expect(merged.entries.map((e) => e.cid.toString()).sort()).to.deep.equal(
      [onMain.entry.cid.toString(), onBranch.entry.cid.toString()].sort(),
    );
    // Merging again adds nothing and writes no new version.
    expect((await main.manifest.merge(onBranch.manifest.cid)).cid.equals(merged.cid)).to.equal(true);
  });

  it("refuses a version larger than MAX_MANIFEST_BYTES before storing it: ManifestTooLargeError, head unchanged, still readable", async () => {
    // What a hostile DID document with thousands of long key ids would have produced: a head no reader could open.
    let puts = 0;
    const counting = new Proxy(store, {
      get(target, name) {
        const value: unknown = Reflect.get(target, name, target);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          if (name === "put") puts++;
          return (value as (...args: unknown[]) => unknown).apply(target, args);
        };
      },
    }) as ContentStore;
    const head = new FileManifestHead(join(dir, "oversize.json"));
    const records = new PatientRecords({ store: counting, head, keyPair: patient });
    const { entry, manifest } = await records.addRecord([testBytes(20, 41)], LAB);
    const key = generateX25519KeyPair().publicKey;
    const sharedAt = "2026-11-22T00:00:00.000Z";
    const shares = Array.from({ length: 16_000 }, (_, index) => ({
      id: `did:example:${"x".repeat(1000)}#k${index}`,
      publicKey: key,
      sharedAt,
    }));
    const putsBefore = puts;
    const error = await expectRejection(
      records.manifest.addEntries([{ ...entry, sharedWith: shares }]),
      ManifestTooLargeError,
    );
    expect(error.code).to.equal("MANIFEST_TOO_LARGE");
    expect(error.bytes).to.be.greaterThan(MAX_MANIFEST_BYTES);
    expect(error.maxBytes).to.equal(MAX_MANIFEST_BYTES);
    expect(error.message).to.match(/nothing was written and the head is unchanged/);
    expect(puts, "nothing stored").to.equal(putsBefore);
    expect((await head.get())!.cid.equals(manifest.cid)).to.equal(true);
    await expectRejection(records.manifest.commit(manifest, [{ ...entry, sharedWith: shares }]), ManifestTooLargeError);
    expect((await head.get())!.cid.equals(manifest.cid)).to.equal(true);
    // The patient's manifest still works: read, add, and a version just under the limit is written.
    expect(Buffer.compare(await records.readRecord(entry.cid), testBytes(20, 41))).to.equal(0);
    const { manifest: next } = await records.addRecord([testBytes(20, 42)], LAB);
    expect(next.version).to.equal(manifest.version + 1);
    const fits = await records.manifest.addEntries([{ ...entry, sharedWith: shares.slice(0, 10_000) }]);
    expect((await store.stat(fits.cid))!.size).to.be.within(10_000_000, MAX_MANIFEST_BYTES);
    expect((await records.manifest.latest())!.cid.equals(fits.cid)).to.equal(true);
  });

  it("refuses to list content that is not pinned here", async () => {
    const manifest = patientRecords("missing.json").manifest;
    const absent = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode("never uploaded")));
    const fake = { cid: absent, size: 100, plaintextSize: 49, dek: generateDataKey(), metadata: LAB };
    await expectRejection(manifest.addRecords([fake]), ContentNotFoundError);
    expect(await manifest.latest()).to.equal(undefined);
  });

  it("an upload that fails mid-way leaves the manifest untouched", async () => {
    const patientRecordsC = patientRecords("interrupted.json");
    const before = await patientRecordsC.addRecord([testBytes(10, 99)], LAB);
    async function* interrupted(): AsyncGenerator<Uint8Array> {
      yield testBytes(600_000, 12);
      throw new Error("connection reset");
    }
    await expectRejection(patientRecordsC.addRecord(interrupted(), PDF), Error);
    const latest = (await patientRecordsC.manifest.latest())!;
    expect(latest.cid.equals(before.manifest.cid)).to.equal(true);
    expect(latest.entries).to.have.length(1);
  });

  it("addFile uploads a file from disk and lists it; a file that cannot be read leaves the manifest untouched", async () => {
    const patientRecordsF = patientRecords("files.json");
    const scan = testBytes(2_500_000, 31);
    const path = join(dir, "scan.dcm");
    await writeFile(path, scan);
    const { entry, manifest } = await patientRecordsF.addFile(path, PDF);
    expect(manifest.version).to.equal(1);
    expect(entry).to.deep.include({ ...PDF, plaintextSize: scan.length });
    expect(Buffer.compare(await patientRecordsF.readRecord(entry), scan)).to.equal(0);
    await expectRejection(patientRecordsF.addFile(join(dir, "no-such-scan.dcm"), PDF), InvalidArgumentError);
    expect((await patientRecordsF.manifest.latest())!.cid.equals(manifest.cid)).to.equal(true);
  });

  it("history() rejects a prev link that skips versions", async () => {
    const patientRecordsD = patientRecords("skipping.json");
    const { manifest: v1 } = await patientRecordsD.addRecord([testBytes(10, 61)], LAB);
    const forged = await sealManifest({ ...v1, version: 3, prev: v1.cid }, patient);
    const { cid } = await store.put([forged]);
    const seen: number[] = [];
    await expectRejection(
      (async () => {
        for await (const version of patientRecordsD.manifest.history(cid)) seen.push(version.version);
      })(),
      InvalidManifestError,
    );
    expect(seen).to.deep.equal([3]);
  });

  it("another patient's key cannot read the manifest", async () => {
    const { manifest } = await patientRecords("private.json").addRecord([testBytes(10, 5)], LAB);
    const stranger = new PatientManifest({
      store,
      head: new FileManifestHead(join(dir, "stranger.json")),
      keyPair: generateX25519KeyPair(),
    });
    await expectRejection(stranger.read(manifest.cid), InvalidManifestError);
  });
});
