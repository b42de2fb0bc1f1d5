/**
 * "May this grantee read this record?": one question, asked the same way of the ConsentIndexer
 * (synchronous, fails closed when stale) and of the ConsentRegistry (a view at a block).
 *
 * A record is covered by consent for any one of its scopes (scopesForRecord: the record itself,
 * its FHIR resource type, its categories), checked in that order; the answer names the scope
 * that allowed it, so the caller can log why access was given.
 */
import { InvalidInputError, describe, requireAddress } from "./errors.ts";
import { parsePurpose, type Purpose } from "./purposes.ts";
import { scopesForRecord, type RecordDescriptor } from "./scopes.ts";

export interface RecordAccessQuery {
  patient: string;
  grantee: string;
  /** The record's CID and what it holds; at least one of them. */
  record: RecordDescriptor;
  purpose: Purpose | string;
}

export type RecordAccess =
  | {
      readonly allowed: true;
      /** The canonical scope whose consent allowed the access, e.g. "category:laboratory". */
      readonly scope: string;
      /** Every scope of the record, in the order checked. */
      readonly scopes: readonly string[];
    }
  | { readonly allowed: false; readonly scope: null; readonly scopes: readonly string[] };

/** Validated query: checksummed addresses, purpose number and the record's scopes. */
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
  if (typeof query.record !== "object" || query.record === null)
    throw new InvalidInputError(
      "record",
      `expected { cid?, resourceType?, categories? }, got ${describe(query.record)}`,
    );
  let scopes: string[];
  try {
    scopes = scopesForRecord(query.record);
  } catch (error) {
    throw error instanceof InvalidInputError ? error.within("record") : error;
  }
  if (scopes.length === 0)
    throw new InvalidInputError("record", "needs a cid, a resourceType or categories to check consent against");
  return { patient, grantee, purpose, scopes };
}

/** The first scope whose answer allows, or a denial. */
export function recordAccessFrom(scopes: readonly string[], allowed: readonly boolean[]): RecordAccess {
  const index = allowed.indexOf(true);
  return index === -1
    ? { allowed: false, scope: null, scopes: [...scopes] }
    : { allowed: true, scope: scopes[index]!, scopes: [...scopes] };
}
