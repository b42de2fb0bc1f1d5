// A blockstore that appends blocks to a few large segment files instead of writing one file per block (like
// Kubo's pebble / badger datastores instead of flatfs). Creating a file is what costs on these VMs: 512 separate
// 1 MiB files take 0.65–1.2 s of kernel time, appending the same 512 MiB to one file ≈ 0.12 s.
//
// Layout under `location`: `segment-00000001.pack`, `segment-00000002.pack`, … Each starts with the 8-byte magic
// "HYGPACK1" followed by records (integers little-endian):
//
//   u32 record length (all of it: header, CID, data, CRC)   u8 kind (1 block, 2 tombstone)   u8 0
//   u16 CID length   CID bytes   data (none for a tombstone)   u32 CRC-32 of everything before it in the record
//
// A new segment is started when the next record would take the current one past `segmentSize` (default
// 512 MiB). Appends are serialized (one positional writev per record); reads are positional and concurrent.
//
// The index (multihash -> segment, offset, length) lives in memory and is rebuilt at open by reading the
// record headers of every segment (not the data). A torn tail (a record cut short or with a bad CRC at the end
// of the last segment, as a crash leaves it) is truncated at open. Every read checks the record's CRC and that
// it holds the requested multihash: a corrupted record is reported as BlockCorruptError, never served.
//
// Keys are multihashes, as in blockstore-fs: a CIDv0 and a CIDv1 of the same bytes are one block.
// Deletes append a tombstone; the space is not reclaimed (no compaction yet). No fsync, as blockstore-fs.
import { mkdir, open, readdir } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { crc32 } from "node:zlib";
import { CID } from "multiformats/cid";
import type { AbortOptions } from "@libp2p/interface";
import type { Blockstore, InputPair, Pair } from "interface-blockstore";
import { BlockCorruptError } from "../errors.ts";

const MAGIC = Buffer.from("HYGPACK1", "latin1");
const HEADER = 8; // u32 length, u8 kind, u8 0, u16 CID length
const TRAILER = 4; // u32 CRC-32
const KIND_BLOCK = 1;
const KIND_TOMBSTONE = 2;
const MAX_CID_LENGTH = 256;
/** Largest record accepted at open: well above any block size IPFS uses (bitswap caps blocks at 2–4 MiB). */
const MAX_RECORD = 64 * 1024 * 1024;
export const DEFAULT_SEGMENT_SIZE = 512 * 1024 * 1024;

export interface PackBlockstoreOptions {
  /** Start a new segment once the current one would grow past this many bytes. Default 512 MiB. */
  segmentSize?: number;
}

interface Segment {
  id: number;
  handle: FileHandle;
  /** Bytes of valid records (plus the magic): where the next record goes. */
  size: number;
}

interface Location {
  cid: CID;
  segment: Segment;
  offset: number;
  length: number;
}

type BlockBytes = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

export class PackBlockstore implements Blockstore {
  readonly path: string;
  readonly #segmentSize: number;
  readonly #index = new Map<string, Location>();
  #segments: Segment[] = [];
  /** Tail of the append queue: every append runs after the previous one settled. */
  #appends: Promise<unknown> = Promise.resolve();
  #open = false;

  constructor(location: string, options: PackBlockstoreOptions = {}) {
    this.path = location;
    this.#segmentSize = options.segmentSize ?? DEFAULT_SEGMENT_SIZE;
  }

  async open(): Promise<void> {
    if (this.#open) return;
    await mkdir(this.path, { recursive: true });
    const ids = (await readdir(this.path))
      .map((name) => /^segment-(\d{8})\.pack$/.exec(name))
      .filter((match) => match !== null)
      .map((match) => Number(match[1]))
      .sort((a, b) => a - b);
    try {
      for (const [position, id] of ids.entries()) {
        await this.#load(id, position === ids.length - 1);
      }
    } catch (error) {
      await this.#closeHandles();
      throw error;
    }
    this.#open = true;
  }

  async close(): Promise<void> {
    await this.#appends.catch(() => undefined);
    await this.#closeHandles();
    this.#index.clear();
    this.#open = false;
  }

  async put(key: CID, bytes: BlockBytes, options: AbortOptions = {}): Promise<CID> {
    options.signal?.throwIfAborted();
    const chunks = await collectChunks(bytes);
    const mapKey = keyOf(key);
    if (this.#index.has(mapKey)) return key;
    await this.#enqueue(async () => {
      if (this.#index.has(mapKey)) return; // a racing put of the same block won
      options.signal?.throwIfAborted();
      const location = await this.#append(KIND_BLOCK, key, chunks);
      this.#index.set(mapKey, location);
    });
    return key;
  }

  async *get(key: CID, options: AbortOptions = {}): AsyncGenerator<Uint8Array> {
    yield await this.#read(key, options);
  }

  has(key: CID, _options: AbortOptions = {}): Promise<boolean> {
    return Promise.resolve(this.#index.has(keyOf(key)));
  }

  async delete(key: CID, options: AbortOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    const mapKey = keyOf(key);
    await this.#enqueue(async () => {
      if (!this.#index.has(mapKey)) return;
      await this.#append(KIND_TOMBSTONE, key, []);
      this.#index.delete(mapKey);
    });
  }

  async *putMany(
    source: Iterable<InputPair> | AsyncIterable<InputPair>,
    options: AbortOptions = {},
  ): AsyncGenerator<CID> {
    for await (const { cid, bytes } of source) {
      yield await this.put(cid, bytes, options);
    }
  }

  async *getMany(source: Iterable<CID> | AsyncIterable<CID>, options: AbortOptions = {}): AsyncGenerator<Pair> {
    for await (const cid of source) {
      const bytes = await this.#read(cid, options);
      yield { cid, bytes: once(bytes) };
    }
  }

  async *deleteMany(source: Iterable<CID> | AsyncIterable<CID>, options: AbortOptions = {}): AsyncGenerator<CID> {
    for await (const cid of source) {
      await this.delete(cid, options);
      yield cid;
    }
  }

  async *getAll(options: AbortOptions = {}): AsyncGenerator<Pair> {
    for (const { cid } of [...this.#index.values()]) {
      options.signal?.throwIfAborted();
      let bytes: Uint8Array;
      try {
        bytes = await this.#read(cid, options);
      } catch (error) {
        if (error instanceof Error && error.name === "NotFoundError") continue; // deleted meanwhile
        throw error;
      }
      yield { cid, bytes: once(bytes) };
    }
  }

  async #read(key: CID, options: AbortOptions): Promise<Uint8Array> {
    options.signal?.throwIfAborted();
    const location = this.#index.get(keyOf(key));
    if (location === undefined) throw notFound(key);
    const { segment, offset, length } = location;
    // Header and CRC into small buffers, the data into one of exactly its size: the block handed out is not a
    // view into a larger allocation.
    const head = Buffer.allocUnsafe(HEADER + location.cid.bytes.byteLength);
    const data = Buffer.allocUnsafe(Math.max(0, length - head.length - TRAILER));
    const trailer = Buffer.allocUnsafe(TRAILER);
    const { bytesRead } = await segment.handle.readv([head, data, trailer], offset);
    const problem = bytesRead === length ? checkParts(head, data, trailer, key, KIND_BLOCK) : "short read";
    if (problem !== undefined) {
      throw new BlockCorruptError(
        key.toString(),
        `block ${key.toString()} is corrupt in ${segmentName(segment.id)} at ${offset}: ${problem}`,
      );
    }
    return data;
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    if (!this.#open) return Promise.reject(notOpen());
    const run = this.#appends.then(task, task);
    this.#appends = run.catch(() => undefined);
    return run;
  }

  /** Appends one record to the active segment (starting a new one if needed); only ever one at a time. */
  async #append(kind: number, cid: CID, chunks: Uint8Array[]): Promise<Location> {
    const cidBytes = cid.bytes;
    const dataLength = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
    const length = HEADER + cidBytes.byteLength + dataLength + TRAILER;
    let segment = this.#segments.at(-1);
    if (segment === undefined || (segment.size > MAGIC.length && segment.size + length > this.#segmentSize)) {
      segment = await this.#createSegment((segment?.id ?? 0) + 1);
    }
    const header = Buffer.allocUnsafe(HEADER + cidBytes.byteLength);
    header.writeUInt32LE(length, 0);
    header.writeUInt8(kind, 4);
    header.writeUInt8(0, 5);
    header.writeUInt16LE(cidBytes.byteLength, 6);
    header.set(cidBytes, HEADER);
    let crc = crc32(header);
    for (const chunk of chunks) crc = crc32(chunk, crc);
    const trailer = Buffer.allocUnsafe(TRAILER);
    trailer.writeUInt32LE(crc, 0);
    const offset = segment.size;
    const buffers = [header, ...chunks, trailer];
    try {
      let written = (await segment.handle.writev(buffers, offset)).bytesWritten;
      if (written < length) {
        // A short write (rare on regular files): finish it from one contiguous copy.
        const whole = Buffer.concat(buffers);
        while (written < length) {
          const { bytesWritten } = await segment.handle.write(whole, written, length - written, offset + written);
          if (bytesWritten === 0) throw new Error("no progress writing a block record");
          written += bytesWritten;
        }
      }
    } catch (cause) {
      // Drop whatever part of the record reached the file; if even that fails, the next record overwrites it
      // and the scan at open truncates anything left after the last valid record.
      await segment.handle.truncate(offset).catch(() => undefined);
      const error = new Error(`could not write block ${cid.toString()}`, { cause });
      error.name = "PutFailedError"; // as blockstore-fs
      throw error;
    }
    segment.size = offset + length;
    return { cid, segment, offset, length };
  }

  async #createSegment(id: number): Promise<Segment> {
    const handle = await open(join(this.path, segmentName(id)), "wx+");
    try {
      await handle.write(MAGIC, 0, MAGIC.length, 0);
    } catch (error) {
      await handle.close();
      throw error;
    }
    const segment = { id, handle, size: MAGIC.length };
    this.#segments.push(segment);
    return segment;
  }

  /** Indexes one segment's records, reading headers only; truncates a torn tail of the last segment. */
  async #load(id: number, last: boolean): Promise<void> {
    const handle = await open(join(this.path, segmentName(id)), "r+");
    const segment: Segment = { id, handle, size: MAGIC.length };
    this.#segments.push(segment);
    const fileSize = (await handle.stat()).size;
    const magic = Buffer.alloc(MAGIC.length);
    await handle.read(magic, 0, MAGIC.length, 0);
    if (!magic.equals(MAGIC)) {
      if (last && fileSize < MAGIC.length) {
        // Created but its magic never (fully) written: a crash right after the roll.
        await handle.truncate(0);
        await handle.write(MAGIC, 0, MAGIC.length, 0);
        return;
      }
      throw new BlockCorruptError(undefined, `${segmentName(id)} in ${this.path} is not a block pack segment`);
    }
    const head = Buffer.allocUnsafe(HEADER + MAX_CID_LENGTH);
    const records: Array<{ key: string; kind: number; location: Location }> = [];
    let offset = MAGIC.length;
    while (offset < fileSize) {
      const available = Math.min(head.length, fileSize - offset);
      const { bytesRead } = await handle.read(head, 0, available, offset);
      const parsed = bytesRead === available ? parseHeader(head.subarray(0, bytesRead), fileSize - offset) : undefined;
      if (parsed === undefined) break; // torn or garbage: nothing after it is trusted
      records.push({
        key: keyOf(parsed.cid),
        kind: parsed.kind,
        location: { cid: parsed.cid, segment, offset, length: parsed.length },
      });
      offset += parsed.length;
    }
    // A crash can leave the last records of the segment being written incomplete (length in place, data not):
    // check CRCs from the end until one holds, and cut the file there.
    if (last) {
      while (records.length > 0) {
        const { kind, location } = records.at(-1)!;
        const record = Buffer.allocUnsafe(location.length);
        const { bytesRead } = await handle.read(record, 0, location.length, location.offset);
        if (bytesRead === location.length && checkRecord(record, location.cid, kind) === undefined) break;
        records.pop();
        offset = location.offset;
      }
      if (offset < fileSize) await handle.truncate(offset);
    }
    for (const { key, kind, location } of records) {
      if (kind === KIND_BLOCK) this.#index.set(key, location);
      else this.#index.delete(key);
    }
    segment.size = offset;
  }

  async #closeHandles(): Promise<void> {
    const segments = this.#segments;
    this.#segments = [];
    await Promise.allSettled(segments.map((segment) => segment.handle.close()));
  }
}

/** Parses a record header (and its CID) from `head`; undefined if it is not a plausible, complete record. */
function parseHeader(head: Buffer, remaining: number): { cid: CID; kind: number; length: number } | undefined {
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
function checkRecord(record: Buffer, key: CID, kind = KIND_BLOCK): string | undefined {
  const cidLength = record.readUInt16LE(6);
  if (HEADER + cidLength + TRAILER > record.length) return "bad header";
  const dataEnd = record.length - TRAILER;
  return checkParts(
    record.subarray(0, HEADER + cidLength),
    record.subarray(HEADER + cidLength, dataEnd),
    record.subarray(dataEnd),
    key,
    kind,
  );
}

/** The same check on a record read as its three parts: header with CID, data, CRC. */
function checkParts(head: Buffer, data: Buffer, trailer: Buffer, key: CID, kind: number): string | undefined {
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

function keyOf(cid: CID): string {
  return Buffer.from(cid.multihash.bytes).toString("base64");
}

function segmentName(id: number): string {
  return `segment-${String(id).padStart(8, "0")}.pack`;
}

async function collectChunks(bytes: BlockBytes): Promise<Uint8Array[]> {
  if (bytes instanceof Uint8Array) return [bytes];
  const chunks: Uint8Array[] = [];
  for await (const chunk of bytes) chunks.push(chunk);
  return chunks;
}

function* once(bytes: Uint8Array): Generator<Uint8Array> {
  yield bytes;
}

function notFound(key: CID): Error {
  // Same name as blockstore-fs' error: Helia and the pinning code branch on it.
  const error = new Error(`block ${key.toString()} not found`);
  error.name = "NotFoundError";
  return error;
}

function notOpen(): Error {
  const error = new Error("pack blockstore is not open");
  error.name = "NotStartedError";
  return error;
}
