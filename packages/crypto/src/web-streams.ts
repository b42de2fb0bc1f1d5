// WHATWG stream adapters (browsers, Deno, Node's global TransformStream). Backpressure is the stream
// machinery's own: transform() is not called again until the readable side has room.
import { RecordDecryptor } from "./record-decryptor.ts";
import type { DecryptOptions } from "./record-decryptor.ts";
import { RecordEncryptor } from "./record-encryptor.ts";
import type { EncryptOptions } from "./record-encryptor.ts";

function byteTransformStream(
  process: (chunk: Uint8Array) => Uint8Array[],
  finish: () => Uint8Array[],
): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      for (const piece of process(chunk)) controller.enqueue(piece);
    },
    flush(controller) {
      for (const piece of finish()) controller.enqueue(piece);
    },
  });
}

/** A TransformStream: plaintext bytes in, record envelope out. */
export function createEncryptTransformStream(
  key: Uint8Array,
  options: EncryptOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  const encryptor = new RecordEncryptor(key, options);
  return byteTransformStream(
    (chunk) => encryptor.update(chunk),
    () => encryptor.final(),
  );
}

/**
 * A TransformStream: record envelope in, plaintext out. Emitted chunks are authenticated and in order; the
 * record is complete only when the readable side closes normally. If it errors, discard what you read.
 */
export function createDecryptTransformStream(
  key: Uint8Array,
  options: DecryptOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  const decryptor = new RecordDecryptor(key, options);
  return byteTransformStream(
    (chunk) => decryptor.update(chunk),
    () => decryptor.final(),
  );
}
