/**
 * The patient's records: add (encrypt, upload, wrap, register, list in the manifest), list, read, new versions, and
 * sharing existing records with a new grantee.
 *
 * Safety rules:
 * 1. Nothing readable leaves the device: a record is encrypted here, streamed (@hygeia/crypto's secretstream in
 *    64 KiB chunks: a multi-GB file never sits in memory), under a fresh data key (DEK) per record and per version.
 *    The gateway receives ciphertext, wraps (the DEK sealed to X25519 keys) and opaque keyed scope ids only.
 * 2. Input is checked before anything is sent: a FHIR resource needs a known `resourceType`, a Bundle's entries each a
 *    resource, a file some bytes, a stream its declared size (a stream that turns out longer or shorter fails the
 *    upload; the gateway unpins what was not registered). Nothing is uploaded for a refused input.
 * 3. A record's DEK is wrapped to the patient and to every current grantee whose consent covers one of the record's
 *    scope ids (`GET /v1/consents`, read before the upload; ids per consent address, pairwise ones included), and to
 *    no one else: a new version after a revoke is therefore unreadable to the revoked grantee.
 * 4. The record list lives in the patient's sealed manifest (@hygeia/storage's format, sealed and authenticated with
 *    the patient's X25519 key), uploaded like any ciphertext; the gateway keeps only a pointer to it, moved by
 *    compare-and-swap (`PUT /v1/manifest`): a device that lost a race re-reads, merges (entries and recipients only
 *    grow) and retries. A record is listed only after it is registered, so the list never names missing data.
 * 5. What is read back is trusted only once verified: `get()`'s stream errors on any tampered, truncated or
 *    wrongly-keyed chunk, and its data is complete only when the stream ends without error; `getBytes()` resolves
 *    only after the last chunk verified.
 *
 * Metadata kept per record (the manifest entry's fields): kind (fhir | file), FHIR type or media type, categories,
 * created, plaintext and ciphertext sizes, the self-wrap, and whom the DEK was wrapped to. The manifest format has
 * one `category` field: several categories are kept there joined by "." (consent categories never contain one).
 * It has no field for a file name or for a link to the previous version.
 *
 * Browser-safe: @hygeia/storage/browser, @hygeia/chain/browser, @hygeia/crypto and ethers only.
 */
import {
  createDecryptTransformStream,
  createEncryptTransformStream,
  encryptedSize,
  generateDataKey,
  HygeiaCryptoError,
  unwrapKey,
  wipe,
  wrapKey,
  type X25519KeyPair,
} from "@hygeia/crypto";
import { InvalidInputError } from "@hygeia/chain/browser";
import {
  HygeiaStorageError,
  MAX_MANIFEST_BYTES,
  manifestOwner,
  mergeEntries,
  openManifest,
  parseCid,
  recordKeyContext,
  sealManifest,
  type ManifestDocument,
  type ManifestEntry,
} from "@hygeia/storage/browser";
import { getAddress } from "ethers";
import {
  GatewayProblemError,
  HygeiaSdkError,
  IntegrityError,
  SdkInputError,
  UnexpectedResponseError,
} from "../errors.ts";
import { ProgressMeter, meteredStream, type ProgressCallback } from "../progress.ts";
import { streamOf } from "../transport.ts";
import type { PatientContext, RecordSharing } from "./context.ts";
import { ManifestAnchor, type AnchoredManifest, type AnchorOutcome } from "./anchor.ts";
import { addressOf, encryptionKeysOf, type EncryptionKey } from "./did-key.ts";

/** The media type a FHIR record is listed under. */
export const FHIR_MEDIA_TYPE = "application/fhir+json";
/** The manifest's `category` of a record filed under no category. */
export const NO_CATEGORY = "uncategorized";
/** How many earlier versions an anchor looks back through for the anchored list (see #descendsFrom). */
const MAX_LINEAGE_HOPS = 16;
/** How often a manifest update is retried on top of another device's (compare-and-swap lost). */
export const MANIFEST_ATTEMPTS = 8;
/** A FHIR JSON given as bytes is parsed in memory: at most this large (files of any size go as `kind: "file"`). */
export const MAX_FHIR_JSON_BYTES = 64 * 1024 * 1024;
/** The gateway's limit of scope ids per consent address and record. */
const MAX_SCOPE_IDS = 32;
const FHIR_TYPE = /^[A-Z][A-Za-z]{0,63}$/;
const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;

/** A FHIR R4 resource (or Bundle) as a JSON object. */
export interface FhirResource {
  resourceType: string;
  [element: string]: unknown;
}

/** A stream of bytes with what cannot be learnt from it beforehand. */
export interface StreamInput {
  stream: ReadableStream<Uint8Array>;
  /** Exact byte count: the upload's length, progress total and ETA. */
  size: number;
  /** Lower-case media type, e.g. `application/pdf`, `application/dicom`; `application/fhir+json` for FHIR JSON. */
  mediaType: string;
}

/** What `add` takes: a FHIR resource object, bytes, a Blob / File (browser upload), or a stream with its size. */
export type RecordInput = FhirResource | Uint8Array | Blob | StreamInput;

export interface AddRecordOptions {
  /** Consent categories the record belongs to (`laboratory`, `imaging`, …: @hygeia/chain's CONSENT_CATEGORIES). */
  categories?: readonly string[];
  /**
   * Media type of bytes or a Blob (default the Blob's type, else `application/octet-stream`). `application/fhir+json`
   * or `application/json` bytes are parsed and checked as FHIR and listed as a FHIR record.
   */
  mediaType?: string;
  /** When the record was made (default now). */
  created?: Date;
  /** Upload progress (ciphertext bytes, total, rate, ETA). */
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

export interface GetRecordOptions {
  /** Download progress (ciphertext bytes, total, rate, ETA). */
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
}

/** A recipient the record's key was wrapped to (besides the patient). */
export interface RecordRecipient {
  /** The key id (the recipient's DID URL, `did:ethr:…#delegate-N`). */
  keyId: string;
  /** ISO 8601. */
  sharedAt: string;
}

/** One of the patient's records, as the manifest lists it. */
export interface PatientRecord {
  cid: string;
  kind: "fhir" | "file";
  /** The FHIR resource type of a FHIR record. */
  resourceType: string | undefined;
  /** `application/fhir+json` for FHIR records. */
  mediaType: string;
  categories: string[];
  /** Plaintext bytes. */
  size: number;
  /** Ciphertext bytes (what is stored). */
  storedSize: number;
  /** ISO 8601. */
  createdAt: string;
  sharedWith: RecordRecipient[];
}

export interface AddedRecord extends PatientRecord {
  /** The keyed scope ids registered with the record, per consent address. */
  scopeIds: Record<string, string[]>;
  /** Grantee addresses the DEK was wrapped to (their consent covers the record). */
  wrappedTo: string[];
  /** Grantees whose consent covers the record but who publish no encryption key: not wrapped to. */
  notWrapped: { grantee: string; reason: string }[];
  /** Whether the record list holding it is anchored on chain yet (see anchor.ts: a failure loses nothing). */
  anchor: AnchorOutcome;
}

/** What `recover()` found and did. */
export interface RecoveryReport {
  /** The record-list version anchored on chain (undefined: this wallet never anchored one). */
  anchoredVersion: number | undefined;
  /** Records listed after the recovery. */
  listed: number;
  /** Records the anchored list had and the gateway's list lacked: listed again. */
  relisted: number;
  /** Records this gateway had lost: registered again (key wraps to the patient and to current grantees). */
  reregistered: number;
  /** Listed records this gateway cannot serve (it does not hold their ciphertext, or another address holds it). */
  unavailable: { cid: string; code: string; reason: string }[];
  /** The anchor of the recovered list. */
  anchor: AnchorOutcome;
}

export interface RecordContent {
  metadata: PatientRecord;
  /** The plaintext, decrypted as it arrives: complete and authentic only when it ends without an error. */
  body: ReadableStream<Uint8Array>;
}

interface ConsentListing {
  patient: string;
  consentAddresses: string[];
  consents: { consentAddress: string; grantee: string; scope: string; purpose: number; expiry: number }[];
}

interface GatewayRecord {
  cid: string;
  size: number;
  scopeIds: Record<string, string[]>;
  createdAt: number;
  recipients: string[];
}

interface ManifestPointer {
  cid: string | null;
  version: number;
}

interface PreparedInput {
  kind: "fhir" | "file";
  resourceType: string | undefined;
  mediaType: string;
  /** Extra FHIR types a Bundle's entries carry: a grant on any of them covers the Bundle. */
  entryTypes: string[];
  categories: string[];
  size: number;
  stream: () => ReadableStream<Uint8Array>;
}

export interface PatientRecordsOptions {
  /** Key pairs of earlier key indexes (before a rotation): tried for wraps and manifests the current key cannot open. */
  previousKeys?: readonly X25519KeyPair[];
}

export class PatientRecords implements RecordSharing {
  readonly #context: PatientContext;
  #previousKeys: X25519KeyPair[];
  #manifestCache: { cid: string; document: ManifestDocument } | undefined;
  /** Manifest updates of this instance run one at a time (they would only race each other). */
  #queue: Promise<unknown> = Promise.resolve();

  readonly #anchor: ManifestAnchor;

  constructor(context: PatientContext, options: PatientRecordsOptions = {}) {
    this.#context = context;
    this.#previousKeys = [...(options.previousKeys ?? [])];
    this.#anchor = new ManifestAnchor(context);
  }

  get #transport() {
    return this.#context.connection.transport;
  }

  get #self(): string {
    return getAddress(this.#context.address);
  }

  /**
   * Encrypts and uploads a record, wraps its key to the patient and to every grantee whose consent covers it,
   * registers it at the gateway and lists it in the manifest. See the rules at the top.
   */
  async add(input: RecordInput, options: AddRecordOptions = {}): Promise<AddedRecord> {
    const prepared = await prepareInput(input, options);
    const scopes = this.#context.keys.scopes;
    // Validates the FHIR type and categories before anything is sent (the ids proper need the CID).
    scopeIdsFor(scopes, undefined, prepared);
    const consents = await this.#transport.request<ConsentListing>("GET", "/v1/consents");

    const dek = generateDataKey();
    try {
      const ciphertextSize = encryptedSize(prepared.size);
      let inputError: HygeiaSdkError | undefined;
      const ciphertext = prepared
        .stream()
        .pipeThrough(
          sizeGuard(prepared.size, (error) => {
            inputError = error;
          }),
        )
        .pipeThrough(createEncryptTransformStream(dek));
      let uploaded: { cid: string; size: number };
      try {
        uploaded = await this.#transport.upload<{ cid: string; size: number }>("/v1/uploads", ciphertext, {
          size: ciphertextSize,
          ...(options.onProgress ? { onProgress: options.onProgress } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        });
      } catch (error) {
        throw inputError ?? error;
      }
      if (inputError) throw inputError;
      if (typeof uploaded?.cid !== "string" || uploaded.size !== ciphertextSize)
        throw new UnexpectedResponseError(
          "PUT /v1/uploads",
          `the gateway stored ${String(uploaded?.size)} bytes of a ${ciphertextSize}-byte ciphertext`,
        );
      const cid = uploaded.cid;
      const context = recordKeyContext(parseCid(cid));

      const { scopeIds, grantees } = coverageOf(this.#self, scopes, cid, prepared, consents);
      const { selfWrap, wraps, sharedWith, wrappedTo, notWrapped } = await this.#wrapsFor(dek, context, grantees);
      await this.#transport.request("POST", "/v1/records", { json: { cid, scopeIds, wraps } });

      const created = (options.created ?? new Date()).toISOString();
      const entry: ManifestEntry = {
        cid: parseCid(cid),
        kind: prepared.kind,
        type: prepared.kind === "fhir" ? prepared.resourceType! : prepared.mediaType,
        category: encodeCategories(prepared.categories),
        created,
        size: ciphertextSize,
        plaintextSize: prepared.size,
        dekWrap: selfWrap,
        sharedWith,
      };
      const anchor = await this.#updateManifest((entries) => mergeEntries(entries, [entry]));
      return { ...recordOf(entry), scopeIds, wrappedTo, notWrapped, anchor };
    } finally {
      wipe(dek);
    }
  }

  /**
   * A new version of record `cid`: a new record with a NEW data key, wrapped only to the grantees whose consent
   * covers it now (so a grantee revoked since the last version cannot read it), with the old one's categories unless
   * `options.categories` says otherwise. The old version stays listed and readable as before.
   */
  async newVersion(cid: string, input: RecordInput, options: AddRecordOptions = {}): Promise<AddedRecord> {
    const previous = await this.#entry(cid);
    return this.add(input, { categories: decodeCategories(previous.category), ...options });
  }

  /** The patient's records, newest first, from the manifest (no gateway state beyond its pointer). */
  async list(): Promise<PatientRecord[]> {
    const { document } = await this.#readManifest();
    return (document?.entries ?? [])
      .map(recordOf)
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.cid < b.cid ? -1 : 1));
  }

  /** The listed record `cid` (undefined when the list does not hold it); a malformed CID is a usage error. */
  async find(cid: string): Promise<PatientRecord | undefined> {
    const entry = await this.#entry(cid, { allowUnlisted: true });
    return entry === undefined ? undefined : recordOf(entry);
  }

  /** The gateway's view of the patient's records (who holds a wrap, the scope ids registered), newest first. */
  async gatewayRecords(): Promise<GatewayRecord[]> {
    const records: GatewayRecord[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.#transport.request<{ records: GatewayRecord[]; next: string | null }>(
        "GET",
        "/v1/records",
        { query: { limit: 100, after } },
      );
      records.push(...page.records);
      if (!page.next) return records;
      after = page.next;
    }
  }

  /**
   * Record `cid`: its metadata, and its plaintext as a stream decrypted here as it downloads. The key comes from the
   * manifest's self-wrap (no gateway key release, no audit event); a record the manifest does not list (registered
   * by a device that failed before listing it) is opened with the owner's key release instead.
   */
  async get(cid: string, options: GetRecordOptions = {}): Promise<RecordContent> {
    const entry = await this.#entry(cid, { allowUnlisted: true });
    const canonical = parseCidInput(cid).toString();
    const context = recordKeyContext(parseCid(canonical));
    let dek: Uint8Array;
    if (entry) dek = this.#unwrap(entry.dekWrap, context);
    else {
      // Not listed: only a record registered here (by a device that failed before listing it) is the patient's;
      // anything else is RECORD_NOT_FOUND, not a consent refusal of the patient's own key release.
      await this.#transport.request("GET", `/v1/records/${canonical}`).catch((error: unknown) => {
        throw error instanceof GatewayProblemError && error.code === "RECORD_NOT_FOUND"
          ? recordNotListed(canonical)
          : error;
      });
      const released = await this.#transport.request<{ wrap: string }>(
        "POST",
        `/v1/patients/${this.#self}/records/${canonical}/key`,
        { json: { purpose: "Treatment" } },
      );
      dek = this.#unwrap(fromBase64url(released.wrap), context);
    }
    const download = await this.#transport.download(`/v1/patients/${this.#self}/records/${canonical}/content`, {
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const total = download.size ?? entry?.size;
    const ciphertext = options.onProgress
      ? meteredStream(download.body, new ProgressMeter(total, options.onProgress))
      : download.body;
    const body = decrypted(ciphertext, dek);
    const metadata: PatientRecord = entry
      ? recordOf(entry)
      : {
          cid: canonical,
          kind: "file",
          resourceType: undefined,
          mediaType: "application/octet-stream",
          categories: [],
          size: Math.max(0, (total ?? 0) - 34),
          storedSize: total ?? 0,
          createdAt: new Date(0).toISOString(),
          sharedWith: [],
        };
    return { metadata, body };
  }

  /** Record `cid` read whole: resolves only once every chunk verified (use `get` for large files). */
  async getBytes(cid: string, options: GetRecordOptions = {}): Promise<{ metadata: PatientRecord; bytes: Uint8Array }> {
    const { metadata, body } = await this.get(cid, options);
    return { metadata, bytes: await readAll(body) };
  }

  /** A FHIR record read whole and parsed. */
  async getFhir(cid: string, options: GetRecordOptions = {}): Promise<FhirResource> {
    const { metadata, bytes } = await this.getBytes(cid, options);
    if (metadata.kind !== "fhir")
      throw new SdkInputError(
        "cid",
        `record ${cid} is a ${metadata.mediaType} file, not FHIR`,
        "Use getBytes() for it.",
      );
    return JSON.parse(new TextDecoder().decode(bytes)) as FhirResource;
  }

  /**
   * RecordSharing: wraps the DEK of every listed record that carries one of `scopeIds` (under the patient's main
   * address or one of its linked consent addresses) to `grantee`'s current X25519 key, stores the wraps at the
   * gateway (and the record's ids under a consent address it was not yet filed under), and notes the recipient in
   * the manifest. Resolves to the number of records shared. A grantee without a published key is refused
   * (`GRANTEE_HAS_NO_KEY`) before anything is sent.
   */
  async shareScopesWith(grantee: string, scopeIds: readonly string[]): Promise<number> {
    const granteeAddress = addressOf(grantee, "grantee");
    if (!Array.isArray(scopeIds) || scopeIds.some((id) => typeof id !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(id)))
      throw new SdkInputError("scopeIds", "must be bytes32 scope ids (0x + 64 hex digits)");
    const wanted = new Set(scopeIds.map((id) => id.toLowerCase()));
    if (wanted.size === 0) return 0;
    const key = await this.#currentKeyOf(granteeAddress);
    if (!key)
      throw new HygeiaSdkError(
        "GRANTEE_HAS_NO_KEY",
        "refused",
        `${granteeAddress} publishes no encryption key, so nothing can be shared with it`,
        { hint: "Ask the grantee to publish its X25519 key in its DID document, then share again.", field: "grantee" },
      );
    const [{ document }, consents, registered] = await Promise.all([
      this.#readManifest(),
      this.#transport.request<ConsentListing>("GET", "/v1/consents"),
      this.gatewayRecords(),
    ]);
    const byCid = new Map(registered.map((record) => [record.cid, record]));
    const addresses = consentAddressesOf(this.#self, consents);
    const scopes = this.#context.keys.scopes;
    const sharedAt = new Date().toISOString();
    const changed: ManifestEntry[] = [];
    for (const entry of document?.entries ?? []) {
      const cid = entry.cid.toString();
      const onGateway = byCid.get(cid);
      if (!onGateway) continue; // listed but not (or no longer) at this gateway: nothing to release from here
      let match: { address: string; ids: string[]; register: boolean } | undefined;
      for (const address of addresses) {
        const registeredIds = onGateway.scopeIds[address.toLowerCase()];
        const ids = registeredIds ?? scopeIdsFor(scopes.forAddress(address), cid, preparedOf(entry));
        if (ids.some((id) => wanted.has(id.toLowerCase()))) {
          match = { address, ids, register: registeredIds === undefined };
          break;
        }
      }
      if (!match) continue;
      const context = recordKeyContext(entry.cid);
      const dek = this.#unwrap(entry.dekWrap, context);
      try {
        const wrap = base64url(wrapKey(dek, key.publicKey, context));
        await this.#transport.request("POST", `/v1/records/${cid}/wraps`, {
          json: { wraps: [{ recipient: granteeAddress, wrap }] },
        });
      } finally {
        wipe(dek);
      }
      if (match.register)
        await this.#transport.request("PUT", `/v1/records/${cid}/scope-ids`, {
          json: { consentAddress: match.address, scopeIds: match.ids },
        });
      changed.push({ ...entry, sharedWith: [{ id: key.id, publicKey: key.publicKey, sharedAt }] });
    }
    if (changed.length > 0) await this.#updateManifest((entries) => mergeEntries(entries, changed));
    return changed.length;
  }

  /**
   * After a key rotation: re-wraps every record's DEK to `next` (the manifest's self-wraps and the gateway's self-wraps)
   * and re-seals the manifest to it. The earlier key pairs stay usable for reading until this has run.
   */
  async rewrapToKey(previous: X25519KeyPair, next: X25519KeyPair): Promise<number> {
    this.#previousKeys = [previous, ...this.#previousKeys];
    this.#context.keys.encryption = next;
    const { document } = await this.#readManifest();
    const rewrapped: ManifestEntry[] = [];
    for (const entry of document?.entries ?? []) {
      const context = recordKeyContext(entry.cid);
      const dek = this.#unwrap(entry.dekWrap, context);
      try {
        const dekWrap = wrapKey(dek, next.publicKey, context);
        await this.#transport.request("POST", `/v1/records/${entry.cid.toString()}/wraps`, {
          json: { wraps: [{ recipient: this.#self, wrap: base64url(dekWrap) }] },
        });
        rewrapped.push({ ...entry, dekWrap });
      } finally {
        wipe(dek);
      }
    }
    const byCid = new Map(rewrapped.map((entry) => [entry.cid.toString(), entry]));
    // The self-wraps are replaced (not merged): the first side of mergeEntries wins for a CID on both sides.
    await this.#updateManifest((entries) =>
      mergeEntries(
        entries.map((entry) => byCid.get(entry.cid.toString()) ?? entry),
        [],
      ),
    );
    return rewrapped.length;
  }

  /** The manifest's CID and version as the gateway points at them (null before the first record). */
  async manifestPointer(): Promise<ManifestPointer> {
    return this.#transport.request<ManifestPointer>("GET", "/v1/manifest");
  }

  /** The record list's anchor on chain: its newest version and manifest CID (undefined before the first). */
  async anchored(): Promise<AnchoredManifest | undefined> {
    return this.#anchor.read();
  }

  /**
   * Anchors the gateway's current record list on chain (when the chain holds an older one): what a failed anchor
   * after `add` leaves to do. `{ status: "current", version: 0 }` when there is no list yet.
   */
  async anchor(): Promise<AnchorOutcome> {
    const head = await this.#readManifest();
    if (head.pointer === null || head.document === undefined) return { status: "current", version: 0 };
    const { pointer, document } = head;
    return this.#anchor.write({ version: document.version, cid: pointer }, (anchored) =>
      this.#descendsFrom(pointer, document, anchored),
    );
  }

  /**
   * Recovers the record list from the chain (a new device, or a gateway that lost its database): reads the anchored
   * list (the chain, then its sealed manifest by CID from IPFS through the gateway), merges it into the gateway's,
   * registers again every listed record the gateway lost (wrapped to the patient and to the grantees whose consent
   * covers it now), and anchors the result. Needs nothing but the wallet; safe to run again at any time.
   */
  async recover(): Promise<RecoveryReport> {
    const anchored = await this.#anchor.read();
    let relisted = 0;
    if (anchored) {
      const document = await this.#openSealed(await this.#fetchManifest(anchored.cid), anchored.cid);
      // The seal authenticates the version: an older genuine manifest served for this CID is a rollback.
      if (document.version !== anchored.version)
        throw new IntegrityError(
          "ANCHORED_MANIFEST_MISMATCH",
          `the gateway served version ${document.version} of your record list for the anchored version ${anchored.version}`,
          "Do not trust this gateway's copy; recover through another gateway that holds your records.",
        );
      const head = await this.#readManifest();
      // Merged unless the gateway's list already descends from the anchored one; the merged version then follows
      // the anchored one (its prev), so the next anchor continues the chain's line instead of replacing it.
      const descends =
        head.pointer !== null &&
        head.document !== undefined &&
        (await this.#descendsFrom(head.pointer, head.document, anchored));
      if (!descends) {
        const have = new Set((head.document?.entries ?? []).map((entry) => entry.cid.toString()));
        relisted = document.entries.filter((entry) => !have.has(entry.cid.toString())).length;
        await this.#updateManifest((entries) => mergeEntries(entries, document.entries), {
          anchor: false,
          after: anchored,
        });
      }
    }
    const { document } = await this.#readManifest();
    const entries = document?.entries ?? [];
    const registered = new Set((await this.gatewayRecords()).map((record) => record.cid));
    const missing = entries.filter((entry) => !registered.has(entry.cid.toString()));
    const unavailable: RecoveryReport["unavailable"] = [];
    let reregistered = 0;
    if (missing.length > 0) {
      const consents = await this.#transport.request<ConsentListing>("GET", "/v1/consents");
      for (const entry of missing) {
        try {
          await this.#reregister(entry, consents);
          reregistered++;
        } catch (error) {
          if (!(error instanceof GatewayProblemError) || error.status !== 409) throw error;
          unavailable.push({ cid: entry.cid.toString(), code: error.code, reason: error.problem.detail });
        }
      }
    }
    return {
      anchoredVersion: anchored?.version,
      listed: entries.length,
      relisted,
      reregistered,
      unavailable,
      anchor: await this.anchor(),
    };
  }

  // ---- internals

  /** The wraps of `dek`: the patient's own (`selfWrap`, to its current key) and each grantee's that publishes a key. */
  async #wrapsFor(dek: Uint8Array, context: string, grantees: Iterable<string>) {
    const selfWrap = wrapKey(dek, this.#context.keys.encryption.publicKey, context);
    const wraps = [{ recipient: this.#self, wrap: base64url(selfWrap) }];
    const sharedAt = new Date().toISOString();
    const sharedWith: ManifestEntry["sharedWith"][number][] = [];
    const wrappedTo: string[] = [];
    const notWrapped: AddedRecord["notWrapped"] = [];
    for (const grantee of grantees) {
      const key = await this.#currentKeyOf(grantee);
      if (!key) {
        notWrapped.push({ grantee, reason: "publishes no encryption key in its DID document" });
        continue;
      }
      wraps.push({ recipient: grantee, wrap: base64url(wrapKey(dek, key.publicKey, context)) });
      sharedWith.push({ id: key.id, publicKey: key.publicKey, sharedAt });
      wrappedTo.push(grantee);
    }
    return { selfWrap, wraps, sharedWith, wrappedTo, notWrapped };
  }

  /** Registers a listed record again at a gateway that lost it: the rules of `add`, with the listed DEK. */
  async #reregister(entry: ManifestEntry, consents: ConsentListing): Promise<void> {
    const cid = entry.cid.toString();
    const context = recordKeyContext(entry.cid);
    const { scopeIds, grantees } = coverageOf(this.#self, this.#context.keys.scopes, cid, preparedOf(entry), consents);
    const dek = this.#unwrap(entry.dekWrap, context);
    try {
      const { wraps } = await this.#wrapsFor(dek, context, grantees);
      await this.#transport.request("POST", "/v1/records", { json: { cid, scopeIds, wraps } });
    } finally {
      wipe(dek);
    }
  }

  async #currentKeyOf(address: string): Promise<EncryptionKey | undefined> {
    return (await encryptionKeysOf(this.#context.connection, address))[0];
  }

  async #entry(cid: string, options?: { allowUnlisted?: false }): Promise<ManifestEntry>;
  async #entry(cid: string, options: { allowUnlisted: true }): Promise<ManifestEntry | undefined>;
  async #entry(cid: string, options: { allowUnlisted?: boolean } = {}): Promise<ManifestEntry | undefined> {
    const wanted = parseCidInput(cid).toString();
    const { document } = await this.#readManifest();
    const entry = document?.entries.find((candidate) => candidate.cid.toString() === wanted);
    if (!entry && !options.allowUnlisted) throw recordNotListed(wanted);
    return entry;
  }

  #unwrap(wrap: Uint8Array, context: string): Uint8Array {
    let last: unknown;
    for (const keyPair of [this.#context.keys.encryption, ...this.#previousKeys]) {
      try {
        return unwrapKey(wrap, keyPair, context);
      } catch (error) {
        if (!(error instanceof HygeiaCryptoError)) throw error;
        last = error;
      }
    }
    throw new IntegrityError(
      "WRAP_UNREADABLE",
      "this record's key is not wrapped to any of your keys (or the wrap was altered)",
      "If you rotated your encryption key, connect with the previous key index too; otherwise report this record.",
      { cause: last },
    );
  }

  /** The manifest the gateway points at, opened and checked with the patient's key (cached by CID). */
  async #readManifest(): Promise<{ pointer: string | null; document: ManifestDocument | undefined }> {
    const pointer = await this.manifestPointer();
    if (pointer.cid === null) return { pointer: null, document: undefined };
    if (this.#manifestCache?.cid === pointer.cid)
      return { pointer: pointer.cid, document: this.#manifestCache.document };
    const document = await this.#openSealed(await this.#fetchManifest(pointer.cid), pointer.cid);
    this.#manifestCache = { cid: pointer.cid, document };
    return { pointer: pointer.cid, document };
  }

  /** A sealed manifest's bytes, by CID (`GET /v1/manifests/:cid`). */
  async #fetchManifest(cid: string): Promise<Uint8Array> {
    try {
      const download = await this.#transport.download(`/v1/manifests/${cid}`);
      return await readAll(download.body, MAX_MANIFEST_BYTES);
    } catch (error) {
      if (error instanceof GatewayProblemError && error.code === "MANIFEST_NOT_FOUND")
        throw new HygeiaSdkError(
          "MANIFEST_NOT_AVAILABLE",
          "unavailable",
          `this gateway does not hold your record list's manifest ${cid}`,
          {
            hint: "Connect to the gateway your records were stored through (its IPFS node holds them), then recover.",
            cause: error,
          },
        );
      throw error;
    }
  }

  /**
   * Whether the list `cid` (`document`) is `anchored` or follows it: walks `prev` back (versions only decrease) up to
   * MAX_LINEAGE_HOPS manifests. Usually one step: each update's prev is the list anchored just before. A manifest
   * that cannot be read ends the walk with false (then the anchored list is merged, which loses nothing).
   */
  async #descendsFrom(cid: string, document: ManifestDocument, anchored: AnchoredManifest): Promise<boolean> {
    let current = { cid, document };
    for (let hop = 0; hop <= MAX_LINEAGE_HOPS; hop++) {
      if (current.cid === anchored.cid) return true;
      const prev = current.document.prev?.toString();
      if (prev === undefined || current.document.version <= anchored.version) return false;
      if (prev === anchored.cid) return true;
      try {
        current = { cid: prev, document: await this.#openSealed(await this.#fetchManifest(prev), prev) };
      } catch (error) {
        if (error instanceof HygeiaSdkError) return false;
        throw error;
      }
    }
    return false;
  }

  /** Opens a sealed manifest with the patient's current or an earlier key. */
  async #openSealed(sealed: Uint8Array, cid: string): Promise<ManifestDocument> {
    let last: unknown;
    for (const keyPair of [this.#context.keys.encryption, ...this.#previousKeys]) {
      try {
        return await openManifest(sealed, keyPair);
      } catch (error) {
        if (!(error instanceof HygeiaStorageError)) throw error;
        last = error;
      }
    }
    throw new IntegrityError(
      "MANIFEST_UNREADABLE",
      `your record list (manifest ${cid}) does not open with your key: it is not yours, or it was altered`,
      "Do not trust this gateway's manifest pointer; recover your record list from the chain anchor or another device.",
      { cause: last },
    );
  }

  /**
   * Writes a new manifest version from the current one (`change`), compare-and-swap, merged and retried on a race;
   * then anchors it on chain (unless `anchor: false`).
   */
  async #updateManifest(
    change: (entries: ManifestEntry[]) => ManifestEntry[],
    options: { anchor?: boolean; after?: AnchoredManifest } = {},
  ): Promise<AnchorOutcome> {
    const run = this.#queue.then(() => this.#writeManifest(change, options.anchor ?? true, options.after));
    this.#queue = run.catch(() => undefined);
    const outcome = await run;
    if (outcome.status !== "behind") return outcome;
    // The chain anchors a list this one does not descend from (this gateway lost its state, an anchor failed, or
    // another gateway holds the newer list): merge it in now, or the chain's newest list would leave its records
    // out. The update itself is done: a failed merge is reported, never thrown.
    try {
      return (await this.recover()).anchor;
    } catch (error) {
      return {
        status: "failed",
        version: outcome.version,
        code: error instanceof HygeiaSdkError ? error.code : "RECOVERY_FAILED",
        reason: `the chain anchors version ${outcome.anchoredVersion}, which this list does not include, and merging it failed: ${error instanceof Error ? error.message : String(error)}`,
      };
    }
  }

  /**
   * One new manifest version from the current one; `after`: the anchored list being merged in, which the new
   * version follows (prev and version) instead of the gateway's.
   */
  async #writeManifest(
    change: (entries: ManifestEntry[]) => ManifestEntry[],
    anchor: boolean,
    after?: AnchoredManifest,
  ): Promise<AnchorOutcome> {
    const keyPair = this.#context.keys.encryption;
    for (let attempt = 1; attempt <= MANIFEST_ATTEMPTS; attempt++) {
      const head = await this.#readManifest();
      const prev = after?.cid ?? head.pointer;
      const document: ManifestDocument = {
        owner: manifestOwner(keyPair.publicKey),
        version: Math.max(head.document?.version ?? 0, after?.version ?? 0) + 1,
        prev: prev === null ? undefined : parseCid(prev),
        updated: new Date().toISOString(),
        entries: change(head.document?.entries ?? []),
      };
      const sealed = await sealManifest(document, keyPair);
      const { cid } = await this.#transport.upload<{ cid: string }>("/v1/uploads", sealed);
      try {
        await this.#transport.request("PUT", "/v1/manifest", { json: { expected: head.pointer, cid } });
      } catch (error) {
        if (error instanceof GatewayProblemError && error.code === "MANIFEST_CONFLICT") continue;
        throw error;
      }
      this.#manifestCache = { cid, document };
      if (!anchor) return { status: "current", version: document.version };
      return this.#anchor.write({ version: document.version, cid }, (anchored) =>
        this.#descendsFrom(cid, document, anchored),
      );
    }
    throw new HygeiaSdkError(
      "MANIFEST_CONFLICT",
      "conflict",
      `your record list changed under this update ${MANIFEST_ATTEMPTS} times in a row (another device is writing)`,
      { hint: "Wait until your other device is done, then try again; nothing you added is lost." },
    );
  }
}

// ---- input

async function prepareInput(input: RecordInput, options: AddRecordOptions): Promise<PreparedInput> {
  if (options.created !== undefined && (!(options.created instanceof Date) || Number.isNaN(options.created.getTime())))
    throw new SdkInputError("created", "must be a valid Date");
  // The manifest keeps ISO 8601 with a four-digit year; toISOString writes "+099999-…" outside 0000-9999, which
  // every reader (this one included) refuses: one such entry would make the whole record list unreadable.
  const year = options.created?.getUTCFullYear();
  if (year !== undefined && (year < 1 || year > 9999))
    throw new SdkInputError("created", `the year ${year} is outside 1 to 9999`, "Give the date the record was made.");
  const categories = checkCategories(options.categories);
  if (input instanceof Uint8Array) {
    const mediaType = checkMediaType(options.mediaType ?? "application/octet-stream");
    if (input.byteLength === 0) throw emptyInput();
    if (isJsonType(mediaType)) return fhirInput(parseFhirBytes(input), input, categories);
    return fileInput(mediaType, input.byteLength, () => streamOf(input), categories);
  }
  if (typeof Blob !== "undefined" && input instanceof Blob) {
    const mediaType = checkMediaType(options.mediaType ?? (input.type.split(";")[0] || "application/octet-stream"));
    if (input.size === 0) throw emptyInput();
    if (isJsonType(mediaType)) {
      if (input.size > MAX_FHIR_JSON_BYTES) throw tooLargeFhir();
      const bytes = new Uint8Array(await input.arrayBuffer());
      return fhirInput(parseFhirBytes(bytes), bytes, categories);
    }
    return fileInput(mediaType, input.size, () => input.stream(), categories);
  }
  if (isStreamInput(input)) {
    const mediaType = checkMediaType(input.mediaType);
    if (!Number.isSafeInteger(input.size) || input.size < 0)
      throw new SdkInputError("size", "must be the stream's exact byte count", "Declare the stream's size in bytes.");
    if (input.size === 0) throw emptyInput();
    if (isJsonType(mediaType)) {
      if (input.size > MAX_FHIR_JSON_BYTES) throw tooLargeFhir();
      const bytes = await readAll(input.stream, input.size);
      if (bytes.byteLength !== input.size)
        throw new SdkInputError("size", `the stream held ${bytes.byteLength} bytes, not the declared ${input.size}`);
      return fhirInput(parseFhirBytes(bytes), bytes, categories);
    }
    let taken = false;
    return fileInput(
      mediaType,
      input.size,
      () => {
        if (taken) throw new SdkInputError("input", "a stream can be uploaded once");
        taken = true;
        return input.stream;
      },
      categories,
    );
  }
  if (typeof input === "object" && input !== null && !Array.isArray(input)) {
    checkFhir(input, "input");
    const bytes = new TextEncoder().encode(JSON.stringify(input));
    return fhirInput(input as FhirResource, bytes, categories);
  }
  throw new SdkInputError(
    "input",
    `cannot add ${describe(input)}`,
    "Give a FHIR resource object, a Uint8Array, a Blob / File, or { stream, size, mediaType }.",
  );
}

function fhirInput(resource: FhirResource, bytes: Uint8Array, categories: string[]): PreparedInput {
  const entryTypes =
    resource.resourceType === "Bundle"
      ? [...new Set(bundleEntries(resource).map((entry) => entry.resourceType))].filter((t) => t !== "Bundle")
      : [];
  return {
    kind: "fhir",
    resourceType: resource.resourceType,
    mediaType: FHIR_MEDIA_TYPE,
    entryTypes,
    categories,
    size: bytes.byteLength,
    stream: () => streamOf(bytes),
  };
}

function fileInput(
  mediaType: string,
  size: number,
  stream: () => ReadableStream<Uint8Array>,
  categories: string[],
): PreparedInput {
  return { kind: "file", resourceType: undefined, mediaType, entryTypes: [], categories, size, stream };
}

/** The descriptor `scopeIdsFor` needs, from a manifest entry (a Bundle's entry types are not kept there). */
function preparedOf(entry: ManifestEntry): PreparedInput {
  return {
    kind: entry.kind,
    resourceType: entry.kind === "fhir" ? entry.type : undefined,
    mediaType: entry.kind === "fhir" ? FHIR_MEDIA_TYPE : entry.type,
    entryTypes: [],
    categories: decodeCategories(entry.category),
    size: entry.plaintextSize,
    stream: () => {
      throw new Error("not an input");
    },
  };
}

function parseFhirBytes(bytes: Uint8Array): FhirResource {
  if (bytes.byteLength > MAX_FHIR_JSON_BYTES) throw tooLargeFhir();
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new SdkInputError(
      "input",
      "is not JSON (UTF-8), so it is not a FHIR resource",
      "Give FHIR R4 JSON, or add the file with its own media type (e.g. application/pdf).",
    );
  }
  checkFhir(value, "input");
  return value as FhirResource;
}

/** The minimal FHIR check: a resourceType that names a resource; a Bundle's entries each with a resource. */
function checkFhir(value: unknown, field: string): void {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new SdkInputError(field, "is not a FHIR resource (a JSON object)");
  const { resourceType } = value as { resourceType?: unknown };
  if (typeof resourceType !== "string" || !FHIR_TYPE.test(resourceType))
    throw new SdkInputError(
      `${field}.resourceType`,
      resourceType === undefined ? "is missing: this is not a FHIR resource" : "is not a FHIR resource type",
      'A FHIR R4 resource names its type, e.g. "resourceType": "Observation".',
    );
  if (resourceType === "Bundle") {
    const { entry } = value as { entry?: unknown };
    if (entry === undefined) return;
    if (!Array.isArray(entry)) throw new SdkInputError(`${field}.entry`, "must be an array of Bundle entries");
    entry.forEach((item: unknown, index) => {
      const resource = (item as { resource?: unknown } | null)?.resource;
      if (typeof resource !== "object" || resource === null)
        throw new SdkInputError(
          `${field}.entry[${index}].resource`,
          "is missing: each Bundle entry carries a resource",
        );
      checkFhir(resource, `${field}.entry[${index}].resource`);
    });
  }
}

function bundleEntries(bundle: FhirResource): FhirResource[] {
  const entry = bundle.entry;
  return Array.isArray(entry) ? entry.map((item) => (item as { resource: FhirResource }).resource) : [];
}

function checkCategories(categories: readonly string[] | undefined): string[] {
  if (categories === undefined) return [];
  if (!Array.isArray(categories)) throw new SdkInputError("categories", "must be an array of category names");
  const unique = [...new Set(categories)];
  unique.forEach((category, index) => {
    if (typeof category !== "string" || category.includes("."))
      throw new SdkInputError(`categories[${index}]`, `${describe(category)} is not a consent category`);
  });
  if (encodeCategories(unique).length > 64)
    throw new SdkInputError(
      "categories",
      "too many categories for one record (their names together pass 64 characters)",
    );
  return unique.sort();
}

function checkMediaType(mediaType: unknown): string {
  if (typeof mediaType !== "string" || !MEDIA_TYPE.test(mediaType))
    throw new SdkInputError("mediaType", `${describe(mediaType)} is not a lower-case media type like application/pdf`);
  return mediaType;
}

function isJsonType(mediaType: string): boolean {
  return mediaType === FHIR_MEDIA_TYPE || mediaType === "application/json";
}

function isStreamInput(input: unknown): input is StreamInput {
  return (
    typeof input === "object" &&
    input !== null &&
    typeof ReadableStream !== "undefined" &&
    (input as { stream?: unknown }).stream instanceof ReadableStream
  );
}

function emptyInput(): SdkInputError {
  return new SdkInputError(
    "input",
    "is empty (0 bytes)",
    "Pick the file again: an empty record holds nothing to keep.",
  );
}

function tooLargeFhir(): SdkInputError {
  return new SdkInputError(
    "input",
    `FHIR JSON over ${MAX_FHIR_JSON_BYTES} bytes is not parsed in memory`,
    "Split the Bundle, or add the file as application/octet-stream.",
  );
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return JSON.stringify(value.slice(0, 40));
  return typeof value === "object" ? "an object" : `a ${typeof value}`;
}

// ---- scope ids and categories

/** The record's keyed scope ids under one consent address: its CID, FHIR type (and a Bundle's entry types), categories. */
function scopeIdsFor(
  scopes: PatientContext["keys"]["scopes"],
  cid: string | undefined,
  record: PreparedInput,
): string[] {
  try {
    const ids = scopes.forRecord({
      ...(cid === undefined ? {} : { cid }),
      ...(record.resourceType === undefined ? {} : { resourceType: record.resourceType }),
      categories: record.categories,
    });
    const extra = scopes.ids(record.entryTypes.map((type) => `fhir:${type}`));
    const all = [...new Set([...ids, ...extra])];
    if (all.length > MAX_SCOPE_IDS)
      throw new SdkInputError("input", `the record falls in ${all.length} scopes; a record may have ${MAX_SCOPE_IDS}`);
    return all;
  } catch (error) {
    if (error instanceof InvalidInputError) {
      const field = error.field === "resourceType" ? "input.resourceType" : error.field;
      throw new SdkInputError(
        field,
        error.detail,
        "Use a FHIR R4 resource type and the consent categories listed in the docs.",
      );
    }
    throw error;
  }
}

function recordNotListed(cid: string): HygeiaSdkError {
  return new HygeiaSdkError("RECORD_NOT_FOUND", "not-found", `record ${cid} is not in your record list`, {
    hint: "Copy a CID from your record list (records.list(); hygeia record list); after a move to a new gateway, recover first.",
    field: "cid",
  });
}

function consentAddressesOf(self: string, listing: ConsentListing): string[] {
  const addresses = [self, ...(listing.consentAddresses ?? [])].map((address) => getAddress(address));
  return [...new Set(addresses)];
}

/** The record's scope ids under every consent address of the patient, and the grantees whose consent covers one. */
function coverageOf(
  self: string,
  scopes: PatientContext["keys"]["scopes"],
  cid: string,
  record: PreparedInput,
  consents: ConsentListing,
): { scopeIds: Record<string, string[]>; grantees: Set<string> } {
  const scopeIds: Record<string, string[]> = {};
  for (const address of consentAddressesOf(self, consents))
    scopeIds[address.toLowerCase()] = scopeIdsFor(scopes.forAddress(address), cid, record);
  const grantees = new Set<string>();
  for (const consent of consents.consents) {
    const ids = scopeIds[consent.consentAddress.toLowerCase()];
    if (ids?.includes(consent.scope.toLowerCase()) && consent.grantee.toLowerCase() !== self.toLowerCase())
      grantees.add(getAddress(consent.grantee));
  }
  return { scopeIds, grantees };
}

function encodeCategories(categories: readonly string[]): string {
  return categories.length === 0 ? NO_CATEGORY : [...categories].sort().join(".");
}

function decodeCategories(category: string): string[] {
  return category === NO_CATEGORY ? [] : category.split(".");
}

function recordOf(entry: ManifestEntry): PatientRecord {
  return {
    cid: entry.cid.toString(),
    kind: entry.kind,
    resourceType: entry.kind === "fhir" ? entry.type : undefined,
    mediaType: entry.kind === "fhir" ? FHIR_MEDIA_TYPE : entry.type,
    categories: decodeCategories(entry.category),
    size: entry.plaintextSize,
    storedSize: entry.size,
    createdAt: entry.created,
    sharedWith: entry.sharedWith.map((share) => ({ keyId: share.id, sharedAt: share.sharedAt })),
  };
}

// ---- bytes and streams

function parseCidInput(cid: string) {
  try {
    return parseCid(cid);
  } catch {
    throw new SdkInputError(
      "cid",
      `${describe(cid)} is not a CID`,
      "Copy the record's CID from your record list (records.list(); hygeia record list).",
    );
  }
}

/** Errors the stream (and remembers why) when it carries more or fewer bytes than declared. */
function sizeGuard(
  declared: number,
  onError: (error: HygeiaSdkError) => void,
): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  return new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > declared) {
        const error = new SdkInputError("size", `the stream holds more than the declared ${declared} bytes`);
        onError(error);
        controller.error(error);
        return;
      }
      controller.enqueue(chunk);
    },
    flush(controller) {
      if (seen !== declared) {
        const error = new SdkInputError(
          "size",
          seen === 0 ? "the stream is empty" : `the stream held ${seen} bytes, not the declared ${declared}`,
        );
        onError(error);
        controller.error(error);
      }
    },
  });
}

/**
 * The plaintext of `ciphertext`, decrypted as it streams. A chunk that fails to verify ends the stream with an
 * IntegrityError (`RECORD_TAMPERED`): discard what was read. The DEK is wiped once the stream ends either way.
 */
function decrypted(ciphertext: ReadableStream<Uint8Array>, dek: Uint8Array): ReadableStream<Uint8Array> {
  const reader = ciphertext.pipeThrough(createDecryptTransformStream(dek)).getReader();
  const failed = (error: unknown) =>
    error instanceof HygeiaCryptoError
      ? new IntegrityError(
          "RECORD_TAMPERED",
          `the record did not verify (${error.code}): it was altered, cut short, or is not this record`,
          "Discard what was read; fetch it again, and report the record if it fails again.",
          { cause: error },
        )
      : error;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          wipe(dek);
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        wipe(dek);
        controller.error(failed(error));
      }
    },
    async cancel(reason) {
      wipe(dek);
      await reader.cancel(reason);
    },
  });
}

/** Reads a stream whole (bounded by `limit` bytes when given). */
export async function readAll(stream: ReadableStream<Uint8Array>, limit?: number): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (limit !== undefined && total > limit) {
        await reader.cancel();
        throw new SdkInputError("input", `is larger than ${limit} bytes`);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array {
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}
