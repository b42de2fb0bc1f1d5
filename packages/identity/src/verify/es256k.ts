// ES256K signature verification against a DID's keys, with node:crypto (OpenSSL) doing the curve math in Node
// and @noble/curves in browsers (#native, chosen by package.json "imports").
//
// did:ethr controllers are published as blockchain addresses, not public keys, so the first signature of an
// issuer is checked by public-key recovery (@noble/curves, as did-jwt does); the recovered key is then cached
// prepared (a node:crypto KeyObject in Node) and later signatures of that issuer verify natively (~4x faster). A
// cached key is used only while the DID's current document still authorizes its address, so key rotation takes
// effect with the document cache.
import { preparePublicKey, sha256, verifyPrepared, type PreparedPublicKey } from "#native";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import type { DIDDocument, VerificationMethod } from "did-resolver";
import { fromBase64url, fromHex, toHex as bytesToHex, utf8 } from "../bytes.ts";

const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

export type VerificationRelationship = "assertionMethod" | "authentication";

interface AuthorizedKeys {
  /** Lower-case 0x addresses (blockchainAccountId). */
  readonly addresses: ReadonlySet<string>;
  /** Uncompressed public keys (65 bytes, hex) given in full. */
  readonly publicKeys: ReadonlySet<string>;
}

interface CachedKey {
  readonly keyObject: PreparedPublicKey;
  readonly address: string;
  readonly publicKeyHex: string;
}

export class Es256kVerifier {
  /** did -> keys that verified a signature of that did before. */
  private readonly keys = new Map<string, CachedKey[]>();
  private readonly maxIssuers: number;

  constructor(options: { maxCachedIssuers?: number } = {}) {
    this.maxIssuers = options.maxCachedIssuers ?? 10_000;
  }

  /** True when `signature` (r||s, 64 bytes) over `signingInput` is by a key the document authorizes. */
  verify(
    document: DIDDocument,
    relationship: VerificationRelationship,
    signingInput: string,
    signature: Uint8Array,
  ): boolean {
    if (signature.length !== 64) return false;
    const s = bytesToBigInt(signature.subarray(32));
    const r = bytesToBigInt(signature.subarray(0, 32));
    // Out-of-range values never verify. High-S is accepted, as did-jwt accepts it: results must match the
    // reference; malleability is harmless here (challenges, not signature bytes, make presentations single-use).
    if (r === 0n || s === 0n || r >= CURVE_ORDER || s >= CURVE_ORDER) return false;
    const authorized = authorizedKeys(document, relationship);
    if (authorized.addresses.size === 0 && authorized.publicKeys.size === 0) return false;
    const data = utf8(signingInput);
    const sig = signature;

    for (const key of this.keys.get(document.id) ?? []) {
      if (!authorized.addresses.has(key.address) && !authorized.publicKeys.has(key.publicKeyHex)) continue;
      if (verifyPrepared(key.keyObject, data, sig)) return true;
    }
    // Full keys in the document: verify directly.
    for (const publicKeyHex of authorized.publicKeys) {
      const keyObject = preparePublicKey(fromHex(publicKeyHex));
      if (verifyPrepared(keyObject, data, sig)) {
        this.remember(document.id, { keyObject, address: addressOf(fromHex(publicKeyHex)), publicKeyHex });
        return true;
      }
    }
    if (authorized.addresses.size === 0) return false;
    // Addresses only: recover the signer's key (both recovery ids), then confirm natively.
    const digest = sha256(data);
    for (const recovery of [0, 1]) {
      let publicKey: Uint8Array;
      try {
        const recoverable = new Uint8Array(65);
        recoverable[0] = recovery;
        recoverable.set(signature, 1);
        publicKey = secp256k1.recoverPublicKey(recoverable, digest, { prehash: false });
      } catch {
        continue;
      }
      const uncompressed = secp256k1.Point.fromBytes(publicKey).toBytes(false);
      const address = addressOf(uncompressed);
      if (!authorized.addresses.has(address)) continue;
      const keyObject = preparePublicKey(uncompressed);
      if (!verifyPrepared(keyObject, data, sig)) continue;
      this.remember(document.id, { keyObject, address, publicKeyHex: bytesToHex(uncompressed) });
      return true;
    }
    return false;
  }

  private remember(did: string, key: CachedKey): void {
    const list = this.keys.get(did) ?? [];
    if (list.some((k) => k.publicKeyHex === key.publicKeyHex)) return;
    if (!this.keys.has(did) && this.keys.size >= this.maxIssuers) {
      const oldest = this.keys.keys().next().value;
      if (oldest !== undefined) this.keys.delete(oldest);
    }
    this.keys.set(did, [...list.slice(-3), key]);
  }
}

/** The secp256k1 keys a document authorizes for a relationship (references and embedded methods). */
export function authorizedKeys(document: DIDDocument, relationship: VerificationRelationship): AuthorizedKeys {
  const methods = new Map((document.verificationMethod ?? []).map((vm) => [vm.id, vm]));
  const addresses = new Set<string>();
  const publicKeys = new Set<string>();
  for (const ref of document[relationship] ?? []) {
    const vm = typeof ref === "string" ? (methods.get(ref) ?? methods.get(`${document.id}${ref}`)) : ref;
    if (!vm) continue;
    collect(vm, addresses, publicKeys);
  }
  return { addresses, publicKeys };
}

function collect(vm: VerificationMethod, addresses: Set<string>, publicKeys: Set<string>): void {
  if (vm.blockchainAccountId) {
    const address = vm.blockchainAccountId.split(":").pop();
    if (address && /^0x[0-9a-fA-F]{40}$/.test(address)) addresses.add(address.toLowerCase());
  }
  if (vm.ethereumAddress && /^0x[0-9a-fA-F]{40}$/.test(vm.ethereumAddress))
    addresses.add(vm.ethereumAddress.toLowerCase());
  const raw = publicKeyBytes(vm);
  if (raw) publicKeys.add(bytesToHex(raw));
}

/** A secp256k1 public key from hex or JWK (did:key documents carry JWKs), uncompressed; undefined otherwise. */
function publicKeyBytes(vm: VerificationMethod): Uint8Array | undefined {
  try {
    if (vm.publicKeyHex) return secp256k1.Point.fromHex(vm.publicKeyHex.replace(/^0x/, "")).toBytes(false);
    if (vm.publicKeyJwk && vm.publicKeyJwk.crv === "secp256k1" && vm.publicKeyJwk.x && vm.publicKeyJwk.y) {
      const x = documentCoordinate(vm.publicKeyJwk.x);
      const y = documentCoordinate(vm.publicKeyJwk.y);
      if (!x || !y) return undefined;
      return secp256k1.Point.fromBytes(new Uint8Array([4, ...x, ...y])).toBytes(false);
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/**
 * A JWK coordinate of a DID document as 32 bytes. RFC 7518 wants the full 32, but Veramo's did:key resolver drops
 * leading zero bytes (about 1 key in 128 has a 31-byte x or y); left-padding gives the same point, and without it
 * those holders' valid signatures were refused.
 */
function documentCoordinate(base64url: string): Uint8Array | undefined {
  let bytes: Uint8Array;
  try {
    bytes = fromBase64url(base64url);
  } catch {
    return undefined;
  }
  if (bytes.length === 0 || bytes.length > 32) return undefined;
  const padded = new Uint8Array(32);
  padded.set(bytes, 32 - bytes.length);
  return padded;
}

export function addressOf(uncompressed: Uint8Array): string {
  return `0x${bytesToHex(keccak_256(uncompressed.subarray(1)).subarray(12))}`;
}

function bytesToBigInt(bytes: Uint8Array): bigint {
  return BigInt(`0x${bytesToHex(bytes) || "0"}`);
}

/** An uncompressed secp256k1 public key from a JWK; undefined when it is not a valid one. */
export function publicKeyFromJwk(jwk: Record<string, unknown>): Uint8Array | undefined {
  if (jwk.kty !== "EC" || jwk.crv !== "secp256k1" || typeof jwk.x !== "string" || typeof jwk.y !== "string")
    return undefined;
  try {
    const x = fromBase64url(jwk.x);
    const y = fromBase64url(jwk.y);
    if (x.length !== 32 || y.length !== 32) return undefined;
    return secp256k1.Point.fromBytes(new Uint8Array([4, ...x, ...y])).toBytes(false);
  } catch {
    return undefined;
  }
}

/** ES256K (r||s) verification with a known public key, natively. */
export function verifyWithPublicKey(publicKey: Uint8Array, signingInput: string, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  // Any SEC1 encoding (compressed or not) of a point on the curve, made uncompressed before the platform's code sees
  // it, so Node (OpenSSL) and browsers (noble) answer alike; anything else verifies nothing.
  let uncompressed: Uint8Array;
  try {
    uncompressed = secp256k1.Point.fromBytes(publicKey).toBytes(false);
  } catch {
    return false;
  }
  return verifyPrepared(preparePublicKey(uncompressed), utf8(signingInput), signature);
}

/** Whether a document authorizes this key (by full key or by its address) for a relationship. */
export function isAuthorizedKey(
  document: DIDDocument,
  relationship: VerificationRelationship,
  publicKey: Uint8Array,
): boolean {
  const authorized = authorizedKeys(document, relationship);
  return authorized.publicKeys.has(bytesToHex(publicKey)) || authorized.addresses.has(addressOf(publicKey));
}
