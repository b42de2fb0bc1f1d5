// Checks of the arguments of the issuing and presenting functions, so callers get this package's typed errors
// (with the offending field) instead of Veramo's or did-jwt's.
import {
  InvalidCredentialError,
  InvalidIdentityInputError,
  KeyNotFoundError,
  errorMessage,
  truncate,
} from "../errors.ts";
import type { IdentityAgent, ManagedDid } from "../did/agent.ts";
import { MAX_DID_LENGTH } from "../did/resolver.ts";
import { decodeJwt } from "../verify/jwt.ts";
import { isCredentialType } from "./types.ts";

/** A presentation request's challenge: at least this long (a guessable nonce would allow replays)… */
export const MIN_CHALLENGE_LENGTH = 16;
/** …and at most this long. */
export const MAX_CHALLENGE_LENGTH = 256;
export const MAX_DOMAIN_LENGTH = 256;

/** A credential's start or end: a Date or an ISO 8601 string (a date, or a date-time with Z or an offset). */
export type CredentialTime = Date | string;

const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * Parses a credential time. Numbers are refused: unix seconds and milliseconds are easy to confuse (a
 * millisecond value read as seconds lands tens of thousands of years ahead).
 */
export function credentialTime(value: unknown, field: string): Date {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new InvalidIdentityInputError(field, "is an Invalid Date");
    return value;
  }
  if (typeof value === "number")
    throw new InvalidIdentityInputError(
      field,
      "numbers are not accepted (seconds or milliseconds?): pass a Date or an ISO 8601 string such as " +
        '"2030-01-01T00:00:00Z"; from unix seconds: new Date(seconds * 1000)',
    );
  if (typeof value !== "string")
    throw new InvalidIdentityInputError(field, "must be a Date or an ISO 8601 string such as 2030-01-01T00:00:00Z");
  const match = ISO_8601.exec(value);
  if (!match)
    throw new InvalidIdentityInputError(
      field,
      `${JSON.stringify(truncate(value, 40))} is not an ISO 8601 date (2030-01-01) or date-time with a zone ` +
        "(2030-01-01T12:00:00Z, 2030-01-01T12:00:00+02:00)",
    );
  const [, year, month, day, hour, minute, second] = match.map(Number) as number[];
  const daysInMonth = new Date(Date.UTC(year!, month!, 0)).getUTCDate();
  const date = new Date(value);
  if (
    month! < 1 ||
    month! > 12 ||
    day! < 1 ||
    day! > daysInMonth ||
    (hour ?? 0) > 23 ||
    (minute ?? 0) > 59 ||
    (second ?? 0) > 59 ||
    Number.isNaN(date.getTime())
  )
    throw new InvalidIdentityInputError(field, `${JSON.stringify(truncate(value, 40))} is not a calendar date-time`);
  return date;
}

/** validFrom (default now) and validUntil (optional, after validFrom). */
export function validityPeriod(params: { validFrom?: unknown; validUntil?: unknown }): {
  validFrom: Date;
  validUntil: Date | undefined;
} {
  const validFrom = params.validFrom === undefined ? new Date() : credentialTime(params.validFrom, "validFrom");
  const validUntil = params.validUntil === undefined ? undefined : credentialTime(params.validUntil, "validUntil");
  if (validUntil && validUntil.getTime() <= validFrom.getTime())
    throw new InvalidIdentityInputError(
      "validUntil",
      `must be after validFrom (${validFrom.toISOString()}), got ${validUntil.toISOString()}`,
    );
  return { validFrom, validUntil };
}

/** `type` is one of `types` (InvalidIdentityInputError naming "type" otherwise). */
export function assertCredentialType(type: unknown, types: readonly string[]): void {
  if (!isCredentialType(type) || !types.includes(type))
    throw new InvalidIdentityInputError(
      "type",
      `${type === undefined ? "missing" : `${JSON.stringify(type)?.slice(0, 60)} is not offered`}: one of ${types.join(", ")}`,
    );
}

/** The DID as one this agent holds a key for; `field` names the argument in errors. */
export async function heldDid(agent: IdentityAgent, did: unknown, field: string): Promise<ManagedDid> {
  if (typeof did !== "string" || !did.startsWith("did:") || did.length > MAX_DID_LENGTH)
    throw new InvalidIdentityInputError(field, "must be a DID (did:ethr:… or did:key:…)");
  try {
    return await agent.getDid(did);
  } catch (error) {
    if (error instanceof KeyNotFoundError)
      throw new KeyNotFoundError(
        `this agent holds no key for ${truncate(did)}: it can only sign as a DID it created or imported ` +
          "(see listDids)",
        { field },
      );
    throw error;
  }
}

/**
 * A JWT VC as issued by issueCredential: a compact JWS whose payload has a `vc` object. Returns its subject DID
 * as a verifier reads it (`sub`, else `vc.credentialSubject.id`), undefined when it names none.
 */
export function assertJwtCredential(value: unknown, field: string): { subject: string | undefined } {
  let payload: Readonly<Record<string, unknown>>;
  try {
    payload = decodeJwt(value).payload;
  } catch (error) {
    throw new InvalidCredentialError(`not a JWT credential (${errorMessage(error)})`, { field });
  }
  const vc = payload.vc;
  if (typeof vc !== "object" || vc === null || Array.isArray(vc))
    throw new InvalidCredentialError("a JWT but not a credential (its payload has no vc object)", { field });
  const subjectId = (vc as { credentialSubject?: { id?: unknown } }).credentialSubject?.id;
  const subject = typeof payload.sub === "string" ? payload.sub : subjectId;
  return { subject: typeof subject === "string" ? subject : undefined };
}

/** Checks a presentation request's challenge; undefined when fine, else what is wrong. */
export function challengeProblem(challenge: unknown): string | undefined {
  if (typeof challenge !== "string") return "missing (a string from ChallengeStore.issue)";
  if (challenge.length < MIN_CHALLENGE_LENGTH)
    return `too short: ${challenge.length} characters, at least ${MIN_CHALLENGE_LENGTH} (use ChallengeStore.issue)`;
  if (challenge.length > MAX_CHALLENGE_LENGTH)
    return `too long: ${challenge.length} characters, at most ${MAX_CHALLENGE_LENGTH}`;
  return undefined;
}

/** Whether `a` names DID `b`: did:ethr addresses may differ in checksum case only; other DIDs compare exactly. */
export function sameDid(a: unknown, b: string): boolean {
  return typeof a === "string" && (a === b || (a.startsWith("did:ethr:") && a.toLowerCase() === b.toLowerCase()));
}

export function domainProblem(domain: unknown): string | undefined {
  if (typeof domain !== "string" || domain.length === 0) return "missing (the verifier's domain or DID)";
  if (domain.length > MAX_DOMAIN_LENGTH) return `too long: ${domain.length} characters, at most ${MAX_DOMAIN_LENGTH}`;
  return undefined;
}

/** The challenge and domain a holder answers; InvalidIdentityInputError naming the field otherwise. */
export function assertChallengeAndDomain(params: { challenge?: unknown; domain?: unknown }): void {
  const challenge = challengeProblem(params.challenge);
  if (challenge) throw new InvalidIdentityInputError("challenge", challenge);
  const domain = domainProblem(params.domain);
  if (domain) throw new InvalidIdentityInputError("domain", domain);
}
