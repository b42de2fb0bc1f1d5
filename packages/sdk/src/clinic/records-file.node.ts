/**
 * The clinic writes a patient's record to a file (Node only): like `fetchRecord`, but the plaintext is streamed to
 * `path`, written only once the whole record verified, so a large file never sits in memory.
 */
import { wipe, type X25519KeyPair } from "@hygeia/crypto";
import { decryptToFile } from "@hygeia/crypto/node";
import { SdkInputError } from "../errors.ts";
import type { GatewayTransport } from "../transport.ts";
import {
  cidOf,
  decryptionFailure,
  download,
  patientAddress,
  purposeOf,
  releaseFacts,
  releaseKey,
  type FetchRecordOptions,
  type FetchedRecordFile,
} from "./record-access.ts";

/** Like `fetchRecord`, streaming the plaintext to `path` (written only once the whole record verified). */
export async function fetchRecordToFile(
  transport: GatewayTransport,
  keyPairs: readonly X25519KeyPair[],
  patient: string,
  cid: string,
  path: string,
  options: Omit<FetchRecordOptions, "maxBytes">,
): Promise<FetchedRecordFile> {
  const address = patientAddress(patient);
  const id = cidOf(cid);
  const purpose = purposeOf(options?.purpose);
  if (typeof path !== "string" || path === "")
    throw new SdkInputError("path", "missing", "Give the file to write the record to.");
  const { release, dek } = await releaseKey(transport, keyPairs, address, id, purpose, options.signal);
  try {
    const body = await download(transport, address, id, purpose, options);
    let written: { path: string; plaintextBytes: number };
    try {
      written = await decryptToFile(body, dek, path);
    } catch (error) {
      throw decryptionFailure(error, id);
    }
    return { cid: id, path: written.path, plaintextBytes: written.plaintextBytes, ...releaseFacts(release, purpose) };
  } finally {
    wipe(dek);
  }
}
