// @hygeia/storage: one content-store interface over IPFS, an embedded Helia adapter, the encrypted record
// store and the patient manifest. Everything that bundles for browsers is the browser entry's (browser.ts);
// this entry adds the Node-only parts.
export * from "./browser.ts";
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
export { RecordStore } from "./record-store.ts";
export type { PutFileOptions, RecordStoreOptions, StoredRecord } from "./record-store.ts";
export { FileManifestHead, MAX_PREVIOUS_HEADS, isRecoverableHead } from "./manifest/manifest-head.ts";
export type {
  DroppedHeadEntry,
  FileManifestHeadOptions,
  ManifestHead,
  ManifestHeadValue,
  RecoverableManifestHead,
} from "./manifest/manifest-head.ts";
export {
  DEFAULT_MAX_ATTEMPTS,
  MAX_RECIPIENT_ID_LENGTH,
  MAX_SHARE_RECIPIENTS,
  PatientManifest,
  manifestEntryFor,
  readManifest,
  unwrapRecordKey,
} from "./manifest/patient-manifest.ts";
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
