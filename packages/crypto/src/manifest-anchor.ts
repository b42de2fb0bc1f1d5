// The keys that anchor a patient's record list on chain (promise 6: losing the gateway loses nothing).
//
//   accountKey = mapHashToField(HKDF-SHA256(consentSecret, salt, "hygeia/manifest-anchor/account/v1", L = 48), n)
//   pointerKey = HKDF-SHA256(consentSecret, salt, "hygeia/manifest-anchor/pointer/v1", L = 32)
//   sealed     = 0x01 ‖ nonce (24) ‖ XChaCha20-Poly1305(pointerKey, nonce, payload, aad = "hygeia/manifest-pointer/v1" ‖ account)
//   payload    = manifest version (uint64, big-endian) ‖ CID bytes
//
// The account key is a secp256k1 key of its own (an ERC-1056 identity nobody funds): it signs the anchor, which the
// gateway relays, so anchoring needs no wallet prompt, and its address links to nothing of the patient's on chain.
// The pointer is encrypted: the chain holds no CID in clear (promise 2), and the version inside lets a device tell
// which of two anchors is newer without fetching either manifest. Derived from the consent secret (the key-index-0
// signature), so rotating the encryption key never moves the anchor.
//
// mapHashToField (noble, FIPS 186-5 A.4.1 style: 48 bytes reduced modulo n - 1, plus 1) rather than retrying HKDF
// until a value is below n: one call, no loop, never zero.
import { xchacha20poly1305 } from "@noble/ciphers/chacha.js";
import { randomBytes } from "@noble/ciphers/utils.js";
import { mapHashToField } from "@noble/curves/abstract/modular.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { utf8 } from "./bytes.ts";
import { assertConsentSecretBytes } from "./consent-secret.ts";
import { KEY_DERIVATION_SALT } from "./derive.ts";
import { InvalidArgumentError, IntegrityError } from "./errors.ts";

export const MANIFEST_ANCHOR_ACCOUNT_INFO = "hygeia/manifest-anchor/account/v1";
export const MANIFEST_ANCHOR_POINTER_INFO = "hygeia/manifest-anchor/pointer/v1";
export const MANIFEST_POINTER_AAD = "hygeia/manifest-pointer/v1";
export const MANIFEST_POINTER_SEAL_VERSION = 1;
const NONCE_BYTES = 24;
const TAG_BYTES = 16;
const VERSION_BYTES = 8;
/** A CID is at most this long here (CIDv1, sha2-256: 36 bytes; room for longer hashes). */
export const MAX_POINTER_CID_BYTES = 96;
/** The largest sealed pointer (what a relay should accept). */
export const MAX_SEALED_MANIFEST_POINTER_BYTES = 1 + NONCE_BYTES + VERSION_BYTES + MAX_POINTER_CID_BYTES + TAG_BYTES;

export interface ManifestAnchorKeys {
  /** secp256k1 private key (32 bytes) of the anchor's ERC-1056 identity. */
  accountKey: Uint8Array;
  /** XChaCha20-Poly1305 key of the sealed pointer. */
  pointerKey: Uint8Array;
}

export interface ManifestPointer {
  /** The manifest document's version (1, 2, …). */
  version: number;
  /** The sealed manifest's CID, as bytes. */
  cid: Uint8Array;
}

/** The anchor keys of a patient, from its consent secret (deriveConsentSecretFrom…). */
export function deriveManifestAnchorKeys(consentSecret: Uint8Array): ManifestAnchorKeys {
  assertConsentSecretBytes(consentSecret);
  const salt = utf8(KEY_DERIVATION_SALT);
  const wide = hkdf(sha256, consentSecret, salt, utf8(MANIFEST_ANCHOR_ACCOUNT_INFO), 48);
  const accountKey = mapHashToField(wide, secp256k1.Point.Fn.ORDER);
  wide.fill(0);
  const pointerKey = hkdf(sha256, consentSecret, salt, utf8(MANIFEST_ANCHOR_POINTER_INFO), 32);
  return { accountKey, pointerKey };
}

/** Encrypts `pointer` for the chain, bound to the anchor `account` (its 20-byte address). */
export function sealManifestPointer(pointerKey: Uint8Array, account: Uint8Array, pointer: ManifestPointer): Uint8Array {
  checkKey(pointerKey);
  checkAccount(account);
  if (!Number.isSafeInteger(pointer.version) || pointer.version < 1)
    throw new InvalidArgumentError("pointer.version must be a whole number from 1", { field: "pointer.version" });
  if (!(pointer.cid instanceof Uint8Array) || pointer.cid.length === 0 || pointer.cid.length > MAX_POINTER_CID_BYTES)
    throw new InvalidArgumentError(`pointer.cid must be 1 to ${MAX_POINTER_CID_BYTES} bytes`, { field: "pointer.cid" });
  const payload = new Uint8Array(VERSION_BYTES + pointer.cid.length);
  new DataView(payload.buffer).setBigUint64(0, BigInt(pointer.version));
  payload.set(pointer.cid, VERSION_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const ciphertext = xchacha20poly1305(pointerKey, nonce, aad(account)).encrypt(payload);
  const sealed = new Uint8Array(1 + NONCE_BYTES + ciphertext.length);
  sealed[0] = MANIFEST_POINTER_SEAL_VERSION;
  sealed.set(nonce, 1);
  sealed.set(ciphertext, 1 + NONCE_BYTES);
  return sealed;
}

/** Decrypts a sealed pointer of `account`. IntegrityError when it is not one this key sealed for it. */
export function openManifestPointer(pointerKey: Uint8Array, account: Uint8Array, sealed: Uint8Array): ManifestPointer {
  checkKey(pointerKey);
  checkAccount(account);
  if (
    !(sealed instanceof Uint8Array) ||
    sealed.length < 1 + NONCE_BYTES + VERSION_BYTES + 1 + TAG_BYTES ||
    sealed.length > MAX_SEALED_MANIFEST_POINTER_BYTES
  )
    throw new IntegrityError("a sealed manifest pointer has the wrong length");
  if (sealed[0] !== MANIFEST_POINTER_SEAL_VERSION)
    throw new IntegrityError(`unknown manifest pointer seal version ${sealed[0]}`);
  let payload: Uint8Array;
  try {
    payload = xchacha20poly1305(pointerKey, sealed.subarray(1, 1 + NONCE_BYTES), aad(account)).decrypt(
      sealed.subarray(1 + NONCE_BYTES),
    );
  } catch {
    throw new IntegrityError("the manifest pointer does not open with this key for this account");
  }
  const version = new DataView(payload.buffer, payload.byteOffset).getBigUint64(0);
  if (version < 1n || version > BigInt(Number.MAX_SAFE_INTEGER))
    throw new IntegrityError("the manifest pointer's version is out of range");
  return { version: Number(version), cid: payload.slice(VERSION_BYTES) };
}

function aad(account: Uint8Array): Uint8Array {
  const label = utf8(MANIFEST_POINTER_AAD);
  const out = new Uint8Array(label.length + account.length);
  out.set(label);
  out.set(account, label.length);
  return out;
}

function checkKey(key: unknown): void {
  if (!(key instanceof Uint8Array) || key.length !== 32)
    throw new InvalidArgumentError("pointerKey must be 32 bytes (deriveManifestAnchorKeys)", { field: "pointerKey" });
}

function checkAccount(account: unknown): void {
  if (!(account instanceof Uint8Array) || account.length !== 20)
    throw new InvalidArgumentError("account must be the anchor identity's 20-byte address", { field: "account" });
}
