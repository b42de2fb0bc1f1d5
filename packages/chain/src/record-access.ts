/**
 * "May this grantee read this record?": one question, asked the same way of the ConsentIndexer
 * (synchronous, fails closed when stale) and of the ConsentRegistry (a view at a block).
 *
 * A record is covered by consent for any one of its scope ids: the patient's keyed ids of the record itself,
 * its FHIR resource type and its categories (PatientScopes.forRecord), which the patient's wallet attached to
 * the record. The checker needs no key and learns no category: it tests each id in order, and the answer names
 * the id that allowed it, so the caller can log why access was given.
 */
import { InvalidInputError, describe, requireAddress } from "./errors.ts";
import { parsePurpose, type Purpose } from "./purposes.ts";
import { toScopeId } from "./scopes.ts";

/** Most scope ids one record may carry (its CID, its FHIR type and a few categories need far fewer). */
export const MAX_RECORD_SCOPE_IDS = 32;

export interface RecordAccessQuery {
  patient: string;
  grantee: string;
  /** The record's scope ids, as the patient's wallet attached them (PatientScopes.forRecord). */
  record: { scopeIds: readonly string[] };
  purpose: Purpose | string;
}

export type RecordAccess =
  | {
      readonly allowed: true;
      /** The scope id whose consent allowed the access. */
      readonly scope: string;
      /** Every scope id of the record, in the order checked. */
      readonly scopes: readonly string[];
    }
  | { readonly allowed: false; readonly scope: null; readonly scopes: readonly string[] };

/** Validated query: checksummed addresses, purpose number and the record's scope ids (lowercase, deduplicated). */
export function checkRecordQuery(query: RecordAccessQuery): {
  patient: string;
  grantee: string;
  purpose: Purpose;
  scopes: string[];
} {
  if (typeof query !== "object" || query === null)
    throw new InvalidInputError("query", `expected { patient, grantee, record, purpose }, got ${describe(query)}`);
  const patient = requireAddress(query.patient, "patient");
  const grantee = requireAddress(query.grantee, "grantee");
  const purpose = parsePurpose(query.purpose);
  const record: unknown = query.record;
  const scopeIds: unknown =
    typeof record === "object" && record !== null ? (record as { scopeIds?: unknown }).scopeIds : undefined;
  if (!Array.isArray(scopeIds))
    throw new InvalidInputError(
      "record",
      `expected { scopeIds: [...] } (the ids the patient's wallet attached to the record), got ${describe(record)}`,
    );
  if (scopeIds.length === 0)
    throw new InvalidInputError("record.scopeIds", "needs at least one scope id to check consent against");
  if (scopeIds.length > MAX_RECORD_SCOPE_IDS)
    throw new InvalidInputError("record.scopeIds", `at most ${MAX_RECORD_SCOPE_IDS} ids, got ${scopeIds.length}`);
  // Array.from, not map: map skips the holes of a sparse array ([, id]), which would pass unchecked.
  const scopes = [...new Set(Array.from(scopeIds, (id: unknown, index) => toScopeId(id, `record.scopeIds[${index}]`)))];
  return { patient, grantee, purpose, scopes };
}

/** The first scope id whose answer allows, or a denial. */
export function recordAccessFrom(scopes: readonly string[], allowed: readonly boolean[]): RecordAccess {
  const index = allowed.indexOf(true);
  return index === -1
    ? { allowed: false, scope: null, scopes: [...scopes] }
    : { allowed: true, scope: scopes[index]!, scopes: [...scopes] };
}
