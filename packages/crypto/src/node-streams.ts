// Node.js stream adapters (node:stream Transform). Backpressure is Transform's own: a transform callback is
// not acknowledged while the readable side is above its high-water mark.
import { Transform } from "node:stream";
import type { TransformCallback } from "node:stream";
import { RecordDecryptor } from "./record-decryptor.ts";
import type { DecryptOptions } from "./record-decryptor.ts";
import { RecordEncryptor } from "./record-encryptor.ts";
import type { EncryptOptions } from "./record-encryptor.ts";
import { InvalidArgumentError } from "./errors.ts";

function asBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  throw new InvalidArgumentError("record streams carry bytes (Buffer / Uint8Array), not strings or objects", {
    field: "chunk",
  });
}

function byteTransform(process: (chunk: Uint8Array) => Uint8Array[], finish: () => Uint8Array[]): Transform {
  return new Transform({
    transform(chunk: unknown, _encoding: BufferEncoding, callback: TransformCallback): void {
      try {
        for (const piece of process(asBytes(chunk))) this.push(piece);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback: TransformCallback): void {
      try {
        for (const piece of finish()) this.push(piece);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
}

/** A Transform: plaintext bytes in, record envelope out. */
export function createEncryptStream(key: Uint8Array, options: EncryptOptions = {}): Transform {
  const encryptor = new RecordEncryptor(key, options);
  return byteTransform(
    (chunk) => encryptor.update(chunk),
    () => encryptor.final(),
  );
}

/**
 * A Transform: record envelope in, plaintext out.
 *
 * Every chunk it emits is authenticated and in order, but the record is COMPLETE only when the stream ends
 * without an error (for pipeline(): when the promise resolves). On an 'error' event the consumer must
 * discard everything it received. To get that behaviour without thinking about it, use decryptToBuffer()
 * or decryptToFile().
 */
export function createDecryptStream(key: Uint8Array, options: DecryptOptions = {}): Transform {
  const decryptor = new RecordDecryptor(key, options);
  return byteTransform(
    (chunk) => decryptor.update(chunk),
    () => decryptor.final(),
  );
}
