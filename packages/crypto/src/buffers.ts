// Whole-record helpers for records small enough to hold in memory. decryptToBuffer is the safe default:
// it returns nothing until the final chunk has been verified.
import { concatBytes } from "./bytes.ts";
import { MIN_CHUNK_SIZE, encryptedSize } from "./envelope.ts";
import { InvalidArgumentError } from "./errors.ts";
import type { ByteInput } from "./byte-input.ts";
import { decryptChunks, encryptChunks } from "./iterables.ts";
import type { DecryptOptions } from "./record-decryptor.ts";
import type { EncryptOptions } from "./record-encryptor.ts";

/** decryptToBuffer refuses records larger than this unless told otherwise: stream bigger ones. */
export const DEFAULT_MAX_BUFFERED_PLAINTEXT_BYTES = 64 * 1024 * 1024;

export interface DecryptToBufferOptions extends DecryptOptions {
  /** Fail with InvalidArgumentError rather than buffer more plaintext than this. Default 64 MiB. */
  readonly maxPlaintextBytes?: number;
}

/** Encrypts a whole plaintext (bytes, a Blob, a stream or iterable of bytes: any ByteInput) into one envelope. */
export async function encryptToBuffer(
  plaintext: ByteInput,
  key: Uint8Array,
  options: EncryptOptions = {},
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of encryptChunks(plaintext, key, options)) parts.push(part);
  return concatBytes(...parts);
}

/**
 * Decrypts a whole envelope and returns the plaintext only after every chunk, including the final one,
 * has been verified. On any failure it throws a HygeiaCryptoError and no plaintext escapes.
 */
export async function decryptToBuffer(
  envelope: ByteInput,
  key: Uint8Array,
  options: DecryptToBufferOptions = {},
): Promise<Uint8Array> {
  const limit = options.maxPlaintextBytes ?? DEFAULT_MAX_BUFFERED_PLAINTEXT_BYTES;
  if (!Number.isSafeInteger(limit) || limit < 0)
    throw new InvalidArgumentError("maxPlaintextBytes must be an integer >= 0", { field: "maxPlaintextBytes" });
  if (envelope instanceof Uint8Array && envelope.length > encryptedSize(limit, MIN_CHUNK_SIZE)) {
    // Cheap early refusal (no chunk size has more overhead than the minimum); the running count is the real bound.
    throw tooLarge(limit);
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const part of decryptChunks(envelope, key, options)) {
    total += part.length;
    if (total > limit) throw tooLarge(limit);
    parts.push(part);
  }
  return concatBytes(...parts);
}

function tooLarge(limit: number): InvalidArgumentError {
  return new InvalidArgumentError(
    `record is larger than maxPlaintextBytes (${limit}): raise maxPlaintextBytes, or stream it ` +
      "(decryptChunks, decryptToFile) instead of buffering it",
    { field: "envelope" },
  );
}
