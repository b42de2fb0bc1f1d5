// Small byte helpers and the input validators shared by every module.
import { InvalidArgumentError } from "./errors.ts";

const utf8Encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

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

/**
 * True for an ArrayBuffer transferred away (postMessage or structuredClone with transfer, ArrayBuffer.transfer):
 * its views then read as empty. `detached` is ES2024 (Node 22+, current browsers), hence the cast; where it is
 * missing this says false.
 */
export function isDetached(buffer: ArrayBufferLike): boolean {
  return (buffer as { readonly detached?: boolean }).detached === true;
}

/**
 * Throws unless `value` is a Uint8Array (Node Buffers are Uint8Arrays and pass) over a buffer not detached; the
 * InvalidArgumentError names `field`.
 */
export function assertBytes(value: unknown, what: string, field: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new InvalidArgumentError(`${what} must be a Uint8Array`, { field });
  if (isDetached(value.buffer)) throw detachedError(`${what} is detached: its ArrayBuffer was`, field);
}

/** The refusal of bytes over a detached buffer; `subject` says what was transferred ("x is detached: ... was"). */
export function detachedError(subject: string, field: string): InvalidArgumentError {
  return new InvalidArgumentError(
    `${subject} transferred away (postMessage / structuredClone with transfer, ArrayBuffer.transfer); pass the ` +
      "bytes before transferring them, or the transferred copy",
    { field },
  );
}

/** Strings are taken as UTF-8; bytes as they are. */
export function toBytes(value: Uint8Array | string, what: string, field: string): Uint8Array {
  if (typeof value === "string") return utf8(value);
  assertBytes(value, what, field);
  return value;
}

/**
 * Cuts byte arrays that arrive in any sizes into the pieces a consumer asks for (the record encryptor's chunks,
 * the decryptor's header and frames).
 *
 * Safety rule: nothing of a caller's array is referenced after the call that handed it over ends. So a byte
 * source may reuse one buffer for every read (fs.read into a scratch buffer, object-mode streams, many web
 * APIs) and still be encrypted or decrypted correctly. How, without copying everything:
 *   - a call starts with `begin(input)` and must end with `end()` (in a finally: the input is referenced until then);
 *   - `take(count)` hands out the next `count` bytes: a view of `input` when they lie in it whole (no copy), else
 *     assembled in this object's own buffer. Either way the view is valid only until the next take / end;
 *   - `end()` copies the bytes of `input` not yet taken into the own buffer. The consumer takes every complete
 *     piece before it returns, so that is at most one piece (a whole chunk only when the encryptor waits for
 *     the byte that tells whether a full chunk is the last).
 */
export class Reassembler {
  /** Own bytes: [#start, #end) not yet taken. */
  #own: Uint8Array = EMPTY;
  #start = 0;
  #end = 0;
  /** The current call's input, and how far into it has been taken. */
  #input: Uint8Array = EMPTY;
  #offset = 0;
  /** The own buffer grows in steps up to this (the largest piece the consumer takes), then exactly as needed. */
  readonly #growthLimit: number;

  constructor(growthLimit: number) {
    this.#growthLimit = growthLimit;
  }

  /** Bytes available: held over from earlier calls plus what is left of the current input. */
  get length(): number {
    return this.#end - this.#start + this.#input.length - this.#offset;
  }

  begin(input: Uint8Array): void {
    this.#input = input;
    this.#offset = 0;
  }

  /** The next `count` bytes (count ≤ length), valid until the next take or end. */
  take(count: number): Uint8Array {
    if (count > this.length) throw new RangeError(`Reassembler.take(${count}) with only ${this.length} bytes`);
    const held = this.#end - this.#start;
    if (held === 0) {
      const view = this.#input.subarray(this.#offset, this.#offset + count);
      this.#offset += count;
      return view;
    }
    if (held < count) this.#hold(count - held);
    const view = this.#own.subarray(this.#start, this.#start + count);
    this.#start += count;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return view;
  }

  /**
   * Ends the call: copies the input's untaken bytes (at most one piece) into the own buffer, or with
   * `keep = false` (the call failed and the consumer is done) drops them without copying.
   */
  end(keep = true): void {
    if (keep) this.#hold(this.#input.length - this.#offset);
    this.#input = EMPTY;
    this.#offset = 0;
  }

  /** Zeroes the own buffer (it may hold plaintext). */
  wipe(): void {
    this.#own.fill(0);
    this.#start = this.#end = 0;
  }

  /** Appends the input's next `count` bytes to the own bytes. */
  #hold(count: number): void {
    if (count === 0) return;
    const held = this.#end - this.#start;
    const needed = held + count;
    if (this.#start + needed > this.#own.length) {
      if (needed > this.#own.length) {
        const grown = new Uint8Array(Math.max(needed, Math.min(this.#own.length * 2, this.#growthLimit)));
        grown.set(this.#own.subarray(this.#start, this.#end));
        this.#own.fill(0);
        this.#own = grown;
      } else {
        this.#own.copyWithin(0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = held;
    }
    this.#own.set(this.#input.subarray(this.#offset, this.#offset + count), this.#end);
    this.#end += count;
    this.#offset += count;
  }
}

/**
 * An owned, plain Uint8Array copy of `bytes`. Not `bytes.slice()`: on a Node Buffer (a Uint8Array subclass), slice
 * returns a view of the same memory, often a pooled buffer that is reused later.
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}
