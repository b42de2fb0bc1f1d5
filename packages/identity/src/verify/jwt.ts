// Strict compact-JWS parsing of untrusted input: size-limited, canonical base64url only, JSON objects only.
//
// One signed content has more than one JWT string: an ECDSA signature (r, s) also verifies as (r, n − s), the
// "high-S twin", which did-jwt accepts and so do we (the verifier must agree with it). So a JWT string, or its
// hash, is not an identifier: deduplicate on signedContentDigest(jwt), which both twins share. Base64url text
// with non-zero trailing bits (a second spelling of the same bytes) is refused here.
import { sha256 } from "#native";
import { fromBase64url, isCanonicalBase64url, toBase64url, utf8Text } from "../bytes.ts";

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
  const signature = fromBase64url(s);
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
  return toBase64url(sha256(signingInput));
}

function parseJsonObject(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  // The signature covers the text, so another spelling of the same bytes would fail it anyway; say why.
  if (!isCanonicalBase64url(part)) throw new JwtFormatError(`${what} is not canonical base64url`);
  try {
    value = JSON.parse(utf8Text(fromBase64url(part)));
  } catch {
    throw new JwtFormatError(`${what} is not JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new JwtFormatError(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
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
