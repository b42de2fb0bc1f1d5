// Writes one file per key atomically (a unique temp name in the same directory, then rename), as
// blockstore-fs / datastore-fs do through `steno`, minus their per-write overhead: they `mkdir -p` the shard
// directory before every single write and route each write through a fresh steno Writer. Here a directory is
// created once and remembered; the rest is one writeFile and one rename, both on libuv's thread pool.
//
// Durability (unlike blockstore-fs / datastore-fs, which never fsync): each file's data is fdatasynced before
// the rename publishes it, so a name never points at data that did not reach the disk; the renames themselves
// are made durable by `sync()`, one fsync per directory written to since the last one. A reader never sees a
// partial file under the final name.
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { AbortOptions } from "@libp2p/interface";
import { syncDirectory } from "../sync-directory.ts";

type FileContents = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

let tempCounter = 0;

export class AtomicFileWriter {
  readonly #knownDirs = new Set<string>();
  /** Directories with a rename not yet fsynced. */
  readonly #unsyncedDirs = new Set<string>();

  /** Makes every write that resolved before this call durable (its directory entry; its data already is). */
  async sync(): Promise<void> {
    const dirs = [...this.#unsyncedDirs];
    this.#unsyncedDirs.clear();
    try {
      await Promise.all(dirs.map((dir) => syncDirectory(dir)));
    } catch (error) {
      for (const dir of dirs) this.#unsyncedDirs.add(dir);
      throw error;
    }
  }

  async write(dir: string, file: string, contents: FileContents, options: AbortOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    const temp = join(dir, `.${file}.${process.pid}-${(tempCounter = (tempCounter + 1) % 1e9)}.tmp`);
    try {
      await this.#writeTemp(dir, temp, contents);
      await rename(temp, join(dir, file));
      this.#unsyncedDirs.add(dir);
    } catch (error) {
      await rm(temp, { force: true }).catch(() => undefined);
      throw error;
    }
  }

  async #makeDir(dir: string): Promise<void> {
    const created = await mkdir(dir, { recursive: true });
    if (created !== undefined) this.#unsyncedDirs.add(dirname(created)); // the new directory's own entry
    this.#knownDirs.add(dir);
  }

  async #writeTemp(dir: string, temp: string, contents: FileContents): Promise<void> {
    if (!this.#knownDirs.has(dir)) await this.#makeDir(dir);
    try {
      await writeDurably(temp, contents);
    } catch (error) {
      // The directory was removed behind our back (e.g. the store was wiped): recreate it once.
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      this.#knownDirs.delete(dir);
      await this.#makeDir(dir);
      await writeDurably(temp, contents);
    }
  }
}

/** Writes a new file and fdatasyncs it. */
async function writeDurably(path: string, contents: FileContents): Promise<void> {
  const handle = await open(path, "wx");
  try {
    await handle.writeFile(contents);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}
