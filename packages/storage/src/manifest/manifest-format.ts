// The patient manifest's plaintext document: what it contains and how it is (de)serialised. Pure: no I/O,
// no crypto. Decoding validates every field, because a manifest is read back from IPFS (untrusted storage)
// and after recovery possibly from a node the patient does not control.
import { HygeiaCryptoError, WRAP_BYTES, assertX25519PublicKey } from "@hygeia/crypto";
import type { CID } from "multiformats/cid";
import { parseCid } from "../cid.ts";
import { HygeiaStorageError, InvalidManifestError } from "../errors.ts";
import { validateRecordMetadata } from "../record-metadata.ts";
import { fromBase64, toBase64 } from "../bytes.ts";
import type { RecordMetadata } from "../record-metadata.ts";

export const MANIFEST_FORMAT = "hygeia.manifest";
/** Version 2 added `sharedWith` to entries. Readers take versions 1 (read as shared with no one) and 2. */
export const MANIFEST_FORMAT_VERSION = 2;
const READABLE_FORMAT_VERSIONS: readonly number[] = [1, 2];

/** A party a record's DEK was wrapped to (PatientManifest.shareRecord), remembered so it can be wrapped again. */
export interface RecordShare {
  /** The recipient key's id, typically the DID URL of its keyAgreement verification method. */
  id: string;
  /** The recipient's X25519 public key. */
  publicKey: Uint8Array;
  /** When it was first shared (ISO 8601 UTC). */
  sharedAt: string;
}

/** One record of the patient. */
export interface ManifestEntry extends RecordMetadata {
  /** CID of the record's ciphertext. */
  cid: CID;
  /** Ciphertext bytes on IPFS. */
  size: number;
  /** Plaintext bytes. */
  plaintextSize: number;
  /** The record's DEK wrapped to the patient's own X25519 key (context `hygeia:record:<cid>`). */
  dekWrap: Uint8Array;
  /** Who else the DEK was wrapped to, sorted by id then key; only ever grows (revocation is consent's job). */
  sharedWith: readonly RecordShare[];
}

/** The content of one manifest version (what is encrypted and stored on IPFS). */
export interface ManifestDocument {
  /** The patient's X25519 public key, multibase (`z6LS…`): whose manifest this is. */
  owner: string;
  /** 1 for the first version, previous + 1 after that. */
  version: number;
  /** CID of the previous version; undefined only for version 1. */
  prev: CID | undefined;
  /** When this version was written (ISO 8601 UTC). */
  updated: string;
  /** Sorted by CID, one entry per CID. */
  entries: ManifestEntry[];
}

/** A manifest version as read from or written to IPFS. */
export interface Manifest extends ManifestDocument {
  cid: CID;
  /**
   * How it was sealed: 2, authenticated (every version written now); 1, unauthenticated, written before
   * authenticated manifests and read only as a migration (acceptUnauthenticated, at the head), behind a version
   * already read (prev links whose bytes hash to their CID), or by unsafeRecoverUnauthenticatedRecords.
   */
  sealVersion: number;
}

interface ShareJson {
  id: string;
  publicKey: string;
  sharedAt: string;
}

interface EntryJson extends RecordMetadata {
  cid: string;
  size: number;
  plaintextSize: number;
  dekWrap: string;
  sharedWith: ShareJson[];
}

interface DocumentJson {
  format: string;
  formatVersion: number;
  owner: string;
  version: number;
  prev: string | null;
  updated: string;
  entries: EntryJson[];
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const OWNER = /^z[1-9A-HJ-NP-Za-km-z]{40,60}$/;
const DOCUMENT_KEYS = ["format", "formatVersion", "owner", "version", "prev", "updated", "entries"];
const ENTRY_KEYS_V1 = ["cid", "kind", "type", "category", "created", "size", "plaintextSize", "dekWrap"];
const ENTRY_KEYS_V2 = [...ENTRY_KEYS_V1, "sharedWith"];
const SHARE_KEYS = ["id", "publicKey", "sharedAt"];
/** A key id: a DID URL or similar, no whitespace (which also keeps shareKey unambiguous). */
export const SHARE_ID = /^\S{1,1024}$/;

export function encodeManifestDocument(document: ManifestDocument): Uint8Array {
  const json: DocumentJson = {
    format: MANIFEST_FORMAT,
    formatVersion: MANIFEST_FORMAT_VERSION,
    owner: document.owner,
    version: document.version,
    prev: document.prev?.toString() ?? null,
    updated: document.updated,
    entries: sortEntries(document.entries).map((entry) => ({
      cid: entry.cid.toString(),
      kind: entry.kind,
      type: entry.type,
      category: entry.category,
      created: entry.created,
      size: entry.size,
      plaintextSize: entry.plaintextSize,
      dekWrap: toBase64(entry.dekWrap),
      sharedWith: sortShares(entry.sharedWith).map((share) => ({
        id: share.id,
        publicKey: toBase64(share.publicKey),
        sharedAt: share.sharedAt,
      })),
    })),
  };
  return new TextEncoder().encode(JSON.stringify(json));
}

/** Parses and validates a manifest document; any defect is an InvalidManifestError. */
export function decodeManifestDocument(bytes: Uint8Array): ManifestDocument {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (cause) {
    throw new InvalidManifestError("manifest is not UTF-8 JSON", { cause });
  }
  const document = asObject(json, "manifest", DOCUMENT_KEYS);
  if (document.format !== MANIFEST_FORMAT) throw new InvalidManifestError("not a Hygeia manifest");
  const formatVersion = document.formatVersion;
  if (typeof formatVersion !== "number" || !READABLE_FORMAT_VERSIONS.includes(formatVersion)) {
    throw new InvalidManifestError(`unsupported manifest format version ${String(formatVersion)}`);
  }
  if (typeof document.owner !== "string" || !OWNER.test(document.owner)) {
    throw new InvalidManifestError("manifest owner must be a multibase X25519 public key");
  }
  const version = document.version;
  if (!isCount(version) || version < 1) throw new InvalidManifestError("manifest version must be a positive integer");
  const prev = document.prev === null ? undefined : field(() => parseCid(document.prev), "manifest prev");
  if ((version === 1) !== (prev === undefined)) {
    throw new InvalidManifestError("version 1 has no prev, every later version has one");
  }
  if (typeof document.updated !== "string" || Number.isNaN(Date.parse(document.updated))) {
    throw new InvalidManifestError("manifest updated must be an ISO 8601 timestamp");
  }
  if (!Array.isArray(document.entries)) throw new InvalidManifestError("manifest entries must be an array");
  const entries = document.entries.map((entry: unknown, index: number) => decodeEntry(entry, index, formatVersion));
  if (new Set(entries.map((entry) => entry.cid.toString())).size !== entries.length) {
    throw new InvalidManifestError("manifest lists a CID twice");
  }
  return { owner: document.owner, version, prev, updated: document.updated, entries: sortEntries(entries) };
}

function decodeEntry(value: unknown, index: number, formatVersion: number): ManifestEntry {
  const what = `manifest entry ${index}`;
  const entry = asObject(value, what, formatVersion === 1 ? ENTRY_KEYS_V1 : ENTRY_KEYS_V2);
  const cid = field(() => parseCid(entry.cid), `${what} cid`);
  const metadata = field(
    () =>
      validateRecordMetadata({ kind: entry.kind, type: entry.type, category: entry.category, created: entry.created }),
    what,
  );
  if (!isCount(entry.size) || !isCount(entry.plaintextSize) || entry.plaintextSize > entry.size) {
    throw new InvalidManifestError(`${what}: size and plaintextSize must be non-negative integers, plaintext ≤ size`);
  }
  if (typeof entry.dekWrap !== "string" || !BASE64.test(entry.dekWrap)) {
    throw new InvalidManifestError(`${what}: dekWrap must be base64`);
  }
  const dekWrap = fromBase64(entry.dekWrap);
  if (dekWrap?.length !== WRAP_BYTES) throw new InvalidManifestError(`${what}: dekWrap must be ${WRAP_BYTES} bytes`);
  const sharedWith = formatVersion === 1 ? [] : decodeShares(entry.sharedWith, what);
  return { cid, ...metadata, size: entry.size, plaintextSize: entry.plaintextSize, dekWrap, sharedWith };
}

function decodeShares(value: unknown, entryWhat: string): RecordShare[] {
  if (!Array.isArray(value)) throw new InvalidManifestError(`${entryWhat}: sharedWith must be an array`);
  const shares = value.map((item: unknown, index: number) => {
    const what = `${entryWhat} sharedWith ${index}`;
    const share = asObject(item, what, SHARE_KEYS);
    if (typeof share.id !== "string" || !SHARE_ID.test(share.id)) {
      throw new InvalidManifestError(`${what}: id must be 1 to 1024 characters without whitespace`);
    }
    if (typeof share.publicKey !== "string" || !BASE64.test(share.publicKey)) {
      throw new InvalidManifestError(`${what}: publicKey must be base64`);
    }
    const publicKey = fromBase64(share.publicKey);
    if (publicKey === undefined) throw new InvalidManifestError(`${what}: publicKey must be base64`);
    // A recorded share, not a key about to be wrapped to: a non-canonical encoding an earlier release accepted
    // must not make the whole manifest unreadable (shareRecord refuses new ones).
    field(() => assertX25519PublicKey(publicKey, `${what} publicKey`, { allowNonCanonical: true }), what);
    if (typeof share.sharedAt !== "string" || Number.isNaN(Date.parse(share.sharedAt))) {
      throw new InvalidManifestError(`${what}: sharedAt must be an ISO 8601 timestamp`);
    }
    return { id: share.id, publicKey, sharedAt: share.sharedAt };
  });
  if (new Set(shares.map(shareKey)).size !== shares.length) {
    throw new InvalidManifestError(`${entryWhat}: sharedWith lists a recipient key twice`);
  }
  return sortShares(shares);
}

/** One recipient key: the same key under another id (or another key under the same id) is another share. */
export function shareKey(share: { readonly id: string; readonly publicKey: Uint8Array }): string {
  return `${share.id}\n${toBase64(share.publicKey)}`;
}

export function sortShares(shares: readonly RecordShare[]): RecordShare[] {
  return [...shares].sort((a, b) => compareStrings(shareKey(a), shareKey(b)));
}

export function sortEntries(entries: readonly ManifestEntry[]): ManifestEntry[] {
  return [...entries].sort((a, b) => compareStrings(a.cid.toString(), b.cid.toString()));
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function asObject(value: unknown, what: string, allowedKeys: readonly string[]): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidManifestError(`${what} must be an object`);
  }
  const record = value as Record<string, unknown>;
  const unknownKey = Object.keys(record).find((key) => !allowedKeys.includes(key));
  if (unknownKey !== undefined)
    throw new InvalidManifestError(`${what} has unknown field ${JSON.stringify(unknownKey)}`);
  return record;
}

/** Runs a validator from another module and reports its failure as an InvalidManifestError. */
function field<T>(parse: () => T, what: string): T {
  try {
    return parse();
  } catch (cause) {
    if (cause instanceof HygeiaStorageError || cause instanceof HygeiaCryptoError) {
      throw new InvalidManifestError(`${what}: ${cause.message}`, { cause });
    }
    throw cause;
  }
}
