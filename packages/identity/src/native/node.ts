// The curve math and hashing the verifier runs per credential, with node:crypto (OpenSSL): ES256K verification is
// about 4x faster than @noble/curves and SHA-256 about 3x faster than @noble/hashes, which matters on a gateway
// verifying every presentation. Everywhere else (a browser bundle), package.json's "imports" map `#native` to
// portable.ts under its "default" condition; both export the same functions, with the same results
// (packages/sdk/test/browser-bundle.test.ts and test/native.test.ts compare them).
import { createHash, createPublicKey, verify, type KeyObject } from "node:crypto";

/** A public key prepared for repeated verification. */
export type PreparedPublicKey = KeyObject;

export function preparePublicKey(uncompressed: Uint8Array): PreparedPublicKey {
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
