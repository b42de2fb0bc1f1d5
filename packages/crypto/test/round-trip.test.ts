import type { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { expect } from "chai";
import {
  CHUNK_OVERHEAD_BYTES,
  DEFAULT_CHUNK_SIZE,
  ENVELOPE_HEADER_BYTES,
  RecordDecryptor,
  RecordEncryptor,
  chunkCount,
  createDecryptTransformStream,
  createEncryptTransformStream,
  decryptChunks,
  decryptToBuffer,
  encryptChunks,
  encryptToBuffer,
  encryptedSize,
  generateDataKey,
  parseEnvelopeHeader,
} from "../src/index.ts";
import type { EncryptOptions } from "../src/index.ts";
import { createDecryptStream, createEncryptStream } from "../src/node.ts";
import { collect, expectBytesEqual, patternBytes, readableOf, splitInto, webReadableOf } from "./helpers.ts";

type Cipher = (pieces: Uint8Array[], key: Uint8Array, options?: EncryptOptions) => Promise<Uint8Array>;
type Decipher = (pieces: Uint8Array[], key: Uint8Array) => Promise<Uint8Array>;

async function nodePipe(pieces: Uint8Array[], transform: Transform): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  await pipeline(readableOf(pieces), transform, async (source: AsyncIterable<Uint8Array>) => {
    for await (const part of source) parts.push(part);
  });
  return Uint8Array.from(Buffer.concat(parts));
}

const encrypters: Record<string, Cipher> = {
  buffer: (pieces, key, options) => encryptToBuffer(pieces, key, options),
  "node Transform": (pieces, key, options) => nodePipe(pieces, createEncryptStream(key, options)),
  "web TransformStream": (pieces, key, options) =>
    collect(webReadableOf(pieces).pipeThrough(createEncryptTransformStream(key, options))),
  "async generator": (pieces, key, options) => collect(encryptChunks(pieces, key, options)),
};
const decrypters: Record<string, Decipher> = {
  buffer: (pieces, key) => decryptToBuffer(pieces, key),
  "node Transform": (pieces, key) => nodePipe(pieces, createDecryptStream(key)),
  "web TransformStream": (pieces, key) => collect(webReadableOf(pieces).pipeThrough(createDecryptTransformStream(key))),
  "async generator": (pieces, key) => collect(decryptChunks(pieces, key)),
};

const SMALL_CHUNK = 1024;
const smallChunkSizes = [
  0,
  1,
  SMALL_CHUNK - 1,
  SMALL_CHUNK,
  SMALL_CHUNK + 1,
  2 * SMALL_CHUNK,
  2 * SMALL_CHUNK + 1,
  3 * SMALL_CHUNK - 1,
  3 * SMALL_CHUNK,
];
const defaultChunkSizes = [0, 1, DEFAULT_CHUNK_SIZE, DEFAULT_CHUNK_SIZE + 1, 3 * DEFAULT_CHUNK_SIZE - 1, 200_003];
const splits: Record<string, readonly number[]> = {
  "one piece": [Number.MAX_SAFE_INTEGER],
  "odd pieces": [7, 1000, 3, 5000, 1, 65536 + 9],
};

describe("record envelope round trips", function () {
  for (const [encName, encrypt] of Object.entries(encrypters)) {
    for (const [decName, decrypt] of Object.entries(decrypters)) {
      describe(`encrypt: ${encName}, decrypt: ${decName}`, function () {
        const cases = [
          ...smallChunkSizes.map((length) => ({ length, chunkSize: SMALL_CHUNK })),
          ...defaultChunkSizes.map((length) => ({ length, chunkSize: DEFAULT_CHUNK_SIZE })),
        ];
        for (const { length, chunkSize } of cases) {
          it(`${length} bytes, chunk size ${chunkSize}`, async function () {
            const key = generateDataKey();
            const plaintext = patternBytes(length, length + 1);
            for (const sizes of Object.values(splits)) {
              const envelope = await encrypt(splitInto(plaintext, sizes), key, { chunkSize });
              expect(envelope.length).to.equal(encryptedSize(length, chunkSize));
              const decrypted = await decrypt(splitInto(envelope, sizes), key);
              expectBytesEqual(decrypted, plaintext);
            }
          });
        }
      });
    }
  }

  it("accepts input one byte at a time", async function () {
    const key = generateDataKey();
    const plaintext = patternBytes(2 * SMALL_CHUNK + 5);
    const envelope = await encryptToBuffer(splitInto(plaintext, [1]), key, { chunkSize: SMALL_CHUNK });
    expectBytesEqual(await decryptToBuffer(splitInto(envelope, [1]), key), plaintext);
  });

  it("writes a self-describing header and canonical chunk framing", async function () {
    const key = generateDataKey();
    const envelope = await encryptToBuffer(patternBytes(2 * SMALL_CHUNK), key, { chunkSize: SMALL_CHUNK });
    const header = parseEnvelopeHeader(envelope);
    expect(header).to.include({ version: 1, algorithm: 1, chunkSize: SMALL_CHUNK });
    expect(Buffer.from(envelope.subarray(0, 4)).toString("latin1")).to.equal("HYGR");
    // Exactly 2 chunks: non-final chunks are full, and the last full chunk carries TAG_FINAL.
    expect(chunkCount(2 * SMALL_CHUNK, SMALL_CHUNK)).to.equal(2);
    expect(envelope.length).to.equal(ENVELOPE_HEADER_BYTES + 2 * (SMALL_CHUNK + CHUNK_OVERHEAD_BYTES));
  });

  it("encrypts an empty plaintext to a header and one empty final chunk", async function () {
    const key = generateDataKey();
    const envelope = await encryptToBuffer(new Uint8Array(0), key);
    expect(envelope.length).to.equal(ENVELOPE_HEADER_BYTES + CHUNK_OVERHEAD_BYTES);
    expect((await decryptToBuffer(envelope, key)).length).to.equal(0);
  });

  it("uses a fresh secretstream header per record, even with the same key", async function () {
    const key = generateDataKey();
    const a = await encryptToBuffer(patternBytes(100), key);
    const b = await encryptToBuffer(patternBytes(100), key);
    expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).to.not.equal(0);
  });

  it("sans-I/O decryptor reports when the final chunk has been verified", function () {
    const key = generateDataKey();
    const encryptor = new RecordEncryptor(key, { chunkSize: SMALL_CHUNK });
    const envelope = Buffer.concat([...encryptor.update(patternBytes(SMALL_CHUNK * 2)), ...encryptor.final()]);
    const decryptor = new RecordDecryptor(key);
    decryptor.update(envelope.subarray(0, envelope.length - 1));
    expect(decryptor.finalVerified).to.equal(false);
    decryptor.update(envelope.subarray(envelope.length - 1));
    expect(decryptor.finalVerified).to.equal(true);
    expect(decryptor.final()).to.deep.equal([]);
  });
});
