// The portable twin of node.ts (see there), for browsers: @noble/curves, @noble/hashes and pako. Same exports, same
// results (pako is slower on a list of many tiny GZIP members: a wallet verifies one accreditation's list).
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";

export { inflateBounded } from "../status/inflate.ts";

/** A public key prepared for repeated verification. */
export type PreparedPublicKey = Uint8Array;

/** An uncompressed SEC1 public key (65 bytes, 0x04 first) prepared; TypeError for anything else. */
export function preparePublicKey(uncompressed: Uint8Array): PreparedPublicKey {
  if (uncompressed.length !== 65 || uncompressed[0] !== 4) throw new TypeError("not an uncompressed secp256k1 key");
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
