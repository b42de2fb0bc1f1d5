// Strict compact-JWS parsing of untrusted input: size-limited, base64url only, JSON objects only.

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
  return {
    header: parseJsonObject(h, "header"),
    payload: parseJsonObject(p, "payload"),
    signingInput: `${h}.${p}`,
    signature: Buffer.from(s, "base64url"),
  };
}

function parseJsonObject(part: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
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
