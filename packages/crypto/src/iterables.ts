// Async-generator adapters: pull-based, so backpressure comes for free (nothing is read before the consumer
// asks for it). They compose with node:stream/promises pipeline() and take any byte input (byte-input.ts).
import { byteChunks } from "./byte-input.ts";
import type { ByteInput } from "./byte-input.ts";
import { RecordDecryptor } from "./record-decryptor.ts";
import type { DecryptOptions } from "./record-decryptor.ts";
import { RecordEncryptor } from "./record-encryptor.ts";
import type { EncryptOptions } from "./record-encryptor.ts";

/** An iterable of byte chunks. Every function here takes the wider ByteInput (bytes, Blobs, web / Node streams). */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/**
 * Yields the envelope of the plaintext read from `source` (any ByteInput). A source of the wrong kind throws
 * InvalidArgumentError (field "plaintext") at once; a chunk of the wrong kind, when it is read.
 */
export function encryptChunks(
  source: ByteInput,
  key: Uint8Array,
  options: EncryptOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  return encrypting(byteChunks(source, "plaintext"), key, options);
}

async function* encrypting(
  source: AsyncIterable<Uint8Array>,
  key: Uint8Array,
  options: EncryptOptions,
): AsyncGenerator<Uint8Array, void, undefined> {
  const encryptor = new RecordEncryptor(key, options);
  for await (const plaintext of source) yield* encryptor.update(plaintext);
  yield* encryptor.final();
}

/**
 * Yields verified plaintext chunks of the envelope read from `source`, in order. The generator throws an
 * IntegrityError (or subclass) on any tampering, truncation or trailing data: the record is complete and
 * authentic only if iteration finishes without throwing. On a throw, discard everything received.
 */
export function decryptChunks(
  source: ByteInput,
  key: Uint8Array,
  options: DecryptOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  return decrypting(byteChunks(source, "envelope"), key, options);
}

async function* decrypting(
  source: AsyncIterable<Uint8Array>,
  key: Uint8Array,
  options: DecryptOptions,
): AsyncGenerator<Uint8Array, void, undefined> {
  const decryptor = new RecordDecryptor(key, options);
  for await (const ciphertext of source) yield* decryptor.update(ciphertext);
  yield* decryptor.final();
}
