// X25519 key pairs (the keys DEKs are wrapped to) and public-key validation.
import { sodium } from "./sodium.ts";
import { InvalidKeyError } from "./errors.ts";

export const X25519_KEY_BYTES = 32;

export interface X25519KeyPair {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
}

/** A fresh random key pair (for parties that keep their own secret, e.g. a clinic's server). */
export function generateX25519KeyPair(): X25519KeyPair {
  const { publicKey, privateKey } = sodium.crypto_box_keypair();
  return { publicKey, secretKey: privateKey };
}

/** The key pair of a 32-byte X25519 secret key (any 32 bytes; X25519 clamps them). */
export function x25519KeyPairFromSecretKey(secretKey: Uint8Array): X25519KeyPair {
  if (!(secretKey instanceof Uint8Array) || secretKey.length !== X25519_KEY_BYTES) {
    throw new InvalidKeyError(`X25519 secret key must be ${X25519_KEY_BYTES} bytes`);
  }
  return { publicKey: sodium.crypto_scalarmult_base(secretKey), secretKey: secretKey.slice() };
}

// Any fixed scalar works: X25519 clamps it to a multiple of 8, which maps every small-order point to zero.
const PROBE_SCALAR = new Uint8Array(X25519_KEY_BYTES).fill(0x42);

/**
 * Rejects anything that is not a usable X25519 public key: wrong type or length, or a low-order point
 * (whose shared secret is predictable, so a wrap to it would be readable by anyone).
 */
export function assertX25519PublicKey(publicKey: unknown, what = "X25519 public key"): asserts publicKey is Uint8Array {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== X25519_KEY_BYTES) {
    throw new InvalidKeyError(`${what} must be a ${X25519_KEY_BYTES}-byte Uint8Array`);
  }
  try {
    // libsodium refuses (throws) when the shared point is the identity.
    sodium.crypto_scalarmult(PROBE_SCALAR, publicKey);
  } catch (cause) {
    throw new InvalidKeyError(`${what} is a low-order point`, { cause });
  }
}

export function assertX25519KeyPair(keyPair: X25519KeyPair): void {
  assertX25519PublicKey(keyPair?.publicKey);
  if (!(keyPair.secretKey instanceof Uint8Array) || keyPair.secretKey.length !== X25519_KEY_BYTES) {
    throw new InvalidKeyError(`X25519 secret key must be ${X25519_KEY_BYTES} bytes`);
  }
}
