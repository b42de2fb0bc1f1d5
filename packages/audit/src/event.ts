// The audit event: what the gateway logs for every decision, and the exact bytes a Merkle leaf hashes.
//
// Rules:
// - No PHI: addresses, opaque ids (bytes32 scope ids, ciphertext CIDs), codes and times only.
// - One encoding: `encodeAuditEvent` writes canonical JSON (RFC 8785 JCS: members sorted by UTF-16 code
//   units, no whitespace; every value here is a string or a safe integer, so JCS is plain JSON with
//   sorted keys). The leaf data of event i is exactly these bytes; a verifier recomputes them from the
//   event it was served and refuses an event that does not encode back to the same bytes.

/** What happened. `emergency_release` is listed first in the patient's view. */
export type AuditEventType =
  | "key_release" // a wrap was released under consent
  | "emergency_release" // a wrap was released under break-glass (Emergency purpose)
  | "access_denied" // a key release was refused
  | "record_added" // the patient uploaded a record
  | "consent_relayed" // a signed grant / revoke / emergency registration was relayed
  | "role_verified" // a clinic or researcher proved its role
  | "dataset_pull" // a research pull included the patient's contribution
  | "contribution_withdrawn" // the patient withdrew its contribution to a study (opt-out)
  | "aggregate_count"; // a study's released count included the patient's contribution

export type AuditDecision = "permit" | "deny";

export interface AuditEvent {
  /** Encoding version: 1. */
  v: 1;
  type: AuditEventType;
  decision: AuditDecision;
  /** Unix milliseconds at the gateway. */
  time: number;
  /**
   * The event's position among this patient's events (0, 1, 2, ...), assigned by the log in append
   * order. A verifier that sees sequence numbers k and k + 2 knows the gateway withheld k + 1.
   */
  seq: number;
  /** The gateway's anchoring address (lowercase 0x-hex). */
  gateway: string;
  /** Who asked (lowercase 0x-hex address). */
  actor: string;
  /** Whose data (the patient's main address, lowercase). */
  patient: string;
  /** A stable reason code (e.g. CONSENT_GRANTED, NO_CONSENT, INDEXER_STALE). */
  reason: string;
  /** The request's id, to match the gateway's logs. */
  request: string;
  /** The ciphertext CID, when a record is concerned. */
  record?: string;
  /** The consent address the check used (a pairwise account, or the patient's own). */
  consentAddress?: string;
  /** The bytes32 scope id whose consent allowed access (lowercase 0x-hex). */
  scope?: string;
  /** 1 Treatment, 2 Research, 3 Emergency, 4 Payment, 5 PublicHealth (@hygeia/chain purposes). */
  purpose?: number;
  /** A transaction hash (relayed consent). */
  tx?: string;
}

const EVENT_TYPES: ReadonlySet<string> = new Set([
  "key_release",
  "emergency_release",
  "access_denied",
  "record_added",
  "consent_relayed",
  "role_verified",
  "dataset_pull",
  "contribution_withdrawn",
  "aggregate_count",
]);
const DECISIONS: ReadonlySet<string> = new Set(["permit", "deny"]);
const ADDRESS = /^0x[0-9a-f]{40}$/;
const BYTES32 = /^0x[0-9a-f]{64}$/;
const REASON = /^[A-Z][A-Z0-9_]{0,63}$/;
// Printable ASCII without the quote and the backslash, so JSON writes it as is.
const REQUEST_ID = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;
// CIDv1, base32 multibase (lowercase, "b" prefix), as the gateway stores them.
const CID = /^b[a-z2-7]{1,127}$/;
const REQUIRED = ["v", "type", "decision", "time", "seq", "gateway", "actor", "patient", "reason", "request"] as const;
const OPTIONAL = ["record", "consentAddress", "scope", "purpose", "tx"] as const;
const KNOWN: ReadonlySet<string> = new Set<string>([...REQUIRED, ...OPTIONAL]);

/** Refusal of an event that is not a valid, canonical audit event; `field` names the member. */
export class InvalidAuditEventError extends Error {
  override name = "InvalidAuditEventError";
  readonly code = "INVALID_AUDIT_EVENT";
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

function isSafeUint(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

function checkString(record: Record<string, unknown>, field: string, pattern: RegExp, what: string): void {
  const value = record[field];
  if (typeof value !== "string" || !pattern.test(value)) throw new InvalidAuditEventError(field, `expected ${what}`);
}

/** Throws InvalidAuditEventError unless `value` is a well-formed AuditEvent (no extra members, optional ones absent rather than undefined/null). */
export function assertAuditEvent(value: unknown): asserts value is AuditEvent {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidAuditEventError("event", "expected an object");
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!KNOWN.has(key)) throw new InvalidAuditEventError(key, "unknown member");
  }
  for (const key of REQUIRED) {
    if (!(key in record)) throw new InvalidAuditEventError(key, "missing");
  }
  if (record.v !== 1) throw new InvalidAuditEventError("v", "expected 1");
  if (typeof record.type !== "string" || !EVENT_TYPES.has(record.type)) {
    throw new InvalidAuditEventError("type", "unknown event type");
  }
  if (typeof record.decision !== "string" || !DECISIONS.has(record.decision)) {
    throw new InvalidAuditEventError("decision", 'expected "permit" or "deny"');
  }
  if (!isSafeUint(record.time)) throw new InvalidAuditEventError("time", "expected unix milliseconds");
  if (!isSafeUint(record.seq)) throw new InvalidAuditEventError("seq", "expected a non-negative integer");
  for (const field of ["gateway", "actor", "patient"]) checkString(record, field, ADDRESS, "a lowercase 0x address");
  checkString(record, "reason", REASON, "an UPPER_SNAKE reason code");
  checkString(record, "request", REQUEST_ID, "a printable ASCII request id (1-128)");
  if ("record" in record) checkString(record, "record", CID, "a CIDv1 in base32");
  if ("consentAddress" in record) checkString(record, "consentAddress", ADDRESS, "a lowercase 0x address");
  if ("scope" in record) checkString(record, "scope", BYTES32, "a lowercase bytes32 hex");
  if ("tx" in record) checkString(record, "tx", BYTES32, "a lowercase transaction hash");
  if ("purpose" in record) {
    const purpose = record.purpose;
    if (!isSafeUint(purpose) || purpose < 1 || purpose > 5)
      throw new InvalidAuditEventError("purpose", "expected 1 to 5");
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The canonical bytes of an event (RFC 8785: sorted members, no whitespace): the Merkle leaf data. */
export function encodeAuditEvent(event: AuditEvent): Uint8Array {
  assertAuditEvent(event);
  const record = event as unknown as Record<string, unknown>;
  // Every key is ASCII, so the default sort is JCS's UTF-16 code-unit order. assertAuditEvent admitted only known
  // keys (plain identifiers), safe integers, and strings of printable ASCII without quotes or backslashes, so each
  // is written here exactly as JCS (and JSON.stringify) writes it, without escaping work: this runs once per event
  // of the gateway's log, on its request path.
  const keys = Object.keys(record).sort();
  let body = "";
  for (const key of keys) {
    const value = record[key];
    body += `${body === "" ? "" : ","}"${key}":${typeof value === "string" ? `"${value}"` : String(value)}`;
  }
  return encoder.encode(`{${body}}`);
}

/** Parses canonical event bytes; refuses anything that does not encode back to the very same bytes. */
export function decodeAuditEvent(bytes: Uint8Array): AuditEvent {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(bytes));
  } catch {
    throw new InvalidAuditEventError("event", "not UTF-8 JSON");
  }
  assertAuditEvent(parsed);
  const again = encodeAuditEvent(parsed);
  if (again.length !== bytes.length || again.some((byte, i) => byte !== bytes[i])) {
    throw new InvalidAuditEventError("event", "not in canonical form");
  }
  return parsed;
}
