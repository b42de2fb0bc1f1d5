// Micro-benchmark: node packages/crypto/bench/secretstream.ts [--size BYTES] [--chunk-size BYTES]
// Prints ONE JSON line:
//   libsodium_raw_mb_s   raw crypto_secretstream push over in-memory chunks (the primitive's ceiling here)
//   encrypt_stream_mb_s  createEncryptStream() from an in-memory source to a null sink
//   decrypt_stream_mb_s  createDecryptStream() from an in-memory envelope to a null sink
// (plus libsodium_raw_pull_mb_s, raw secretstream pull over the same frames: the ceiling for decryption)
// MB = 10^6 bytes of plaintext. Not run by the tests.
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import sodium from "libsodium-wrappers";
import {
  CHUNK_OVERHEAD_BYTES,
  DEFAULT_CHUNK_SIZE,
  ENVELOPE_HEADER_BYTES,
  encryptToBuffer,
  generateDataKey,
  parseEnvelopeHeader,
} from "../src/index.ts";
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
const pieceBytes = sodium.randombytes_buf(Math.max(SOURCE_PIECE, chunkSize));

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

function rawPush(bytes: number): void {
  const { state } = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
  const chunk = pieceBytes.subarray(0, chunkSize);
  for (let i = 0; i < Math.floor(bytes / chunkSize); i++) {
    sodium.crypto_secretstream_xchacha20poly1305_push(state, chunk, null, 0);
  }
  sodium.crypto_secretstream_xchacha20poly1305_push(state, chunk.subarray(0, bytes % chunkSize), null, 3);
}

// Warm up first, so WebAssembly tier-up and JIT do not penalise whichever measurement runs first.
rawPush(Math.min(size, 64 * 1024 * 1024));
const rawMs = await timed(() => rawPush(size));

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
const rawPullMs = await timed(() => {
  const state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(header.streamHeader, key);
  for (let offset = ENVELOPE_HEADER_BYTES; offset < envelope.length; offset += frameSize) {
    const frame = envelope.subarray(offset, Math.min(offset + frameSize, envelope.length));
    if (sodium.crypto_secretstream_xchacha20poly1305_pull(state, frame, header.preamble) === false) {
      throw new Error("benchmark envelope failed to verify");
    }
  }
});

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
    encrypt_stream_mb_s: mbPerSecond(size, encryptMs),
    decrypt_stream_mb_s: mbPerSecond(size, decryptMs),
  }),
);
