// The interface's rows from a database's rows, written once for both stores. Each store passes its column readers
// (how its driver hands over integers, bytes and JSON: node:sqlite gives numbers and JSON text, pg decimal strings
// and parsed JSON); the mappers check every value's type and every JSON value's shape the same way. A column of the
// wrong type is a damaged database or a schema this code does not know: refused (StoreFailureError), never guessed
// at.
import type {
  AggregateQueryRow,
  AggregateReleaseRow,
  AuditLogRow,
  AuditRow,
  CheckInRow,
  CheckpointRow,
  ConsentLinkRow,
  ContributionRow,
  EncryptedFactsRow,
  ManifestPointerRow,
  RecordRow,
  SessionRoleRow,
  SessionRow,
  StagedUploadRow,
  StatusListRow,
  StudyRow,
  TallySumsRow,
  WebhookRow,
  WrapRow,
} from "./types.ts";
import { StoreFailureError } from "./sqlite/errors.ts";

export type Row = Record<string, unknown>;

/** How one driver's values are read; each refuses a value of another type with StoreFailureError. */
export interface ColumnReaders {
  text(row: Row, column: string): string;
  /** A safe integer. */
  int(row: Row, column: string): number;
  /** A copy the caller owns. */
  bytes(row: Row, column: string): Uint8Array;
  /** A JSON column's value, parsed (null for SQL NULL). */
  json(row: Row, column: string): unknown;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
}

/** `{ key: string[] }`, own properties only whatever the keys (a key named __proto__ stays data). */
export function stringLists(value: unknown, column: string): Record<string, string[]> {
  if (!isObject(value)) throw new StoreFailureError(`${column} is not an object`);
  const entries = Object.entries(value);
  if (!entries.every(([, list]) => isStrings(list))) {
    throw new StoreFailureError(`${column} holds a list that is not of strings`);
  }
  return Object.fromEntries(entries) as Record<string, string[]>;
}

/** The row mappers over one driver's column readers. */
export function rowMappers(read: ColumnReaders) {
  const { text, int, bytes, json } = read;
  const intOrNull = (row: Row, column: string): number | null => (row[column] === null ? null : int(row, column));
  const textOrNull = (row: Row, column: string): string | null => (row[column] === null ? null : text(row, column));

  function sessionRow(row: Row): SessionRow {
    return {
      id: text(row, "id"),
      address: text(row, "address"),
      chainId: int(row, "chain_id"),
      issuedAt: int(row, "issued_at"),
      expiresAt: int(row, "expires_at"),
      revokedAt: intOrNull(row, "revoked_at"),
    };
  }

  function sessionRoleRow(row: Row): SessionRoleRow {
    const role = text(row, "role");
    if (role !== "clinic" && role !== "researcher") throw new StoreFailureError(`unknown session role ${role}`);
    return {
      sessionId: text(row, "session_id"),
      role,
      credential: text(row, "credential"),
      issuer: text(row, "issuer"),
      checkedAt: int(row, "checked_at"),
      validUntil: intOrNull(row, "valid_until"),
    };
  }

  function recordRow(row: Row): RecordRow {
    return {
      patient: text(row, "patient"),
      cid: text(row, "cid"),
      size: int(row, "size"),
      scopeIds: stringLists(json(row, "scope_ids"), "records.scope_ids"),
      createdAt: int(row, "created_at"),
    };
  }

  function scopeIdsOf(row: Row): Record<string, string[]> {
    return stringLists(json(row, "scope_ids"), "records.scope_ids");
  }

  function wrapRow(row: Row): WrapRow {
    return {
      cid: text(row, "cid"),
      recipient: text(row, "recipient"),
      wrap: text(row, "wrap"),
      createdAt: int(row, "created_at"),
    };
  }

  function manifestPointerRow(row: Row): ManifestPointerRow {
    return {
      patient: text(row, "patient"),
      cid: text(row, "cid"),
      version: int(row, "version"),
      updatedAt: int(row, "updated_at"),
    };
  }

  function consentLinkRow(row: Row): ConsentLinkRow {
    return {
      patient: text(row, "patient"),
      grantee: text(row, "grantee"),
      consentAddress: text(row, "consent_address"),
      issuedAt: int(row, "issued_at"),
      link: text(row, "link"),
    };
  }

  function auditLogRow(row: Row): AuditLogRow {
    return {
      origin: text(row, "origin"),
      verifierKey: text(row, "verifier_key"),
      gateway: text(row, "gateway"),
      createdAt: int(row, "created_at"),
    };
  }

  function auditRow(row: Row): AuditRow {
    return { index: int(row, "idx"), patient: text(row, "patient"), event: bytes(row, "event") };
  }

  function checkpointRow(row: Row): CheckpointRow {
    const txHash = textOrNull(row, "anchor_tx");
    return {
      size: int(row, "size"),
      rootHash: text(row, "root_hash"),
      note: text(row, "note"),
      createdAt: int(row, "created_at"),
      anchor:
        txHash === null
          ? null
          : {
              txHash,
              blockNumber: int(row, "anchor_block"),
              firstIndex: int(row, "anchor_first"),
              count: int(row, "anchor_count"),
            },
    };
  }

  function checkInRow(row: Row): CheckInRow {
    return {
      id: text(row, "id"),
      clinic: text(row, "clinic"),
      request: text(row, "request"),
      createdAt: int(row, "created_at"),
      expiresAt: int(row, "expires_at"),
      result: textOrNull(row, "result"),
      completedAt: intOrNull(row, "completed_at"),
    };
  }

  function statusListRow(row: Row): StatusListRow {
    return {
      issuer: text(row, "issuer"),
      name: text(row, "name"),
      jwt: text(row, "jwt"),
      issuedAt: int(row, "issued_at"),
      updatedAt: int(row, "updated_at"),
    };
  }

  function webhookRow(row: Row): WebhookRow {
    return { patient: text(row, "patient"), url: text(row, "url"), createdAt: int(row, "created_at") };
  }

  function stagedUploadRow(row: Row): StagedUploadRow {
    return {
      cid: text(row, "cid"),
      uploader: text(row, "uploader"),
      size: int(row, "size"),
      expiresAt: int(row, "expires_at"),
    };
  }

  function studyRow(row: Row): StudyRow {
    const scopes = json(row, "scopes");
    if (!isStrings(scopes)) throw new StoreFailureError("studies.scopes is not a list of strings");
    return {
      studyId: text(row, "study_id"),
      researcher: text(row, "researcher"),
      irb: text(row, "irb"),
      approval: text(row, "approval"),
      title: text(row, "title"),
      scopes,
      encryptionKey: text(row, "encryption_key"),
      endsAt: int(row, "ends_at"),
      createdAt: int(row, "created_at"),
      checkedAt: int(row, "checked_at"),
      withdrawnAt: intOrNull(row, "withdrawn_at"),
      withdrawnReason: textOrNull(row, "withdrawn_reason"),
      tallyKey: textOrNull(row, "tally_key"),
    };
  }

  function contributionRow(row: Row): ContributionRow {
    const facts = json(row, "facts");
    if (facts !== null && !isObject(facts)) throw new StoreFailureError("contributions.facts is not an object");
    return {
      studyId: text(row, "study_id"),
      patient: text(row, "patient"),
      cid: text(row, "cid"),
      size: int(row, "size"),
      consentAddress: text(row, "consent_address"),
      scopeId: text(row, "scope_id"),
      wrap: text(row, "wrap"),
      facts: facts as Record<string, EncryptedFactsRow> | null,
      createdAt: int(row, "created_at"),
    };
  }

  function tallySumsRow(row: Row): TallySumsRow {
    return {
      studyId: text(row, "study_id"),
      version: int(row, "version"),
      sums: stringLists(json(row, "sums"), "tally_sums.sums"),
    };
  }

  function aggregateReleaseRow(row: Row): AggregateReleaseRow {
    const release = json(row, "release");
    const members = json(row, "members");
    if (!isObject(release)) throw new StoreFailureError("aggregate_releases.release is not an object");
    if (!isStrings(members)) throw new StoreFailureError("aggregate_releases.members is not a list of strings");
    return {
      studyId: text(row, "study_id"),
      dimension: text(row, "dimension"),
      releasedAt: int(row, "released_at"),
      release: release as AggregateReleaseRow["release"],
      members,
    };
  }

  function aggregateQueryRow(row: Row): AggregateQueryRow {
    const sums = json(row, "sums");
    const included = json(row, "included");
    if (!isStrings(sums)) throw new StoreFailureError("aggregate_queries.sums is not a list of strings");
    if (!Array.isArray(included) || !included.every(isObject))
      throw new StoreFailureError("aggregate_queries.included is not a list of objects");
    return {
      id: text(row, "id"),
      studyId: text(row, "study_id"),
      dimension: text(row, "dimension"),
      sums,
      contributors: int(row, "contributors"),
      included: included as AggregateQueryRow["included"],
      expiresAt: int(row, "expires_at"),
    };
  }

  return {
    sessionRow,
    sessionRoleRow,
    recordRow,
    scopeIdsOf,
    wrapRow,
    manifestPointerRow,
    consentLinkRow,
    auditLogRow,
    auditRow,
    checkpointRow,
    checkInRow,
    statusListRow,
    webhookRow,
    stagedUploadRow,
    studyRow,
    contributionRow,
    tallySumsRow,
    aggregateReleaseRow,
    aggregateQueryRow,
  };
}

export type RowMappers = ReturnType<typeof rowMappers>;
