// Per-record data encryption keys (DEKs).
import { sodium } from "./sodium.ts";
import { DATA_KEY_BYTES } from "./envelope.ts";
import { InvalidKeyError } from "./errors.ts";

/** A fresh random 32-byte key for one record. Never reuse it for another record or a new version of one. */
export function generateDataKey(): Uint8Array {
  return sodium.crypto_secretstream_xchacha20poly1305_keygen();
}

export function assertDataKey(key: unknown): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== DATA_KEY_BYTES) {
    throw new InvalidKeyError(`data key must be a ${DATA_KEY_BYTES}-byte Uint8Array`);
  }
}

/** Overwrites key material in place once it is no longer needed (best effort: JS may hold copies). */
export function wipe(bytes: Uint8Array): void {
  sodium.memzero(bytes);
}
