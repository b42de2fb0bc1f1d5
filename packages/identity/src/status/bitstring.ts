// W3C Bitstring Status List v1.0: a GZIP-compressed bitstring, multibase base64url ("u" prefix) encoded.
// Index 0 is the left-most (most significant) bit of the first byte. Lists have at least 131,072 entries (16 KB)
// so one credential's status does not stand out (herd privacy).
// GZIP is written by pako on every platform (the web wallet bundles the verifier) and read by #native (node:zlib in
// Node, pako in browsers): the same streams either way.
import { gzip } from "pako";
import { inflateBounded } from "#native";
import { fromBase64url, toBase64url } from "../bytes.ts";
import { InvalidStatusListError } from "../errors.ts";

export const MIN_STATUS_LIST_BITS = 131_072;
/**
 * Refuse to inflate lists beyond this: 2 MiB, 16,777,216 entries at 1 bit (128 times the W3C minimum). A gzip
 * bomb would otherwise allocate without limit, and every cached list is held in memory.
 */
export const MAX_STATUS_LIST_BYTES = 2 * 1024 * 1024;

export type StatusPurpose = "revocation" | "suspension";

export class Bitstring {
  readonly bytes: Uint8Array;

  constructor(lengthInBits = MIN_STATUS_LIST_BITS) {
    if (!Number.isSafeInteger(lengthInBits) || lengthInBits < MIN_STATUS_LIST_BITS || lengthInBits % 8 !== 0)
      throw new InvalidStatusListError(`a status list has a multiple of 8 bits, at least ${MIN_STATUS_LIST_BITS}`);
    this.bytes = new Uint8Array(lengthInBits / 8);
  }

  get length(): number {
    return this.bytes.length * 8;
  }

  get(index: number): boolean {
    this.assertIndex(index);
    return ((this.bytes[index >> 3]! >> (7 - (index & 7))) & 1) === 1;
  }

  set(index: number, value: boolean): void {
    this.assertIndex(index);
    const mask = 1 << (7 - (index & 7));
    this.bytes[index >> 3] = value ? this.bytes[index >> 3]! | mask : this.bytes[index >> 3]! & ~mask;
  }

  /** `encodedList` value: "u" + base64url(gzip(bits)). */
  encode(): string {
    return `u${toBase64url(gzip(this.bytes))}`;
  }

  static decode(encodedList: unknown): Bitstring {
    if (typeof encodedList !== "string" || !encodedList.startsWith("u") || !/^u[A-Za-z0-9_-]+$/.test(encodedList))
      throw new InvalidStatusListError("encodedList is not multibase base64url");
    let bytes: Uint8Array;
    try {
      bytes = inflateBounded(fromBase64url(encodedList.slice(1)), "gzip", MAX_STATUS_LIST_BYTES);
    } catch {
      throw new InvalidStatusListError("encodedList is not a GZIP stream (or inflates beyond the limit)");
    }
    if (bytes.length * 8 < MIN_STATUS_LIST_BITS)
      throw new InvalidStatusListError(`status list shorter than ${MIN_STATUS_LIST_BITS} bits`);
    const list = new Bitstring(bytes.length * 8);
    list.bytes.set(bytes);
    return list;
  }

  private assertIndex(index: number): void {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.length)
      throw new InvalidStatusListError(`status index ${index} outside 0..${this.length - 1}`);
  }
}
