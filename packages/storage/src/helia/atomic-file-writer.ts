// Writes one file per key atomically (a unique temp name in the same directory, then rename), as
// blockstore-fs / datastore-fs do through `steno`, minus their per-write overhead: they `mkdir -p` the shard
// directory before every single write and route each write through a fresh steno Writer. Here a directory is
// created once and remembered; the rest is one writeFile and one rename, both on libuv's thread pool.
//
// Durability is unchanged from blockstore-fs / datastore-fs: no fsync (a crash may lose recent writes, as
// with them), but a reader never sees a partial file under the final name: the rename publishes it whole.
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { AbortOptions } from "@libp2p/interface";

type FileContents = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

let tempCounter = 0;

export class AtomicFileWriter {
  readonly #knownDirs = new Set<string>();

  async write(dir: string, file: string, contents: FileContents, options: AbortOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    const temp = join(dir, `.${file}.${process.pid}-${(tempCounter = (tempCounter + 1) % 1e9)}.tmp`);
    try {
      await this.#writeTemp(dir, temp, contents);
      await rename(temp, join(dir, file));
    } catch (error) {
      await rm(temp, { force: true }).catch(() => undefined);
      throw error;
    }
  }

  async #writeTemp(dir: string, temp: string, contents: FileContents): Promise<void> {
    if (!this.#knownDirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.#knownDirs.add(dir);
    }
    try {
      await writeFile(temp, contents);
    } catch (error) {
      // The directory was removed behind our back (e.g. the store was wiped): recreate it once.
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      this.#knownDirs.delete(dir);
      await mkdir(dir, { recursive: true });
      this.#knownDirs.add(dir);
      await writeFile(temp, contents);
    }
  }
}
