import { createHash, randomBytes } from "node:crypto";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { create as createDigest } from "multiformats/hashes/digest";

/** A block for the pack blockstore tests: its CID (sha2-256) and bytes. */
export interface TestBlock {
  cid: CID;
  bytes: Uint8Array;
}

/** The sha2-256 CIDv1 of `bytes` (synchronous, unlike multiformats' sha256.digest). */
export function cidOf(bytes: Uint8Array, codec: number = raw.code): CID {
  return CID.createV1(codec, createDigest(0x12, createHash("sha256").update(bytes).digest()));
}

/** `size` random bytes and their CID. */
export function block(size: number, codec: number = raw.code): TestBlock {
  const bytes = new Uint8Array(randomBytes(size));
  return { cid: cidOf(bytes, codec), bytes };
}
