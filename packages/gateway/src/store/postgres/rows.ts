// Rows as `pg` returns them, mapped to the interface's rows. A column of the wrong type is a damaged database or a
// schema this code does not know: refused (StoreFailureError), never guessed at.
// - bigint arrives as a decimal string (pg never rounds it): parsed, and refused past Number.MAX_SAFE_INTEGER.
// - bytea arrives as a Buffer, often a view into a shared pool: copied into a Uint8Array of its own.
// - json arrives parsed: its shape is checked where the interface promises one.
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
} from "../types.ts";
import { StoreFailureError } from "../sqlite/errors.ts";

export type Row = Record<string, unknown>;

export function text(row: Row, column: string): string {
  const value = row[column];
  if (typeof value !== "string") throw new StoreFailureError(`column ${column} is not text`);
  return value;
}

export function int(row: Row, column: string): number {
  const value = row[column];
  const parsed = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
  if (typeof parsed !== "number" || !Number.isSafeInteger(parsed)) {
    throw new StoreFailureError(`column ${column} is not a safe integer`);
  }
  return parsed;
}

function intOrNull(row: Row, column: string): number | null {
  return row[column] === null ? null : int(row, column);
}

function textOrNull(row: Row, column: string): string | null {
  return row[column] === null ? null : text(row, column);
}

function bytes(row: Row, column: string): Uint8Array {
  const value = row[column];
  if (!(value instanceof Uint8Array)) throw new StoreFailureError(`column ${column} is not bytea`);
  return new Uint8Array(value);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
}

/** `{ key: string[] }`, own properties only whatever the keys (a key named __proto__ stays data). */
function stringLists(value: unknown, column: string): Record<string, string[]> {
  if (!isObject(value)) throw new StoreFailureError(`${column} is not an object`);
  const entries = Object.entries(value);
  if (!entries.every(([, list]) => isStrings(list))) {
    throw new StoreFailureError(`${column} holds a list that is not of strings`);
  }
  return Object.fromEntries(entries) as Record<string, string[]>;
}

export function sessionRow(row: Row): SessionRow {
  return {
    id: text(row, "id"),
    address: text(row, "address"),
    chainId: int(row, "chain_id"),
    issuedAt: int(row, "issued_at"),
    expiresAt: int(row, "expires_at"),
    revokedAt: intOrNull(row, "revoked_at"),
  };
}

export function sessionRoleRow(row: Row): SessionRoleRow {
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

export function recordRow(row: Row): RecordRow {
  return {
    patient: text(row, "patient"),
    cid: text(row, "cid"),
    size: int(row, "size"),
    scopeIds: stringLists(row["scope_ids"], "records.scope_ids"),
    createdAt: int(row, "created_at"),
  };
}

export function scopeIdsOf(row: Row): Record<string, string[]> {
  return stringLists(row["scope_ids"], "records.scope_ids");
}

export function wrapRow(row: Row): WrapRow {
  return {
    cid: text(row, "cid"),
    recipient: text(row, "recipient"),
    wrap: text(row, "wrap"),
    createdAt: int(row, "created_at"),
  };
}

export function manifestPointerRow(row: Row): ManifestPointerRow {
  return {
    patient: text(row, "patient"),
    cid: text(row, "cid"),
    version: int(row, "version"),
    updatedAt: int(row, "updated_at"),
  };
}

export function consentLinkRow(row: Row): ConsentLinkRow {
  return {
    patient: text(row, "patient"),
    grantee: text(row, "grantee"),
    consentAddress: text(row, "consent_address"),
    issuedAt: int(row, "issued_at"),
    link: text(row, "link"),
  };
}

export function auditLogRow(row: Row): AuditLogRow {
  return {
    origin: text(row, "origin"),
    verifierKey: text(row, "verifier_key"),
    gateway: text(row, "gateway"),
    createdAt: int(row, "created_at"),
  };
}

export function auditRow(row: Row): AuditRow {
  return { index: int(row, "idx"), patient: text(row, "patient"), event: bytes(row, "event") };
}

export function checkpointRow(row: Row): CheckpointRow {
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

export function checkInRow(row: Row): CheckInRow {
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

export function statusListRow(row: Row): StatusListRow {
  return {
    issuer: text(row, "issuer"),
    name: text(row, "name"),
    jwt: text(row, "jwt"),
    issuedAt: int(row, "issued_at"),
    updatedAt: int(row, "updated_at"),
  };
}

export function webhookRow(row: Row): WebhookRow {
  return { patient: text(row, "patient"), url: text(row, "url"), createdAt: int(row, "created_at") };
}

export function stagedUploadRow(row: Row): StagedUploadRow {
  return {
    cid: text(row, "cid"),
    uploader: text(row, "uploader"),
    size: int(row, "size"),
    expiresAt: int(row, "expires_at"),
  };
}

export function studyRow(row: Row): StudyRow {
  const scopes = row["scopes"];
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

export function contributionRow(row: Row): ContributionRow {
  const facts = row["facts"];
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

export function tallySumsRow(row: Row): TallySumsRow {
  return {
    studyId: text(row, "study_id"),
    version: int(row, "version"),
    sums: stringLists(row["sums"], "tally_sums.sums"),
  };
}

export function aggregateReleaseRow(row: Row): AggregateReleaseRow {
  const release = row["release"];
  const members = row["members"];
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

export function aggregateQueryRow(row: Row): AggregateQueryRow {
  const sums = row["sums"];
  const included = row["included"];
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
