// @hygeia/storage/browser: the part of @hygeia/storage that bundles for browsers (the web wallet, the SDK's
// patient path). Everything of the main entry whose modules use no Node built-in or global:
//
// - the errors, `parseCid`, the content-store interface (types), record metadata validation,
// - the manifest document's types,
// - `KuboContentStore` (an adapter over a kubo-rpc-client the caller gives).
//
// Left out, each with the Node built-in or global that keeps it out (packages/sdk/test/browser-bundle.test.ts
// checks this list against the main entry):
// - manifest/manifest-format.ts (`MANIFEST_FORMAT`, the document's encoding) and manifest/merge.ts (`mergeEntries`,
//   through manifest-format's `shareKey`): use Node's global `Buffer` for base64;
// - manifest/manifest-seal.ts (`sealManifest`, `openManifest`, `manifestOwner`, `manifestKeyContext`, …): imports
//   `timingSafeEqual` from node:crypto (and encodes through manifest-format); manifest/patient-manifest.ts
//   (`recordKeyContext`, `manifestEntryFor`, `unwrapRecordKey`, `readManifest`, `PatientManifest`): imports
//   manifest-seal.ts, `isRecoverableHead` from manifest-head.ts, and uses `Buffer.concat`; manifest/recovery.ts
//   (`recoverRecords`): imports patient-manifest.ts;
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
export type { Manifest, ManifestDocument, ManifestEntry, RecordShare } from "./manifest/manifest-format.ts";
export { DEFAULT_KUBO_TIMEOUT_MS, KuboContentStore } from "./kubo/kubo-content-store.ts";
export type { KuboContentStoreOptions } from "./kubo/kubo-content-store.ts";
export { MIN_STORE_TIMEOUT_MS } from "./idle-timeout.ts";
