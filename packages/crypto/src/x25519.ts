// X25519 key pairs (the keys DEKs are wrapped to) and public-key validation.
import { sodium } from "./sodium.ts";
import { copyBytes } from "./bytes.ts";
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
  return { publicKey: sodium.crypto_scalarmult_base(secretKey), secretKey: copyBytes(secretKey) };
}

// Any fixed scalar works: X25519 clamps it to a multiple of 8, which maps every small-order point to zero.
const PROBE_SCALAR = new Uint8Array(X25519_KEY_BYTES).fill(0x42);

/**
 * True when `publicKey` is the canonical encoding of its u-coordinate (RFC 7748): bit 255 clear and u < p =
 * 2^255 − 19. X25519 ignores bit 255 and reduces u mod p, so a non-canonical encoding names the same point as
 * another 32 bytes, but a sealed box hashes the key BYTES into its nonce: a wrap made to the non-canonical bytes
 * does not open with the key pair, whose public key is the canonical one.
 */
export function isCanonicalX25519PublicKey(publicKey: Uint8Array): boolean {
  if (publicKey.length !== X25519_KEY_BYTES) return false;
  if ((publicKey[31]! & 0x80) !== 0) return false;
  // With bit 255 clear, u ≥ p only for p … 2^255 − 1: bytes ed…ff, then 30 × ff, then 7f (little-endian).
  if (publicKey[31] !== 0x7f || publicKey[0]! < 0xed) return true;
  for (let index = 1; index < 31; index++) if (publicKey[index] !== 0xff) return true;
  return false;
}

export interface AssertX25519PublicKeyOptions {
  /**
   * Accept a non-canonical encoding (see isCanonicalX25519PublicKey). Only for reading back what was recorded
   * before such keys were refused; never for a key about to be wrapped to. Default false.
   */
  allowNonCanonical?: boolean;
}

/**
 * Rejects anything that is not a usable X25519 public key: wrong type or length, a non-canonical encoding (a wrap
 * to it would not open for its holder), or a low-order point (whose shared secret is predictable, so a wrap to it
 * would be readable by anyone). `what` names the key in the message (e.g. "recipients[1].publicKey").
 */
export function assertX25519PublicKey(
  publicKey: unknown,
  what = "X25519 public key",
  options: AssertX25519PublicKeyOptions = {},
): asserts publicKey is Uint8Array {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== X25519_KEY_BYTES) {
    throw new InvalidKeyError(`${what} must be a ${X25519_KEY_BYTES}-byte Uint8Array`);
  }
  if (options.allowNonCanonical !== true && !isCanonicalX25519PublicKey(publicKey)) {
    throw new InvalidKeyError(
      `${what} is not a canonical X25519 encoding (bit 255 set, or u ≥ 2^255 − 19): a wrap to it would not open ` +
        "for the key's holder. Use the public key exactly as X25519 produced it (RFC 7748)",
    );
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
