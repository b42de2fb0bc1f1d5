// The upload path in the order that keeps the manifest honest: encrypt and add the content, verify it is
// pinned with its full size, and only then list it in the manifest. If the upload fails, the manifest is
// untouched; if the manifest update fails, the ciphertext is stored but unlisted (retry addRecords).
import { wipe } from "@hygeia/crypto";
import type { ByteInput, RecipientKey, X25519KeyPair } from "@hygeia/crypto";
import type { CidInput } from "./cid.ts";
import type { ContentStore, OperationOptions } from "./content-store.ts";
import type { Manifest, ManifestEntry } from "./manifest/manifest-format.ts";
import type { ManifestHead } from "./manifest/manifest-head.ts";
import { PatientManifest } from "./manifest/patient-manifest.ts";
import type { SharedRecord } from "./manifest/patient-manifest.ts";
import type { RecordMetadata } from "./record-metadata.ts";
import { RecordStore } from "./record-store.ts";
import type { PutFileOptions, RecordStoreOptions, StoredRecord } from "./record-store.ts";

export interface PatientRecordsOptions extends RecordStoreOptions {
  store: ContentStore;
  head: ManifestHead;
  keyPair: X25519KeyPair;
  /** Read version 1 (unauthenticated) manifests: a one-time migration only (PatientManifestOptions). */
  acceptUnauthenticated?: boolean;
}

export interface AddedRecord {
  entry: ManifestEntry;
  manifest: Manifest;
}

export class PatientRecords {
  readonly records: RecordStore;
  readonly manifest: PatientManifest;

  constructor(options: PatientRecordsOptions) {
    this.records = new RecordStore(options.store, options);
    this.manifest = new PatientManifest(options);
  }

  /** Encrypts, stores and lists a record; `plaintext` is any ByteInput (see RecordStore.putRecord). */
  async addRecord(
    plaintext: ByteInput,
    metadata: RecordMetadata,
    options: OperationOptions = {},
  ): Promise<AddedRecord> {
    return this.#list(await this.records.putRecord(plaintext, metadata, options), options);
  }

  /** addRecord for a file on disk (RecordStore.putFile: reused read buffers, fails if the file changes meanwhile). */
  async addFile(path: string, metadata: RecordMetadata, options: PutFileOptions = {}): Promise<AddedRecord> {
    return this.#list(await this.records.putFile(path, metadata, options), options);
  }

  /** Lists a stored record in the manifest, then wipes its DEK. */
  async #list(stored: StoredRecord, options: OperationOptions): Promise<AddedRecord> {
    try {
      const manifest = await this.manifest.addRecords([stored], options);
      const entry = manifest.entries.find((candidate) => candidate.cid.equals(stored.cid));
      if (entry === undefined) throw new Error("unreachable: the committed manifest lacks the added record");
      return { entry, manifest };
    } finally {
      wipe(stored.dek);
    }
  }

  /**
   * Shares a listed record with other parties: `records.shareRecord(cid, await agent.encryptionKeys(clinicDid))`.
   * Returns the wraps to hand to the gateway; see PatientManifest.shareRecord.
   */
  shareRecord(
    cid: CidInput,
    recipients: readonly RecipientKey[],
    options: OperationOptions = {},
  ): Promise<SharedRecord> {
    return this.manifest.shareRecord(cid, recipients, options);
  }

  /** The record's verified plaintext, released only after its final chunk verified. */
  async readRecord(entry: ManifestEntry, options: OperationOptions = {}): Promise<Uint8Array> {
    const dek = this.manifest.unwrapRecordKey(entry);
    try {
      return await this.records.readRecord(entry.cid, dek, { ...options, maxPlaintextBytes: entry.plaintextSize });
    } finally {
      wipe(dek);
    }
  }

  /** Streams verified plaintext; complete only when iteration ends without error (see RecordStore.getRecord). */
  async *openRecord(entry: ManifestEntry, options: OperationOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
    const dek = this.manifest.unwrapRecordKey(entry);
    try {
      yield* this.records.getRecord(entry.cid, dek, options);
    } finally {
      wipe(dek);
    }
  }
}
