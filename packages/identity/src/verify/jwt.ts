// Strict compact-JWS parsing of untrusted input: size-limited, canonical base64url only, JSON objects only.
//
// One signed content has more than one JWT string: an ECDSA signature (r, s) also verifies as (r, n − s), the
// "high-S twin", which did-jwt accepts and so do we (the verifier must agree with it). So a JWT string, or its
// hash, is not an identifier: deduplicate on signedContentDigest(jwt), which both twins share. Base64url text
// with non-zero trailing bits (a second spelling of the same bytes) is refused here.
import { createHash } from "node:crypto";

export const MAX_JWT_BYTES = 64 * 1024;

export interface DecodedJwt {
  readonly header: Readonly<Record<string, unknown>>;
  readonly payload: Readonly<Record<string, unknown>>;
  /** `base64url(header).base64url(payload)`: the bytes the signature covers. */
  readonly signingInput: string;
  readonly signature: Uint8Array;
}

export class JwtFormatError extends Error {
  override name = "JwtFormatError";
}

const B64URL = /^[A-Za-z0-9_-]*$/;

export function decodeJwt(token: unknown, maxBytes = MAX_JWT_BYTES): DecodedJwt {
  if (typeof token !== "string") throw new JwtFormatError("not a string");
  if (token.length > maxBytes) throw new JwtFormatError(`larger than ${maxBytes} bytes`);
  const parts = token.split(".");
  if (parts.length !== 3) throw new JwtFormatError("not a compact JWS (three dot-separated parts)");
  const [h, p, s] = parts as [string, string, string];
  if (!B64URL.test(h) || !B64URL.test(p) || !B64URL.test(s)) throw new JwtFormatError("not base64url");
  if (!isCanonicalBase64url(s)) throw new JwtFormatError("signature is not canonical base64url");
  const signature = Buffer.from(s, "base64url");
  return {
    header: parseJsonObject(h, "header"),
    payload: parseJsonObject(p, "payload"),
    signingInput: `${h}.${p}`,
    signature,
  };
}

/**
 * base64url(SHA-256(header.payload)): the same for every JWT string of one signed content (the high-S twin
 * included). The key to deduplicate JWTs on; throws JwtFormatError for what decodeJwt refuses.
 */
export function signedContentDigest(token: unknown, maxBytes = MAX_JWT_BYTES): string {
  const { signingInput } = decodeJwt(token, maxBytes);
  return createHash("sha256").update(signingInput, "ascii").digest("base64url");
}

function parseJsonObject(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  // The signature covers the text, so another spelling of the same bytes would fail it anyway; say why.
  if (!isCanonicalBase64url(part)) throw new JwtFormatError(`${what} is not canonical base64url`);
  try {
    value = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
  } catch {
    throw new JwtFormatError(`${what} is not JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new JwtFormatError(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

const B64URL_VALUES = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * Unpadded base64url (already checked against the alphabet) in its one canonical spelling: not a length that
 * leaves a lone character, and zero in the bits of the last character that carry no byte. O(1).
 */
function isCanonicalBase64url(text: string): boolean {
  const rest = text.length % 4;
  if (rest === 1) return false;
  if (rest === 0) return true;
  const last = B64URL_VALUES.indexOf(text[text.length - 1]!);
  return (last & (rest === 2 ? 0b1111 : 0b11)) === 0;
}

export function numericClaim(payload: Readonly<Record<string, unknown>>, name: string): number | undefined {
  const value = payload[name];
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value)) throw new JwtFormatError(`${name} is not a number`);
  return value;
}

export function stringClaim(payload: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const value = payload[name];
  if (value === undefined) return undefined;
  if (typeof value !== "string") throw new JwtFormatError(`${name} is not a string`);
  return value;
}
