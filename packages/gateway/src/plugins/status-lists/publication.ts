// Whether an issuer's status list may replace the one served at its URL: identity's own check of a status list
// (verifyStatusListCredential, the one every verifier runs on a fetched list), its refusals mapped to problems.
//
// Safety rules:
// - The gateway is a host, not an authority: it serves exactly the bytes the issuer signed and never edits a
//   list. Verifiers check the list again themselves (@hygeia/identity); this check only keeps the gateway from
//   serving what every verifier would refuse, or what someone other than the issuer wrote.
// - A list is accepted for `/v1/status-lists/<issuer>/<name>` only when `iss` is that issuer, its own URL claim
//   (`vc.id` and `jti` for a Bitstring Status List credential, `sub` for a Status List Token) is that URL, it is
//   signed (ES256K) by a key the issuer's DID document authorizes for assertionMethod, and it is a list
//   identity's verifier would take: `iat` (else `nbf`) and `exp` present, `exp` in the future and at most 7 days
//   after it, a decodable list of a known purpose. No DID is resolved before the form and the URL check out.
// - Its times are whole unix seconds (they are stored and answered as integers).
// - Rollback: a list replaces the stored one only when its `iat` is later (checked again atomically by the
//   store); an older or equal one is refused with 409, so nobody can replay an old version of a list to
//   un-revoke a credential through this host.
import {
  type CachedDidResolver,
  type Es256kVerifier,
  InvalidStatusListError,
  MAX_STATUS_LIST_VALIDITY_SECONDS,
  StatusListUnavailableError,
  UnknownDidError,
  UnresolvableDidError,
  verifyStatusListCredential,
  type VerifiedStatusListCredential,
} from "@hygeia/identity";
import { BadRequestError, DependencyUnavailableError } from "../../errors.ts";

/** Largest status list JWT accepted (identity's verifier reads up to 4 MiB; a 16M-entry list fits in 2 MiB). */
export const MAX_STATUS_LIST_BYTES = 2 * 1024 * 1024;
/** Tolerated clock difference for `iat`, seconds (identity's default skew). */
export const STATUS_LIST_CLOCK_SKEW_SECONDS = 60;

export const BITSTRING_MEDIA_TYPE = "application/vc+jwt";
export const TOKEN_MEDIA_TYPE = "application/statuslist+jwt";

/** What the gateway learned from a status list that passed every check. */
export interface StatusListFacts {
  format: "bitstring" | "token";
  /** `revocation` / `suspension` for a Bitstring Status List; `status` for a Token Status List (several values). */
  purpose: "revocation" | "suspension" | "status";
  /** Unix seconds. */
  issuedAt: number;
  /** Unix seconds. */
  expiresAt: number;
  /** The media type to serve it as. */
  mediaType: typeof BITSTRING_MEDIA_TYPE | typeof TOKEN_MEDIA_TYPE;
}

export interface StatusListExpectation {
  /** The `:issuer` of the URL (a DID). */
  issuer: string;
  /** The list's stable URL at this gateway. */
  url: string;
  /** Unix ms. */
  now: number;
}

function invalid(message: string): BadRequestError {
  return new BadRequestError("INVALID_STATUS_LIST", message, { field: "body" });
}

/** Resolves a DID to its current document (identity's CachedDidResolver). */
export type DidDocuments = Pick<CachedDidResolver, "resolve">;

/**
 * The facts of a list that identity's verifyStatusListCredential accepts for this issuer and URL now.
 * BadRequestError otherwise: INVALID_STATUS_LIST, STATUS_LIST_ISSUER_MISMATCH, STATUS_LIST_URL_MISMATCH,
 * INVALID_SIGNATURE, UNKNOWN_DID; DependencyUnavailableError (chain) when a did:ethr cannot be resolved.
 */
export async function checkPublication(
  jwt: string,
  expected: StatusListExpectation,
  documents: DidDocuments,
  es256k: Es256kVerifier,
): Promise<StatusListFacts> {
  let list: VerifiedStatusListCredential;
  try {
    list = await verifyStatusListCredential(jwt.trim(), {
      url: expected.url,
      issuer: expected.issuer,
      resolver: documents,
      es256k,
      now: expected.now,
      clockSkewSeconds: STATUS_LIST_CLOCK_SKEW_SECONDS,
      maxValiditySeconds: MAX_STATUS_LIST_VALIDITY_SECONDS,
      maxBytes: MAX_STATUS_LIST_BYTES,
    });
  } catch (error) {
    throw refusal(error, expected);
  }
  if (!Number.isSafeInteger(list.issuedAt) || !Number.isSafeInteger(list.validUntil))
    throw invalid("iat (or nbf) and exp must be whole unix seconds");
  return list.format === "token"
    ? {
        format: "token",
        purpose: "status",
        issuedAt: list.issuedAt,
        expiresAt: list.validUntil,
        mediaType: TOKEN_MEDIA_TYPE,
      }
    : {
        format: "bitstring",
        purpose: list.purpose,
        issuedAt: list.issuedAt,
        expiresAt: list.validUntil,
        mediaType: BITSTRING_MEDIA_TYPE,
      };
}

/** The problem for one of verifyStatusListCredential's refusals; anything else is rethrown as it is. */
function refusal(error: unknown, expected: StatusListExpectation): Error {
  if (error instanceof StatusListUnavailableError && error.expired)
    return invalid("the list has already expired (exp)");
  if (!(error instanceof InvalidStatusListError)) return error instanceof Error ? error : new Error(String(error));
  switch (error.problem) {
    case "ISSUER_MISMATCH":
      return new BadRequestError(
        "STATUS_LIST_ISSUER_MISMATCH",
        "the list's iss is not the issuer in the URL: publish a list under its own issuer's DID",
        { field: "body.iss" },
      );
    case "URL_MISMATCH":
      return new BadRequestError(
        "STATUS_LIST_URL_MISMATCH",
        `the list names another URL: sign it with url ${expected.url} (verifiers refuse a list served at another URL)`,
        { field: "body", extensions: { expectedUrl: expected.url } },
      );
    case "UNSUPPORTED_ALGORITHM":
      return invalid("alg must be ES256K (the algorithm Hygeia verifiers accept)");
    case "BAD_SIGNATURE":
      return new BadRequestError("INVALID_SIGNATURE", "the list is not signed by a key of the issuer in the URL", {
        field: "body",
      });
    case "ISSUER_UNRESOLVABLE":
      // A did:key resolves without a network: failing, it is the input's fault; a did:ethr needs the chain.
      if (
        error.cause instanceof UnknownDidError ||
        (error.cause instanceof UnresolvableDidError && expected.issuer.startsWith("did:key:"))
      )
        return new BadRequestError("UNKNOWN_DID", "the issuer's DID is not one this gateway can resolve", {
          field: "params.issuer",
        });
      return new DependencyUnavailableError(
        "chain",
        "DID_UNRESOLVABLE",
        "the issuer's DID document could not be read from the chain",
        { cause: error.cause },
      );
    default:
      return invalid(error.message);
  }
}
