import { appendFile, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  DEFAULT_CHUNK_SIZE,
  IntegrityError,
  TruncatedError,
  encryptToBuffer,
  encryptedSize,
  generateDataKey,
} from "@hygeia/crypto";
import { expect } from "chai";
import { BlockCorruptError, InvalidArgumentError, InvalidCidError, RecordStore } from "../src/index.ts";
import type { HeliaContentStore, RecordMetadata } from "../src/index.ts";
import { expectRejection } from "./helpers/expect.ts";
import { TestNodes, collect, pieces, pinRecords, testBytes } from "./helpers/nodes.ts";
import { LAB } from "./helpers/fixtures.ts";

const SCAN: RecordMetadata = {
  kind: "file",
  type: "application/dicom",
  category: "imaging",
  created: "2026-11-21T13:00:00.123+01:00",
};

describe("RecordStore", () => {
  const nodes = new TestNodes();
  let dataDir: string;
  let store: HeliaContentStore;
  let records: RecordStore;

  before(async () => {
    dataDir = await nodes.dir();
    store = await nodes.node({ dataDir, listen: [] });
    records = new RecordStore(store);
  });
  after(() => nodes.cleanup());

  const chunk = DEFAULT_CHUNK_SIZE;
  for (const length of [0, 1, chunk - 1, chunk, chunk + 1, 3 * chunk, 5 * chunk + 17, 2_500_000]) {
    it(`round-trips ${length} plaintext bytes (streaming and buffered)`, async () => {
      const plaintext = testBytes(length, length + 1);
      const stored = await records.putRecord(pieces(plaintext, 10_000), SCAN);
      expect(stored.plaintextSize).to.equal(length);
      expect(stored.size).to.equal(encryptedSize(length));
      expect(stored.dek).to.have.length(32);
      expect(stored.metadata).to.deep.equal(SCAN);
      expect(stored.cid.version).to.equal(1);
      expect(Buffer.compare(await collect(records.getRecord(stored.cid, stored.dek)), plaintext)).to.equal(0);
      expect(Buffer.compare(await records.readRecord(stored.cid.toString(), stored.dek), plaintext)).to.equal(0);
    });
  }

  it("stores only ciphertext: the plaintext never appears in the stored bytes", async () => {
    const plaintext = new TextEncoder().encode(JSON.stringify({ resourceType: "Observation", code: "glucose-7.2" }));
    const stored = await records.putRecord([plaintext], LAB);
    const raw = Buffer.from(await collect(store.get(stored.cid)));
    expect(raw.subarray(0, 4).toString("latin1")).to.equal("HYGR");
    expect(raw.includes(Buffer.from("glucose"))).to.equal(false);
  });

  it("uses a fresh DEK per record: the same plaintext gives different CIDs", async () => {
    const plaintext = testBytes(1000, 2);
    const first = await records.putRecord([plaintext], LAB);
    const second = await records.putRecord([plaintext], LAB);
    expect(first.cid.equals(second.cid)).to.equal(false);
    expect(Buffer.compare(first.dek, second.dek)).to.not.equal(0);
  });

  it("a wrong DEK is an IntegrityError, nothing is released", async () => {
    const stored = await records.putRecord([testBytes(200_000, 4)], LAB);
    const released: Uint8Array[] = [];
    const error = await expectRejection(
      (async () => {
        for await (const part of records.getRecord(stored.cid, generateDataKey())) released.push(part);
      })(),
      IntegrityError,
    );
    expect(error).to.be.instanceOf(IntegrityError);
    expect(released).to.have.length(0);
    await expectRejection(records.readRecord(stored.cid, generateDataKey()), IntegrityError);
  });

  it("a bit-flipped ciphertext is an IntegrityError", async () => {
    const dek = generateDataKey();
    const envelope = await encryptToBuffer(testBytes(3 * chunk, 5), dek);
    envelope[envelope.length - 100]! ^= 0x01;
    const { cid } = await store.put([envelope]);
    await expectRejection(collect(records.getRecord(cid, dek)), IntegrityError);
    await expectRejection(records.readRecord(cid, dek), IntegrityError);
  });

  it("a truncated ciphertext is a TruncatedError even though every released chunk was authentic", async () => {
    const dek = generateDataKey();
    const plaintext = testBytes(3 * chunk, 6);
    const envelope = await encryptToBuffer(plaintext, dek);
    const { cid } = await store.put([envelope.subarray(0, envelope.length - (chunk + 17))]);
    const released: Uint8Array[] = [];
    await expectRejection(
      (async () => {
        for await (const part of records.getRecord(cid, dek)) released.push(part);
      })(),
      TruncatedError,
    );
    const prefix = Buffer.concat(released);
    expect(Buffer.compare(prefix, plaintext.subarray(0, prefix.length))).to.equal(0);
  });

  it("a block corrupted on disk (flatfs blockstore) is caught by the record's authentication", async () => {
    const tamperDir = await nodes.dir();
    const tamperStore = await nodes.node({ dataDir: tamperDir, blockstore: "flatfs", listen: [] });
    const stored = await new RecordStore(tamperStore).putRecord([testBytes(500_000, 8)], LAB);
    // Flip one byte in the largest block file (a raw leaf of ciphertext).
    await flipMiddleByteOfLargestFile(join(tamperDir, "blocks"));
    await expectRejection(new RecordStore(tamperStore).readRecord(stored.cid, stored.dek), IntegrityError);
  });

  it("a block corrupted on disk (pack blockstore) is refused by the blockstore's checksum", async () => {
    const tamperDir = await nodes.dir();
    const tamperStore = await nodes.node({ dataDir: tamperDir, blockstore: "pack", listen: [] });
    const stored = await new RecordStore(tamperStore).putRecord([testBytes(500_000, 8)], LAB);
    // The only segment holds the one block of ciphertext: flip a byte in its middle.
    await flipMiddleByteOfLargestFile(join(tamperDir, "packs"));
    await expectRejection(new RecordStore(tamperStore).readRecord(stored.cid, stored.dek), BlockCorruptError);
  });

  it("validates metadata before reading any plaintext", async () => {
    let read = false;
    const source = (async function* () {
      read = true;
      yield new Uint8Array(1);
    })();
    const bad: unknown[] = [
      null,
      { ...LAB, kind: "pdf" },
      { ...LAB, type: "observation" },
      { ...SCAN, type: "Application/PDF" },
      { ...LAB, category: "" },
      { ...LAB, category: "Lab Results" },
      { ...LAB, created: "yesterday" },
      { ...LAB, created: "2026-11-21T13:00:00" },
      { ...LAB, created: "2026-13-45T13:00:00Z" },
      { ...LAB, patientName: "Jane Doe" },
    ];
    for (const metadata of bad) {
      await expectRejection(records.putRecord(source, metadata as RecordMetadata), InvalidArgumentError);
    }
    expect(read).to.equal(false);
  });

  it("validates CIDs and DEKs on read", async () => {
    expect(() => records.getRecord("nope", generateDataKey())).to.throw(InvalidCidError);
    const { cid } = await records.putRecord([new Uint8Array(1)], LAB);
    expect(() => records.getRecord(cid, new Uint8Array(16))).to.throw(/32-byte/);
  });

  it("a plaintext source that fails mid-way rejects putRecord", async () => {
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield testBytes(300_000, 9);
      throw new Error("upload interrupted");
    }
    const error = await expectRejection(records.putRecord(failing(), SCAN), Error);
    expect(error.message).to.equal("upload interrupted");
  });
});

describe("RecordStore.putFile (uploads from disk through reused buffers)", () => {
  const nodes = new TestNodes();
  let dir: string;
  let store: HeliaContentStore;

  before(async () => {
    dir = await nodes.dir();
    store = await nodes.node({ listen: [] });
  });
  after(() => nodes.cleanup());

  async function file(name: string, bytes: Uint8Array): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, bytes);
    return path;
  }

  // Sizes around the 1 MiB read buffer and well past the 2-buffer ring, so every buffer is refilled several times;
  // the 2 MiB chunk size makes the encryptor hold input larger than a default read (buffers then grow to match).
  for (const [length, chunkSize] of [
    [0, DEFAULT_CHUNK_SIZE],
    [1, DEFAULT_CHUNK_SIZE],
    [1024 * 1024, DEFAULT_CHUNK_SIZE],
    [7 * 1024 * 1024 + 3, DEFAULT_CHUNK_SIZE],
    [9 * 1024 * 1024 + 5, 2 * 1024 * 1024],
  ] as const) {
    it(`round-trips a ${length}-byte file (chunk size ${chunkSize}), content intact`, async () => {
      const records = new RecordStore(store, { chunkSize });
      const plaintext = testBytes(length, length + 13);
      const path = await file(`plain-${length}-${chunkSize}.bin`, plaintext);
      const progress: number[] = [];
      const stored = await records.putFile(path, SCAN, { onProgress: (read, total) => progress.push(read - total) });
      expect(stored.plaintextSize).to.equal(length);
      expect(stored.size).to.equal(encryptedSize(length, chunkSize));
      expect(Buffer.compare(await collect(records.getRecord(stored.cid, stored.dek)), plaintext)).to.equal(0);
      if (length > 0) expect(progress.at(-1)).to.equal(0); // the last report is "all of it"
      expect(progress).to.deep.equal([...progress].sort((a, b) => a - b));
    });
  }

  it("a path that cannot be read, or is not a file, is an InvalidArgumentError", async () => {
    const records = new RecordStore(store);
    await expectRejection(records.putFile(join(dir, "missing.bin"), SCAN), InvalidArgumentError);
    await expectRejection(records.putFile(dir, SCAN), InvalidArgumentError);
    await expectRejection(records.putFile("", SCAN), InvalidArgumentError);
  });

  it("a file that changes while it is uploaded fails the upload, and nothing is pinned", async () => {
    const freshDir = await nodes.dir();
    const records = new RecordStore(await nodes.node({ dataDir: freshDir, listen: [] }));
    const path = await file("growing.bin", testBytes(3 * 1024 * 1024, 5));
    let appended = false;
    const error = await expectRejection(
      records.putFile(path, SCAN, {
        onProgress: () => {
          if (appended) return;
          appended = true;
          void appendFile(path, "more");
        },
      }),
      InvalidArgumentError,
    );
    expect(error.message).to.match(/changed while it was being read/);
    expect(pinRecords(freshDir)).to.deep.equal(new Map());
  });
});

async function flipMiddleByteOfLargestFile(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  const files = entries.filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
  const sizes = await Promise.all(files.map(async (file) => ({ file, size: (await stat(file)).size })));
  const largest = sizes.sort((a, b) => b.size - a.size)[0]!.file;
  const bytes = await readFile(largest);
  bytes[Math.floor(bytes.length / 2)]! ^= 0x80;
  await writeFile(largest, bytes);
}

describe("RecordStore with the crypto worker", () => {
  const nodes = new TestNodes();
  let store: HeliaContentStore;
  let records: RecordStore;
  const chunk = DEFAULT_CHUNK_SIZE;

  before(async () => {
    store = await nodes.node({ listen: [] });
    records = new RecordStore(store, { cryptoWorker: true });
  });
  after(() => nodes.cleanup());

  for (const length of [0, 1, chunk, 3 * chunk + 17, 2_500_000]) {
    it(`round-trips ${length} bytes, interoperable with the inline path`, async () => {
      const plaintext = testBytes(length, length + 3);
      const stored = await records.putRecord(pieces(plaintext, 100_000), SCAN);
      expect(stored.size).to.equal(encryptedSize(length));
      expect(Buffer.compare(await collect(records.getRecord(stored.cid, stored.dek)), plaintext)).to.equal(0);
      const inline = new RecordStore(store);
      expect(Buffer.compare(await collect(inline.getRecord(stored.cid, stored.dek)), plaintext)).to.equal(0);
      const inlineStored = await inline.putRecord([plaintext], SCAN);
      const viaWorker = await collect(records.getRecord(inlineStored.cid, inlineStored.dek));
      expect(Buffer.compare(viaWorker, plaintext)).to.equal(0);
    });
  }

  it("reports tampering with the same typed errors", async () => {
    const dek = generateDataKey();
    const envelope = await encryptToBuffer(testBytes(3 * chunk, 5), dek);
    const flipped = Uint8Array.from(envelope);
    flipped[flipped.length - 100]! ^= 0x01;
    const { cid: flippedCid } = await store.put([flipped]);
    await expectRejection(collect(records.getRecord(flippedCid, dek)), IntegrityError);
    const { cid: truncatedCid } = await store.put([envelope.subarray(0, envelope.length - (chunk + 17))]);
    await expectRejection(collect(records.getRecord(truncatedCid, dek)), TruncatedError);
    const { cid } = await store.put([envelope]);
    await expectRejection(collect(records.getRecord(cid, generateDataKey())), IntegrityError);
  });

  it("a source that fails mid-way rejects putRecord", async () => {
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield testBytes(3_000_000, 9);
      throw new Error("upload interrupted");
    }
    const error = await expectRejection(records.putRecord(failing(), SCAN), Error);
    expect(error.message).to.equal("upload interrupted");
  });

  it("a reader that stops early releases the worker (no hang)", async () => {
    const stored = await records.putRecord([testBytes(4_000_000, 10)], SCAN);
    for await (const part of records.getRecord(stored.cid, stored.dek)) {
      expect(part.length).to.be.greaterThan(0);
      break;
    }
  });
});
