// blockstore-fs (same on-disk layout, so either can open the other's directory), with two shortcuts:
// - a block is read with one readFile instead of a 64 KiB-chunked read stream. Blocks are at most 1 MiB and
//   always consumed whole (hashing, decoding, exporting), so streaming them only added allocations and
//   copies: ≈ 2x the local read rate of large records.
// - a block is written by AtomicFileWriter (temp file + rename, like blockstore-fs' steno, but the shard
//   directory is created once instead of `mkdir -p` before every block), fdatasynced before its rename; `sync()`
//   makes the renames durable (one fsync per shard directory written to).
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { FsBlockstore } from "blockstore-fs";
import { NextToLast } from "blockstore-fs/sharding";
import type { AbortOptions } from "@libp2p/interface";
import type { CID } from "multiformats/cid";
import { AtomicFileWriter } from "./atomic-file-writer.ts";
import { DirLock } from "./dir-lock.ts";

export class WholeBlockFsBlockstore extends FsBlockstore {
  readonly #sharding: NextToLast;
  readonly #writer = new AtomicFileWriter();
  #lock: DirLock | undefined;

  constructor(location: string) {
    const sharding = new NextToLast();
    super(location, { shardingStrategy: sharding });
    this.#sharding = sharding;
  }

  /** Creates the directory and takes its lock: one writer per directory, as the pack blockstore (dir-lock.ts). */
  override async open(): Promise<void> {
    await super.open();
    this.#lock ??= await DirLock.acquire(this.path);
  }

  override async close(): Promise<void> {
    await this.sync().catch(() => undefined);
    await super.close();
    const lock = this.#lock;
    this.#lock = undefined;
    await lock?.release();
  }

  override async put(
    key: CID,
    bytes: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
    options: AbortOptions = {},
  ): Promise<CID> {
    const { dir, file } = this.#sharding.encode(key);
    try {
      await this.#writer.write(join(this.path, dir), file, bytes, options);
    } catch (cause) {
      if (options.signal?.aborted) throw options.signal.reason;
      const error = new Error(`could not write block ${key.toString()}`, { cause });
      error.name = "PutFailedError"; // as blockstore-fs
      throw error;
    }
    return key;
  }

  /** Makes every block whose put resolved before this call durable. */
  sync(): Promise<void> {
    return this.#writer.sync();
  }

  override async *get(key: CID, options: AbortOptions = {}): AsyncGenerator<Uint8Array> {
    const { dir, file } = this.#sharding.encode(key);
    let bytes: Buffer;
    try {
      bytes = await readFile(join(this.path, dir, file), { signal: options.signal });
    } catch (cause) {
      if (options.signal?.aborted) throw options.signal.reason;
      // Same name as blockstore-fs' own error: Helia and the pinning code branch on it.
      const error = new Error(`block ${key.toString()} not found`, { cause });
      error.name = "NotFoundError";
      throw error;
    }
    yield bytes;
  }
}
