// The upload path in the order that keeps the manifest honest: encrypt and add the content, verify it is
// pinned with its full size, and only then list it in the manifest. If the upload fails, the manifest is
// untouched. If listing fails (the head's lock held too long, a disk error, lost races), the record is unpinned
// again: its DEK is wiped when the add returns and is wrapped nowhere but in the manifest, so an unlisted
// ciphertext could never be read by anyone, and the caller, who was told the add failed and still has the
// plaintext, adds it again. Unpinned only when the head surely does not list it: a write that failed after
// the head moved leaves it listed and pinned. A process killed between pinning and listing leaves the
// ciphertext pinned and unlisted (unreadable, never dangling: a manifest never lists what is not stored).
import { wipe } from "@hygeia/crypto";
import type { ByteInput, RecipientKey, X25519KeyPair } from "@hygeia/crypto";
import { parseCid } from "./cid.ts";
import type { CidInput } from "./cid.ts";
import type { CID } from "multiformats/cid";
import type { ContentStore, OperationOptions } from "./content-store.ts";
import { RecordNotFoundError } from "./errors.ts";
import { asCid, checkEntryToRead } from "./manifest/entry-input.ts";
import type { Manifest, ManifestEntry } from "./manifest/manifest-format.ts";
import type { ManifestHead } from "./manifest/manifest-head.ts";
import { PatientManifest } from "./manifest/patient-manifest.ts";
import type { HeadFallback, SharedRecord } from "./manifest/patient-manifest.ts";
import type { RecordMetadata } from "./record-metadata.ts";
import { RecordStore } from "./record-store.ts";
import type { PutFileOptions, RecordStoreOptions, StoredRecord } from "./record-store.ts";

export interface PatientRecordsOptions extends RecordStoreOptions {
  store: ContentStore;
  head: ManifestHead;
  keyPair: X25519KeyPair;
  /**
   * Read a version 1 (unauthenticated) head: a one-time migration of the patient's own manifest only, never a CID
   * passed in (PatientManifestOptions).
   */
  acceptUnauthenticated?: boolean;
  /** Told when a head naming lost content was moved back to the newest complete version (PatientManifestOptions). */
  onHeadFallback?: (fallback: HeadFallback) => void;
  /** How often an add re-reads the head and merges after losing a race to another writer (default 8). */
  maxAttempts?: number;
}

export interface AddedRecord {
  entry: ManifestEntry;
  manifest: Manifest;
}

export class PatientRecords {
  readonly records: RecordStore;
  readonly manifest: PatientManifest;

  readonly #store: ContentStore;

  constructor(options: PatientRecordsOptions) {
    this.manifest = new PatientManifest(options); // checks the options first: store, head, keyPair
    this.records = new RecordStore(options.store, options);
    this.#store = options.store;
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

  /** Lists a stored record in the manifest, then wipes its DEK; unpins it if it could not be listed. */
  async #list(stored: StoredRecord, options: OperationOptions): Promise<AddedRecord> {
    try {
      const manifest = await this.manifest.addRecords([stored], options);
      const entry = manifest.entries.find((candidate) => candidate.cid.equals(stored.cid));
      if (entry === undefined) throw new Error("unreachable: the committed manifest lacks the added record");
      return { entry, manifest };
    } catch (error) {
      if ((await this.#listed(stored.cid, options)) === false) {
        await this.#store.unpin(stored.cid, options).catch(() => undefined);
      }
      throw error;
    } finally {
      wipe(stored.dek);
    }
  }

  /** Whether the head's manifest lists `cid`; undefined when it cannot be read (then nothing is unpinned). */
  async #listed(cid: CID, options: OperationOptions): Promise<boolean | undefined> {
    try {
      const latest = await this.manifest.latest(options);
      return latest?.entries.some((entry) => entry.cid.equals(cid)) ?? false;
    } catch {
      return undefined;
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

  /**
   * The record's verified plaintext, released only after its final chunk verified. `record` is its ManifestEntry
   * (addRecord's `.entry`, `latest().entries`) or its CID (a string or CID, looked up in the latest manifest:
   * RecordNotFoundError when it does not list it). Anything else is an InvalidArgumentError with field "record".
   */
  async readRecord(record: ManifestEntry | CidInput, options: OperationOptions = {}): Promise<Uint8Array> {
    const entry = await this.#entry(record, options);
    const dek = this.manifest.unwrapRecordKey(entry);
    try {
      return await this.records.readRecord(entry.cid, dek, { ...options, maxPlaintextBytes: entry.plaintextSize });
    } finally {
      wipe(dek);
    }
  }

  /**
   * Streams verified plaintext; complete only when iteration ends without error (see RecordStore.getRecord).
   * `record` as for readRecord: a ManifestEntry or a CID listed in the latest manifest.
   */
  async *openRecord(
    record: ManifestEntry | CidInput,
    options: OperationOptions = {},
  ): AsyncGenerator<Uint8Array, void, undefined> {
    const entry = await this.#entry(record, options);
    const dek = this.manifest.unwrapRecordKey(entry);
    try {
      yield* this.records.getRecord(entry.cid, dek, options);
    } finally {
      wipe(dek);
    }
  }

  /** The entry `record` names: itself, or the latest manifest's entry for its CID. */
  async #entry(record: unknown, options: OperationOptions): Promise<ManifestEntry> {
    if (typeof record !== "string" && asCid(record) === undefined) return checkEntryToRead(record, "record", true);
    const cid = parseCid(record); // InvalidCidError for a string that is not a CID
    const latest = await this.manifest.latest(options);
    const entry = latest?.entries.find((candidate) => candidate.cid.equals(cid));
    if (latest === undefined || entry === undefined) {
      throw new RecordNotFoundError(
        cid.toString(),
        `record ${cid.toString()} is not in this patient's manifest${latest === undefined ? " (no manifest yet)" : ` (version ${latest.version})`}: check the CID, or read it with RecordStore.readRecord(cid, dek) if you hold its key`,
      );
    }
    return entry;
  }
}
