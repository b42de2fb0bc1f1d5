// One status list credential checked on its own: what a verifier checks of a list it fetched (the
// CredentialVerifier's status checker), and what a host checks before serving a list an issuer publishes.
//
// Rules:
// - Nothing is resolved before the list's form checks out: a compact JWT of at most maxBytes with an `iss` (the
//   expected issuer, when given), alg ES256K, numeric `exp` / `iat` / `nbf`, and either a Status List Token
//   (`typ` statuslist+jwt, its `sub` the URL) or a BitstringStatusListCredential (`vc.id`, and `jti` when
//   present, the URL; `vc.issuer` the same DID as `iss`; purpose revocation or suspension; a decodable list).
// - The URL binding matters: the same issuer's other, current list (where a credential is not revoked) served
//   in place of this URL's must not count.
// - Then the signature: a key the issuer's DID document authorizes for assertionMethod. Then the times
//   (checkStatusListTimes): `iat` (else `nbf`) and `exp` present, not issued in the future, `exp` at most
//   maxValiditySeconds after it, not expired.
// - Every refusal is an InvalidStatusListError with a fixed message and the `problem` it names (an unresolvable
//   DID's error is its `cause`, never in the message); an expired list is a StatusListUnavailableError with
//   `expired` set.
import { InvalidStatusListError } from "../errors.ts";
import { sameDid } from "../credentials/inputs.ts";
import type { DidDocumentSource } from "../verify/credential-verifier.ts";
import { Es256kVerifier } from "../verify/es256k.ts";
import { decodeJwt, numericClaim, stringClaim, type DecodedJwt } from "../verify/jwt.ts";
import { Bitstring } from "./bitstring.ts";
import {
  STATUS_DEFAULTS,
  checkStatusListTimes,
  type VerifiedStatusList,
  type VerifiedTokenStatusList,
} from "./status-list.ts";
import { TokenStatusList } from "./token-status-list.ts";

/** Largest status list JWT read by default (a 16,777,216-entry list fits in 2 MiB). */
export const MAX_STATUS_LIST_JWT_BYTES = 4 * 1024 * 1024;

export interface VerifyStatusListOptions {
  /** The URL the list is served at (fetched from, or published to): the list must name it. */
  url: string;
  /** The DID that must have issued it (`iss`); unset: any issuer, whose DID is resolved to check the signature. */
  issuer?: string | undefined;
  /** Resolves the issuer's DID document. */
  resolver: DidDocumentSource;
  /** Unix ms; default Date.now(). */
  now?: number | undefined;
  /** Tolerated clock difference for `iat`, seconds. Default 60. */
  clockSkewSeconds?: number | undefined;
  /** `exp` at most this many seconds after `iat`. Default 7 days. */
  maxValiditySeconds?: number | undefined;
  /** Longest JWT read. Default MAX_STATUS_LIST_JWT_BYTES (4 MiB). */
  maxBytes?: number | undefined;
  /** Verifies the signature (share one to share its cache of issuers' keys). Default: a module-wide one. */
  es256k?: Es256kVerifier | undefined;
}

/** A list that passed every check: its times are known. */
export type VerifiedStatusListCredential =
  | (VerifiedStatusList & { format: "bitstring"; validUntil: number; issuedAt: number })
  | (VerifiedTokenStatusList & { validUntil: number; issuedAt: number });

const sharedEs256k = new Es256kVerifier();

/**
 * Verifies the status list credential `jwt` served at `options.url`: a BitstringStatusListCredential (JWT VC) or
 * a Status List Token (`typ` statuslist+jwt), well-formed, the list of that URL, signed by its issuer (the
 * expected one when `options.issuer` is set), and within its times. Returns the decoded list; throws
 * InvalidStatusListError (its `problem` says which rule failed) or, for an expired list,
 * StatusListUnavailableError with `expired` set.
 */
export async function verifyStatusListCredential(
  jwt: string,
  options: VerifyStatusListOptions,
): Promise<VerifiedStatusListCredential> {
  const { url } = options;
  let decoded: DecodedJwt;
  let issuer: string | undefined;
  try {
    decoded = decodeJwt(jwt, options.maxBytes ?? MAX_STATUS_LIST_JWT_BYTES);
    issuer = stringClaim(decoded.payload, "iss");
  } catch {
    throw new InvalidStatusListError("status list is not a JWT");
  }
  if (!issuer) throw new InvalidStatusListError("status list has no issuer (iss)");
  if (options.issuer !== undefined && !sameDid(issuer, options.issuer))
    throw new InvalidStatusListError("status list not issued by the expected issuer", { problem: "ISSUER_MISMATCH" });
  if (decoded.header.alg !== "ES256K")
    throw new InvalidStatusListError("status list algorithm is not ES256K", { problem: "UNSUPPORTED_ALGORITHM" });
  const validUntil = numericClaimOrThrow(decoded.payload, "exp");
  // Orders versions of the URL's list (rollback): iat, else nbf.
  const issuedAt = numericClaimOrThrow(decoded.payload, "iat") ?? numericClaimOrThrow(decoded.payload, "nbf");
  const wrongUrl = () => new InvalidStatusListError("status list served for another URL", { problem: "URL_MISMATCH" });

  let list: VerifiedStatusList | VerifiedTokenStatusList;
  if (decoded.header.typ === "statuslist+jwt") {
    if (decoded.payload.sub !== url) throw wrongUrl();
    const ttl = numericClaimOrThrow(decoded.payload, "ttl");
    list = {
      format: "token",
      issuer,
      list: TokenStatusList.fromClaim(decoded.payload.status_list),
      validUntil,
      issuedAt,
      maxReuseSeconds: ttl !== undefined && ttl > 0 ? ttl : undefined,
    };
  } else {
    const vc = decoded.payload.vc as
      { id?: unknown; type?: unknown; issuer?: unknown; credentialSubject?: Record<string, unknown> } | undefined;
    if (!vc || !Array.isArray(vc.type) || !vc.type.includes("BitstringStatusListCredential"))
      throw new InvalidStatusListError("not a BitstringStatusListCredential");
    if (vc.id !== url || (decoded.payload.jti !== undefined && decoded.payload.jti !== url)) throw wrongUrl();
    if (vc.issuer !== undefined && !sameDid(issuerId(vc.issuer), issuer))
      throw new InvalidStatusListError("status list vc.issuer differs from iss");
    const purpose = vc.credentialSubject?.statusPurpose;
    if (purpose !== "revocation" && purpose !== "suspension") throw new InvalidStatusListError("unknown statusPurpose");
    list = {
      format: "bitstring",
      issuer,
      purpose,
      list: Bitstring.decode(vc.credentialSubject?.encodedList),
      validUntil,
      issuedAt,
    };
  }

  let document;
  try {
    document = await options.resolver.resolve(issuer);
  } catch (error) {
    throw new InvalidStatusListError("status list signature does not verify for its issuer", {
      problem: "ISSUER_UNRESOLVABLE",
      cause: error,
    });
  }
  const es256k = options.es256k ?? sharedEs256k;
  if (!es256k.verify(document, "assertionMethod", decoded.signingInput, decoded.signature))
    throw new InvalidStatusListError("status list signature does not verify for its issuer", {
      problem: "BAD_SIGNATURE",
    });

  return checkStatusListTimes(list, url, {
    now: options.now ?? Date.now(),
    clockSkewSeconds: options.clockSkewSeconds ?? STATUS_DEFAULTS.clockSkewSeconds,
    maxValiditySeconds: options.maxValiditySeconds ?? STATUS_DEFAULTS.maxListValiditySeconds,
  }) as VerifiedStatusListCredential;
}

function numericClaimOrThrow(payload: Readonly<Record<string, unknown>>, name: string): number | undefined {
  try {
    return numericClaim(payload, name);
  } catch {
    throw new InvalidStatusListError(`status list ${name} is not a number`);
  }
}

/** `vc.issuer` is a DID string or `{ id }`. */
function issuerId(value: unknown): unknown {
  return typeof value === "object" && value !== null ? (value as { id?: unknown }).id : value;
}
