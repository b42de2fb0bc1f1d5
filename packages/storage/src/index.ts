// @hygeia/storage: one content-store interface over IPFS, an embedded Helia adapter, the encrypted record
// store and the patient manifest.
export * from "./errors.ts";
export { parseCid } from "./cid.ts";
export type { CidInput } from "./cid.ts";
export type { ByteSource, ContentStat, ContentStore, GcResult, OperationOptions, PutResult } from "./content-store.ts";
/** What every function taking bytes accepts (defined by @hygeia/crypto, re-exported for convenience). */
export type { ByteInput } from "@hygeia/crypto";
export {
  DEFAULT_BLOCKSTORE,
  DEFAULT_TIMEOUT_MS,
  HeliaContentStore,
  LOOPBACK_LISTEN,
} from "./helia/helia-content-store.ts";
export type { BlockstoreKind, HeliaContentStoreOptions } from "./helia/helia-content-store.ts";
export { PackBlockstore } from "./helia/pack-blockstore.ts";
export { ProcessLock, describeHolder, type LockAttempt } from "./process-lock.ts";
export type { PackBlockstoreOptions, PackCheck, PackDamage } from "./helia/pack-blockstore.ts";
export { validateRecordMetadata } from "./record-metadata.ts";
export type { RecordKind, RecordMetadata } from "./record-metadata.ts";
export { RecordStore } from "./record-store.ts";
export type { PutFileOptions, RecordStoreOptions, StoredRecord } from "./record-store.ts";
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
export { FileManifestHead, MAX_PREVIOUS_HEADS, isRecoverableHead } from "./manifest/manifest-head.ts";
export type {
  DroppedHeadEntry,
  FileManifestHeadOptions,
  ManifestHead,
  ManifestHeadValue,
  RecoverableManifestHead,
} from "./manifest/manifest-head.ts";
export { mergeEntries } from "./manifest/merge.ts";
export {
  DEFAULT_MAX_ATTEMPTS,
  MAX_RECIPIENT_ID_LENGTH,
  MAX_SHARE_RECIPIENTS,
  PatientManifest,
  manifestEntryFor,
  readManifest,
  unwrapRecordKey,
} from "./manifest/patient-manifest.ts";
export { recordKeyContext } from "./manifest/record-key-context.ts";
export type {
  HeadFallback,
  PatientManifestOptions,
  ReadManifestOptions,
  SharedRecord,
} from "./manifest/patient-manifest.ts";
export { recoverRecords, unsafeRecoverUnauthenticatedRecords } from "./manifest/recovery.ts";
export type { RecoveredRecord, Recovery } from "./manifest/recovery.ts";
export { PatientRecords } from "./patient-records.ts";
export type { AddedRecord, PatientRecordsOptions } from "./patient-records.ts";
export { DEFAULT_KUBO_TIMEOUT_MS, KuboContentStore } from "./kubo/kubo-content-store.ts";
export type { KuboContentStoreOptions } from "./kubo/kubo-content-store.ts";
export { MIN_STORE_TIMEOUT_MS } from "./idle-timeout.ts";
