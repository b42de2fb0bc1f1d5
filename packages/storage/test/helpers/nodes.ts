// Real Helia nodes in temp dirs, libp2p on loopback. Every node and dir a test makes is cleaned up by
// `cleanup()` in an after/afterEach hook so mocha can exit.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { HeliaContentStore } from "../../src/index.ts";
import type { HeliaContentStoreOptions } from "../../src/index.ts";

export class TestNodes {
  readonly #stores: HeliaContentStore[] = [];
  readonly #dirs: string[] = [];

  async dir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), "hygeia-storage-"));
    this.#dirs.push(dir);
    return dir;
  }

  async node(options: Partial<HeliaContentStoreOptions> = {}): Promise<HeliaContentStore> {
    const store = await HeliaContentStore.create({
      dataDir: options.dataDir ?? (await this.dir()),
      timeoutMs: 5_000,
      ...options,
    });
    this.#stores.push(store);
    return store;
  }

  async cleanup(): Promise<void> {
    await Promise.allSettled(this.#stores.splice(0).map((store) => store.close()));
    await Promise.allSettled(this.#dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  }
}

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of source) parts.push(part);
  return Buffer.concat(parts);
}

/** Deterministic pseudo-random bytes (fast, reproducible; not for keys). */
export function testBytes(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Every pin record in a node's datastore (`/pin/…`, `/pinned-block/…`), key -> bytes, read from its SQLite file. */
export function pinRecords(dataDir: string): Map<string, Buffer> {
  const db = new DatabaseSync(join(dataDir, "datastore.sqlite"), { readOnly: true });
  try {
    const rows = db
      .prepare("SELECT key, value FROM datastore WHERE key LIKE '/pin/%' OR key LIKE '/pinned-block/%' ORDER BY key")
      .all() as Array<{ key: string; value: Uint8Array }>;
    return new Map(rows.map(({ key, value }) => [key, Buffer.from(value)]));
  } finally {
    db.close();
  }
}

/** Yields `bytes` in pieces of `pieceSize`. */
export async function* pieces(bytes: Uint8Array, pieceSize: number): AsyncGenerator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += pieceSize) yield bytes.subarray(offset, offset + pieceSize);
}

/**
 * Yields `bytes` as a file read loop does: read into one scratch buffer of `readSize` bytes, the same buffer every
 * time. Once done it scribbles over the buffer, so a consumer still holding any of it past its last read sees
 * garbage.
 */
export async function* scratchReads(bytes: Uint8Array, readSize: number): AsyncGenerator<Uint8Array> {
  const scratch = new Uint8Array(readSize);
  for (let offset = 0; offset < bytes.length; offset += readSize) {
    const length = Math.min(readSize, bytes.length - offset);
    scratch.set(bytes.subarray(offset, offset + length));
    yield scratch.subarray(0, length);
  }
  scratch.fill(0xee);
}
