// Micro-benchmark: node packages/crypto/bench/secretstream.ts [--size BYTES] [--chunk-size BYTES]
// Prints ONE JSON line:
//   libsodium_raw_mb_s   raw crypto_secretstream push over in-memory chunks, libsodium (WebAssembly)
//   native_raw_mb_s      the same through the node:crypto (OpenSSL) implementation (null where unavailable)
//   encrypt_stream_mb_s  createEncryptStream() from an in-memory source to a null sink (default implementation)
//   decrypt_stream_mb_s  createDecryptStream() from an in-memory envelope to a null sink (default implementation)
// (plus *_raw_pull_mb_s, raw secretstream pull over the same frames: the ceiling for decryption, and
// `secretstream`, the default implementation's name)
// MB = 10^6 bytes of plaintext. Not run by the tests.
import { randomBytes } from "node:crypto";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import {
  CHUNK_OVERHEAD_BYTES,
  DEFAULT_CHUNK_SIZE,
  ENVELOPE_HEADER_BYTES,
  SecretstreamTag,
  defaultSecretstream,
  encryptToBuffer,
  generateDataKey,
  libsodiumSecretstream,
  nativeSecretstream,
  parseEnvelopeHeader,
} from "../src/index.ts";
import type { Secretstream } from "../src/index.ts";
import { createDecryptStream, createEncryptStream } from "../src/node.ts";

const { values } = parseArgs({
  options: {
    size: { type: "string", default: String(256 * 1024 * 1024) },
    "chunk-size": { type: "string", default: String(DEFAULT_CHUNK_SIZE) },
  },
});
const size = Number(values.size);
const chunkSize = Number(values["chunk-size"]);
if (!Number.isSafeInteger(size) || size <= 0) throw new Error(`--size must be a positive integer, got ${values.size}`);

const SOURCE_PIECE = 1024 * 1024;
// One immutable buffer of pseudo-random bytes, handed out repeatedly (the pipeline never mutates its input).
const pieceBytes = randomBytes(Math.max(SOURCE_PIECE, chunkSize));
const EMPTY = new Uint8Array(0);

function* plaintextPieces(): Generator<Uint8Array> {
  for (let sent = 0; sent < size; sent += SOURCE_PIECE)
    yield pieceBytes.subarray(0, Math.min(SOURCE_PIECE, size - sent));
}

const nullSink = (): Writable =>
  new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });

const mbPerSecond = (bytes: number, milliseconds: number): number =>
  Math.round((bytes / 1e6 / (milliseconds / 1000)) * 10) / 10;

async function timed(run: () => Promise<void> | void): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

const key = generateDataKey();

/** Raw pushes of in-memory chunks through one implementation (no envelope, no stream plumbing). */
function rawPush(secretstream: Secretstream, bytes: number): void {
  const { state } = secretstream.initPush(key);
  const chunk = pieceBytes.subarray(0, chunkSize);
  for (let i = 0; i < Math.floor(bytes / chunkSize); i++) state.push(chunk, EMPTY, SecretstreamTag.Message);
  state.push(chunk.subarray(0, bytes % chunkSize), EMPTY, SecretstreamTag.Final);
}

// Warm up first, so WebAssembly tier-up and JIT do not penalise whichever measurement runs first.
const native = nativeSecretstream;
for (const secretstream of [libsodiumSecretstream, native]) {
  if (secretstream !== undefined) rawPush(secretstream, Math.min(size, 64 * 1024 * 1024));
}
const rawMs = await timed(() => rawPush(libsodiumSecretstream, size));
const nativeRawMs = native === undefined ? undefined : await timed(() => rawPush(native, size));

const encryptMs = await timed(() =>
  pipeline(
    Readable.from(plaintextPieces(), { objectMode: false }),
    createEncryptStream(key, { chunkSize }),
    nullSink(),
  ),
);

// Keep one envelope in memory for the decrypt runs (a benchmark, not the way to handle records).
const envelope = await encryptToBuffer(plaintextPieces(), key, { chunkSize });
const header = parseEnvelopeHeader(envelope);
const frameSize = chunkSize + CHUNK_OVERHEAD_BYTES;

// Raw pull over the same frames: the ceiling for decryption.
const rawPull = (secretstream: Secretstream) => (): void => {
  const state = secretstream.initPull(header.streamHeader, key);
  for (let offset = ENVELOPE_HEADER_BYTES; offset < envelope.length; offset += frameSize) {
    const frame = envelope.subarray(offset, Math.min(offset + frameSize, envelope.length));
    if (state.pull(frame, header.preamble) === undefined) throw new Error("benchmark envelope failed to verify");
  }
};
const rawPullMs = await timed(rawPull(libsodiumSecretstream));
const nativeRawPullMs = native === undefined ? undefined : await timed(rawPull(native));

// Fed in 1 MiB reads, as from a file or a block store: pieces do not line up with chunk frames.
function* envelopePieces(): Generator<Uint8Array> {
  for (let offset = 0; offset < envelope.length; offset += SOURCE_PIECE) {
    yield envelope.subarray(offset, offset + SOURCE_PIECE);
  }
}
const decryptMs = await timed(() =>
  pipeline(Readable.from(envelopePieces(), { objectMode: false }), createDecryptStream(key), nullSink()),
);

console.log(
  JSON.stringify({
    size_bytes: size,
    chunk_size: chunkSize,
    libsodium_raw_mb_s: mbPerSecond(size, rawMs),
    libsodium_raw_pull_mb_s: mbPerSecond(size, rawPullMs),
    native_raw_mb_s: nativeRawMs === undefined ? null : mbPerSecond(size, nativeRawMs),
    native_raw_pull_mb_s: nativeRawPullMs === undefined ? null : mbPerSecond(size, nativeRawPullMs),
    secretstream: defaultSecretstream.name,
    encrypt_stream_mb_s: mbPerSecond(size, encryptMs),
    decrypt_stream_mb_s: mbPerSecond(size, decryptMs),
  }),
);
