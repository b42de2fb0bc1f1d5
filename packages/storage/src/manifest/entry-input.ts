// Manifest entries, stored records and bases as they come from a caller: checked before use, so a wrong kind of
// value (a CID string where an entry goes, `{ entry, manifest }` where the entry goes, undefined) is an
// InvalidArgumentError naming the argument, never a TypeError from deep inside, and a malformed entry is refused
// before it is written into a manifest that would then fail to decode.
import { HygeiaCryptoError, WRAP_BYTES, assertX25519PublicKey } from "@hygeia/crypto";
import { CID } from "multiformats/cid";
import { HygeiaStorageError, InvalidArgumentError } from "../errors.ts";
import { validateRecordMetadata } from "../record-metadata.ts";
import { SHARE_ID } from "./manifest-format.ts";
import type { Manifest, ManifestEntry } from "./manifest-format.ts";

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** A CID object (also one from another copy of multiformats), or undefined. */
export function asCid(value: unknown): CID | undefined {
  if (value instanceof CID) return value;
  return isObject(value) ? (CID.asCID(value) ?? undefined) : undefined;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return isObject(value) ? "an object" : typeof value;
}

/**
 * What reading a record needs of an entry: its CID, its DEK wrap and its plaintext size. `{ entry, manifest }` (what
 * addRecord returns) gets a message pointing at `.entry`.
 */
export function checkEntryToRead(value: unknown, field: string, alsoCid = false): ManifestEntry {
  if (!isObject(value) || asCid(value) !== undefined || Array.isArray(value)) {
    throw new InvalidArgumentError(
      `${field} must be a ManifestEntry (addRecord's .entry, latest().entries, recoverRecords)` +
        `${alsoCid ? " or a record CID (string or CID)" : ""}, got ${asCid(value) !== undefined ? "a CID" : describe(value)}`,
      { field },
    );
  }
  if (!("cid" in value) && "entry" in value) {
    throw new InvalidArgumentError(`${field} is what addRecord returns ({ entry, manifest }): pass its .entry`, {
      field,
    });
  }
  if (asCid(value.cid) === undefined) {
    throw new InvalidArgumentError(`${field}.cid must be a CID: pass a ManifestEntry as the manifest lists it`, {
      field: `${field}.cid`,
    });
  }
  if (!(value.dekWrap instanceof Uint8Array) || value.dekWrap.length !== WRAP_BYTES) {
    throw new InvalidArgumentError(`${field}.dekWrap must be the ${WRAP_BYTES}-byte wrap of the record's key`, {
      field: `${field}.dekWrap`,
    });
  }
  if (!isCount(value.plaintextSize)) {
    throw new InvalidArgumentError(`${field}.plaintextSize must be a non-negative integer`, {
      field: `${field}.plaintextSize`,
    });
  }
  return { ...(value as unknown as ManifestEntry), cid: asCid(value.cid)! };
}

/** Runs another module's check and names the field it failed on under `field`. */
function named<T>(field: string, check: () => T): T {
  try {
    return check();
  } catch (cause) {
    if (cause instanceof InvalidArgumentError) {
      const sub = cause.field.replace(/^metadata\.?/, "");
      throw new InvalidArgumentError(`${field}: ${cause.message}`, { field: sub ? `${field}.${sub}` : field, cause });
    }
    if (cause instanceof HygeiaStorageError || cause instanceof HygeiaCryptoError) {
      throw new InvalidArgumentError(`${field}: ${cause.message}`, { field, cause });
    }
    throw cause;
  }
}

/** Everything a manifest will hold of an entry (commit, addEntries): the same rules the manifest decoder applies. */
export function checkEntryToList(value: unknown, field: string): ManifestEntry {
  const entry = checkEntryToRead(value, field);
  const { kind, type, category, created } = entry;
  named(field, () => validateRecordMetadata({ kind, type, category, created }));
  if (!isCount(entry.size) || entry.plaintextSize > entry.size) {
    throw new InvalidArgumentError(`${field}.size must be a non-negative integer ≥ plaintextSize`, {
      field: `${field}.size`,
    });
  }
  if (!Array.isArray(entry.sharedWith)) {
    throw new InvalidArgumentError(`${field}.sharedWith must be an array (empty when shared with no one)`, {
      field: `${field}.sharedWith`,
    });
  }
  entry.sharedWith.forEach((share: unknown, index) => {
    const where = `${field}.sharedWith[${index}]`;
    if (!isObject(share) || typeof share.id !== "string" || !SHARE_ID.test(share.id)) {
      throw new InvalidArgumentError(`${where}.id must be a key id without whitespace`, { field: `${where}.id` });
    }
    // Listed, not wrapped to (shareRecord checks the keys it wraps to): shares merged from a version an earlier
    // release wrote may hold a non-canonical encoding.
    named(`${where}.publicKey`, () =>
      assertX25519PublicKey(share.publicKey, `${where}.publicKey`, { allowNonCanonical: true }),
    );
    if (typeof share.sharedAt !== "string" || Number.isNaN(Date.parse(share.sharedAt))) {
      throw new InvalidArgumentError(`${where}.sharedAt must be an ISO 8601 timestamp`, { field: `${where}.sharedAt` });
    }
  });
  return entry;
}

/** An array of entries to list, each checked. */
export function checkEntriesToList(value: unknown, field: string): ManifestEntry[] {
  if (!Array.isArray(value)) {
    throw new InvalidArgumentError(`${field} must be an array of ManifestEntry, got ${describe(value)}`, { field });
  }
  return value.map((entry: unknown, index) => checkEntryToList(entry, `${field}[${index}]`));
}

/** commit's base: undefined (no manifest yet) or a Manifest this package read (latest(), read(), commit()). */
export function checkBase(value: unknown): Manifest | undefined {
  if (value === undefined) return undefined;
  if (
    !isObject(value) ||
    asCid(value.cid) === undefined ||
    !isCount(value.version) ||
    value.version < 1 ||
    !Array.isArray(value.entries)
  ) {
    throw new InvalidArgumentError(
      "base must be the Manifest to build on (latest(), read(cid)) or undefined for the first version",
      { field: "base" },
    );
  }
  return value as unknown as Manifest;
}

/** addRecords' input: RecordStore results (putRecord / putFile), each with its CID, sizes, DEK and metadata. */
export function checkStoredRecords(value: unknown): void {
  if (!Array.isArray(value)) {
    throw new InvalidArgumentError(`records must be an array of stored records (putRecord's results)`, {
      field: "records",
    });
  }
  value.forEach((record: unknown, index) => {
    if (!isObject(record) || asCid(record.cid) === undefined || !(record.dek instanceof Uint8Array)) {
      throw new InvalidArgumentError(
        `records[${index}] must be what RecordStore.putRecord / putFile returned ({ cid, size, plaintextSize, dek, metadata })`,
        { field: `records[${index}]` },
      );
    }
  });
}
