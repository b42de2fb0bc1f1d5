// Reads the records of a version 3 segment (pack-format.ts) at open, headers only, resynchronizing past damage:
// a header that does not verify starts a damaged region, which ends at the next aligned offset holding a record
// whose header AND data verify (a stricter test than for records found in sequence, because a damaged region may
// hold anything, also bytes that look like a record). Every record before and after a damaged one is found.
import { crc32 } from "node:zlib";
import type { FileHandle } from "node:fs/promises";
import type { CID } from "multiformats/cid";
import { MAX_HEADER_V3, RECORD_MAGIC, alignUp, parseRecordHeaderV3, repairRecordHeaderV3 } from "./pack-format.ts";
import type { RecordHeaderV3 } from "./pack-format.ts";

export interface ScannedRecord {
  cid: CID;
  kind: number;
  offset: number;
  /** Without padding. */
  length: number;
  header: RecordHeaderV3;
}

/** Bytes at `offset` up to `end` that hold no record whose header verifies. */
export interface DamagedRegion {
  offset: number;
  end: number;
  /** What the header most likely said (one byte repaired against its CRC), when that could be worked out. */
  likely: RecordHeaderV3 | undefined;
  reason: string;
}

export interface SegmentScan {
  /** Every record whose header verifies, in file order. */
  records: ScannedRecord[];
  damaged: DamagedRegion[];
}

/** Reads of the resynchronizing search: large, so scanning a damaged region is sequential I/O. */
const SEARCH_CHUNK = 1024 * 1024;

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
  let offset = firstRecord;
  while (offset < fileSize) {
    const available = Math.min(head.length, fileSize - offset);
    const { bytesRead } = await handle.read(head, 0, available, offset);
    const bytes = head.subarray(0, bytesRead);
    const parsed = parseRecordHeaderV3(bytes);
    if (parsed !== undefined && offset + parsed.length <= fileSize) {
      records.push({ cid: parsed.cid, kind: parsed.kind, offset, length: parsed.length, header: parsed });
      offset = alignUp(offset + parsed.length, alignment);
      continue;
    }
    const next = await findNextRecord(handle, offset + alignment, fileSize, alignment);
    const end = next ?? fileSize;
    const likely = parsed ?? repairRecordHeaderV3(Buffer.from(bytes));
    const reason =
      parsed !== undefined
        ? `record cut short (${fileSize - offset} of ${parsed.length} bytes)`
        : bytes.subarray(0, RECORD_MAGIC.length).equals(RECORD_MAGIC)
          ? "record header fails its CRC"
          : "no record header";
    damaged.push({ offset, end, likely, reason });
    offset = end;
  }
  return { records, damaged };
}

/** Whether the record at `offset` (header `parsed`) is whole and its data matches its CRC. */
export async function dataVerifies(
  handle: FileHandle,
  offset: number,
  parsed: RecordHeaderV3,
  fileSize: number,
): Promise<boolean> {
  if (offset + parsed.length > fileSize) return false;
  const data = Buffer.allocUnsafe(parsed.length - parsed.headerLength);
  const { bytesRead } = await handle.read(data, 0, data.length, offset + parsed.headerLength);
  return bytesRead === data.length && crc32(data) === parsed.dataCrc;
}

/** The first aligned offset at or after `from` holding a record whose header and data verify. */
async function findNextRecord(
  handle: FileHandle,
  from: number,
  fileSize: number,
  alignment: number,
): Promise<number | undefined> {
  const chunk = Buffer.allocUnsafe(Math.max(SEARCH_CHUNK, alignment));
  const head = Buffer.allocUnsafe(MAX_HEADER_V3);
  const magic = RECORD_MAGIC.readUInt32LE(0);
  for (let start = alignUp(from, alignment); start < fileSize; start += chunk.length) {
    const { bytesRead } = await handle.read(chunk, 0, Math.min(chunk.length, fileSize - start), start);
    for (let at = 0; at + RECORD_MAGIC.length <= bytesRead; at += alignment) {
      if (chunk.readUInt32LE(at) !== magic) continue;
      const offset = start + at;
      const { bytesRead: headBytes } = await handle.read(head, 0, Math.min(head.length, fileSize - offset), offset);
      const parsed = parseRecordHeaderV3(head.subarray(0, headBytes));
      if (parsed !== undefined && (await dataVerifies(handle, offset, parsed, fileSize))) return offset;
    }
    if (bytesRead === 0) break;
  }
  return undefined;
}
