// Input checks beyond the schemas: CIDs parsed for real, wraps checked for shape (never opened), scope ids and
// addresses lowercased. Each refusal names the field.
import { WRAP_BYTES, WRAP_VERSION, WrapAlgorithm } from "@hygeia/crypto";
import { parseCid } from "@hygeia/storage";
import { BadRequestError } from "../../errors.ts";
import type { WrapRow } from "../../store/types.ts";

/** Longest CID text kept (what an audit event's `record` holds): sha2-256 CIDs are 59 characters. */
export const MAX_CID_LENGTH = 128;
const IDENTITY_MULTIHASH = 0x00;

/**
 * The CID in the store's form (CIDv1, base32), or 400 INVALID_CID naming the field. An identity-multihash CID
 * (which carries its content in clear) and one longer than MAX_CID_LENGTH are refused: neither names ciphertext
 * this gateway stores.
 */
export function canonicalCid(input: string, field: string): string {
  const known = CANONICAL_CIDS.get(input);
  if (known !== undefined) return known;
  const text = parseCanonicalCid(input, field);
  if (CANONICAL_CIDS.size >= CANONICAL_CIDS_MAX) CANONICAL_CIDS.clear();
  CANONICAL_CIDS.set(input, text);
  return text;
}

/**
 * Accepted CID texts and their canonical form: a pure function of the text, and parsing one (multibase decode,
 * varints, re-encoding) was 4% of a key release's CPU. Refusals are not kept; bounded by clearing when full.
 */
const CANONICAL_CIDS = new Map<string, string>();
const CANONICAL_CIDS_MAX = 10_000;

function parseCanonicalCid(input: string, field: string): string {
  let cid;
  try {
    cid = parseCid(input).toV1();
  } catch (error) {
    throw new BadRequestError("INVALID_CID", `${field} is not a valid CID`, { field, cause: error });
  }
  if (cid.multihash.code === IDENTITY_MULTIHASH)
    throw new BadRequestError("INVALID_CID", `${field} is an identity CID (content in clear), not stored content`, {
      field,
    });
  const text = cid.toString();
  if (text.length > MAX_CID_LENGTH)
    throw new BadRequestError("INVALID_CID", `${field} is longer than ${MAX_CID_LENGTH} characters`, { field });
  return text;
}

/**
 * Checks a wrap's shape as @hygeia/crypto writes it (version byte, algorithm byte, exact length) without opening
 * it: the gateway has no key that could. Refuses anything else, so no other payload can ride in a wrap's place.
 */
export function checkWrap(wrap: string, field: string): string {
  const bytes = Buffer.from(wrap, "base64url");
  if (bytes.length !== WRAP_BYTES || bytes.toString("base64url") !== wrap)
    throw new BadRequestError(
      "INVALID_WRAP",
      `${field} must be ${WRAP_BYTES} bytes of base64url (a @hygeia/crypto key wrap)`,
      {
        field,
      },
    );
  if (bytes[0] !== WRAP_VERSION || bytes[1] !== WrapAlgorithm.SealedBoxX25519)
    throw new BadRequestError(
      "INVALID_WRAP",
      `${field} is not a version ${WRAP_VERSION} sealed-box wrap (first bytes ${bytes[0]}, ${bytes[1]})`,
      { field },
    );
  return wrap;
}

/** The wraps as rows (recipients lowercased); refuses a recipient named twice. */
export function wrapRows(
  cid: string,
  wraps: readonly { recipient: string; wrap: string }[],
  now: number,
  field: string,
): WrapRow[] {
  const seen = new Set<string>();
  return wraps.map((item, index) => {
    const recipient = item.recipient.toLowerCase();
    if (seen.has(recipient))
      throw new BadRequestError("DUPLICATE_RECIPIENT", `${field}[${index}].recipient is named twice`, {
        field: `${field}[${index}].recipient`,
      });
    seen.add(recipient);
    return { cid, recipient, wrap: checkWrap(item.wrap, `${field}[${index}].wrap`), createdAt: now };
  });
}

/** Scope ids per consent address, lowercased and deduplicated. */
export function normalizeScopeIds(input: Record<string, string[]>, field: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [address, ids] of Object.entries(input)) {
    const key = address.toLowerCase();
    if (key in out)
      throw new BadRequestError("DUPLICATE_CONSENT_ADDRESS", `${field} names ${key} twice (in two cases)`, {
        field: `${field}.${address}`,
      });
    out[key] = normalizeIds(ids);
  }
  return out;
}

export function normalizeIds(ids: readonly string[]): string[] {
  return [...new Set(ids.map((id) => id.toLowerCase()))];
}

/** A page size from the query (already checked by the schema: 1..100). */
export function pageLimit(limit: string | undefined): number {
  return limit === undefined ? 50 : Number(limit);
}
