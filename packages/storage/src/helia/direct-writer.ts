// Appends records to a segment file with O_DIRECT: from our buffer straight to the device, not through the page
// cache. Why: filling the page cache was the largest CPU cost of an `add` on these VMs (each fresh page-cache
// page costs the hypervisor a fault: 1.6–2.6 s of kernel time per GiB written, against ≈ 0.25 s with O_DIRECT),
// and a multi-GB upload written through the cache would also evict everything else from it.
//
// O_DIRECT needs the buffer address, the file offset and the length aligned to the device's logical block size.
// Offsets and lengths are aligned by the segment format (pack-format.ts, version 2); the buffer is a view of a
// WebAssembly.Memory, whose backing store V8 maps page-aligned (JS cannot align a Buffer's address otherwise).
// Anything that does not hold (a file system without O_DIRECT such as tmpfs, EINVAL on a write) makes the writer
// report `false`, and the caller writes that record, and every later one, through the page cache instead.
import { constants } from "node:fs";
import { open } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { ALIGNMENT } from "./pack-format.ts";

// The WebAssembly global, typed here: this project's lib settings (ES2023, no DOM) do not declare it.
declare const WebAssembly: {
  Memory: new (descriptor: { initial: number }) => { readonly buffer: ArrayBuffer; grow(pages: number): number };
};

const WASM_PAGE = 64 * 1024;
/** Records larger than this are not staged (bitswap blocks are ≤ 4 MiB; ours are 1 MiB): written buffered. */
export const MAX_DIRECT_RECORD = 16 * 1024 * 1024;

export class DirectWriter {
  readonly #handle: FileHandle;
  readonly #memory = new WebAssembly.Memory({ initial: (1024 * 1024 + 2 * ALIGNMENT) / WASM_PAGE + 1 });
  #failed = false;

  private constructor(handle: FileHandle) {
    this.#handle = handle;
  }

  /** A direct writer for `path`, or undefined where the file system does not support O_DIRECT. */
  static async open(path: string): Promise<DirectWriter | undefined> {
    // No O_DIRECT on this platform, or no WebAssembly (node --jitless): page cache it is.
    if (constants.O_DIRECT === undefined || typeof WebAssembly === "undefined") return undefined;
    try {
      return new DirectWriter(await open(path, constants.O_WRONLY | constants.O_DIRECT));
    } catch {
      return undefined;
    }
  }

  /**
   * Writes `parts` (a whole padded record, `length` bytes, a multiple of the alignment) at `offset`. Resolves
   * true once written, false if this record cannot be written directly (nothing usable was written then: the
   * caller truncates back to `offset`). Any other I/O error rejects.
   */
  async write(parts: readonly Uint8Array[], length: number, offset: number): Promise<boolean> {
    if (this.#failed || length > MAX_DIRECT_RECORD || length % ALIGNMENT !== 0 || offset % ALIGNMENT !== 0) {
      return false;
    }
    const staged = this.#stage(parts, length);
    try {
      const { bytesWritten } = await this.#handle.write(staged, 0, length, offset);
      if (bytesWritten === length) return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EINVAL") throw error;
    }
    this.#failed = true; // misaligned here after all, or a short write: stop trying
    return false;
  }

  /** False once a direct write failed; every later record then goes through the page cache. */
  get usable(): boolean {
    return !this.#failed;
  }

  close(): Promise<void> {
    return this.#handle.close();
  }

  /** Copies `parts` into the aligned staging area (grown on demand), zero-filling up to `length`. */
  #stage(parts: readonly Uint8Array[], length: number): Buffer {
    const missing = length - this.#memory.buffer.byteLength;
    if (missing > 0) this.#memory.grow(Math.ceil(missing / WASM_PAGE));
    const staged = Buffer.from(this.#memory.buffer, 0, length);
    let offset = 0;
    for (const part of parts) {
      staged.set(part, offset);
      offset += part.byteLength;
    }
    staged.fill(0, offset);
    return staged;
  }
}
