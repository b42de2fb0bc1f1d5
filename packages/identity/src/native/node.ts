// The curve math, hashing and inflation the verifier runs per credential and status list, with node:crypto
// (OpenSSL) and node:zlib: ES256K verification is about 4x faster than @noble/curves and SHA-256 about 3x faster than
// @noble/hashes, which matters on a gateway verifying every presentation; and zlib inflates a hostile list of many
// tiny GZIP members some 60x faster than pako (a break-it review measured 8 ms against 500 ms). Everywhere else (a browser bundle), package.json's "imports" map `#native` to
// portable.ts under its "default" condition; both export the same functions, with the same results
// (packages/sdk/test/browser-bundle.test.ts and test/native.test.ts compare them).
import { createHash, createPublicKey, verify, type KeyObject } from "node:crypto";
import { gunzipSync, inflateSync } from "node:zlib";

/** A public key prepared for repeated verification. */
export type PreparedPublicKey = KeyObject;

/** An uncompressed SEC1 public key (65 bytes, 0x04 first) prepared; TypeError for anything else. */
export function preparePublicKey(uncompressed: Uint8Array): PreparedPublicKey {
  if (uncompressed.length !== 65 || uncompressed[0] !== 4) throw new TypeError("not an uncompressed secp256k1 key");
  const base64url = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");
  return createPublicKey({
    key: {
      kty: "EC",
      crv: "secp256k1",
      x: base64url(uncompressed.subarray(1, 33)),
      y: base64url(uncompressed.subarray(33, 65)),
    },
    format: "jwk",
  });
}

/** ECDSA over SHA-256(data), signature r||s (64 bytes); high-S accepted (as did-jwt does). */
export function verifyPrepared(key: PreparedPublicKey, data: Uint8Array, signature: Uint8Array): boolean {
  return verify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, signature);
}

/** SHA-256 of bytes, or of a string's UTF-8 bytes. */
export function sha256(data: Uint8Array | string): Uint8Array {
  const digest = createHash("sha256").update(data).digest();
  return new Uint8Array(digest.buffer, digest.byteOffset, digest.byteLength);
}

/**
 * Inflates GZIP or ZLIB, refusing (RangeError) output past `maxBytes` without producing it, a truncated or corrupt
 * stream, and the other format (status/inflate.ts is the portable twin, held to this one by its tests).
 */
export function inflateBounded(compressed: Uint8Array, format: "gzip" | "zlib", maxBytes: number): Uint8Array {
  try {
    const out = (format === "gzip" ? gunzipSync : inflateSync)(compressed, { maxOutputLength: maxBytes });
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (error) {
    throw new RangeError(`${format.toUpperCase()}: ${(error as Error).message}`);
  }
}
