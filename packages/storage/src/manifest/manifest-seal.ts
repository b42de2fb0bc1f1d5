// A manifest version as stored on IPFS: encrypted with a fresh key per version, that key wrapped to the
// patient's own X25519 key. Only the holder of the patient's secret key can read it; the patient needs
// nothing but that key and the CID to recover it (promise 6).
//
//   sealed = "HYGM" (4) ‖ 0x01 (seal version) ‖ wrap (114, context "hygeia:manifest:<owner multibase>")
//            ‖ record envelope (@hygeia/crypto, secretstream) of the JSON document
import {
  WRAP_BYTES,
  decryptToBuffer,
  encryptToBuffer,
  generateDataKey,
  unwrapKey,
  wipe,
  wrapKey,
  x25519PublicKeyToMultibase,
} from "@hygeia/crypto";
import type { X25519KeyPair } from "@hygeia/crypto";
import { InvalidManifestError } from "../errors.ts";
import { decodeManifestDocument, encodeManifestDocument } from "./manifest-format.ts";
import type { ManifestDocument } from "./manifest-format.ts";

export const SEALED_MANIFEST_MAGIC = new Uint8Array([0x48, 0x59, 0x47, 0x4d]); // "HYGM"
export const SEALED_MANIFEST_VERSION = 1;
const PREFIX_BYTES = SEALED_MANIFEST_MAGIC.length + 1;
/** Upper bound on a sealed manifest we are willing to buffer (≈ 40 000 entries). */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

/** The manifest owner's id: the multibase form of their X25519 public key. */
export function manifestOwner(publicKey: Uint8Array): string {
  return x25519PublicKeyToMultibase(publicKey);
}

export function manifestKeyContext(owner: string): string {
  return `hygeia:manifest:${owner}`;
}

export async function sealManifest(document: ManifestDocument, ownerPublicKey: Uint8Array): Promise<Uint8Array> {
  const key = generateDataKey();
  try {
    const wrap = wrapKey(key, ownerPublicKey, manifestKeyContext(document.owner));
    const envelope = await encryptToBuffer(encodeManifestDocument(document), key);
    const sealed = new Uint8Array(PREFIX_BYTES + wrap.length + envelope.length);
    sealed.set(SEALED_MANIFEST_MAGIC, 0);
    sealed[SEALED_MANIFEST_MAGIC.length] = SEALED_MANIFEST_VERSION;
    sealed.set(wrap, PREFIX_BYTES);
    sealed.set(envelope, PREFIX_BYTES + wrap.length);
    return sealed;
  } finally {
    wipe(key);
  }
}

/**
 * Opens a sealed manifest with the patient's key pair and checks it is theirs. Crypto failures (not for this
 * key, tampered) are reported as InvalidManifestError with the crypto error as `cause`.
 */
export async function openManifest(sealed: Uint8Array, keyPair: X25519KeyPair): Promise<ManifestDocument> {
  if (sealed.length < PREFIX_BYTES + WRAP_BYTES) throw new InvalidManifestError("sealed manifest is too short");
  const magicMatches = SEALED_MANIFEST_MAGIC.every((byte, index) => sealed[index] === byte);
  if (!magicMatches) throw new InvalidManifestError("not a sealed Hygeia manifest");
  const sealVersion = sealed[SEALED_MANIFEST_MAGIC.length];
  if (sealVersion !== SEALED_MANIFEST_VERSION)
    throw new InvalidManifestError(`unsupported seal version ${sealVersion}`);
  const owner = manifestOwner(keyPair.publicKey);
  let key: Uint8Array | undefined;
  let plaintext: Uint8Array;
  try {
    key = unwrapKey(sealed.subarray(PREFIX_BYTES, PREFIX_BYTES + WRAP_BYTES), keyPair, manifestKeyContext(owner));
    plaintext = await decryptToBuffer(sealed.subarray(PREFIX_BYTES + WRAP_BYTES), key, {
      maxPlaintextBytes: MAX_MANIFEST_BYTES,
    });
  } catch (cause) {
    throw new InvalidManifestError("manifest cannot be opened with this key (not the patient's, or tampered)", {
      cause,
    });
  } finally {
    if (key !== undefined) wipe(key);
  }
  const document = decodeManifestDocument(plaintext);
  if (document.owner !== owner) throw new InvalidManifestError("manifest belongs to another key");
  return document;
}
