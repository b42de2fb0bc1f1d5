// One normalizer for every byte input the packages take (plaintext to encrypt, envelopes to decrypt, a record
// to store), so they all accept the same things and refuse the rest with the same typed error:
//
//   whole bytes     Uint8Array (Node Buffers are Uint8Arrays), ArrayBuffer, Blob / File (browsers, Node)
//   streams         a web ReadableStream of bytes (read with a reader: not every browser makes it iterable),
//                   a node:stream Readable or any AsyncIterable of bytes, an Iterable of bytes (an array of buffers)
//   chunks          Uint8Array or ArrayBuffer
//
// Refused, with an InvalidArgumentError naming the field: strings (a string is more often a file path or a
// forgotten encoding than the record itself: encode text with TextEncoder, read files with putFile / addFile),
// other typed arrays and DataViews (their bytes depend on the platform's endianness), bytes whose ArrayBuffer was
// detached (transferred away: they would read as zero bytes, or throw a bare TypeError), and anything else.
//
// What a source may do with its buffers: anything, once it has handed a chunk over and been asked for the next
// one. Nothing in this package keeps a reference to an input chunk past that point (the encryptor and decryptor
// copy what they hold over), so a source that refills one scratch buffer for every read is read correctly.
import { assertBytes, detachedError, isDetached } from "./bytes.ts";
import { InvalidArgumentError } from "./errors.ts";

export type ByteChunk = Uint8Array | ArrayBuffer;

/** Everything `byteChunks` accepts. */
export type ByteInput =
  Uint8Array | ArrayBuffer | Blob | ReadableStream<ByteChunk> | AsyncIterable<ByteChunk> | Iterable<ByteChunk>;

export const ACCEPTED_BYTE_INPUTS =
  "a Uint8Array / Buffer, an ArrayBuffer, a Blob, a web ReadableStream, a node:stream Readable, " +
  "or an (async) iterable of Uint8Array chunks";

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  return value.constructor?.name ?? "object";
}

function refuse(field: string, value: unknown, hint = ""): InvalidArgumentError {
  return new InvalidArgumentError(`${field} must be ${ACCEPTED_BYTE_INPUTS}; got ${describe(value)}${hint}`, {
    field,
  });
}

/** `bytes` as a Uint8Array, refusing a detached buffer (it has no bytes left to read). */
function attachedBytes(bytes: Uint8Array | ArrayBuffer, what: string, field: string): Uint8Array {
  if (bytes instanceof Uint8Array) {
    assertBytes(bytes, what, field);
    return bytes;
  }
  if (isDetached(bytes)) throw detachedError(`${what} is a detached ArrayBuffer: it was`, field);
  return new Uint8Array(bytes);
}

function chunkBytes(chunk: unknown, field: string, index: number): Uint8Array {
  if (chunk instanceof Uint8Array || chunk instanceof ArrayBuffer) {
    return attachedBytes(chunk, `${field} chunk ${index}`, field);
  }
  const hint =
    typeof chunk === "string"
      ? " (a stream of strings: do not call setEncoding on it; encode text with TextEncoder)"
      : typeof chunk === "number"
        ? " (an iterable of numbers: wrap them in a Uint8Array)"
        : "";
  throw new InvalidArgumentError(
    `${field} chunk ${index} must be a Uint8Array or ArrayBuffer; got ${describe(chunk)}${hint}`,
    { field },
  );
}

function isReadableStream(value: object): value is ReadableStream<unknown> {
  return typeof (value as { getReader?: unknown }).getReader === "function";
}

async function* readStream(stream: ReadableStream<unknown>): AsyncGenerator<unknown, void, undefined> {
  const reader = stream.getReader();
  let done = false;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) {
        done = true;
        return;
      }
      yield next.value;
    }
  } finally {
    // A consumer that stops early (or fails) cancels the stream, so its source is not left half-read.
    if (!done) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

async function* validated(
  source: AsyncIterable<unknown> | Iterable<unknown>,
  field: string,
): AsyncGenerator<Uint8Array, void, undefined> {
  let index = 0;
  for await (const chunk of source) yield chunkBytes(chunk, field, index++);
}

/**
 * The chunks of `input` as an async iterable of Uint8Array. The input's kind is checked now (throws
 * InvalidArgumentError with `field` set); each chunk is checked as it is read. Nothing is copied: whole bytes are
 * one chunk, stream chunks are passed on as they come. Pull-based, so a stream is read only as fast as consumed.
 * A consumer that needs a chunk's bytes after asking for the next one must copy them (the source may reuse its
 * buffer); the encryptor and decryptor do.
 */
export function byteChunks(input: unknown, field = "input"): AsyncIterable<Uint8Array> {
  // Checked now (a wrong input fails at the call) and again as the chunk is read (it may be detached meanwhile).
  if (input instanceof Uint8Array || input instanceof ArrayBuffer)
    return validated([attachedBytes(input, field, field)], field);
  if (typeof input === "string") {
    throw refuse(field, input, " (encode text with TextEncoder; to store a file by path use putFile / addFile)");
  }
  if (typeof input !== "object" || input === null) throw refuse(field, input);
  if (ArrayBuffer.isView(input)) {
    throw refuse(
      field,
      input,
      " (for its raw bytes pass new Uint8Array(view.buffer, view.byteOffset, view.byteLength))",
    );
  }
  if (typeof Blob !== "undefined" && input instanceof Blob) return validated(readStream(input.stream()), field);
  if (isReadableStream(input)) return validated(readStream(input), field);
  if (Symbol.asyncIterator in input || Symbol.iterator in input) {
    return validated(input as AsyncIterable<unknown> | Iterable<unknown>, field);
  }
  throw refuse(field, input);
}
