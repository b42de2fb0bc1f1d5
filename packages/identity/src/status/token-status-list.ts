// IETF Token Status List (draft-ietf-oauth-status-list): what an SD-JWT VC's `status.status_list` points at.
// A list of `bits`-wide statuses (1, 2, 4 or 8), ZLIB-compressed and base64url encoded as `lst`. Status `idx`
// sits in byte floor(idx * bits / 8), starting at bit (idx * bits) % 8 counted from the least significant bit
// (unlike the W3C bitstring, whose index 0 is the most significant bit). 0 = VALID, 1 = INVALID, 2 = SUSPENDED.
// ZLIB is written by pako on every platform (the web wallet bundles the verifier) and read by #native (node:zlib in
// Node, pako in browsers): the same streams either way.
import { deflate } from "pako";
import { inflateBounded } from "#native";
import { fromBase64url, toBase64url } from "../bytes.ts";
import { InvalidStatusListError } from "../errors.ts";
import { MAX_STATUS_LIST_BYTES, MIN_STATUS_LIST_BITS } from "./bitstring.ts";

export type TokenStatusBits = 1 | 2 | 4 | 8;

export const TOKEN_STATUS_VALID = 0;
export const TOKEN_STATUS_INVALID = 1;
export const TOKEN_STATUS_SUSPENDED = 2;

function isBits(value: unknown): value is TokenStatusBits {
  return value === 1 || value === 2 || value === 4 || value === 8;
}

export class TokenStatusList {
  readonly bits: TokenStatusBits;
  readonly bytes: Uint8Array;

  /** `size` statuses (at least MIN_STATUS_LIST_BITS / bits, for herd privacy), all VALID. */
  constructor(size = MIN_STATUS_LIST_BITS, bits: TokenStatusBits = 1) {
    if (!isBits(bits)) throw new InvalidStatusListError("bits must be 1, 2, 4 or 8");
    if (!Number.isSafeInteger(size) || size < 1 || size * bits < MIN_STATUS_LIST_BITS || (size * bits) % 8 !== 0)
      throw new InvalidStatusListError(`a token status list holds at least ${MIN_STATUS_LIST_BITS} bits, whole bytes`);
    this.bits = bits;
    this.bytes = new Uint8Array((size * bits) / 8);
  }

  /** Number of statuses. */
  get size(): number {
    return (this.bytes.length * 8) / this.bits;
  }

  get(idx: number): number {
    this.assertIndex(idx);
    const bit = idx * this.bits;
    return (this.bytes[bit >> 3]! >> (bit & 7)) & ((1 << this.bits) - 1);
  }

  set(idx: number, status: number): void {
    this.assertIndex(idx);
    const max = (1 << this.bits) - 1;
    if (!Number.isSafeInteger(status) || status < 0 || status > max)
      throw new InvalidStatusListError(`status must be 0..${max} for ${this.bits}-bit entries`);
    const bit = idx * this.bits;
    const shift = bit & 7;
    this.bytes[bit >> 3] = (this.bytes[bit >> 3]! & ~(max << shift)) | (status << shift);
  }

  /** The `status_list` claim: `{ bits, lst: base64url(zlib(bytes)) }`. */
  toClaim(): { bits: TokenStatusBits; lst: string } {
    return { bits: this.bits, lst: toBase64url(deflate(this.bytes)) };
  }

  /** Parses an untrusted `status_list` claim (inflation bounded by MAX_STATUS_LIST_BYTES). */
  static fromClaim(claim: unknown): TokenStatusList {
    const { bits, lst } = (typeof claim === "object" && claim !== null ? claim : {}) as Record<string, unknown>;
    if (!isBits(bits)) throw new InvalidStatusListError("status_list.bits must be 1, 2, 4 or 8");
    if (typeof lst !== "string" || !/^[A-Za-z0-9_-]+$/.test(lst))
      throw new InvalidStatusListError("status_list.lst is not base64url");
    let bytes: Uint8Array;
    try {
      bytes = inflateBounded(fromBase64url(lst), "zlib", MAX_STATUS_LIST_BYTES);
    } catch {
      throw new InvalidStatusListError("status_list.lst is not a ZLIB stream (or inflates beyond the limit)");
    }
    if (bytes.length * 8 < MIN_STATUS_LIST_BITS)
      throw new InvalidStatusListError(`status list shorter than ${MIN_STATUS_LIST_BITS} bits`);
    const list = new TokenStatusList((bytes.length * 8) / bits, bits);
    list.bytes.set(bytes);
    return list;
  }

  private assertIndex(idx: number): void {
    if (!Number.isSafeInteger(idx) || idx < 0 || idx >= this.size)
      throw new InvalidStatusListError(`status index ${idx} outside 0..${this.size - 1}`);
  }
}
