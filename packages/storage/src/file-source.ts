// Reads a file as a byte source through a small ring of reused buffers, for uploads from disk. A stream that
// allocates a fresh buffer per read (fs.createReadStream) makes a 1 GiB upload allocate 1 GiB of buffers, each
// garbage a moment later: the allocation churn alone triggers dozens of full garbage collections and keeps tens of
// MB of dead buffers resident. Here the same few buffers are refilled.
//
// The contract that makes reuse safe: a chunk yielded by this source is overwritten when the source is asked for
// its `buffers`-th next chunk. The consumer must hold no reference to it by then. RecordStore's consumers hold
// none once they ask for the next chunk: @hygeia/crypto's encryptor copies what it holds over (at most one chunk)
// between calls and seals full chunks straight from the buffer; the crypto worker's postMessage copies at once.
//
// The file must not change while it is read: its size and modification time are checked at the end, and a file
// that grew, shrank or was rewritten meanwhile ends the source with an error rather than a mixed record.
import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { InvalidArgumentError } from "./errors.ts";

export interface FileSourceOptions {
  /** Bytes per read (and per buffer). */
  bufferBytes: number;
  /** Buffers in the ring (≥ 2). */
  buffers: number;
  signal?: AbortSignal;
  /** Called after every read with the bytes read so far and the file's size. */
  onProgress?: (bytesRead: number, totalBytes: number) => void;
}

export async function* readFileInRing(path: string, options: FileSourceOptions): AsyncGenerator<Uint8Array> {
  if (options.buffers < 2)
    throw new InvalidArgumentError("a file source needs at least 2 buffers", { field: "buffers" });
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (cause) {
    throw new InvalidArgumentError(`cannot read ${path}: ${(cause as NodeJS.ErrnoException).code ?? cause}`, {
      field: "path",
      cause,
    });
  }
  try {
    const before = await handle.stat();
    if (!before.isFile()) throw new InvalidArgumentError(`${path} is not a regular file`, { field: "path" });
    const ring = Array.from({ length: options.buffers }, () => Buffer.allocUnsafeSlow(options.bufferBytes));
    let position = 0;
    for (let turn = 0; ; turn++) {
      options.signal?.throwIfAborted();
      const buffer = ring[turn % ring.length]!;
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) break;
      position += bytesRead;
      if (position > before.size) break; // grew while read: reported below
      options.onProgress?.(position, before.size);
      yield buffer.subarray(0, bytesRead);
    }
    const after = await handle.stat();
    if (position !== before.size || after.size !== before.size || after.mtimeMs !== before.mtimeMs) {
      throw new InvalidArgumentError(
        `${path} changed while it was being read (${before.size} -> ${after.size} bytes): upload it again once it is complete`,
        { field: "path" },
      );
    }
  } finally {
    await handle.close();
  }
}
