// The key-release decision: pure, no I/O, tested directly (test/records/decide.test.ts).
//
// Safety rules (promise 3 of the architecture: a wrap leaves only under consent checked at that moment):
// - A wrap is released to exactly one party: the caller, and only its own wrap (recipient = the session's address).
// - The owner (the patient who signed in) gets its own self-wrap without a consent check: the data is theirs.
// - Anyone else needs a consent answer computed NOW for the record's scope ids under ONE consent address: the one
//   the patient linked to this caller (a verified ConsentAddressLink), or else the patient's main address. The ids
//   of another consent address are never tried: a grant from one account does not open what the wallet filed
//   under another.
// - Existence does not leak: an unknown record, a record with no ids under the caller's consent address, and a
//   record the caller has no consent for all deny with the same public code (CONSENT_REQUIRED); the audit event
//   keeps the precise reason for the patient. Only a caller whose consent passed learns that its wrap is missing.
// - Emergency (break-glass) is the same check with purpose Emergency: the indexer's Emergency slots are the
//   windows `breakGlass` opened; a release under it is flagged so the patient sees it first.
import { Purpose, type RecordAccess } from "@hygeia/chain";
import type { ConsentLinkRow, RecordRow, WrapRow } from "../store/types.ts";

/** Why a release was refused (the audit event's `reason`). */
export type DenyReason =
  | "NO_RECORD" // no record of that CID for the patient
  | "NO_SCOPE_IDS_FOR_GRANTEE" // the record carries no ids under the caller's consent address
  | "NO_CONSENT" // no live consent for any of those ids and this purpose
  | "NO_WRAP_FOR_GRANTEE" // consent holds, but the patient has not wrapped the key to the caller yet
  | "NO_SELF_WRAP"; // the owner asked, but its own wrap is missing (never the case for a record POSTed here)

/** Why a release was allowed. */
export type PermitReason = "CONSENT_GRANTED" | "EMERGENCY_ACCESS" | "OWNER";

/** The public problem code of a refusal; see the existence rule above. */
export type DenyCode = "CONSENT_REQUIRED" | "KEY_NOT_SHARED";

export interface ConsentTarget {
  /** The consent address whose grants count for this caller (lowercase). */
  consentAddress: string;
  /** The record's scope ids under that address (may be empty: no ids filed for it). */
  scopeIds: readonly string[];
}

/**
 * Which consent address answers for `caller` on `patient`'s data, and the record's ids under it: the linked
 * address when the patient linked one to this caller, else the patient's main address.
 */
export function consentTarget(input: {
  patient: string;
  record: Pick<RecordRow, "scopeIds">;
  link: Pick<ConsentLinkRow, "consentAddress"> | undefined;
}): ConsentTarget {
  const consentAddress = (input.link?.consentAddress ?? input.patient).toLowerCase();
  return { consentAddress, scopeIds: input.record.scopeIds[consentAddress] ?? [] };
}

export interface ReleaseFacts {
  /** The signed-in caller's address (lowercase). */
  caller: string;
  /** Whose record (lowercase). */
  patient: string;
  purpose: Purpose;
  /** The record of that CID for the patient, if any. */
  record: RecordRow | undefined;
  /** The patient's link for this caller, if any (the store's, verified when stored). */
  link: ConsentLinkRow | undefined;
  /** The caller's wrap of the record, if any. */
  wrap: WrapRow | undefined;
  /**
   * The consent answer for consentTarget(...) at this moment; undefined when it was not asked (the owner, or no
   * ids to ask about). A non-owner with ids and no answer is denied: no answer is never a yes.
   */
  access: RecordAccess | undefined;
}

export type ReleaseDecision =
  | {
      decision: "permit";
      reason: PermitReason;
      /** The scope id whose consent allowed it; null for the owner. */
      scope: string | null;
      consentAddress: string;
      emergency: boolean;
      wrap: WrapRow;
    }
  | {
      decision: "deny";
      reason: DenyReason;
      code: DenyCode;
      /** The consent address checked, when the record was found. */
      consentAddress: string | null;
      emergency: boolean;
    };

/** Does the consent check need to run for these facts? (The I/O wrapper asks the chain only then.) */
export function needsConsentCheck(facts: Pick<ReleaseFacts, "caller" | "patient" | "record" | "link">): boolean {
  if (facts.record === undefined || facts.caller === facts.patient) return false;
  return consentTarget({ patient: facts.patient, record: facts.record, link: facts.link }).scopeIds.length > 0;
}

export function decideRelease(facts: ReleaseFacts): ReleaseDecision {
  const emergency = facts.purpose === Purpose.Emergency;
  const deny = (reason: DenyReason, consentAddress: string | null, code: DenyCode = "CONSENT_REQUIRED") =>
    ({ decision: "deny", reason, code, consentAddress, emergency }) as const;

  if (facts.record === undefined || facts.record.patient !== facts.patient) return deny("NO_RECORD", null);
  if (facts.caller === facts.patient) {
    // The owner: its own wrap, no consent needed.
    if (facts.wrap === undefined || !isWrapFor(facts.wrap, facts.record.cid, facts.caller))
      return deny("NO_SELF_WRAP", facts.patient, "KEY_NOT_SHARED");
    return {
      decision: "permit",
      reason: "OWNER",
      scope: null,
      consentAddress: facts.patient,
      emergency,
      wrap: facts.wrap,
    };
  }
  const target = consentTarget({ patient: facts.patient, record: facts.record, link: facts.link });
  if (target.scopeIds.length === 0) return deny("NO_SCOPE_IDS_FOR_GRANTEE", target.consentAddress);
  const access = facts.access;
  if (access === undefined || !access.allowed) return deny("NO_CONSENT", target.consentAddress);
  const scope = access.scope.toLowerCase();
  // The answer must be about these ids: an answer for another record's ids is no answer.
  if (!target.scopeIds.some((id) => id.toLowerCase() === scope)) return deny("NO_CONSENT", target.consentAddress);
  if (facts.wrap === undefined || !isWrapFor(facts.wrap, facts.record.cid, facts.caller))
    return deny("NO_WRAP_FOR_GRANTEE", target.consentAddress, "KEY_NOT_SHARED");
  return {
    decision: "permit",
    reason: emergency ? "EMERGENCY_ACCESS" : "CONSENT_GRANTED",
    scope,
    consentAddress: target.consentAddress,
    emergency,
    wrap: facts.wrap,
  };
}

function isWrapFor(wrap: WrapRow, cid: string, recipient: string): boolean {
  return wrap.cid === cid && wrap.recipient === recipient;
}
