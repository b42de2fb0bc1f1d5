// @hygeia/storage/browser: the part of @hygeia/storage that bundles for browsers (the web wallet, the SDK's
// patient path). Everything of the main entry whose modules use no Node built-in or global:
//
// - the errors, `parseCid`, the content-store interface (types), record metadata validation,
// - the manifest document: its format, types and merge, its seal (`sealManifest`, `openManifest`, `manifestOwner`,
//   …) and `recordKeyContext` (their base64 and constant-time compare are bytes.ts, not Buffer or node:crypto),
// - `KuboContentStore` (an adapter over a kubo-rpc-client the caller gives).
//
// Left out, each with the Node built-in or global that keeps it out (packages/sdk/test/browser-bundle.test.ts
// checks this list against the main entry):
// - manifest/patient-manifest.ts (`manifestEntryFor`, `unwrapRecordKey`, `readManifest`, `PatientManifest`):
//   `isRecoverableHead` from manifest-head.ts, and `Buffer.concat`; manifest/recovery.ts (`recoverRecords`):
//   imports patient-manifest.ts;
// - manifest/manifest-head.ts (`FileManifestHead`, `isRecoverableHead`): node:fs, node:crypto, node:timers;
// - record-store.ts, patient-records.ts: node:worker_threads (the crypto worker) and node:fs (file sources);
// - helia/* (`HeliaContentStore`, `PackBlockstore`), process-lock.ts: node:fs, node:sqlite, node:zlib, libp2p TCP.
export * from "./errors.ts";
export { parseCid } from "./cid.ts";
export type { CidInput } from "./cid.ts";
export type { ByteSource, ContentStat, ContentStore, GcResult, OperationOptions, PutResult } from "./content-store.ts";
/** What every function taking bytes accepts (defined by @hygeia/crypto, re-exported for convenience). */
export type { ByteInput } from "@hygeia/crypto";
export { validateRecordMetadata } from "./record-metadata.ts";
export type { RecordKind, RecordMetadata } from "./record-metadata.ts";
export { MANIFEST_FORMAT, MANIFEST_FORMAT_VERSION } from "./manifest/manifest-format.ts";
export type { Manifest, ManifestDocument, ManifestEntry, RecordShare } from "./manifest/manifest-format.ts";
export {
  MANIFEST_AUTH_INFO,
  MANIFEST_AUTH_SALT,
  MANIFEST_TAG_BYTES,
  MAX_MANIFEST_BYTES,
  SEALED_MANIFEST_MAGIC,
  SEALED_MANIFEST_VERSION,
  UNAUTHENTICATED_SEAL_VERSION,
  manifestKeyContext,
  manifestOwner,
  openManifest,
  sealManifest,
} from "./manifest/manifest-seal.ts";
export type { OpenManifestOptions } from "./manifest/manifest-seal.ts";
export { mergeEntries } from "./manifest/merge.ts";
export { recordKeyContext } from "./manifest/record-key-context.ts";
export { DEFAULT_KUBO_TIMEOUT_MS, KuboContentStore } from "./kubo/kubo-content-store.ts";
export type { KuboContentStoreOptions } from "./kubo/kubo-content-store.ts";
export { MIN_STORE_TIMEOUT_MS } from "./idle-timeout.ts";
