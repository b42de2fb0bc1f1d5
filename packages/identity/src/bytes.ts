// Byte and text encodings the package shares, written for every platform: the web wallet bundles the verifier and
// the check-in, and browsers have no Buffer. @scure/base (already under did-jwt and @hygeia/crypto) does the
// base64url in browsers. Where Node's Buffer exists it decodes instead, ten times faster (the gateway decodes every
// JWT it verifies; bench:verify's ratio to native fell ~4% on scure's): the input is checked first to be canonical
// unpadded base64url, which is all scure accepts, so both paths accept and refuse the same text.
import { base64urlnopad } from "@scure/base";

interface NodeBufferLike {
  from(text: string, encoding: "base64url"): Uint8Array;
}
const NodeBuffer = (globalThis as { Buffer?: NodeBufferLike }).Buffer;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const BASE64URL_VALUES = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * Unpadded base64url in its one canonical spelling: only the alphabet, not a length that leaves a lone character,
 * and zero in the bits of the last character that carry no byte.
 */
export function isCanonicalBase64url(text: string): boolean {
  if (!BASE64URL.test(text)) return false;
  const rest = text.length % 4;
  if (rest === 1) return false;
  if (rest === 0) return true;
  const last = BASE64URL_VALUES.indexOf(text[text.length - 1]!);
  return (last & (rest === 2 ? 0b1111 : 0b11)) === 0;
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/** Unpadded base64url (RFC 7515 §2), the JOSE encoding. */
export function toBase64url(bytes: Uint8Array): string {
  return base64urlnopad.encode(bytes);
}

/** Decodes unpadded base64url; throws on anything else (padding, other alphabets, non-canonical trailing bits). */
export function fromBase64url(text: string): Uint8Array {
  if (NodeBuffer === undefined) return base64urlnopad.decode(text);
  if (typeof text !== "string" || !isCanonicalBase64url(text)) throw new TypeError("not canonical base64url");
  const bytes = NodeBuffer.from(text, "base64url");
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The browser path of fromBase64url, for tests that compare the two in Node. */
export function fromBase64urlPortable(text: string): Uint8Array {
  return base64urlnopad.decode(text);
}

// Hex, UTF-8, comparison and random bytes: @noble's (already dependencies), under the names this package uses.
export { bytesToHex as toHex, hexToBytes as fromHex, utf8ToBytes as utf8, randomBytes } from "@noble/hashes/utils.js";
export { equalBytes as sameBytes } from "@noble/curves/utils.js";

/** UTF-8 text of bytes (invalid sequences become U+FFFD, as Buffer's toString does). */
export function utf8Text(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}
