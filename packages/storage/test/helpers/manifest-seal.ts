// Sealed manifests built from the documented format with node:crypto (hkdfSync, createHmac), independently of
// src/manifest/manifest-seal.ts: the patient's own (seal version 2, tagged with the key of its secret key), a
// forger's who knows only the patient's public key (version 1, or version 2 tagged under a key of its own), and a
// patient's from before authenticated manifests (version 1).
import { createHmac, hkdfSync } from "node:crypto";
import { encryptToBuffer, generateDataKey, wrapKey, x25519PublicKeyToMultibase } from "@hygeia/crypto";
import type { X25519KeyPair } from "@hygeia/crypto";
import type { ManifestDocument } from "../../src/index.ts";
import { encodeManifestDocument } from "../../src/manifest/manifest-format.ts";

/** HKDF-SHA256(secret key, salt "hygeia/key-derivation/v1", info "hygeia/manifest-auth/v1", 32). */
export function manifestAuthKey(secretKey: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", secretKey, "hygeia/key-derivation/v1", "hygeia/manifest-auth/v1", 32));
}

export function hmacSha256(key: Uint8Array, body: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac("sha256", key).update(body).digest());
}

/** "HYGM" ‖ sealVersion ‖ wrap to `publicKey` ‖ envelope of `json`, then ‖ HMAC-SHA256(tagKey, all that) if given. */
export async function sealJson(
  json: Uint8Array,
  publicKey: Uint8Array,
  sealVersion: number,
  tagKey?: Uint8Array,
): Promise<Uint8Array> {
  const key = generateDataKey();
  const wrap = wrapKey(key, publicKey, `hygeia:manifest:${x25519PublicKeyToMultibase(publicKey)}`);
  const envelope = await encryptToBuffer(json, key);
  const body = Buffer.concat([Buffer.from("HYGM"), Buffer.of(sealVersion), wrap, envelope]);
  return new Uint8Array(tagKey === undefined ? body : Buffer.concat([body, hmacSha256(tagKey, body)]));
}

/** What the patient writes: seal version 2, tagged under the key of its secret key. */
export function sealAsPatient(document: ManifestDocument, patient: X25519KeyPair): Promise<Uint8Array> {
  return sealJson(encodeManifestDocument(document), patient.publicKey, 2, manifestAuthKey(patient.secretKey));
}

/** A version 1 seal, as every manifest was written before authentication, and as anyone can still write one. */
export function sealVersion1(document: ManifestDocument, publicKey: Uint8Array): Promise<Uint8Array> {
  return sealJson(encodeManifestDocument(document), publicKey, 1);
}
