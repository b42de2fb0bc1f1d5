import { pipeline } from "node:stream/promises";
import { expect } from "chai";
import {
  CHUNK_OVERHEAD_BYTES,
  CryptoErrorCode,
  ENVELOPE_HEADER_BYTES,
  IntegrityError,
  RecordDecryptor,
  TrailingDataError,
  TruncatedError,
  UnsupportedFormatError,
  createDecryptTransformStream,
  decryptChunks,
  decryptToBuffer,
  encryptToBuffer,
  generateDataKey,
} from "../src/index.ts";
import { createDecryptStream } from "../src/node.ts";
import {
  collect,
  expectCryptoError,
  patternBytes,
  readableOf,
  rejection,
  splitInto,
  webReadableOf,
} from "./helpers.ts";

const CHUNK = 1024;
const FRAME = CHUNK + CHUNK_OVERHEAD_BYTES;
const key = generateDataKey();
// 3 full chunks + a 100-byte final chunk.
const plaintext = patternBytes(3 * CHUNK + 100);
const envelope = await encryptToBuffer(plaintext, key, { chunkSize: CHUNK });
// Exactly 2 chunks: the final chunk is full-size, so trailing bytes are seen by update(), not final().
const exactEnvelope = await encryptToBuffer(patternBytes(2 * CHUNK), key, { chunkSize: CHUNK });

const frameStart = (index: number): number => ENVELOPE_HEADER_BYTES + index * FRAME;
const frame = (bytes: Uint8Array, index: number): Uint8Array =>
  bytes.subarray(frameStart(index), Math.min(frameStart(index + 1), bytes.length));
const join = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(parts));
const header = envelope.subarray(0, ENVELOPE_HEADER_BYTES);

function flipBit(bytes: Uint8Array, offset: number, bit = 0): Uint8Array {
  const copy = bytes.slice();
  copy[offset]! ^= 1 << bit;
  return copy;
}

function withByte(bytes: Uint8Array, offset: number, value: number): Uint8Array {
  const copy = bytes.slice();
  copy[offset] = value;
  return copy;
}

function withChunkSize(bytes: Uint8Array, chunkSize: number): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setUint32(6, chunkSize, false);
  return copy;
}

type ErrorType = typeof IntegrityError | typeof UnsupportedFormatError;
interface TamperCase {
  readonly name: string;
  readonly input: Uint8Array;
  readonly type: ErrorType;
  readonly code: CryptoErrorCode;
  readonly key?: Uint8Array;
}

const cases: TamperCase[] = [
  { name: "empty input", input: new Uint8Array(0), type: TruncatedError, code: CryptoErrorCode.Truncated },
  { name: "cut inside the header", input: envelope.subarray(0, 20), type: TruncatedError, code: "TRUNCATED" },
  { name: "header only", input: header, type: TruncatedError, code: "TRUNCATED" },
  {
    name: "truncated at a chunk boundary",
    input: envelope.subarray(0, frameStart(2)),
    type: TruncatedError,
    code: "TRUNCATED",
  },
  {
    name: "final chunk dropped",
    input: envelope.subarray(0, frameStart(3)),
    type: TruncatedError,
    code: "TRUNCATED",
  },
  {
    name: "final full-size chunk dropped (exact multiple record)",
    input: exactEnvelope.subarray(0, frameStart(1)),
    type: TruncatedError,
    code: "TRUNCATED",
  },
  {
    name: "cut inside the final chunk, before its tag",
    input: envelope.subarray(0, frameStart(3) + 10),
    type: TruncatedError,
    code: "TRUNCATED",
  },
  {
    name: "cut inside the final chunk's ciphertext",
    input: envelope.subarray(0, envelope.length - 5),
    type: IntegrityError,
    code: "INTEGRITY",
  },
  {
    name: "cut inside a middle chunk",
    input: envelope.subarray(0, frameStart(1) + 500),
    type: IntegrityError,
    code: "INTEGRITY",
  },
  {
    name: "two chunks swapped",
    input: join(header, frame(envelope, 1), frame(envelope, 0), frame(envelope, 2), frame(envelope, 3)),
    type: IntegrityError,
    code: "INTEGRITY",
  },
  {
    name: "a chunk replayed",
    input: join(header, frame(envelope, 0), frame(envelope, 0), frame(envelope, 2), frame(envelope, 3)),
    type: IntegrityError,
    code: "INTEGRITY",
  },
  {
    name: "a middle chunk removed",
    input: join(header, frame(envelope, 0), frame(envelope, 2), frame(envelope, 3)),
    type: IntegrityError,
    code: "INTEGRITY",
  },
  {
    name: "bit flip in the secretstream header",
    input: flipBit(envelope, 10 + 5),
    type: IntegrityError,
    code: "INTEGRITY",
  },
  {
    name: "chunk size field changed to another valid size (preamble is authenticated)",
    input: withChunkSize(envelope, CHUNK + 1),
    type: IntegrityError,
    code: "INTEGRITY",
  },
  {
    name: "bit flip in the encrypted tag byte",
    input: flipBit(envelope, frameStart(1)),
    type: IntegrityError,
    code: "INTEGRITY",
  },
  {
    name: "bit flip in chunk ciphertext",
    input: flipBit(envelope, frameStart(1) + 300, 6),
    type: IntegrityError,
    code: "INTEGRITY",
  },
  {
    name: "bit flip in a chunk's MAC",
    input: flipBit(envelope, frameStart(2) - 1, 7),
    type: IntegrityError,
    code: "INTEGRITY",
  },
  {
    name: "bit flip in the final chunk's MAC",
    input: flipBit(envelope, envelope.length - 1),
    type: IntegrityError,
    code: "INTEGRITY",
  },
  {
    name: "a chunk spliced in from another record under the same key",
    input: await (async () => {
      const other = await encryptToBuffer(patternBytes(3 * CHUNK + 100, 99), key, { chunkSize: CHUNK });
      return join(header, frame(envelope, 0), frame(other, 1), frame(envelope, 2), frame(envelope, 3));
    })(),
    type: IntegrityError,
    code: "INTEGRITY",
  },
  {
    name: "one byte appended after the final chunk",
    input: join(envelope, Uint8Array.of(0)),
    type: IntegrityError,
    code: "INTEGRITY",
  },
  {
    name: "bytes appended after a full-size final chunk",
    input: join(exactEnvelope, patternBytes(10)),
    type: TrailingDataError,
    code: "TRAILING_DATA",
  },
  {
    name: "a whole chunk appended after a full-size final chunk",
    input: join(exactEnvelope, frame(exactEnvelope, 0)),
    type: TrailingDataError,
    code: "TRAILING_DATA",
  },
  { name: "wrong key", input: envelope, key: generateDataKey(), type: IntegrityError, code: "INTEGRITY" },
  { name: "bad magic", input: withByte(envelope, 0, 0x58), type: UnsupportedFormatError, code: "UNSUPPORTED_FORMAT" },
  {
    name: "unknown version",
    input: withByte(envelope, 4, 2),
    type: UnsupportedFormatError,
    code: "UNSUPPORTED_FORMAT",
  },
  { name: "version 0", input: withByte(envelope, 4, 0), type: UnsupportedFormatError, code: "UNSUPPORTED_FORMAT" },
  {
    name: "unknown algorithm",
    input: withByte(envelope, 5, 9),
    type: UnsupportedFormatError,
    code: "UNSUPPORTED_FORMAT",
  },
  ...[0, 1023, 16 * 1024 * 1024 + 1, 0xffffffff].map((size) => ({
    name: `absurd chunk size ${size}`,
    input: withChunkSize(envelope, size),
    type: UnsupportedFormatError,
    code: CryptoErrorCode.UnsupportedFormat,
  })),
];

// "one byte appended after a short final chunk" cannot be told from a longer, corrupted final chunk: the
// decoder only knows a short chunk is the last one when the input ends, so it fails authentication.

const adapters: Record<string, (input: Uint8Array, key: Uint8Array) => Promise<unknown>> = {
  decryptToBuffer: (input, k) => decryptToBuffer(splitInto(input, [333]), k),
  "node Transform": (input, k) =>
    pipeline(readableOf(splitInto(input, [700])), createDecryptStream(k), async (source: AsyncIterable<Uint8Array>) => {
      for await (const _ of source);
    }),
  "web TransformStream": (input, k) =>
    collect(webReadableOf(splitInto(input, [4096])).pipeThrough(createDecryptTransformStream(k))),
  "async generator": (input, k) => collect(decryptChunks([input], k)),
};

describe("record envelope tampering", function () {
  it("the untampered envelope decrypts", async function () {
    expect((await decryptToBuffer(envelope, key)).length).to.equal(plaintext.length);
  });

  for (const [adapterName, decrypt] of Object.entries(adapters)) {
    describe(adapterName, function () {
      for (const tamper of cases) {
        it(`${tamper.name} -> ${tamper.type.name} (${tamper.code})`, async function () {
          const error = await rejection(decrypt(tamper.input, tamper.key ?? key));
          expectCryptoError(error, tamper.type, tamper.code);
        });
      }
    });
  }

  it("says 'wrong key' when the first chunk fails", async function () {
    const error = await rejection(decryptToBuffer(envelope, generateDataKey()));
    expect((error as Error).message).to.match(/wrong key/);
  });

  it("a failed decryptor refuses all further input", function () {
    const decryptor = new RecordDecryptor(key);
    const tampered = flipBit(envelope, frameStart(1) + 5);
    expect(() => decryptor.update(tampered)).to.throw(IntegrityError);
    expect(() => decryptor.update(frame(envelope, 2))).to.throw(IntegrityError);
    expect(() => decryptor.final()).to.throw(IntegrityError);
  });

  it("streaming decrypt emits only authenticated chunks before it errors", async function () {
    const tampered = flipBit(envelope, frameStart(2) + 5);
    const received: Uint8Array[] = [];
    const error = await rejection(
      (async () => {
        for await (const chunk of decryptChunks(splitInto(tampered, [FRAME]), key)) received.push(chunk);
      })(),
    );
    expectCryptoError(error, IntegrityError, "INTEGRITY");
    // Chunks 0 and 1 verified and were released; nothing of chunk 2 onwards.
    expect(Buffer.concat(received)).to.deep.equal(Buffer.from(plaintext.subarray(0, 2 * CHUNK)));
  });
});
