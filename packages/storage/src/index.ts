// @hygeia/storage: one content-store interface over IPFS, an embedded Helia adapter, the encrypted record
// store and the patient manifest.
export * from "./errors.ts";
export { parseCid } from "./cid.ts";
export type { CidInput } from "./cid.ts";
export type { ByteSource, ContentStat, ContentStore, OperationOptions, PutResult } from "./content-store.ts";
export { DEFAULT_TIMEOUT_MS, HeliaContentStore, LOOPBACK_LISTEN } from "./helia/helia-content-store.ts";
export type { HeliaContentStoreOptions } from "./helia/helia-content-store.ts";
export { validateRecordMetadata } from "./record-metadata.ts";
export type { RecordKind, RecordMetadata } from "./record-metadata.ts";
export { RecordStore } from "./record-store.ts";
export type { RecordStoreOptions, StoredRecord } from "./record-store.ts";
