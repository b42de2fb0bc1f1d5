// CID parsing at the boundary: every CID that comes from outside (API argument, manifest entry, head file)
// goes through parseCid, so the rest of the package only ever sees CID objects.
import { CID } from "multiformats/cid";
import { InvalidCidError } from "./errors.ts";

/** A CID object or its string form (base32 `bafy…` CIDv1, or `Qm…` CIDv0). */
export type CidInput = CID | string;

const MAX_CID_STRING_LENGTH = 256;

export function parseCid(input: unknown): CID {
  if (input instanceof CID) return input;
  // CIDs from another copy of multiformats are not `instanceof CID` but are accepted by CID.asCID.
  const foreign = typeof input === "object" && input !== null ? CID.asCID(input) : null;
  if (foreign !== null) return foreign;
  if (typeof input !== "string") throw new InvalidCidError(`CID must be a string or CID, got ${typeof input}`);
  if (input.length === 0 || input.length > MAX_CID_STRING_LENGTH || input.trim() !== input) {
    throw new InvalidCidError("CID string is empty, too long or padded with whitespace");
  }
  try {
    return CID.parse(input);
  } catch (cause) {
    throw new InvalidCidError(`not a valid CID: ${JSON.stringify(input.slice(0, 64))}`, { cause });
  }
}
