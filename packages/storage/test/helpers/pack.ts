// Reading and damaging a PackBlockstore's segments from its tests.
import { open, readdir } from "node:fs/promises";
import type { CID } from "multiformats/cid";
import type { PackBlockstore } from "../../src/helia/pack-blockstore.ts";
import { ALIGNMENT, HEADER_CRC, HEADER_V3, alignUp } from "../../src/helia/pack-format.ts";
import type { TestBlock } from "./blocks.ts";
import { collect } from "./nodes.ts";

/** The bytes `store` serves for `cid` (every part of its get). */
export function readBlock(store: PackBlockstore, cid: CID): Promise<Uint8Array> {
  return collect(store.get(cid));
}

/** Bytes of a version 3 record's header: fixed part, CID, header CRC. */
export const headerLength = (cid: CID): number => HEADER_V3 + cid.bytes.length + HEADER_CRC;

/** Bytes a block's version 3 record takes in its segment, padding included. */
export const paddedRecord = ({ cid, bytes }: TestBlock): number => alignUp(headerLength(cid) + bytes.length, ALIGNMENT);

/** Rewrites the `length` bytes at `offset` of the file at `path` with what `change` makes of them. */
export async function patchBytes(
  path: string,
  offset: number,
  change: (bytes: Buffer) => void,
  length = 1,
): Promise<void> {
  const handle = await open(path, "r+");
  try {
    const bytes = Buffer.alloc(length);
    await handle.read(bytes, 0, length, offset);
    change(bytes);
    await handle.write(bytes, 0, length, offset);
  } finally {
    await handle.close();
  }
}

/** XORs the byte at `offset` of the file at `path` with `mask`. */
export const flipByte = (path: string, offset: number, mask = 0x5a): Promise<void> =>
  patchBytes(path, offset, (bytes) => (bytes[0] = bytes[0]! ^ mask));

/** The names of the segment files in `dir`, in order. */
export async function segmentNames(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((name) => name.endsWith(".pack")).sort();
}
