// A blockstore that appends blocks to a few large segment files instead of writing one file per block (like
// Kubo's pebble / badger datastores instead of flatfs). Creating a file is what costs on these VMs: 512 separate
// 1 MiB files take 0.65–1.2 s of kernel time, appending the same 512 MiB to one file ≈ 0.12 s.
//
// Safety rules, first:
// - Nothing intact is ever cut or overwritten. At open only a genuine torn tail is truncated: bytes at the very
//   end of the last segment after the last record that verifies (a record cut short, one whose data fails its
//   CRC, or bytes that hold no record), which only a crash mid-append leaves. A damaged record anywhere else is
//   skipped (pack-scan.ts finds the next record), reported, and read as BlockCorruptError; a segment whose header
//   is damaged is still read (version 3 records identify themselves) and never written to.
// - Durable when acknowledged: `sync()` fdatasyncs every segment written since the last one; a new segment's file
//   and header reach the disk (file and directory fsynced) before any record goes into it. HeliaContentStore
//   calls `sync()` before it records a pin, and the datastore waits for it before any write (helia-content-store.ts).
// - Every read checks the record's checksums and that it holds the requested multihash: a damaged record is a
//   BlockCorruptError, never served.
//
// Layout under `location`: `segment-00000001.pack`, `segment-00000002.pack`, …, records as in pack-format.ts.
// New segments are version 3: records aligned to 4096 bytes and appended with O_DIRECT (direct-writer.ts), past
// the page cache; where that is not possible they are written through the page cache in the same layout.
// Version 1 and 2 segments (earlier releases) are read, never appended to. A new segment is started when the next
// record would take the current one past `segmentSize` (default 512 MiB). Appends are serialized (one write per
// record, the promise resolves once it is written); reads are positional, concurrent, through the page cache.
//
// The index (multihash -> segment, offset, length) lives in memory and is rebuilt at open by reading the record
// headers of every segment (not the data). Keys are multihashes, as in blockstore-fs: a CIDv0 and a CIDv1 of the
// same bytes are one block. Deletes append a tombstone; the space is not reclaimed (no compaction yet).
import { mkdir, open, readdir, unlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { CID } from "multiformats/cid";
import type { AbortOptions } from "@libp2p/interface";
import type { Blockstore, InputPair, Pair } from "interface-blockstore";
import { BlockCorruptError, StoreUnavailableError, StoreWriteFailedError } from "../errors.ts";
import { syncDirectory } from "../sync-directory.ts";
import { DirLock } from "./dir-lock.ts";
import { DirectWriter } from "./direct-writer.ts";
import { notFoundError, notStartedError } from "./store-errors.ts";
import {
  ALIGNMENT,
  HEADER,
  HEADER_CRC,
  HEADER_V3,
  KIND_BLOCK,
  KIND_TOMBSTONE,
  LAYOUT_V3,
  MAX_CID_LENGTH,
  MAX_HEADER_V3,
  SEGMENT_HEADER_PROBE,
  TRAILER,
  alignUp,
  checkRecordParts,
  checkRecordV3,
  multihashVerifies,
  parseRecordHeader,
  parseRecordHeaderV3,
  parseSegmentHeader,
  recordHeaderV3,
  segmentHeaderV3,
} from "./pack-format.ts";
import type { SegmentLayout } from "./pack-format.ts";
import { VERIFY_BUDGET, dataVerifies, recordDataVerifies, scanSegmentV3 } from "./pack-scan.ts";
import type { DamagedRegion, ScannedRecord } from "./pack-scan.ts";

export const DEFAULT_SEGMENT_SIZE = 512 * 1024 * 1024;

export interface PackBlockstoreOptions {
  /** Start a new segment once the current one would grow past this many bytes. Default 512 MiB. */
  segmentSize?: number;
  /**
   * Append with O_DIRECT where the file system supports it (default true). False writes every record through
   * the page cache (same format).
   */
  directIo?: boolean;
}

/**
 * Damage found in a pack directory (at open, or by `check`). `kind`:
 * - `"segment-header"`: the segment's 4096-byte header does not verify. A version 3 segment is still read (its
 *   records identify themselves) and never written to again; records of an older one cannot be found.
 * - `"record"`: bytes at `offset` (`length` of them) hold no record whose checksums verify; `cid` is the block it
 *   most likely held, when its header could be worked out. Reading that block is a BlockCorruptError.
 * - `"torn-tail"`: the end of the last segment held an incomplete record (a crash mid-append); it was cut at open.
 *   Only a record that was never acknowledged can be torn.
 */
export interface PackDamage {
  kind: "segment-header" | "record" | "torn-tail";
  /** File name of the segment, e.g. `segment-00000003.pack`. */
  segment: string;
  offset: number;
  length: number;
  cid: string | undefined;
  reason: string;
}

/** What `check()` found. `ok` when there is no damage at all. */
export interface PackCheck {
  ok: boolean;
  segments: number;
  /** Blocks in the index (damaged ones included). */
  blocks: number;
  /** Blocks whose data was read and verified (every block with `{ data: true }`, else 0). */
  verified: number;
  /** CIDs of the blocks in the index that cannot be served (damaged): `discardDamaged()` forgets them. */
  unreadable: string[];
  damage: PackDamage[];
}

interface Segment {
  id: number;
  /** Positional reads, truncation, and appends that do not go direct. */
  handle: FileHandle;
  layout: SegmentLayout;
  /** Bytes of valid records (with their padding, and the segment header): where the next record goes. */
  size: number;
  /** The header did not verify: read only, never appended to. */
  headerDamaged: boolean;
}

/** The segment receiving appends (always version 3) and, when the file system allows it, its direct writer. */
interface ActiveSegment {
  segment: Segment;
  direct: DirectWriter | undefined;
}

interface Location {
  cid: CID;
  segment: Segment;
  offset: number;
  length: number;
  /** Why this block cannot be served (its record is damaged), if it cannot. */
  damaged?: string;
  /**
   * Found after a resynchronization (pack-scan.ts): its data may be another block's bytes that look like a record,
   * so it is served only once its data hashes to its CID, and a put of the block writes it again.
   */
  unverified?: boolean;
}

type BlockBytes = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

export class PackBlockstore implements Blockstore {
  readonly path: string;
  readonly #segmentSize: number;
  readonly #directIo: boolean;
  readonly #index = new Map<string, Location>();
  #segments: Segment[] = [];
  #active: ActiveSegment | undefined;
  /** Tail of the append queue: every append runs after the previous one settled. */
  #appends: Promise<unknown> = Promise.resolve();
  /** Tail of the sync queue, and the segments written since the last sync started. */
  #syncs: Promise<unknown> = Promise.resolve();
  #unsynced = new Set<Segment>();
  #damage: PackDamage[] = [];
  #open = false;
  #lock: DirLock | undefined;

  constructor(location: string, options: PackBlockstoreOptions = {}) {
    this.path = location;
    this.#segmentSize = options.segmentSize ?? DEFAULT_SEGMENT_SIZE;
    this.#directIo = options.directIo ?? true;
  }

  /** Whether appends currently bypass the page cache (for diagnostics and tests). */
  get appendsDirect(): boolean {
    return this.#active?.direct?.usable ?? false;
  }

  /**
   * Damage found when the store was opened (and records found damaged on read since): the store opened anyway
   * and serves every block that verifies. Empty for a healthy store. See PackDamage.
   */
  get damage(): readonly PackDamage[] {
    return this.#damage;
  }

  async open(): Promise<void> {
    if (this.#open) return;
    const created = await mkdir(this.path, { recursive: true });
    if (created !== undefined) await syncDirectory(dirname(created)); // the new directory's entry, durable
    const lock = await DirLock.acquire(this.path); // one writer per directory (dir-lock.ts)
    const ids = (await readdir(this.path))
      .map((name) => /^segment-(\d{8})\.pack$/.exec(name))
      .filter((match) => match !== null)
      .map((match) => Number(match[1]))
      .sort((a, b) => a - b);
    this.#damage = [];
    try {
      for (const [position, id] of ids.entries()) {
        await this.#load(id, position === ids.length - 1);
      }
      const last = this.#segments.at(-1);
      // Appends continue in the last segment if it has the current layout and an intact header.
      if (last !== undefined && last.layout.version === 3 && !last.headerDamaged) {
        this.#active = await this.#activate(last);
      }
    } catch (error) {
      await this.#closeHandles();
      this.#index.clear();
      await lock.release();
      throw error;
    }
    this.#lock = lock;
    this.#open = true;
  }

  async close(): Promise<void> {
    await this.#appends.catch(() => undefined);
    if (this.#open) await this.sync().catch(() => undefined); // a clean shutdown leaves everything on disk
    await this.#closeHandles();
    this.#index.clear();
    this.#open = false;
    const lock = this.#lock;
    this.#lock = undefined;
    await lock?.release();
  }

  /**
   * Makes every block whose put resolved before this call durable (fdatasync of each segment written since the
   * last sync: one per segment, however many blocks). Rejects with StoreUnavailableError if the disk refuses.
   */
  sync(): Promise<void> {
    if (!this.#open) return Promise.reject(notOpen());
    const run = this.#syncs.then(async () => {
      await this.#lock?.assertHeld();
      const segments = [...this.#unsynced];
      this.#unsynced.clear();
      try {
        await Promise.all(segments.map((segment) => segment.handle.datasync()));
      } catch (cause) {
        for (const segment of segments) this.#unsynced.add(segment);
        throw writeFailed(this.path, `could not flush blocks to disk in ${this.path}`, cause);
      }
    });
    this.#syncs = run.catch(() => undefined);
    return run;
  }

  async put(key: CID, bytes: BlockBytes, options: AbortOptions = {}): Promise<CID> {
    options.signal?.throwIfAborted();
    const chunks = await collectChunks(bytes);
    const mapKey = keyOf(key);
    if (this.#present(mapKey)) return key;
    await this.#enqueue(async () => {
      if (this.#present(mapKey)) return; // a racing put of the same block won
      options.signal?.throwIfAborted();
      const location = await this.#append(KIND_BLOCK, key, chunks);
      this.#index.set(mapKey, location); // also replaces a damaged copy
    });
    return key;
  }

  async *get(key: CID, options: AbortOptions = {}): AsyncGenerator<Uint8Array> {
    yield await this.#read(key, options);
  }

  /** True for a damaged block too (reading it is a BlockCorruptError); `discardDamaged` forgets those. */
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

  /**
   * Checks the store: the damage found at open, and with `{ data: true }` every block's data read and checked
   * against its checksums (reads every segment once). Never changes anything.
   */
  async check(options: { data?: boolean } & AbortOptions = {}): Promise<PackCheck> {
    if (!this.#open) throw notOpen();
    let verified = 0;
    if (options.data === true) {
      for (const location of [...this.#index.values()]) {
        options.signal?.throwIfAborted();
        if (location.damaged !== undefined) continue;
        try {
          await this.#read(location.cid, { ...options, hash: true });
          verified++;
        } catch (error) {
          if (!(error instanceof BlockCorruptError)) throw error; // recorded in #damage by #read
        }
      }
    }
    return {
      ok: this.#damage.length === 0,
      segments: this.#segments.length,
      blocks: this.#index.size,
      verified,
      unreadable: [...this.#index.values()]
        .filter((location) => location.damaged !== undefined)
        .map(({ cid }) => cid.toString()),
      damage: [...this.#damage],
    };
  }

  /**
   * Forgets every damaged block (a tombstone each), so it can be fetched again from a peer or written again by
   * a put; returns their CIDs. The damaged bytes stay in their segment (never read again).
   */
  async discardDamaged(): Promise<CID[]> {
    const damaged = [...this.#index.values()].filter((location) => location.damaged !== undefined);
    for (const { cid } of damaged) await this.delete(cid);
    await this.sync();
    return damaged.map(({ cid }) => cid);
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

  /** Whether the block is stored and not known to be damaged (a damaged one is written again by a put). */
  #present(mapKey: string): boolean {
    const location = this.#index.get(mapKey);
    return location !== undefined && location.damaged === undefined && location.unverified !== true;
  }

  async #read(key: CID, options: AbortOptions & { hash?: boolean } = {}): Promise<Uint8Array> {
    options.signal?.throwIfAborted();
    const location = this.#index.get(keyOf(key));
    if (location === undefined) throw notFound(key);
    const { segment, offset, length } = location;
    if (location.damaged !== undefined) throw corrupt(key, segment, offset, location.damaged);
    // Header and CRC into small buffers, the data into one of exactly its size: the block handed out is not a
    // view into a larger allocation.
    const v3 = segment.layout.version === 3;
    const head = Buffer.allocUnsafe(v3 ? length - dataLengthV3(location) : HEADER + location.cid.bytes.byteLength);
    const data = Buffer.allocUnsafe(Math.max(0, length - head.length - (v3 ? 0 : TRAILER)));
    const trailer = Buffer.allocUnsafe(v3 ? 0 : TRAILER);
    const { bytesRead } = await segment.handle.readv(v3 ? [head, data] : [head, data, trailer], offset);
    let problem: string | undefined = "short read";
    if (bytesRead === length) {
      problem = v3 ? checkRecordV3(head, data, key) : checkRecordParts(head, data, trailer, key, KIND_BLOCK);
    }
    if (problem === undefined && (location.unverified === true || options.hash === true)) {
      const hashed = multihashVerifies(location.cid, data);
      if (hashed === false) problem = "its data does not hash to its CID";
      // A block found after a resynchronization must be proved by its hash; others were checked by their CRC.
      else if (hashed === undefined && location.unverified === true) problem = "unverifiable (its hash function)";
      else location.unverified = undefined;
    }
    if (problem !== undefined) {
      location.damaged = problem; // a later put of this block writes a fresh copy
      this.#report("record", segment.id, offset, length, key, problem);
      throw corrupt(key, segment, offset, problem);
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
    // One stat: a LOCK.db deleted or replaced under us means another process may be writing here (dir-lock.ts).
    await this.#lock?.assertHeld();
    const { header, length } = recordHeaderV3(kind, cid, chunks);
    let active = this.#active;
    if (active === undefined || wouldOverflow(active.segment, length, this.#segmentSize)) {
      active = await this.#startSegment((this.#segments.at(-1)?.id ?? 0) + 1);
    }
    const { segment, direct } = active;
    const offset = segment.size;
    const paddedLength = alignUp(length, segment.layout.alignment);
    const parts = [header, ...chunks];
    try {
      const written = direct !== undefined && (await direct.write(parts, paddedLength, offset));
      if (!written) {
        if (direct !== undefined) await segment.handle.truncate(offset); // drop a partial direct write
        const padding = Buffer.alloc(paddedLength - length);
        await writeFully(segment.handle, padding.length > 0 ? [...parts, padding] : parts, paddedLength, offset);
      }
    } catch (cause) {
      // Drop whatever part of the record reached the file; if even that fails, the next record overwrites it
      // and the scan at open resynchronizes past anything left.
      await segment.handle.truncate(offset).catch(() => undefined);
      const file = join(this.path, segmentName(segment.id));
      if (isDiskError(cause)) throw writeFailed(file, `could not write block ${cid.toString()} to ${file}`, cause);
      const error = new Error(`could not write block ${cid.toString()}`, { cause });
      error.name = "PutFailedError"; // as blockstore-fs
      throw error;
    }
    // Marked once written, never before: a sync() that starts while this write is in flight must not clear the
    // mark, or the sync() after this put would flush nothing (acknowledged but not durable).
    this.#unsynced.add(segment);
    segment.size = offset + paddedLength;
    return { cid, segment, offset, length };
  }

  /** Creates segment `id` (version 3), durably (file, header, directory entry), and appends to it from now on. */
  async #startSegment(id: number): Promise<ActiveSegment> {
    const file = join(this.path, segmentName(id));
    const failed = (cause: unknown): Error =>
      isDiskError(cause)
        ? writeFailed(file, `could not start a new segment ${file}`, cause)
        : new StoreUnavailableError(`could not start a new segment ${file}`, { cause });
    let handle: FileHandle;
    try {
      handle = await open(file, "wx+");
    } catch (cause) {
      throw failed(cause);
    }
    let layout: SegmentLayout;
    try {
      layout = await writeSegmentHeader(handle);
      await syncDirectory(this.path);
    } catch (cause) {
      // Removed again (it holds no record): left behind, every later roll would fail with EEXIST.
      await handle.close().catch(() => undefined);
      await unlink(file).catch(() => undefined);
      await syncDirectory(this.path).catch(() => undefined);
      throw failed(cause);
    }
    const segment: Segment = { id, handle, layout, size: layout.firstRecord, headerDamaged: false };
    this.#segments.push(segment);
    await this.#retireActive();
    this.#active = await this.#activate(segment);
    return this.#active;
  }

  async #activate(segment: Segment): Promise<ActiveSegment> {
    const direct = this.#directIo ? await DirectWriter.open(join(this.path, segmentName(segment.id))) : undefined;
    return { segment, direct };
  }

  async #retireActive(): Promise<void> {
    const direct = this.#active?.direct;
    this.#active = undefined;
    await direct?.close();
  }

  /** Indexes one segment's records, reading headers only; cuts a torn tail of the last one. */
  async #load(id: number, last: boolean): Promise<void> {
    const handle = await open(join(this.path, segmentName(id)), "r+");
    const fileSize = (await handle.stat()).size;
    const first = Buffer.alloc(Math.min(fileSize, SEGMENT_HEADER_PROBE));
    await handle.read(first, 0, first.length, 0);
    let layout = parseSegmentHeader(first);
    if (layout !== undefined && layout.version !== 3 && (await v3RecordAt(handle, ALIGNMENT, fileSize))) {
      layout = undefined; // a version 3 segment whose magic is damaged (an old segment holds no "HYR3" record)
    }
    let headerDamaged = false;
    if (layout === undefined && last && fileSize <= ALIGNMENT) {
      // Created but its header never (fully) written, so it holds no record: a crash right after the roll.
      await handle.truncate(0);
      layout = await writeSegmentHeader(handle);
    } else if (layout === undefined) {
      // Damaged header: read it as version 3 (its records identify themselves), never write to it.
      headerDamaged = true;
      layout = LAYOUT_V3;
      const reason = "the segment header does not verify: the segment is read as version 3 and never written to";
      this.#report("segment-header", id, 0, Math.min(fileSize, ALIGNMENT), undefined, reason);
    }
    const segment: Segment = { id, handle, layout, size: Math.max(fileSize, layout.firstRecord), headerDamaged };
    this.#segments.push(segment);
    if (fileSize <= layout.firstRecord) return;
    if (layout.version !== 3) {
      await this.#loadOldRecords(segment, fileSize);
      return;
    }
    const scan = await scanSegmentV3(handle, fileSize, layout.firstRecord, layout.alignment);
    const { records, damaged } = scan;
    let keptDamaged: ScannedRecord | undefined;
    if (last && !headerDamaged) {
      const tail = await this.#cutTornTail(segment, fileSize, records, damaged);
      segment.size = tail.append;
      keptDamaged = tail.damaged;
    }
    // Records and damaged regions in file order: a later record of a block supersedes an earlier one.
    const items = [...records.map((record) => ({ record })), ...damaged.map((region) => ({ region }))].sort(
      (a, b) =>
        ("record" in a ? a.record.offset : a.region.offset) - ("record" in b ? b.record.offset : b.region.offset),
    );
    const budget = { bytes: VERIFY_BUDGET };
    for (const item of items) {
      if ("record" in item) await this.#indexRecord(segment, item.record, item.record === keptDamaged, budget);
      else this.#indexDamagedRegion(segment, item.region);
    }
  }

  /** Records damage found in segment `id` (see PackDamage). */
  #report(
    kind: PackDamage["kind"],
    id: number,
    offset: number,
    length: number,
    cid: CID | undefined,
    reason: string,
  ): void {
    this.#damage.push({ kind, segment: segmentName(id), offset, length, cid: cid?.toString(), reason });
  }

  /** Puts one scanned record into the index (see the safety rules of pack-scan.ts for `verified`). */
  async #indexRecord(
    segment: Segment,
    record: ScannedRecord,
    damaged: boolean,
    budget: { bytes: number },
  ): Promise<void> {
    const { cid, kind, offset, length, verified } = record;
    const key = keyOf(cid);
    if (damaged) {
      const reason = "CRC mismatch (a whole record whose data is damaged)";
      this.#report("record", segment.id, offset, length, cid, reason);
      this.#index.set(key, { cid, segment, offset, length, damaged: reason });
      return;
    }
    if (verified !== "none") {
      if (kind === KIND_BLOCK) this.#index.set(key, { cid, segment, offset, length });
      else this.#index.delete(key);
      return;
    }
    // After a resynchronization: a tombstone proves nothing (never applied), and a block replaces a copy that
    // verified only once its own data hashes to its CID (else it could hide an intact block).
    if (kind !== KIND_BLOCK) return;
    if (this.#present(key)) {
      const dataLength = length - record.header.headerLength;
      const proved =
        dataLength <= budget.bytes &&
        (await recordDataVerifies(segment.handle, offset, record.header, Buffer.allocUnsafe(1 << 20), true));
      budget.bytes -= Math.min(dataLength, budget.bytes);
      if (!proved) {
        const reason = "found after damage and its data does not hash to its CID: ignored (the earlier copy is served)";
        this.#report("record", segment.id, offset, length, cid, reason);
        return;
      }
      this.#index.set(key, { cid, segment, offset, length });
      return;
    }
    this.#index.set(key, { cid, segment, offset, length, unverified: true });
  }

  /** Reports a damaged region; the block it most likely held reads as BlockCorruptError (unless stored intact). */
  #indexDamagedRegion(segment: Segment, region: DamagedRegion): void {
    const { offset, end, likely, reason, trusted } = region;
    this.#report("record", segment.id, offset, end - offset, likely?.cid, reason);
    // Only a header at a trusted position is ours: elsewhere it may be bytes of a block's data.
    if (likely === undefined || !trusted) return;
    const key = keyOf(likely.cid);
    if (likely.kind === KIND_TOMBSTONE) this.#index.delete(key);
    else if (!this.#present(key)) {
      this.#index.set(key, { cid: likely.cid, segment, offset, length: likely.length, damaged: reason });
    }
  }

  /**
   * Cuts the genuine torn tail of the last segment: from the end, every record cut short and every region holding
   * no record whose header verifies, until a whole record. A whole record whose data fails its CRC is damage, not a
   * torn write: it is kept and returned (read as BlockCorruptError). So is a whole record whose header is damaged
   * but whose data verifies, and anything after a resynchronization (pack-scan.ts: it may be intact records).
   * Returns the append offset.
   */
  async #cutTornTail(
    segment: Segment,
    fileSize: number,
    records: ScannedRecord[],
    damaged: DamagedRegion[],
  ): Promise<{ append: number; damaged: ScannedRecord | undefined }> {
    const { handle, layout } = segment;
    let end = layout.firstRecord;
    let kept: ScannedRecord | undefined;
    for (;;) {
      const record = records.at(-1);
      const region = damaged.at(-1);
      if (region !== undefined && (record === undefined || region.offset > record.offset)) {
        const { likely, offset } = region;
        if (!region.trusted) {
          end = region.end;
          break;
        }
        if (likely !== undefined && (await dataVerifies(handle, offset, likely, fileSize))) {
          end = offset + likely.length;
          break;
        }
        damaged.pop();
        continue;
      }
      if (record === undefined) break;
      end = record.offset + record.length;
      if (!(await dataVerifies(handle, record.offset, record.header, fileSize))) kept = record;
      break;
    }
    const append = alignUp(end, layout.alignment);
    if (append < fileSize) {
      const reason = "an incomplete record at the end of the last segment (a crash mid-append), cut";
      this.#report("torn-tail", segment.id, append, fileSize - append, undefined, reason);
    }
    if (append !== fileSize) {
      // Cuts the torn part; or, if only the last record's padding was cut short, zero-fills it back: the next
      // record must start aligned.
      await handle.truncate(append);
      await handle.datasync();
    }
    return { append, damaged: kept };
  }

  /**
   * Indexes a version 1 / 2 segment (read only). Their headers have no checksum: reading stops at the first that
   * does not parse, and the rest is reported, never cut (nothing is appended to these segments).
   */
  async #loadOldRecords(segment: Segment, fileSize: number): Promise<void> {
    const { handle, layout } = segment;
    const head = Buffer.allocUnsafe(HEADER + MAX_CID_LENGTH);
    let offset = layout.firstRecord;
    while (offset < fileSize) {
      const available = Math.min(head.length, fileSize - offset);
      const { bytesRead } = await handle.read(head, 0, available, offset);
      const parsed =
        bytesRead === available ? parseRecordHeader(head.subarray(0, bytesRead), fileSize - offset) : undefined;
      if (parsed === undefined) {
        const reason = `unreadable from here on (a version ${layout.version} segment: a damaged or torn record header ends it)`;
        this.#report("record", segment.id, offset, fileSize - offset, undefined, reason);
        break;
      }
      const key = keyOf(parsed.cid);
      if (parsed.kind === KIND_BLOCK) this.#index.set(key, { cid: parsed.cid, segment, offset, length: parsed.length });
      else this.#index.delete(key);
      offset = alignUp(offset + parsed.length, layout.alignment);
    }
  }

  async #closeHandles(): Promise<void> {
    await this.#retireActive().catch(() => undefined);
    const segments = this.#segments;
    this.#segments = [];
    this.#unsynced.clear();
    await Promise.allSettled(segments.map((segment) => segment.handle.close()));
  }
}

/** Whether a version 3 record header that verifies is at `offset` (a segment whose magic is damaged has one). */
async function v3RecordAt(handle: FileHandle, offset: number, fileSize: number): Promise<boolean> {
  if (fileSize <= offset) return false;
  const head = Buffer.alloc(Math.min(MAX_HEADER_V3, fileSize - offset));
  await handle.read(head, 0, head.length, offset);
  return parseRecordHeaderV3(head) !== undefined;
}

/** File-system errors that mean the disk cannot take the write (full, over quota, failing, read-only). */
const DISK_ERRORS = new Set(["ENOSPC", "EDQUOT", "EIO", "EROFS", "EFBIG"]);

function isDiskError(cause: unknown): boolean {
  return DISK_ERRORS.has(errorCode(cause));
}

function errorCode(cause: unknown): string {
  const code = (cause as { code?: unknown } | undefined)?.code;
  return typeof code === "string" ? code : "UNKNOWN";
}

/** A StoreWriteFailedError naming the file-system reason and what to do about it. */
function writeFailed(path: string, what: string, cause: unknown): StoreWriteFailedError {
  const reason = errorCode(cause);
  const hint =
    reason === "ENOSPC" || reason === "EDQUOT"
      ? "the disk (or quota) is full: free space and retry"
      : reason === "EIO"
        ? "the device reported an I/O error: check it (dmesg) and run the store check"
        : reason === "EROFS"
          ? "the file system is read-only: remount it read-write"
          : "see the cause";
  return new StoreWriteFailedError(path, reason, `${what}: ${reason}: ${hint}; nothing was acknowledged`, { cause });
}

/** Data bytes of a version 3 record at `location` (its length less the header, CID and header CRC). */
function dataLengthV3(location: Location): number {
  return location.length - (HEADER_V3 + location.cid.bytes.byteLength + HEADER_CRC);
}

/** Whether a record of `length` bytes would take `segment` past `segmentSize` (a segment holds at least one). */
function wouldOverflow(segment: Segment, length: number, segmentSize: number): boolean {
  const { size, layout } = segment;
  return size > layout.firstRecord && size + alignUp(length, layout.alignment) > segmentSize;
}

/** Writes a new (version 3) segment's header at the start of `handle`, durably; returns the layout. */
async function writeSegmentHeader(handle: FileHandle): Promise<SegmentLayout> {
  const header = segmentHeaderV3();
  await writeFully(handle, [header], header.length, 0);
  await handle.datasync();
  return parseSegmentHeader(header)!;
}

/** Writes `parts` (`length` bytes in all) at `offset`, finishing a short write from one contiguous copy. */
async function writeFully(handle: FileHandle, parts: Uint8Array[], length: number, offset: number): Promise<void> {
  let written = (await handle.writev(parts, offset)).bytesWritten;
  if (written >= length) return;
  const whole = Buffer.concat(parts);
  while (written < length) {
    const { bytesWritten } = await handle.write(whole, written, length - written, offset + written);
    if (bytesWritten === 0) throw new Error("no progress writing a block record");
    written += bytesWritten;
  }
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

const corrupt = (key: CID, segment: Segment, offset: number, problem: string): BlockCorruptError =>
  new BlockCorruptError(
    key.toString(),
    `block ${key.toString()} is corrupt in ${segmentName(segment.id)} at ${offset}: ${problem}; ` +
      "it is never served: fetch it again from a peer or add its record again (see the storage README, " +
      '"Checking and repairing a store")',
  );

const notFound = (key: CID): Error => notFoundError(`block ${key.toString()} not found`);

const notOpen = (): Error => notStartedError("pack blockstore is not open");
