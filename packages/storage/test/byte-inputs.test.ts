// A record's plaintext (RecordStore.putRecord, PatientRecords.addRecord) and a store's source (ContentStore.put)
// are any @hygeia/crypto ByteInput: a plain Uint8Array as much as a stream. The rest is refused with this
// package's InvalidArgumentError naming the field, and nothing is stored or listed.
import { join } from "node:path";
import { Readable } from "node:stream";
import { generateX25519KeyPair } from "@hygeia/crypto";
import type { ByteInput } from "@hygeia/crypto";
import { expect } from "chai";
import { FileManifestHead, InvalidArgumentError, PatientRecords, RecordStore } from "../src/index.ts";
import type { HeliaContentStore } from "../src/index.ts";
import { expectRejection } from "./helpers/expect.ts";
import { TestNodes, collect, pieces, scratchReads, testBytes } from "./helpers/nodes.ts";
import { LAB } from "./helpers/fixtures.ts";

const PLAINTEXT = testBytes(150_000, 3);

function webStreamOf(bytes: Uint8Array, pieceSize: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + pieceSize));
      offset += pieceSize;
    },
  });
}

const KINDS: ReadonlyArray<readonly [string, () => ByteInput]> = [
  ["a plain Uint8Array", () => PLAINTEXT],
  ["a Buffer", () => Buffer.from(PLAINTEXT)],
  ["an ArrayBuffer", () => PLAINTEXT.slice().buffer],
  ["a Blob", () => new Blob([PLAINTEXT])],
  ["a web ReadableStream", () => webStreamOf(PLAINTEXT, 10_000)],
  ["a node:stream Readable", () => Readable.from([Buffer.from(PLAINTEXT.subarray(0, 7)), PLAINTEXT.subarray(7)])],
  ["an async generator", () => pieces(PLAINTEXT, 33_333)],
  ["an array of chunks", () => [PLAINTEXT.subarray(0, 1), PLAINTEXT.subarray(1)]],
];

describe("byte inputs of records and stores", () => {
  const nodes = new TestNodes();
  let store: HeliaContentStore;
  let dir: string;

  before(async () => {
    dir = await nodes.dir();
    store = await nodes.node({ listen: [] });
  });
  after(() => nodes.cleanup());

  for (const [name, make] of KINDS) {
    it(`PatientRecords.addRecord stores and lists ${name}`, async () => {
      const records = new PatientRecords({
        store,
        head: new FileManifestHead(join(dir, `${name.replaceAll(/\W/g, "-")}.json`)),
        keyPair: generateX25519KeyPair(),
      });
      const { entry } = await records.addRecord(make(), LAB);
      expect(entry.plaintextSize).to.equal(PLAINTEXT.length);
      expect(Buffer.compare(await records.readRecord(entry), PLAINTEXT)).to.equal(0);
    });
  }

  it("RecordStore.putRecord takes a plain Uint8Array, on the main thread and on the crypto worker", async () => {
    for (const cryptoWorker of [false, true]) {
      const records = new RecordStore(store, { cryptoWorker });
      const stored = await records.putRecord(PLAINTEXT, LAB);
      expect(stored.plaintextSize).to.equal(PLAINTEXT.length);
      expect(Buffer.compare(await records.readRecord(stored.cid, stored.dek), PLAINTEXT)).to.equal(0);
    }
  });

  it("ContentStore.put takes a plain Uint8Array and a web ReadableStream", async () => {
    const whole = await store.put(PLAINTEXT);
    const streamed = await store.put(webStreamOf(PLAINTEXT, 4096));
    expect(streamed.cid.equals(whole.cid)).to.equal(true);
    expect(Buffer.compare(await collect(store.get(whole.cid)), PLAINTEXT)).to.equal(0);
  });

  it("RecordStore.putRecord stores exactly the bytes a source that refills one buffer yielded", async () => {
    // fs.read into a scratch buffer, object-mode streams, many web APIs. Reads smaller than, equal to and larger
    // than an envelope chunk (64 KiB), on the main thread and on the crypto worker (addRecord is putRecord).
    for (const cryptoWorker of [false, true]) {
      const records = new RecordStore(store, { cryptoWorker });
      for (const readSize of [1000, 65_536, 100_000]) {
        const stored = await records.putRecord(scratchReads(PLAINTEXT, readSize), LAB);
        const read = await records.readRecord(stored.cid, stored.dek);
        expect(Buffer.compare(read, PLAINTEXT), `reads of ${readSize}, worker ${cryptoWorker}`).to.equal(0);
      }
    }
  });

  it("ContentStore.put stores exactly the bytes a source that refills one buffer yielded", async () => {
    const whole = await store.put(PLAINTEXT);
    const reused = await store.put(scratchReads(PLAINTEXT, 10_000));
    expect(reused.cid.equals(whole.cid)).to.equal(true);
    expect(Buffer.compare(await collect(store.get(reused.cid)), PLAINTEXT)).to.equal(0);
  });

  it("refuses a string record (a path, or text not encoded) with field plaintext, and lists nothing", async () => {
    const head = new FileManifestHead(join(dir, "refused.json"));
    const records = new PatientRecords({ store, head, keyPair: generateX25519KeyPair() });
    const error = await expectRejection(
      records.addRecord("scan.dcm" as unknown as ByteInput, LAB),
      InvalidArgumentError,
    );
    expect(error.code).to.equal("INVALID_ARGUMENT");
    expect(error.field).to.equal("plaintext");
    expect(error.message).to.include("TextEncoder").and.include("addFile");
    expect(await head.get()).to.equal(undefined);
  });

  it("refuses other kinds at once and bad chunks when read, naming the field", async () => {
    const records = new RecordStore(store);
    for (const bad of [42, null, {}, new Float32Array(2)]) {
      const error = await expectRejection(records.putRecord(bad as unknown as ByteInput, LAB), InvalidArgumentError);
      expect(error.field).to.equal("plaintext");
      expect(error.message).to.match(/must be a Uint8Array \/ Buffer, an ArrayBuffer, a Blob/);
    }
    const strings = await expectRejection(records.putRecord(Readable.from(["text"]), LAB), InvalidArgumentError);
    expect(strings.message).to.match(/plaintext chunk 0 .*string/);
    const source = await expectRejection(store.put([PLAINTEXT, [1, 2]] as unknown as ByteInput), InvalidArgumentError);
    expect(source.field).to.equal("source");
    expect(source.message).to.match(/source chunk 1 /);
  });
});
