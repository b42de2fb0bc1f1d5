// Shared test helpers: deterministic data, stream plumbing, and expectations on typed errors.
import { Readable } from "node:stream";
import { expect } from "chai";
import { HygeiaCryptoError } from "../src/index.ts";
import type { CryptoErrorCode } from "../src/index.ts";

/** Deterministic pseudo-random bytes (xorshift), cheap enough for hundreds of MiB. */
export function patternBytes(length: number, seed = 1): Uint8Array {
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

/** Splits bytes into pieces of the given sizes (cycled), to exercise re-chunking. */
export function splitInto(bytes: Uint8Array, sizes: readonly number[]): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  let offset = 0;
  for (let i = 0; offset < bytes.length; i++) {
    const size = sizes[i % sizes.length] ?? 1;
    pieces.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  return pieces;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of source) parts.push(part);
  return concat(parts);
}

export function readableOf(pieces: readonly Uint8Array[]): Readable {
  return Readable.from(pieces, { objectMode: false });
}

export function webReadableOf(pieces: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  let index = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const piece = pieces[index++];
      if (piece === undefined) controller.close();
      else controller.enqueue(piece);
    },
  });
}

export function expectBytesEqual(actual: Uint8Array, expected: Uint8Array): void {
  expect(actual.length, "length").to.equal(expected.length);
  expect(Buffer.compare(Buffer.from(actual), Buffer.from(expected)), "content").to.equal(0);
}

/** Asserts `error` is the typed error `type` with `code`. */
export function expectCryptoError(
  error: unknown,
  type: abstract new (...args: never[]) => HygeiaCryptoError,
  code: CryptoErrorCode,
): void {
  expect(error, "a HygeiaCryptoError").to.be.instanceOf(HygeiaCryptoError);
  expect(error).to.be.instanceOf(type);
  expect((error as HygeiaCryptoError).code).to.equal(code);
}

export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  expect.fail("expected a rejection");
}

export function thrown(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  expect.fail("expected a throw");
}

export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");
export const fromHex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/^0x/, ""), "hex"));
