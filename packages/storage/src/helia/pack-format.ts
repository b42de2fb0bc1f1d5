// On-disk format of the pack blockstore's segment files (pack-blockstore.ts). Pure encoding and checks, no I/O.
//
// A segment starts with its magic. Version 1 ("HYGPACK1", 8 bytes) packs records back to back. Version 2
// ("HYGPACK2", then u32 alignment, zero-filled to `alignment` bytes) starts every record at a multiple of
// `alignment` (4096) and zero-pads it to the next one, so records can be written with O_DIRECT. New segments
// are version 2; version 1 segments are still read. A record, in both (integers little-endian):
//
//   u32 record length (header, CID, data, CRC; not the padding)   u8 kind (1 block, 2 tombstone)   u8 0
//   u16 CID length   CID bytes   data (none for a tombstone)   u32 CRC-32 of everything before it in the record
import { crc32 } from "node:zlib";
import { CID } from "multiformats/cid";

export const MAGIC_V1 = Buffer.from("HYGPACK1", "latin1");
export const MAGIC_V2 = Buffer.from("HYGPACK2", "latin1");
export const MAGIC_BYTES = 8;
/** Record alignment of new segments: the largest logical block size O_DIRECT needs on common devices. */
export const ALIGNMENT = 4096;
export const HEADER = 8; // u32 length, u8 kind, u8 0, u16 CID length
export const TRAILER = 4; // u32 CRC-32
export const KIND_BLOCK = 1;
export const KIND_TOMBSTONE = 2;
export const MAX_CID_LENGTH = 256;
/** Largest record accepted at open: well above any block size IPFS uses (bitswap caps blocks at 2–4 MiB). */
export const MAX_RECORD = 64 * 1024 * 1024;

export type SegmentVersion = 1 | 2;

export interface SegmentLayout {
  version: SegmentVersion;
  /** Where the first record starts. */
  firstRecord: number;
  /** Records start at multiples of this (1: packed). */
  alignment: number;
}

export const alignUp = (offset: number, alignment: number): number => Math.ceil(offset / alignment) * alignment;

/** The first `ALIGNMENT` bytes of a new (version 2) segment. */
export function segmentHeaderV2(): Buffer {
  const header = Buffer.alloc(ALIGNMENT);
  MAGIC_V2.copy(header, 0);
  header.writeUInt32LE(ALIGNMENT, MAGIC_BYTES);
  return header;
}

/** The layout a segment's first bytes declare, or undefined if they are not a pack segment's. */
export function parseSegmentHeader(head: Buffer): SegmentLayout | undefined {
  if (head.length >= MAGIC_BYTES && head.subarray(0, MAGIC_BYTES).equals(MAGIC_V1)) {
    return { version: 1, firstRecord: MAGIC_BYTES, alignment: 1 };
  }
  if (head.length >= MAGIC_BYTES + 4 && head.subarray(0, MAGIC_BYTES).equals(MAGIC_V2)) {
    const alignment = head.readUInt32LE(MAGIC_BYTES);
    const powerOfTwo = (alignment & (alignment - 1)) === 0;
    if (!powerOfTwo || alignment < 512 || alignment > 1024 * 1024) return undefined;
    return { version: 2, firstRecord: alignment, alignment };
  }
  return undefined;
}

/** Header (with CID) of a record holding `dataLength` bytes, and the record's length without padding. */
export function recordHeader(kind: number, cid: CID, dataLength: number): { header: Buffer; length: number } {
  const cidBytes = cid.bytes;
  const length = HEADER + cidBytes.byteLength + dataLength + TRAILER;
  const header = Buffer.allocUnsafe(HEADER + cidBytes.byteLength);
  header.writeUInt32LE(length, 0);
  header.writeUInt8(kind, 4);
  header.writeUInt8(0, 5);
  header.writeUInt16LE(cidBytes.byteLength, 6);
  header.set(cidBytes, HEADER);
  return { header, length };
}

/** The trailer (CRC-32 of everything before it) of a record made of `parts`. */
export function recordTrailer(parts: readonly Uint8Array[]): Buffer {
  let crc = 0;
  for (const part of parts) crc = crc32(part, crc);
  const trailer = Buffer.allocUnsafe(TRAILER);
  trailer.writeUInt32LE(crc, 0);
  return trailer;
}

/** Parses a record header (and its CID) from `head`; undefined if it is not a plausible, complete record. */
export function parseRecordHeader(
  head: Buffer,
  remaining: number,
): { cid: CID; kind: number; length: number } | undefined {
  if (head.length < HEADER) return undefined;
  const length = head.readUInt32LE(0);
  const kind = head.readUInt8(4);
  const cidLength = head.readUInt16LE(6);
  if (kind !== KIND_BLOCK && kind !== KIND_TOMBSTONE) return undefined;
  if (head.readUInt8(5) !== 0 || cidLength === 0 || cidLength > MAX_CID_LENGTH) return undefined;
  if (length < HEADER + cidLength + TRAILER || length > MAX_RECORD || length > remaining) return undefined;
  if (kind === KIND_TOMBSTONE && length !== HEADER + cidLength + TRAILER) return undefined;
  if (head.length < HEADER + cidLength) return undefined;
  try {
    // A copy: `head` is reused for the next record, and a decoded CID is a view of its bytes.
    return { cid: CID.decode(Uint8Array.prototype.slice.call(head, HEADER, HEADER + cidLength)), kind, length };
  } catch {
    return undefined;
  }
}

/** Why `record` (a whole record) is not a valid record of `kind` for `key`, or undefined if it is. */
export function checkRecord(record: Buffer, key: CID, kind = KIND_BLOCK): string | undefined {
  const cidLength = record.readUInt16LE(6);
  if (HEADER + cidLength + TRAILER > record.length) return "bad header";
  const dataEnd = record.length - TRAILER;
  return checkRecordParts(
    record.subarray(0, HEADER + cidLength),
    record.subarray(HEADER + cidLength, dataEnd),
    record.subarray(dataEnd),
    key,
    kind,
  );
}

/** The same check on a record read as its three parts: header with CID, data, CRC. */
export function checkRecordParts(
  head: Buffer,
  data: Buffer,
  trailer: Buffer,
  key: CID,
  kind: number,
): string | undefined {
  const length = head.length + data.length + trailer.length;
  if (head.readUInt32LE(0) !== length || head.readUInt8(4) !== kind) return "bad header";
  if (head.readUInt16LE(6) !== head.length - HEADER) return "bad header";
  if (crc32(data, crc32(head)) !== trailer.readUInt32LE(0)) return "CRC mismatch";
  let stored: CID;
  try {
    stored = CID.decode(head.subarray(HEADER));
  } catch {
    return "bad CID";
  }
  if (!Buffer.from(stored.multihash.bytes).equals(key.multihash.bytes)) return "holds another block";
  return undefined;
}
