// Who is calling: the pure decision from a bearer header, the token check and the session row.
//
// Safety rules:
// - No header: anonymous (null). A header that is present but not a live session is refused (401), on every route:
//   a client holding a dead token must learn it, not be served as anonymous.
// - The address is the session row's (written at sign-in from the verified SIWE message), never a header's, and
//   must equal the address the token was issued to.
// - Revocation and expiry are read from the row on every request: sign-out bites at once.
import { UnauthenticatedError } from "../errors.ts";
import type { SessionRow } from "../store/types.ts";
import type { TokenCheck } from "./tokens.ts";

/** The bearer token in an Authorization header; null when there is no header; undefined when it is not `Bearer <token>`. */
export function bearerToken(header: string | string[] | undefined): string | null | undefined {
  if (header === undefined) return null;
  if (typeof header !== "string") return undefined;
  const match = /^Bearer ([\x21-\x7e]{1,512})$/i.exec(header.trim());
  return match ? match[1]! : undefined;
}

export const TOKEN_ERRORS = {
  invalid: () =>
    new UnauthenticatedError(
      "TOKEN_INVALID",
      "the session token is not valid here (malformed, altered, or from another gateway): sign in again",
    ),
  expired: () => new UnauthenticatedError("TOKEN_EXPIRED", "the session has expired (automatic logoff): sign in again"),
  revoked: () => new UnauthenticatedError("SESSION_REVOKED", "the session was signed out: sign in again"),
};

export type SessionDecision =
  { ok: true; sessionId: string; address: string; expiresAt: number } | { ok: false; error: UnauthenticatedError };

/** Decides from a token check (MAC, form, token expiry) and the session row it names, at `now`. */
export function decideSession(check: TokenCheck, row: SessionRow | undefined, now: number): SessionDecision {
  if (!check.ok)
    return { ok: false, error: check.reason === "expired" ? TOKEN_ERRORS.expired() : TOKEN_ERRORS.invalid() };
  // The row must name the address the token was issued to (the MAC covers it): never serve another identity.
  if (row === undefined || row.id !== check.sessionId || row.address !== check.address)
    return { ok: false, error: TOKEN_ERRORS.invalid() };
  if (row.revokedAt !== null) return { ok: false, error: TOKEN_ERRORS.revoked() };
  const expiresAt = Math.min(row.expiresAt, check.expiresAt);
  if (expiresAt <= now) return { ok: false, error: TOKEN_ERRORS.expired() };
  return { ok: true, sessionId: row.id, address: row.address, expiresAt };
}
