// Reads the records of a version 3 segment (pack-format.ts) at open, headers only, resynchronizing past damage.
//
// Safety rules, first:
// - A block's DATA may hold anything, also bytes that look like a whole record (header CRC and data CRC right)
//   claiming another block's CID. So a record is trusted by its position only: the first one, and each one that
//   starts where a trusted one ends. Such records are `verified: "position"`.
// - A damaged header whose one-byte repair (repairRecordHeaderV3) verifies says where its record ends; when a
//   record header verifies there, the scan continues there, trusted. A header that verifies but whose record runs
//   past the end of the file is cut short: everything after it is inside it, nothing there is searched.
// - Otherwise the scan searches for the next record (resynchronizes). A record found that way is accepted only if
//   its data hashes to its CID's multihash (sha2-256 or identity), it is not a tombstone (no data to prove it), and
//   where it ends a record header verifies or the file ends. Every record after it in that segment is
//   `verified: "none"`: the caller checks its hash before serving or trusting it. One whose hash this store cannot
//   recompute (and whose CRC verifies) is `"none"` too: never served (unverifiable), but never cut either.
// - The search is bounded: candidates are found from headers alone, data is read only for a candidate confirmed by
//   what follows it, at most VERIFY_BUDGET bytes per damaged region (beyond that a confirmed candidate is accepted
//   unverified, its hash checked on read), through one reused buffer.
import { crc32 } from "node:zlib";
import type { FileHandle } from "node:fs/promises";
import type { CID } from "multiformats/cid";
import {
  KIND_BLOCK,
  MAX_HEADER_V3,
  RECORD_MAGIC,
  alignUp,
  multihashCheck,
  parseRecordHeaderV3,
  repairRecordHeaderV3,
} from "./pack-format.ts";
import type { RecordHeaderV3 } from "./pack-format.ts";

export interface ScannedRecord {
  cid: CID;
  kind: number;
  offset: number;
  /** Without padding. */
  length: number;
  header: RecordHeaderV3;
  /**
   * Why this record can be trusted to be what its header says: `"position"` (found in sequence from the segment
   * start), `"hash"` (found by resynchronizing, its data hashes to its CID), `"none"` (after a resynchronization:
   * its hash must be checked before it is served or trusted).
   */
  verified: "position" | "hash" | "none";
}

/** Bytes at `offset` up to `end` that hold no record whose header verifies. */
export interface DamagedRegion {
  offset: number;
  end: number;
  /** What the header most likely said (one byte repaired against its CRC), when that could be worked out. */
  likely: RecordHeaderV3 | undefined;
  reason: string;
  /** The region starts where a trusted record ended (so `likely` is our own header, not bytes of a block's data). */
  trusted: boolean;
}

export interface SegmentScan {
  /** Every record whose header verifies, in file order. */
  records: ScannedRecord[];
  damaged: DamagedRegion[];
}

/** Reads of the resynchronizing search: large, so scanning a damaged region is sequential I/O. */
const SEARCH_CHUNK = 1024 * 1024;
/** Data bytes read to verify candidates, at most, per damaged region (two of the largest records). */
export const VERIFY_BUDGET = 128 * 1024 * 1024;

/** Scans the records of a version 3 layout from `firstRecord` to `fileSize`. */
export async function scanSegmentV3(
  handle: FileHandle,
  fileSize: number,
  firstRecord: number,
  alignment: number,
): Promise<SegmentScan> {
  const records: ScannedRecord[] = [];
  const damaged: DamagedRegion[] = [];
  const head = Buffer.allocUnsafe(MAX_HEADER_V3);
  const buffers = {
    chunk: Buffer.allocUnsafe(Math.max(SEARCH_CHUNK, alignment)),
    head: Buffer.allocUnsafe(MAX_HEADER_V3),
  };
  let offset = firstRecord;
  let trusted = true; // false once a record was found by resynchronizing
  let next: { offset: number; verified: "hash" | "none" } | undefined;
  while (offset < fileSize) {
    const available = Math.min(head.length, fileSize - offset);
    const { bytesRead } = await handle.read(head, 0, available, offset);
    const bytes = head.subarray(0, bytesRead);
    const parsed = parseRecordHeaderV3(bytes);
    if (parsed !== undefined && offset + parsed.length <= fileSize) {
      const verified = next?.offset === offset ? next.verified : trusted ? "position" : "none";
      records.push({ cid: parsed.cid, kind: parsed.kind, offset, length: parsed.length, header: parsed, verified });
      offset = alignUp(offset + parsed.length, alignment);
      continue;
    }
    const likely = parsed ?? repairRecordHeaderV3(Buffer.from(bytes));
    const regionTrusted = trusted;
    let end: number;
    if (parsed !== undefined && trusted) {
      end = fileSize; // cut short: the rest of the file is inside it
    } else if (
      likely !== undefined &&
      (await endsAtRecord(handle, offset + likely.length, fileSize, alignment, buffers.head))
    ) {
      end = Math.min(alignUp(offset + likely.length, alignment), fileSize); // the repaired header says where it ends
    } else {
      next = await findNextRecord(handle, offset + alignment, fileSize, alignment, buffers);
      end = next?.offset ?? fileSize;
      if (next !== undefined) trusted = false;
    }
    const reason =
      parsed !== undefined
        ? `record cut short (${fileSize - offset} of ${parsed.length} bytes)`
        : bytes.subarray(0, RECORD_MAGIC.length).equals(RECORD_MAGIC)
          ? "record header fails its CRC"
          : "no record header";
    damaged.push({ offset, end, likely, reason, trusted: regionTrusted });
    offset = end;
  }
  return { records, damaged };
}

/** Whether a record ending at `recordEnd` (unpadded) is followed by a record header that verifies, or ends the file. */
async function endsAtRecord(
  handle: FileHandle,
  recordEnd: number,
  fileSize: number,
  alignment: number,
  head: Buffer,
): Promise<boolean> {
  if (recordEnd > fileSize) return false;
  const end = alignUp(recordEnd, alignment);
  if (end >= fileSize) return true;
  const { bytesRead } = await handle.read(head, 0, Math.min(head.length, fileSize - end), end);
  return parseRecordHeaderV3(head.subarray(0, bytesRead)) !== undefined;
}

/** Whether the record at `offset` (header `parsed`) is whole and its data matches its CRC. */
export async function dataVerifies(
  handle: FileHandle,
  offset: number,
  parsed: RecordHeaderV3,
  fileSize: number,
): Promise<boolean> {
  if (offset + parsed.length > fileSize) return false;
  return recordDataVerifies(handle, offset, parsed, Buffer.allocUnsafe(Math.min(SEARCH_CHUNK, parsed.length)), false);
}

/**
 * Reads the data of the record at `offset` through `chunk` and checks its CRC and, if `hash`, that it hashes to
 * its CID. Returns false for a hash this store cannot recompute.
 */
export async function recordDataVerifies(
  handle: FileHandle,
  offset: number,
  parsed: RecordHeaderV3,
  chunk: Buffer,
  hash: boolean,
): Promise<boolean> {
  const check = hash ? multihashCheck(parsed.cid) : undefined;
  if (hash && check === undefined) return false;
  let crc = 0;
  const dataEnd = offset + parsed.length;
  for (let at = offset + parsed.headerLength; at < dataEnd;) {
    const { bytesRead } = await handle.read(chunk, 0, Math.min(chunk.length, dataEnd - at), at);
    if (bytesRead === 0) return false;
    const part = chunk.subarray(0, bytesRead);
    crc = crc32(part, crc);
    check?.update(part);
    at += bytesRead;
  }
  return crc === parsed.dataCrc && (check === undefined || check.verifies());
}

/**
 * The first aligned offset at or after `from` holding a block record that is confirmed by what follows it (a
 * record header that verifies, or the end of the file) and whose data verifies (CRC and hash), within the budget.
 */
async function findNextRecord(
  handle: FileHandle,
  from: number,
  fileSize: number,
  alignment: number,
  buffers: { chunk: Buffer; head: Buffer },
): Promise<{ offset: number; verified: "hash" | "none" } | undefined> {
  const { chunk, head } = buffers;
  const verifyChunk = Buffer.allocUnsafe(chunk.length);
  const magic = RECORD_MAGIC.readUInt32LE(0);
  let budget = VERIFY_BUDGET;
  for (let start = alignUp(from, alignment); start < fileSize; start += chunk.length) {
    const { bytesRead } = await handle.read(chunk, 0, Math.min(chunk.length, fileSize - start), start);
    if (bytesRead === 0) break;
    for (let at = 0; at + RECORD_MAGIC.length <= bytesRead; at += alignment) {
      if (chunk.readUInt32LE(at) !== magic) continue;
      const offset = start + at;
      const { bytesRead: headBytes } = await handle.read(head, 0, Math.min(head.length, fileSize - offset), offset);
      const parsed = parseRecordHeaderV3(head.subarray(0, headBytes));
      // Never a tombstone (nothing proves it), never one that runs past the end (the torn-tail cut handles that).
      if (parsed === undefined || parsed.kind !== KIND_BLOCK || offset + parsed.length > fileSize) continue;
      if (!(await endsAtRecord(handle, offset + parsed.length, fileSize, alignment, head))) continue;
      const dataLength = parsed.length - parsed.headerLength;
      if (dataLength > budget) return { offset, verified: "none" }; // bounded: its hash is checked on read
      budget -= dataLength;
      // A hash this store cannot recompute: kept (never cut as a torn tail) but never served (read refuses it).
      const hashable = multihashCheck(parsed.cid) !== undefined;
      if (await recordDataVerifies(handle, offset, parsed, verifyChunk, hashable)) {
        return { offset, verified: hashable ? "hash" : "none" };
      }
    }
  }
  return undefined;
}
