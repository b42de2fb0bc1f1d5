// Decrypt to a file without ever leaving a partial or unverified file at the destination path: plaintext
// goes to a private temporary file next to it, which is renamed over the destination only after the final
// chunk verified and the data reached the disk.
import { randomBytes } from "node:crypto";
import { open, rename, unlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { ByteInput } from "./byte-input.ts";
import { decryptChunks } from "./iterables.ts";

export interface DecryptToFileResult {
  readonly path: string;
  readonly plaintextBytes: number;
}

/**
 * Streams `envelope` (any ByteInput, e.g. a node:stream Readable) through decryption into `destinationPath`
 * (replacing it atomically if it exists).
 * On any failure the temporary file is removed and the error (a HygeiaCryptoError for integrity problems)
 * is rethrown; the destination is untouched.
 */
export async function decryptToFile(
  envelope: ByteInput,
  key: Uint8Array,
  destinationPath: string,
): Promise<DecryptToFileResult> {
  const chunks = decryptChunks(envelope, key); // checks the input's kind before a temp file exists
  const directory = dirname(destinationPath);
  const temporaryPath = join(directory, `.${basename(destinationPath)}.${randomBytes(8).toString("hex")}.partial`);
  const file = await open(temporaryPath, "wx", 0o600);
  try {
    let plaintextBytes = 0;
    // Awaiting each write is the backpressure: the next chunk is not decrypted before this one is written.
    for await (const plaintext of chunks) {
      await writeAll(file, plaintext);
      plaintextBytes += plaintext.length;
    }
    await file.sync();
    await file.close();
    await rename(temporaryPath, destinationPath);
    await syncDirectory(directory);
    return { path: destinationPath, plaintextBytes };
  } catch (error) {
    await file.close().catch(() => undefined);
    await unlink(temporaryPath).catch(() => undefined);
    throw error;
  }
}

async function writeAll(file: FileHandle, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await file.write(bytes, offset, bytes.length - offset);
    offset += bytesWritten;
  }
}

/** Makes the rename durable; best effort, as not every platform can fsync a directory. */
async function syncDirectory(directory: string): Promise<void> {
  try {
    const handle = await open(directory, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Durability of the rename is a bonus; correctness (no unverified file at the destination) does not need it.
  }
}
