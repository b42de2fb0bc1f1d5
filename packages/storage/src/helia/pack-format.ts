// On-disk format of the pack blockstore's segment files (pack-blockstore.ts). Pure encoding and checks, no I/O.
//
// Version 3 (written since issue 15) is resynchronizable: every record header carries its own CRC, so a damaged
// record is skipped by looking for the next one whose header (and data) verify, and nothing after it is lost.
//
//   segment header (4096 bytes): "HYGPACK3"  u32 alignment (4096)  u32 CRC-32 of the 12 bytes before  zeros
//   record, at a multiple of the alignment, zero-padded to the next one (integers little-endian):
//     u32 record magic "HYR3"   u32 record length (header, CID, header CRC, data; not the padding)
//     u8 kind (1 block, 2 tombstone)   u8 0   u16 CID length   u32 CRC-32 of the data
//     CID bytes   u32 CRC-32 of the header (magic to CID)   data (none for a tombstone)
//
// Versions 1 and 2 (earlier releases) are read, never appended to. Version 1 ("HYGPACK1", 8 bytes) packs records
// back to back; version 2 ("HYGPACK2", u32 alignment, zero-filled to `alignment` bytes) aligns them as version 3.
// Their record: u32 length  u8 kind  u8 0  u16 CID length  CID  data  u32 CRC-32 of everything before it. The
// header has no check of its own there, so a damaged one ends what can be read of that segment.
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { CID } from "multiformats/cid";

export const MAGIC_V1 = Buffer.from("HYGPACK1", "latin1");
export const MAGIC_V2 = Buffer.from("HYGPACK2", "latin1");
export const MAGIC_V3 = Buffer.from("HYGPACK3", "latin1");
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

/** "HYR3": the first four bytes of every version 3 record, what a resynchronizing scan looks for. */
export const RECORD_MAGIC = Buffer.from("HYR3", "latin1");
/** Fixed part of a version 3 record header (before the CID); the header CRC follows the CID. */
export const HEADER_V3 = 16;
export const HEADER_CRC = 4;
/** Bytes enough for any version 3 record header (with the longest CID and the header CRC). */
export const MAX_HEADER_V3 = HEADER_V3 + MAX_CID_LENGTH + HEADER_CRC;

export type SegmentVersion = 1 | 2 | 3;

export interface SegmentLayout {
  version: SegmentVersion;
  /** Where the first record starts. */
  firstRecord: number;
  /** Records start at multiples of this (1: packed). */
  alignment: number;
}

export const alignUp = (offset: number, alignment: number): number => Math.ceil(offset / alignment) * alignment;

/** The first `ALIGNMENT` bytes of a new (version 3) segment. */
export function segmentHeaderV3(): Buffer {
  const header = Buffer.alloc(ALIGNMENT);
  MAGIC_V3.copy(header, 0);
  header.writeUInt32LE(ALIGNMENT, MAGIC_BYTES);
  header.writeUInt32LE(crc32(header.subarray(0, MAGIC_BYTES + 4)), MAGIC_BYTES + 4);
  return header;
}

/** Bytes of a segment header parseSegmentHeader needs to see. */
export const SEGMENT_HEADER_PROBE = MAGIC_BYTES + 8;

/** The layout version 3 segments have: what a segment whose header is damaged is scanned as. */
export const LAYOUT_V3: SegmentLayout = { version: 3, firstRecord: ALIGNMENT, alignment: ALIGNMENT };

/** The layout a segment's first bytes declare, or undefined if they are not a pack segment's. */
export function parseSegmentHeader(head: Buffer): SegmentLayout | undefined {
  // One flipped bit turns "HYGPACK3" into "HYGPACK2" / "HYGPACK1": a header that verifies as version 3 once its
  // magic is read as "HYGPACK3" is a damaged version 3 header, never an old segment.
  if (isDamagedV3Header(head)) return undefined;
  if (head.length >= MAGIC_BYTES && head.subarray(0, MAGIC_BYTES).equals(MAGIC_V1)) {
    return { version: 1, firstRecord: MAGIC_BYTES, alignment: 1 };
  }
  if (head.length >= MAGIC_BYTES + 4 && head.subarray(0, MAGIC_BYTES).equals(MAGIC_V2)) {
    const alignment = head.readUInt32LE(MAGIC_BYTES);
    const powerOfTwo = (alignment & (alignment - 1)) === 0;
    if (!powerOfTwo || alignment < 512 || alignment > 1024 * 1024) return undefined;
    return { version: 2, firstRecord: alignment, alignment };
  }
  if (head.length >= SEGMENT_HEADER_PROBE && head.subarray(0, MAGIC_BYTES).equals(MAGIC_V3)) {
    if (crc32(head.subarray(0, MAGIC_BYTES + 4)) !== head.readUInt32LE(MAGIC_BYTES + 4)) return undefined;
    if (head.readUInt32LE(MAGIC_BYTES) !== ALIGNMENT) return undefined;
    return LAYOUT_V3;
  }
  return undefined;
}

/** Whether `head` is a version 3 segment header whose magic (only) is damaged: the rest verifies with "HYGPACK3". */
export function isDamagedV3Header(head: Buffer): boolean {
  if (head.length < SEGMENT_HEADER_PROBE || head.subarray(0, MAGIC_BYTES).equals(MAGIC_V3)) return false;
  if (head.readUInt32LE(MAGIC_BYTES) !== ALIGNMENT) return false;
  const crc = crc32(head.subarray(MAGIC_BYTES, MAGIC_BYTES + 4), crc32(MAGIC_V3));
  return crc === head.readUInt32LE(MAGIC_BYTES + 4);
}

/** Multihash codes whose digest this store can recompute (records found by a resynchronizing scan need one). */
export const SHA2_256 = 0x12;
export const IDENTITY = 0x00;

/**
 * A running check that data hashes to `cid`'s multihash: `update` with the data in order, then `verifies()`.
 * Undefined for a hash function this store cannot recompute (such a record cannot be verified).
 */
export function multihashCheck(cid: CID): { update(chunk: Uint8Array): void; verifies(): boolean } | undefined {
  const { code, digest } = cid.multihash;
  if (code === SHA2_256) {
    const hash = createHash("sha256");
    return {
      update: (chunk) => void hash.update(chunk),
      verifies: () => Buffer.from(digest).equals(hash.digest()),
    };
  }
  if (code === IDENTITY) {
    const parts: Uint8Array[] = [];
    return {
      update: (chunk) => void parts.push(Uint8Array.prototype.slice.call(chunk)),
      verifies: () => Buffer.from(digest).equals(Buffer.concat(parts)),
    };
  }
  return undefined;
}

/** Whether `data` hashes to `cid`'s multihash; undefined when its hash function cannot be recomputed here. */
export function multihashVerifies(cid: CID, data: Uint8Array): boolean | undefined {
  const check = multihashCheck(cid);
  if (check === undefined) return undefined;
  check.update(data);
  return check.verifies();
}

/** Header (with CID) of a version 1 / 2 record holding `dataLength` bytes (tests write old segments with it). */
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

/** The trailer (CRC-32 of everything before it) of a version 1 / 2 record made of `parts`. */
export function recordTrailer(parts: readonly Uint8Array[]): Buffer {
  let crc = 0;
  for (const part of parts) crc = crc32(part, crc);
  const trailer = Buffer.allocUnsafe(TRAILER);
  trailer.writeUInt32LE(crc, 0);
  return trailer;
}

/** Parses a version 1 / 2 record header (and its CID) from `head`; undefined if it is not a plausible record. */
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

/**
 * Why a version 1 / 2 record, read as its three parts (header with CID, data, CRC), is not a valid record of `kind`
 * for `key`, or undefined.
 */
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

// ---- version 3 ----

export interface RecordHeaderV3 {
  cid: CID;
  kind: number;
  /** Record length without padding: header, CID, header CRC, data. */
  length: number;
  /** Bytes before the data: fixed header, CID, header CRC. */
  headerLength: number;
  dataCrc: number;
}

/** The header (fixed part, CID, header CRC) of a version 3 record holding `data`, and the record's length. */
export function recordHeaderV3(
  kind: number,
  cid: CID,
  data: readonly Uint8Array[],
): { header: Buffer; length: number } {
  const cidBytes = cid.bytes;
  let dataCrc = 0;
  let dataLength = 0;
  for (const chunk of data) {
    dataCrc = crc32(chunk, dataCrc);
    dataLength += chunk.byteLength;
  }
  const headerLength = HEADER_V3 + cidBytes.byteLength + HEADER_CRC;
  const header = Buffer.allocUnsafe(headerLength);
  RECORD_MAGIC.copy(header, 0);
  header.writeUInt32LE(headerLength + dataLength, 4);
  header.writeUInt8(kind, 8);
  header.writeUInt8(0, 9);
  header.writeUInt16LE(cidBytes.byteLength, 10);
  header.writeUInt32LE(dataCrc, 12);
  header.set(cidBytes, HEADER_V3);
  header.writeUInt32LE(crc32(header.subarray(0, headerLength - HEADER_CRC)), headerLength - HEADER_CRC);
  return { header, length: headerLength + dataLength };
}

/**
 * Parses a version 3 record header at the start of `head`: undefined unless the magic is there, the header CRC
 * verifies, and the fields are plausible. Whether the data is all there is the caller's to check.
 */
export function parseRecordHeaderV3(head: Buffer): RecordHeaderV3 | undefined {
  if (head.length < HEADER_V3 + HEADER_CRC || head.readUInt32LE(0) !== RECORD_MAGIC.readUInt32LE(0)) return undefined;
  const cidLength = head.readUInt16LE(10);
  if (cidLength === 0 || cidLength > MAX_CID_LENGTH) return undefined;
  const headerLength = HEADER_V3 + cidLength + HEADER_CRC;
  if (head.length < headerLength) return undefined;
  if (crc32(head.subarray(0, headerLength - HEADER_CRC)) !== head.readUInt32LE(headerLength - HEADER_CRC)) {
    return undefined;
  }
  const length = head.readUInt32LE(4);
  const kind = head.readUInt8(8);
  if (kind !== KIND_BLOCK && kind !== KIND_TOMBSTONE) return undefined;
  if (head.readUInt8(9) !== 0 || length < headerLength || length > MAX_RECORD) return undefined;
  if (kind === KIND_TOMBSTONE && length !== headerLength) return undefined;
  try {
    // A copy: `head` is reused, and a decoded CID is a view of its bytes.
    const cid = CID.decode(Uint8Array.prototype.slice.call(head, HEADER_V3, HEADER_V3 + cidLength));
    return { cid, kind, length, headerLength, dataCrc: head.readUInt32LE(12) };
  } catch {
    return undefined;
  }
}

/**
 * The header a damaged version 3 header was before one byte of it changed (a flipped bit or byte), found by trying
 * every single-byte substitution against the header CRC; undefined if none verifies. Used only to name the block a
 * damaged record held (so reading it is a BlockCorruptError); the record is never served from a repaired header.
 */
export function repairRecordHeaderV3(head: Buffer): RecordHeaderV3 | undefined {
  const magic = RECORD_MAGIC;
  let wrongMagicBytes = 0;
  for (let i = 0; i < magic.length; i++) if (head[i] !== magic[i]) wrongMagicBytes++;
  if (wrongMagicBytes > 1 || head.length < HEADER_V3 + HEADER_CRC) return undefined; // not a record start
  const copy = Buffer.from(head.subarray(0, Math.min(head.length, MAX_HEADER_V3)));
  if (wrongMagicBytes === 1) {
    magic.copy(copy, 0);
    return parseRecordHeaderV3(copy);
  }
  for (let position = magic.length; position < copy.length; position++) {
    const original = copy[position]!;
    for (let value = 0; value < 256; value++) {
      if (value === original) continue;
      copy[position] = value;
      const parsed = parseRecordHeaderV3(copy);
      if (parsed !== undefined) return parsed;
    }
    copy[position] = original;
  }
  return undefined;
}

/** Why a version 3 record read as its header (with CID and header CRC) and data is not `key`'s block. */
export function checkRecordV3(head: Buffer, data: Buffer, key: CID, kind = KIND_BLOCK): string | undefined {
  const parsed = parseRecordHeaderV3(head);
  if (parsed === undefined || parsed.headerLength !== head.length) return "bad header";
  if (parsed.kind !== kind || parsed.length !== head.length + data.length) return "bad header";
  if (crc32(data) !== parsed.dataCrc) return "CRC mismatch";
  if (!Buffer.from(parsed.cid.multihash.bytes).equals(key.multihash.bytes)) return "holds another block";
  return undefined;
}
