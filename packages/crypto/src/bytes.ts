// Small byte helpers and the input validators shared by every module.
import { InvalidArgumentError } from "./errors.ts";

const utf8Encoder = new TextEncoder();

export function utf8(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Throws unless `value` is a Uint8Array (Node Buffers are Uint8Arrays and pass). */
export function assertBytes(value: unknown, what: string, length?: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new InvalidArgumentError(`${what} must be a Uint8Array`);
  if (length !== undefined && value.length !== length) {
    throw new InvalidArgumentError(`${what} must be ${length} bytes, got ${value.length}`);
  }
}

/** Strings are taken as UTF-8; bytes as they are. */
export function toBytes(value: Uint8Array | string, what: string): Uint8Array {
  if (typeof value === "string") return utf8(value);
  assertBytes(value, what);
  return value;
}

/**
 * A FIFO of byte arrays that hands out exact-size slices without re-concatenating everything it holds,
 * so buffering one chunk costs O(chunk) whatever the sizes of the pieces that arrive.
 */
export class ByteQueue {
  #parts: Uint8Array[] = [];
  #headOffset = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.#parts.push(bytes);
    this.#length += bytes.length;
  }

  /** Removes and returns the first `count` bytes; a zero-copy view when they lie in a single piece. */
  take(count: number): Uint8Array {
    if (count > this.#length) throw new RangeError(`ByteQueue.take(${count}) with only ${this.#length} bytes queued`);
    const head = this.#parts[0];
    if (head !== undefined && head.length - this.#headOffset >= count) {
      const view = head.subarray(this.#headOffset, this.#headOffset + count);
      this.#advance(count);
      return view;
    }
    const out = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const part = this.#parts[0];
      if (part === undefined) break;
      const n = Math.min(part.length - this.#headOffset, count - filled);
      out.set(part.subarray(this.#headOffset, this.#headOffset + n), filled);
      filled += n;
      this.#advance(n);
    }
    return out;
  }

  #advance(count: number): void {
    this.#length -= count;
    this.#headOffset += count;
    while (this.#parts.length > 0 && this.#headOffset >= (this.#parts[0]?.length ?? 0)) {
      this.#headOffset -= this.#parts[0]?.length ?? 0;
      this.#parts.shift();
    }
  }
}
