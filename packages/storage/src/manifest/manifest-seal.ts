// A manifest version as stored on IPFS: encrypted with a fresh key per version, that key wrapped to the
// patient's own X25519 key, and authenticated with a key that only the patient's secret key yields. Only the
// patient can read it, only the patient can write one, and the patient needs nothing but that key and the CID
// to recover it (promise 6).
//
// Safety rules:
// 1. Only the holder of the patient's X25519 SECRET key can produce a manifest that opens. Wrapping and
//    encrypting need only the public key, which the patient's DID document publishes, so they prove nothing;
//    the tag does: its key is derived from the secret key.
// 2. The tag is checked, in constant time, before anything is unwrapped, decrypted or parsed.
// 3. The document's owner must be the key pair's public key (a tag proves who wrote it, the owner whose it is).
// 4. Version 1 seals (no tag, written before authenticated manifests) could have been written by anyone: they
//    are refused (UnauthenticatedManifestError) unless the caller passes acceptUnauthenticated, a one-time
//    migration of data written before this change. Here that is the caller's word about bytes it holds;
//    PatientManifest gives it only to its own head, never to a CID from outside (patient-manifest.ts, recovery.ts).
//    Every write seals version 2.
//
//   sealed v2 = "HYGM" (4) ‖ 0x02 (seal version) ‖ wrap (114, context "hygeia:manifest:<owner multibase>")
//               ‖ record envelope (@hygeia/crypto, secretstream) of the JSON document ‖ tag (32)
//   tag       = HMAC-SHA256(authKey, every byte before the tag)
//   authKey   = HKDF-SHA256(ikm = X25519 secret key, salt "hygeia/key-derivation/v1", info "hygeia/manifest-auth/v1", 32)
//   sealed v1 = "HYGM" ‖ 0x01 ‖ wrap ‖ envelope (no tag)
//
// A MAC, not a signature: the only party that can read a manifest (it is encrypted to the patient) is the only
// party that can write one, so a key derived from the same secret needs nothing new published, no wallet prompt
// per write, and nothing a third party could check anyway.
import {
  WRAP_BYTES,
  X25519_KEY_BYTES,
  decryptToBuffer,
  encryptToBuffer,
  generateDataKey,
  unwrapKey,
  wipe,
  wrapKey,
  x25519KeyPairFromSecretKey,
  x25519PublicKeyToMultibase,
} from "@hygeia/crypto";
import type { X25519KeyPair } from "@hygeia/crypto";
import { hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import {
  InvalidArgumentError,
  InvalidManifestError,
  ManifestTooLargeError,
  UnauthenticatedManifestError,
} from "../errors.ts";
import { equalBytes } from "../bytes.ts";
import { decodeManifestDocument, encodeManifestDocument } from "./manifest-format.ts";
import type { ManifestDocument } from "./manifest-format.ts";

export const SEALED_MANIFEST_MAGIC = new Uint8Array([0x48, 0x59, 0x47, 0x4d]); // "HYGM"
/** The seal version written: 2, authenticated. */
export const SEALED_MANIFEST_VERSION = 2;
/** The seal version of manifests written before authentication: read only with acceptUnauthenticated. */
export const UNAUTHENTICATED_SEAL_VERSION = 1;
export const MANIFEST_TAG_BYTES = 32;
export const MANIFEST_AUTH_SALT = "hygeia/key-derivation/v1";
export const MANIFEST_AUTH_INFO = "hygeia/manifest-auth/v1";
const PREFIX_BYTES = SEALED_MANIFEST_MAGIC.length + 1;
/**
 * Upper bound on a sealed manifest (≈ 40 000 entries): readers refuse a larger one, so sealManifest refuses to make
 * one (a head moved to it could never be read again).
 */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;

export interface OpenManifestOptions {
  /**
   * Also read version 1 (unauthenticated) seals. ONLY for bytes you know are your own manifest written before
   * authenticated manifests (your head's): a version 1 manifest may have been written by anyone who knows your
   * public key. PatientManifest's option of the same name applies it to the head only. Default false.
   */
  acceptUnauthenticated?: boolean;
}

/** The manifest owner's id: the multibase form of their X25519 public key. */
export function manifestOwner(publicKey: Uint8Array): string {
  return x25519PublicKeyToMultibase(publicKey);
}

export function manifestKeyContext(owner: string): string {
  return `hygeia:manifest:${owner}`;
}

/** HMAC-SHA256 of `body` under the key HKDF derives from the patient's X25519 secret key (see the header). */
export function manifestAuthTag(secretKey: Uint8Array, body: Uint8Array): Uint8Array {
  const encoder = new TextEncoder();
  const authKey = hkdf(sha256, secretKey, encoder.encode(MANIFEST_AUTH_SALT), encoder.encode(MANIFEST_AUTH_INFO), 32);
  try {
    return hmac(sha256, authKey, body);
  } finally {
    wipe(authKey);
  }
}

function assertSecretKey(keyPair: X25519KeyPair): void {
  if (!(keyPair?.secretKey instanceof Uint8Array) || keyPair.secretKey.length !== X25519_KEY_BYTES) {
    throw new InvalidArgumentError(
      `keyPair.secretKey must be the patient's ${X25519_KEY_BYTES}-byte X25519 secret key: manifests are sealed and opened with the whole key pair`,
      { field: "keyPair.secretKey" },
    );
  }
}

/**
 * Refuses a key pair whose public key is not its secret key's: manifests written with it would be wrapped to one
 * key and tagged by another, and a device recovering from the secret key alone could not read them.
 */
export function assertManifestKeyPair(keyPair: X25519KeyPair): void {
  assertSecretKey(keyPair);
  const derived = x25519KeyPairFromSecretKey(keyPair.secretKey);
  try {
    const matches =
      keyPair.publicKey instanceof Uint8Array &&
      keyPair.publicKey.length === X25519_KEY_BYTES &&
      equalBytes(derived.publicKey, keyPair.publicKey);
    if (!matches) {
      throw new InvalidArgumentError(
        "keyPair.publicKey is not the public key of keyPair.secretKey: pass the pair as @hygeia/crypto derives it",
        { field: "keyPair.publicKey" },
      );
    }
  } finally {
    wipe(derived.secretKey);
  }
}

/**
 * Seals a version of `keyPair`'s manifest (seal version 2): only the holder of the secret key can do this.
 * ManifestTooLargeError when the sealed bytes would exceed MAX_MANIFEST_BYTES (no reader would open them).
 */
export async function sealManifest(document: ManifestDocument, keyPair: X25519KeyPair): Promise<Uint8Array> {
  assertManifestKeyPair(keyPair);
  const owner = manifestOwner(keyPair.publicKey);
  if (document.owner !== owner) {
    throw new InvalidArgumentError(`document.owner must be the key pair's id ${owner}: a manifest is its owner's own`, {
      field: "document.owner",
    });
  }
  const plaintext = encodeManifestDocument(document);
  // The envelope only adds to the plaintext: refuse before encrypting what could not be stored anyway.
  const minimum = PREFIX_BYTES + WRAP_BYTES + plaintext.length + MANIFEST_TAG_BYTES;
  if (minimum > MAX_MANIFEST_BYTES) throw new ManifestTooLargeError(minimum, MAX_MANIFEST_BYTES);
  const key = generateDataKey();
  try {
    const wrap = wrapKey(key, keyPair.publicKey, manifestKeyContext(owner));
    const envelope = await encryptToBuffer(plaintext, key);
    const bodyBytes = PREFIX_BYTES + wrap.length + envelope.length;
    if (bodyBytes + MANIFEST_TAG_BYTES > MAX_MANIFEST_BYTES) {
      throw new ManifestTooLargeError(bodyBytes + MANIFEST_TAG_BYTES, MAX_MANIFEST_BYTES);
    }
    const sealed = new Uint8Array(bodyBytes + MANIFEST_TAG_BYTES);
    sealed.set(SEALED_MANIFEST_MAGIC, 0);
    sealed[SEALED_MANIFEST_MAGIC.length] = SEALED_MANIFEST_VERSION;
    sealed.set(wrap, PREFIX_BYTES);
    sealed.set(envelope, PREFIX_BYTES + wrap.length);
    sealed.set(manifestAuthTag(keyPair.secretKey, sealed.subarray(0, bodyBytes)), bodyBytes);
    return sealed;
  } finally {
    wipe(key);
  }
}

/** What openSealedManifest found: the document, and whether it was authenticated (seal version 2) or not (1). */
export interface OpenedManifest {
  document: ManifestDocument;
  sealVersion: number;
}

/**
 * Opens a sealed manifest with the patient's key pair and checks it is theirs: written by the holder of the
 * secret key (the tag, checked first), and naming them as owner. Any failure is an InvalidManifestError
 * (UnauthenticatedManifestError for a version 1 seal without acceptUnauthenticated).
 */
export async function openManifest(
  sealed: Uint8Array,
  keyPair: X25519KeyPair,
  options: OpenManifestOptions = {},
): Promise<ManifestDocument> {
  return (await openSealedManifest(sealed, keyPair, options)).document;
}

/** openManifest, also saying which seal version it read. */
export async function openSealedManifest(
  sealed: Uint8Array,
  keyPair: X25519KeyPair,
  options: OpenManifestOptions = {},
): Promise<OpenedManifest> {
  assertSecretKey(keyPair);
  if (!(sealed instanceof Uint8Array)) throw new InvalidManifestError("sealed manifest must be bytes");
  if (sealed.length < PREFIX_BYTES) throw new InvalidManifestError("sealed manifest is too short");
  const magicMatches = SEALED_MANIFEST_MAGIC.every((byte, index) => sealed[index] === byte);
  if (!magicMatches) throw new InvalidManifestError("not a sealed Hygeia manifest");
  const sealVersion = sealed[SEALED_MANIFEST_MAGIC.length]!;
  let body: Uint8Array;
  if (sealVersion === SEALED_MANIFEST_VERSION) {
    if (sealed.length < PREFIX_BYTES + WRAP_BYTES + MANIFEST_TAG_BYTES) {
      throw new InvalidManifestError("sealed manifest is too short");
    }
    body = sealed.subarray(0, sealed.length - MANIFEST_TAG_BYTES);
    const expected = manifestAuthTag(keyPair.secretKey, body);
    if (!equalBytes(expected, sealed.subarray(body.length))) {
      throw new InvalidManifestError(
        "manifest is not authenticated by this patient's key (forged, tampered, or another patient's): nothing was opened",
      );
    }
  } else if (sealVersion === UNAUTHENTICATED_SEAL_VERSION) {
    if (options.acceptUnauthenticated !== true) throw new UnauthenticatedManifestError(sealVersion);
    body = sealed;
  } else {
    throw new InvalidManifestError(
      `unsupported seal version ${sealVersion} (this reader knows 1 and 2): written by a newer Hygeia?`,
    );
  }
  if (body.length < PREFIX_BYTES + WRAP_BYTES) throw new InvalidManifestError("sealed manifest is too short");
  const owner = manifestOwner(keyPair.publicKey);
  let key: Uint8Array | undefined;
  let plaintext: Uint8Array;
  try {
    key = unwrapKey(body.subarray(PREFIX_BYTES, PREFIX_BYTES + WRAP_BYTES), keyPair, manifestKeyContext(owner));
    plaintext = await decryptToBuffer(body.subarray(PREFIX_BYTES + WRAP_BYTES), key, {
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
  return { document, sealVersion };
}
