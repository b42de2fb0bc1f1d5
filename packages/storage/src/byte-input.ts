// Byte inputs (a record's plaintext, a store's source) go through @hygeia/crypto's byteChunks, so storage takes
// exactly what crypto takes (bytes, ArrayBuffer, Blob, web / Node streams, (async) iterables of chunks). Its
// refusals are reported as this package's InvalidArgumentError, with the same field and message.
import { InvalidArgumentError as CryptoInvalidArgumentError, byteChunks } from "@hygeia/crypto";
import { InvalidArgumentError } from "./errors.ts";

function translate(error: unknown, field: string): unknown {
  if (error instanceof CryptoInvalidArgumentError && error.field === field) {
    return new InvalidArgumentError(error.message, { field, cause: error });
  }
  return error;
}

/** The chunks of `input`; throws InvalidArgumentError (`field`) now for the wrong kind, later for a wrong chunk. */
export function storageByteChunks(input: unknown, field: string): AsyncIterable<Uint8Array> {
  let chunks: AsyncIterable<Uint8Array>;
  try {
    chunks = byteChunks(input, field);
  } catch (error) {
    throw translate(error, field);
  }
  return (async function* () {
    try {
      yield* chunks;
    } catch (error) {
      throw translate(error, field);
    }
  })();
}
