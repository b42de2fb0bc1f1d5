// The portable twin of node.ts (see there), for browsers: @noble/curves and @noble/hashes. Same exports, same
// results.
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";

/** A public key prepared for repeated verification. */
export type PreparedPublicKey = Uint8Array;

export function preparePublicKey(uncompressed: Uint8Array): PreparedPublicKey {
  return secp256k1.Point.fromBytes(uncompressed).toBytes(false);
}

/** ECDSA over SHA-256(data), signature r||s (64 bytes); high-S accepted (as did-jwt and OpenSSL do). */
export function verifyPrepared(key: PreparedPublicKey, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    return secp256k1.verify(signature, nobleSha256(data), key, { prehash: false, lowS: false });
  } catch {
    return false;
  }
}

/** SHA-256 of bytes, or of a string's UTF-8 bytes. */
export function sha256(data: Uint8Array | string): Uint8Array {
  return nobleSha256(typeof data === "string" ? new TextEncoder().encode(data) : data);
}
