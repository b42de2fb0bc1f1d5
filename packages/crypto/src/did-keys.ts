// Reading X25519 recipient keys out of DID documents (keyAgreement), and encoding our own for publishing.
// Everything here is untrusted input: each field is checked and failures are InvalidKeyError.
import { base58, base64, base64nopad, base64urlnopad } from "@scure/base";
import { concatBytes } from "./bytes.ts";
import { InvalidKeyError } from "./errors.ts";
import type { RecipientKey } from "./key-wrap.ts";
import { X25519_KEY_BYTES, assertX25519PublicKey } from "./x25519.ts";

/** Multicodec `x25519-pub` (0xec) as an unsigned varint. */
const X25519_MULTICODEC_PREFIX = Uint8Array.of(0xec, 0x01);

/** Verification-method types under which an X25519 key may appear. */
const X25519_METHOD_TYPES: ReadonlySet<string> = new Set([
  "X25519KeyAgreementKey2019",
  "X25519KeyAgreementKey2020",
  "Multikey",
  "JsonWebKey2020",
  "JsonWebKey",
]);
/** Types that carry raw key bytes with no curve marker: only these may use publicKeyBase64 / publicKeyBase58. */
const RAW_X25519_METHOD_TYPES: ReadonlySet<string> = new Set([
  "X25519KeyAgreementKey2019",
  "X25519KeyAgreementKey2020",
]);
const KEY_MATERIAL_FIELDS = ["publicKeyMultibase", "publicKeyBase64", "publicKeyBase58", "publicKeyJwk"] as const;

/** An X25519 JWK as published in a DID document (public part only). */
export interface X25519PublicJwk {
  readonly kty: "OKP";
  readonly crv: "X25519";
  readonly x: string;
}

/** Thrown internally for well-formed methods that are simply not X25519 (skipped when scanning a document). */
class NotX25519Error extends InvalidKeyError {}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function decodeOrThrow(decode: () => Uint8Array, what: string): Uint8Array {
  try {
    return decode();
  } catch (cause) {
    throw new InvalidKeyError(`${what} is not valid encoding`, { cause });
  }
}

function rawKey(bytes: Uint8Array, what: string): Uint8Array {
  if (bytes.length !== X25519_KEY_BYTES) {
    throw new InvalidKeyError(`${what} must decode to ${X25519_KEY_BYTES} bytes, got ${bytes.length}`);
  }
  assertX25519PublicKey(bytes, what);
  return bytes;
}

function keyFromMultibase(value: string): Uint8Array {
  if (!value.startsWith("z")) throw new InvalidKeyError("publicKeyMultibase must be base58btc ('z' prefix)");
  const bytes = decodeOrThrow(() => base58.decode(value.slice(1)), "publicKeyMultibase");
  if (bytes[0] !== X25519_MULTICODEC_PREFIX[0] || bytes[1] !== X25519_MULTICODEC_PREFIX[1]) {
    throw new NotX25519Error("publicKeyMultibase is not an X25519 key (multicodec 0xec)");
  }
  return rawKey(bytes.slice(X25519_MULTICODEC_PREFIX.length), "publicKeyMultibase");
}

function keyFromBase64(value: string): Uint8Array {
  const coder = value.endsWith("=") ? base64 : base64nopad;
  return rawKey(
    decodeOrThrow(() => coder.decode(value), "publicKeyBase64"),
    "publicKeyBase64",
  );
}

function keyFromJwk(jwk: unknown): Uint8Array {
  if (!isRecord(jwk)) throw new InvalidKeyError("publicKeyJwk must be an object");
  if ("d" in jwk) throw new InvalidKeyError("publicKeyJwk contains a private key ('d'); refusing it");
  if (jwk.kty !== "OKP" || jwk.crv !== "X25519") {
    throw new NotX25519Error(`publicKeyJwk is ${String(jwk.kty)}/${String(jwk.crv)}, not OKP/X25519`);
  }
  if (typeof jwk.x !== "string") throw new InvalidKeyError("publicKeyJwk.x must be a string");
  const x = jwk.x;
  return rawKey(
    decodeOrThrow(() => base64urlnopad.decode(x), "publicKeyJwk.x"),
    "publicKeyJwk.x",
  );
}

/**
 * The X25519 public key of one verification method (a keyAgreement entry). Accepts exactly one of
 * publicKeyMultibase (base58btc, multicodec 0xec), publicKeyJwk (OKP / X25519), or, for the
 * X25519KeyAgreementKey2019/2020 types, publicKeyBase64 (as ERC-1056 `did/pub/X25519/enc/base64` resolves)
 * or publicKeyBase58. Throws InvalidKeyError for anything else, including low-order points.
 */
export function x25519KeyFromVerificationMethod(method: unknown): Uint8Array {
  if (!isRecord(method)) throw new InvalidKeyError("verification method must be an object");
  const type = method.type;
  if (typeof type !== "string") throw new InvalidKeyError("verification method has no type");
  if (!X25519_METHOD_TYPES.has(type)) throw new NotX25519Error(`verification method type ${type} is not X25519`);
  const present = KEY_MATERIAL_FIELDS.filter((field) => method[field] !== undefined);
  if (present.length !== 1) {
    throw new InvalidKeyError(
      `verification method must have exactly one of ${KEY_MATERIAL_FIELDS.join(", ")}; found ${present.length}`,
    );
  }
  const field = present[0];
  const value = field === undefined ? undefined : method[field];
  if (field === "publicKeyJwk") return keyFromJwk(value);
  if (typeof value !== "string" || value.length === 0) throw new InvalidKeyError(`${field} must be a string`);
  if (field === "publicKeyMultibase") return keyFromMultibase(value);
  if (!RAW_X25519_METHOD_TYPES.has(type)) {
    throw new InvalidKeyError(`${field} is only accepted for X25519KeyAgreementKey2019/2020 methods, not ${type}`);
  }
  if (field === "publicKeyBase64") return keyFromBase64(value);
  return rawKey(
    decodeOrThrow(() => base58.decode(value), "publicKeyBase58"),
    "publicKeyBase58",
  );
}

function absoluteId(documentId: string, id: string): string {
  return id.startsWith("#") ? documentId + id : id;
}

/**
 * Every X25519 key in a DID document's keyAgreement, resolving references into verificationMethod.
 * Entries that are well-formed but of another curve are skipped; malformed X25519 entries and dangling
 * references throw; a document with no X25519 keyAgreement key throws InvalidKeyError.
 */
export function x25519KeysFromDidDocument(document: unknown): RecipientKey[] {
  if (!isRecord(document) || typeof document.id !== "string" || !document.id.startsWith("did:")) {
    throw new InvalidKeyError("DID document must be an object with a did: id");
  }
  const documentId = document.id;
  const keyAgreement = document.keyAgreement ?? [];
  const methods = document.verificationMethod ?? [];
  if (!Array.isArray(keyAgreement) || !Array.isArray(methods)) {
    throw new InvalidKeyError("keyAgreement and verificationMethod must be arrays");
  }
  const methodsById = new Map<string, unknown>();
  for (const method of methods) {
    if (isRecord(method) && typeof method.id === "string") methodsById.set(absoluteId(documentId, method.id), method);
  }

  const keys: RecipientKey[] = [];
  for (const entry of keyAgreement as unknown[]) {
    let method: unknown = entry;
    if (typeof entry === "string") {
      method = methodsById.get(absoluteId(documentId, entry));
      if (method === undefined)
        throw new InvalidKeyError(`keyAgreement reference ${entry} is not in verificationMethod`);
    }
    if (!isRecord(method) || typeof method.id !== "string") {
      throw new InvalidKeyError("keyAgreement entry must be a reference or a verification method with an id");
    }
    try {
      keys.push({ id: absoluteId(documentId, method.id), publicKey: x25519KeyFromVerificationMethod(method) });
    } catch (error) {
      if (!(error instanceof NotX25519Error)) throw error;
    }
  }
  if (keys.length === 0) throw new InvalidKeyError(`DID document ${documentId} has no X25519 keyAgreement key`);
  return keys;
}

/** `z6LS…`: the publicKeyMultibase form (multicodec 0xec, base58btc). */
export function x25519PublicKeyToMultibase(publicKey: Uint8Array): string {
  assertX25519PublicKey(publicKey);
  return "z" + base58.encode(concatBytes(X25519_MULTICODEC_PREFIX, publicKey));
}

/** The publicKeyJwk form. */
export function x25519PublicKeyToJwk(publicKey: Uint8Array): X25519PublicJwk {
  assertX25519PublicKey(publicKey);
  return { kty: "OKP", crv: "X25519", x: base64urlnopad.encode(publicKey) };
}

/** Standard padded base64, the publicKeyBase64 form ERC-1056 resolvers produce. */
export function x25519PublicKeyToBase64(publicKey: Uint8Array): string {
  assertX25519PublicKey(publicKey);
  return base64.encode(publicKey);
}
