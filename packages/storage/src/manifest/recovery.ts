// Promise 6: from the patient's X25519 secret key (derived from the wallet) and the latest manifest CID
// alone, list every record and its DEK. No gateway, no local state: the blocks may come from any node, and the
// CID from anyone, so the manifest must be authenticated by the patient's key (see manifest-seal.ts).
import { x25519KeyPairFromSecretKey } from "@hygeia/crypto";
import type { CidInput } from "../cid.ts";
import type { ContentStore } from "../content-store.ts";
import type { Manifest, ManifestEntry } from "./manifest-format.ts";
import { readManifest, unwrapRecordKey } from "./patient-manifest.ts";
import type { ReadManifestOptions } from "./patient-manifest.ts";

export interface RecoveredRecord {
  entry: ManifestEntry;
  /** The record's DEK. Wipe it after use. */
  dek: Uint8Array;
}

export interface Recovery {
  manifest: Manifest;
  records: RecoveredRecord[];
}

/**
 * Every record of the manifest version `manifestCid` with its DEK. InvalidManifestError unless the version was
 * sealed by the holder of `patientSecretKey`; a version 1 (unauthenticated) seal only with
 * `{ acceptUnauthenticated: true }`, for the patient's own manifests written before authenticated manifests.
 */
export async function recoverRecords(
  store: ContentStore,
  patientSecretKey: Uint8Array,
  manifestCid: CidInput,
  options: ReadManifestOptions = {},
): Promise<Recovery> {
  const keyPair = x25519KeyPairFromSecretKey(patientSecretKey);
  const manifest = await readManifest(store, keyPair, manifestCid, options);
  const records = manifest.entries.map((entry) => ({ entry, dek: unwrapRecordKey(entry, keyPair) }));
  return { manifest, records };
}
