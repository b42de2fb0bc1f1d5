// Async-generator adapters: pull-based, so backpressure comes for free (nothing is read before the consumer
// asks for it). They compose with node:stream/promises pipeline() and with any AsyncIterable of bytes.
import { RecordDecryptor } from "./record-decryptor.ts";
import type { DecryptOptions } from "./record-decryptor.ts";
import { RecordEncryptor } from "./record-encryptor.ts";
import type { EncryptOptions } from "./record-encryptor.ts";

export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** Yields the envelope of the plaintext read from `source`. */
export async function* encryptChunks(
  source: ByteSource,
  key: Uint8Array,
  options: EncryptOptions = {},
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
export async function* decryptChunks(
  source: ByteSource,
  key: Uint8Array,
  options: DecryptOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const decryptor = new RecordDecryptor(key, options);
  for await (const ciphertext of source) yield* decryptor.update(ciphertext);
  yield* decryptor.final();
}
