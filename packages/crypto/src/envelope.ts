// The record envelope: a fixed 34-byte header followed by secretstream chunks. See README "Record envelope format".
import {
  SECRETSTREAM_FRAME_OVERHEAD,
  SECRETSTREAM_HEADER_BYTES,
  SECRETSTREAM_KEY_BYTES,
  SecretstreamTag,
} from "./secretstream/secretstream.ts";
import { copyBytes } from "./bytes.ts";
import { InvalidArgumentError, UnsupportedFormatError } from "./errors.ts";

/** ASCII "HYGR" (Hygeia record). */
export const ENVELOPE_MAGIC: Uint8Array = Uint8Array.of(0x48, 0x59, 0x47, 0x52);
export const ENVELOPE_VERSION = 1;

export const EnvelopeAlgorithm = {
  /** libsodium crypto_secretstream_xchacha20poly1305. */
  SecretstreamXChaCha20Poly1305: 1,
} as const;
export type EnvelopeAlgorithm = (typeof EnvelopeAlgorithm)[keyof typeof EnvelopeAlgorithm];

export const DEFAULT_CHUNK_SIZE = 64 * 1024;
/** Below this the 17-byte per-chunk overhead dominates. */
export const MIN_CHUNK_SIZE = 1024;
/** Above this a single chunk is no longer "small" for a streaming reader (both sides buffer one chunk). */
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;

/** magic(4) ‖ version(1) ‖ algorithm(1) ‖ chunkSize(4, big-endian). Also the AEAD additional data of every chunk. */
export const PREAMBLE_BYTES = 10;
export const STREAM_HEADER_BYTES: number = SECRETSTREAM_HEADER_BYTES; // 24
export const ENVELOPE_HEADER_BYTES: number = PREAMBLE_BYTES + STREAM_HEADER_BYTES; // 34
/** Per chunk: 1 encrypted tag byte + 16-byte Poly1305 MAC. */
export const CHUNK_OVERHEAD_BYTES: number = SECRETSTREAM_FRAME_OVERHEAD; // 17
export const DATA_KEY_BYTES: number = SECRETSTREAM_KEY_BYTES; // 32

export const ChunkTag = {
  Message: SecretstreamTag.Message, // 0
  Final: SecretstreamTag.Final, // 3
} as const;

export interface EnvelopeHeader {
  readonly version: number;
  readonly algorithm: EnvelopeAlgorithm;
  /** Plaintext bytes per non-final chunk. */
  readonly chunkSize: number;
  /** The 10 preamble bytes, authenticated as additional data of every chunk. */
  readonly preamble: Uint8Array;
  /** The 24-byte secretstream header (random per record). */
  readonly streamHeader: Uint8Array;
}

export function isValidChunkSize(chunkSize: number): boolean {
  return Number.isSafeInteger(chunkSize) && chunkSize >= MIN_CHUNK_SIZE && chunkSize <= MAX_CHUNK_SIZE;
}

/** For options supplied by a caller (encrypt side). */
export function assertChunkSizeOption(chunkSize: number): void {
  if (!isValidChunkSize(chunkSize)) {
    throw new InvalidArgumentError(
      `chunkSize must be an integer in [${MIN_CHUNK_SIZE}, ${MAX_CHUNK_SIZE}], got ${String(chunkSize)}`,
      { field: "chunkSize" },
    );
  }
}

export function encodePreamble(chunkSize: number): Uint8Array {
  assertChunkSizeOption(chunkSize);
  const preamble = new Uint8Array(PREAMBLE_BYTES);
  preamble.set(ENVELOPE_MAGIC, 0);
  preamble[4] = ENVELOPE_VERSION;
  preamble[5] = EnvelopeAlgorithm.SecretstreamXChaCha20Poly1305;
  new DataView(preamble.buffer).setUint32(6, chunkSize, false);
  return preamble;
}

/**
 * Parses and validates the 34-byte envelope header. Throws UnsupportedFormatError for anything this
 * implementation does not read, before any key is used.
 */
export function parseEnvelopeHeader(bytes: Uint8Array): EnvelopeHeader {
  if (bytes.length < ENVELOPE_HEADER_BYTES) {
    throw new UnsupportedFormatError(`envelope header needs ${ENVELOPE_HEADER_BYTES} bytes, got ${bytes.length}`);
  }
  for (let i = 0; i < ENVELOPE_MAGIC.length; i++) {
    if (bytes[i] !== ENVELOPE_MAGIC[i]) throw new UnsupportedFormatError("not a Hygeia record envelope (bad magic)");
  }
  const version = bytes[4] ?? 0;
  if (version !== ENVELOPE_VERSION) throw new UnsupportedFormatError(`unsupported envelope version ${version}`);
  const algorithm = bytes[5] ?? 0;
  if (algorithm !== EnvelopeAlgorithm.SecretstreamXChaCha20Poly1305) {
    throw new UnsupportedFormatError(`unsupported envelope algorithm ${algorithm}`);
  }
  const chunkSize = new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint32(6, false);
  if (!isValidChunkSize(chunkSize)) {
    throw new UnsupportedFormatError(
      `envelope chunk size ${chunkSize} is outside [${MIN_CHUNK_SIZE}, ${MAX_CHUNK_SIZE}]`,
    );
  }
  return {
    version,
    algorithm,
    chunkSize,
    preamble: copyBytes(bytes.subarray(0, PREAMBLE_BYTES)),
    streamHeader: copyBytes(bytes.subarray(PREAMBLE_BYTES, ENVELOPE_HEADER_BYTES)),
  };
}

/** Number of chunks for a plaintext: non-final chunks are full, the final one holds 0..chunkSize bytes. */
export function chunkCount(plaintextBytes: number, chunkSize: number = DEFAULT_CHUNK_SIZE): number {
  assertChunkSizeOption(chunkSize);
  if (!Number.isSafeInteger(plaintextBytes) || plaintextBytes < 0) {
    throw new InvalidArgumentError(`plaintext length must be a non-negative integer, got ${String(plaintextBytes)}`, {
      field: "plaintextBytes",
    });
  }
  return Math.max(1, Math.ceil(plaintextBytes / chunkSize));
}

/** Exact envelope size for a plaintext of the given length (storage layers use it for size checks). */
export function encryptedSize(plaintextBytes: number, chunkSize: number = DEFAULT_CHUNK_SIZE): number {
  return ENVELOPE_HEADER_BYTES + plaintextBytes + chunkCount(plaintextBytes, chunkSize) * CHUNK_OVERHEAD_BYTES;
}
