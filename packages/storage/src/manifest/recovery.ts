// Promise 6: from the patient's X25519 secret key (derived from the wallet) and the latest manifest CID
// alone, list every record and its DEK. No gateway, no local state: the blocks may come from any node, and the
// CID from anyone, so the manifest must be authenticated by the patient's key (see manifest-seal.ts).
//
// Safety rule: recovery has no trusted head, only a CID, and a CID says nothing about who wrote the manifest. So
// recoverRecords never reads a version 1 (unauthenticated) seal; unsafeRecoverUnauthenticatedRecords does, for a
// one-time migration from a CID the patient vouches for, and says so in its name.
import { x25519KeyPairFromSecretKey } from "@hygeia/crypto";
import type { CidInput } from "../cid.ts";
import type { ContentStore, OperationOptions } from "../content-store.ts";
import type { Manifest, ManifestEntry } from "./manifest-format.ts";
import {
  readManifest,
  readManifestTrustingVersion1,
  refuseUnauthenticatedOption,
  unwrapRecordKey,
} from "./patient-manifest.ts";
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
 * sealed by the holder of `patientSecretKey`; a version 1 (unauthenticated) seal is always
 * UnauthenticatedManifestError, and `acceptUnauthenticated` is refused (InvalidArgumentError): see
 * unsafeRecoverUnauthenticatedRecords.
 */
export async function recoverRecords(
  store: ContentStore,
  patientSecretKey: Uint8Array,
  manifestCid: CidInput,
  options: ReadManifestOptions = {},
): Promise<Recovery> {
  refuseUnauthenticatedOption(options, "recoverRecords");
  const keyPair = x25519KeyPairFromSecretKey(patientSecretKey);
  return withKeys(await readManifest(store, keyPair, manifestCid, options), keyPair);
}

/**
 * UNSAFE: recoverRecords that also reads a version 1 (unauthenticated) manifest, written before authenticated
 * manifests. Anyone who knows the patient's public key (their DID document publishes it) can write a version 1
 * manifest listing records and DEKs of their choosing, or the patient's own records as shared with them, and hand
 * out its CID. Call this only for a one-time migration from a CID the patient vouches for as their own (their old
 * device's head, noted by themselves), never for a CID received from anyone else (a gateway, a message, a QR
 * code). `manifest.sealVersion` is 1 when it read such a seal; a version 2 seal is authenticated as usual.
 */
export async function unsafeRecoverUnauthenticatedRecords(
  store: ContentStore,
  patientSecretKey: Uint8Array,
  manifestCid: CidInput,
  options: OperationOptions = {},
): Promise<Recovery> {
  const keyPair = x25519KeyPairFromSecretKey(patientSecretKey);
  return withKeys(await readManifestTrustingVersion1(store, keyPair, manifestCid, options), keyPair);
}

function withKeys(manifest: Manifest, keyPair: ReturnType<typeof x25519KeyPairFromSecretKey>): Recovery {
  const records = manifest.entries.map((entry) => ({ entry, dek: unwrapRecordKey(entry, keyPair) }));
  return { manifest, records };
}
