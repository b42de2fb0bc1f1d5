// The patient's manifest as a versioned, append-only list on IPFS, with the head pointer moved by
// compare-and-swap. Writers that raced are either merged (addEntries retries on top of the new head, so
// both sides' entries survive) or told so (commit throws ManifestConflictError); nothing is dropped silently.
import {
  HygeiaCryptoError,
  assertX25519PublicKey,
  unwrapKey,
  wipe,
  wrapKey,
  wrapKeyForRecipients,
} from "@hygeia/crypto";
import type { RecipientKey, WrappedKey, X25519KeyPair } from "@hygeia/crypto";
import { equals } from "multiformats/bytes";
import type { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";
import { parseCid } from "../cid.ts";
import type { CidInput } from "../cid.ts";
import type { ContentStore, OperationOptions } from "../content-store.ts";
import {
  BlockCorruptError,
  ContentNotFoundError,
  HeadContentElsewhereError,
  HygeiaStorageError,
  InvalidArgumentError,
  InvalidManifestError,
  ManifestConflictError,
  RecordNotFoundError,
  StorageTimeoutError,
  StoreUnavailableError,
} from "../errors.ts";
import type { StoredRecord } from "../record-store.ts";
import { shareKey } from "./manifest-format.ts";
import type { Manifest, ManifestDocument, ManifestEntry, RecordShare } from "./manifest-format.ts";
import { isRecoverableHead } from "./manifest-head.ts";
import type { ManifestHead, ManifestHeadValue, RecoverableManifestHead } from "./manifest-head.ts";
import {
  MAX_MANIFEST_BYTES,
  SEALED_MANIFEST_VERSION,
  assertManifestKeyPair,
  manifestOwner,
  openSealedManifest,
  sealManifest,
} from "./manifest-seal.ts";
import { checkBase, checkEntriesToList, checkEntryToRead, checkStoredRecords } from "./entry-input.ts";
import { changingEntries, mergeEntries, newEntries } from "./merge.ts";
import { recordKeyContext } from "./record-key-context.ts";

export const DEFAULT_MAX_ATTEMPTS = 8;

/** Turns a freshly stored record into a manifest entry, wrapping its DEK to the patient's public key. */
export function manifestEntryFor(record: StoredRecord, patientPublicKey: Uint8Array): ManifestEntry {
  assertX25519PublicKey(patientPublicKey);
  return {
    cid: record.cid,
    ...record.metadata,
    size: record.size,
    plaintextSize: record.plaintextSize,
    dekWrap: wrapKey(record.dek, patientPublicKey, recordKeyContext(record.cid)),
    sharedWith: [],
  };
}

/** A record's DEK wrapped to other parties (PatientManifest.shareRecord): what the gateway stores and releases. */
export interface SharedRecord {
  /** The record's entry, its `sharedWith` including the recipients just shared with. */
  entry: ManifestEntry;
  /** The manifest version that lists them (the same version as before if every recipient was already listed). */
  manifest: Manifest;
  /** The wrap context (`hygeia:record:<cid>`): what a recipient passes to unwrapKey. */
  context: string;
  /** One wrap per recipient key, in the order given: `{ recipientId, wrap }` (114 bytes). */
  wraps: WrappedKey[];
}

/** Keys one shareRecord call wraps to: a DID lists a few keyAgreement keys, not thousands. */
export const MAX_SHARE_RECIPIENTS = 100;
/**
 * Characters in a recipient key id shareRecord lists (a DID URL, like DIDs elsewhere in Hygeia): every id is stored
 * in every later manifest version. Readers still take the 1024 an earlier release allowed.
 */
export const MAX_RECIPIENT_ID_LENGTH = 256;
const RECIPIENT_ID = new RegExp(`^\\S{1,${MAX_RECIPIENT_ID_LENGTH}}$`);

/**
 * Checks recipient keys as they come from outside (a DID's keyAgreement keys, e.g. identity's
 * `agent.encryptionKeys(did)`), dropping repeats of the same id and key. Extra fields (such as a "current" mark)
 * are ignored.
 */
function checkRecipients(recipients: unknown): RecipientKey[] {
  if (!Array.isArray(recipients)) {
    throw new InvalidArgumentError("recipients must be an array of { id, publicKey } X25519 keys", {
      field: "recipients",
    });
  }
  if (recipients.length === 0) {
    throw new InvalidArgumentError(
      "recipients is empty: share with at least one X25519 key (a DID without a keyAgreement key cannot receive records)",
      { field: "recipients" },
    );
  }
  if (recipients.length > MAX_SHARE_RECIPIENTS) {
    throw new InvalidArgumentError(
      `recipients has ${recipients.length} keys, more than the ${MAX_SHARE_RECIPIENTS} one share accepts: a DID lists a few keyAgreement keys; ` +
        "share with the keys of one party at a time (e.g. await agent.encryptionKeys(clinicDid))",
      { field: "recipients" },
    );
  }
  const seen = new Map<string, RecipientKey>();
  recipients.forEach((recipient: unknown, index) => {
    const where = `recipients[${index}]`;
    if (typeof recipient !== "object" || recipient === null) {
      throw new InvalidArgumentError(`${where} must be an object { id, publicKey }`, { field: where });
    }
    const { id, publicKey } = recipient as { id?: unknown; publicKey?: unknown };
    if (typeof id !== "string" || !RECIPIENT_ID.test(id)) {
      throw new InvalidArgumentError(
        `${where}.id must be the key's id (a DID URL): 1 to ${MAX_RECIPIENT_ID_LENGTH} characters, no whitespace` +
          (typeof id === "string" && id.length > MAX_RECIPIENT_ID_LENGTH ? ` (it has ${id.length})` : ""),
        { field: `${where}.id` },
      );
    }
    try {
      assertX25519PublicKey(publicKey, `${where}.publicKey`);
    } catch (cause) {
      if (!(cause instanceof HygeiaCryptoError)) throw cause;
      throw new InvalidArgumentError(`${cause.message}: not a usable X25519 public key, nothing was shared`, {
        field: `${where}.publicKey`,
        cause,
      });
    }
    const key = { id, publicKey: Uint8Array.from(publicKey) };
    if (!seen.has(shareKey(key))) seen.set(shareKey(key), key);
  });
  return [...seen.values()];
}

/** The record's DEK, unwrapped with the patient's key pair. Wipe it after use. */
export function unwrapRecordKey(entry: ManifestEntry, keyPair: X25519KeyPair): Uint8Array {
  return unwrapKey(entry.dekWrap, keyPair, recordKeyContext(entry.cid));
}

/** readManifest's and recoverRecords' options. There is no acceptUnauthenticated: a CID is not a trusted head. */
export type ReadManifestOptions = OperationOptions;

/**
 * Refuses acceptUnauthenticated where a CID comes from the caller: a version 1 seal may have been written by anyone
 * who knows the patient's public key, and a CID says nothing about who wrote it (see the PatientManifest option).
 */
export function refuseUnauthenticatedOption(options: unknown, where: string): void {
  const value =
    typeof options === "object" && options !== null ? Reflect.get(options, "acceptUnauthenticated") : undefined;
  if (value !== undefined && value !== false) {
    throw new InvalidArgumentError(
      `${where} does not take acceptUnauthenticated: a version 1 manifest at a CID could have been written by anyone ` +
        "who knows the patient's public key. Migrate your own through your head: new PatientManifest / " +
        "PatientRecords({ ..., acceptUnauthenticated: true }).upgradeSeal(); for a CID you vouch for yourself, " +
        "see unsafeRecoverUnauthenticatedRecords",
      { field: "acceptUnauthenticated" },
    );
  }
}

/**
 * Reads, authenticates, decrypts and validates one manifest version: all that recovery needs is the key pair and
 * a CID. A version 1 (unauthenticated) seal is always UnauthenticatedManifestError here: the CID is the caller's.
 */
export async function readManifest(
  store: ContentStore,
  keyPair: X25519KeyPair,
  cid: CidInput,
  options: ReadManifestOptions = {},
): Promise<Manifest> {
  refuseUnauthenticatedOption(options, "readManifest");
  const parsed = parseCid(cid);
  const sealed = await fetchSealed(store, parsed, options);
  return openAt(parsed, sealed, keyPair, false);
}

/**
 * UNSAFE building block of unsafeRecoverUnauthenticatedRecords: readManifest that also opens a version 1 seal.
 * Only for a CID the patient vouches for as their own (see there).
 */
export async function readManifestTrustingVersion1(
  store: ContentStore,
  keyPair: X25519KeyPair,
  cid: CidInput,
  options: OperationOptions = {},
): Promise<Manifest> {
  const parsed = parseCid(cid);
  const sealed = await fetchSealed(store, parsed, options);
  return openAt(parsed, sealed, keyPair, true);
}

async function fetchSealed(store: ContentStore, cid: CID, options: OperationOptions): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let length = 0;
  for await (const part of store.get(cid, options)) {
    length += part.byteLength;
    if (length > MAX_MANIFEST_BYTES) throw new InvalidManifestError(`manifest larger than ${MAX_MANIFEST_BYTES} bytes`);
    parts.push(part);
  }
  return Buffer.concat(parts, length);
}

async function openAt(
  cid: CID,
  sealed: Uint8Array,
  keyPair: X25519KeyPair,
  acceptUnauthenticated: boolean,
): Promise<Manifest> {
  const { document, sealVersion } = await openSealedManifest(sealed, keyPair, { acceptUnauthenticated });
  return { cid, ...document, sealVersion };
}

/**
 * True when `bytes` are provably what `cid` names: a raw sha2-256 CID, as every manifest up to 1 MiB is stored
 * (one raw leaf). Checked here rather than trusted to the store: a Kubo RPC node could answer with other bytes.
 */
async function namesExactly(cid: CID, bytes: Uint8Array): Promise<boolean> {
  if (cid.code !== raw.code || cid.multihash.code !== sha256.code) return false;
  return equals((await sha256.digest(bytes)).bytes, cid.multihash.bytes);
}

export interface PatientManifestOptions {
  store: ContentStore;
  head: ManifestHead;
  /** The patient's X25519 key pair (derived by @hygeia/crypto from the wallet). */
  keyPair: X25519KeyPair;
  /** How often addEntries re-reads the head and merges after losing a race. Default 8. */
  maxAttempts?: number;
  /**
   * Migration of the patient's own manifest written before authenticated manifests: also read a version 1
   * (unauthenticated) seal at the HEAD (what `head` points at: latest(), and so addEntries, addRecord, shareRecord,
   * upgradeSeal) and the versions behind it (history() from the head). Never a CID the caller passes (read, merge,
   * history(from)), since anyone who knows the patient's public key can write a version 1 manifest and hand out
   * its CID. No effect once this instance has seen or written an authenticated head. Use it once: upgradeSeal()
   * (or any write) re-seals the head as version 2. Default false.
   */
  acceptUnauthenticated?: boolean;
  /**
   * Called when the head named a manifest this store does not have (its newest blocks were lost, e.g. by a power
   * loss that kept the head file) and was moved back to the newest complete version (see PatientManifest.latest).
   * Also kept as `lastHeadFallback`. Log it: the records the lost versions added are no longer listed.
   */
  onHeadFallback?: (fallback: HeadFallback) => void;
}

/**
 * A head moved back because it named lost content (PatientManifest.latest): what was lost, what it was moved back
 * to, and which earlier heads were passed over and why. The lost and skipped versions are kept in the head file
 * as `abandoned` (FileManifestHead) for an operator.
 */
export interface HeadFallback {
  /** The head that named a manifest this store does not have. */
  lost: ManifestHeadValue;
  /** The newest earlier version that is complete here: its manifest and every listed record's ciphertext. */
  restored: ManifestHeadValue;
  /** Earlier heads passed over (newer than `restored`), newest first, with the reason. */
  skipped: { head: ManifestHeadValue; reason: string }[];
}

/** The options' shape, so a missing store, head or key pair is named instead of failing as a TypeError later. */
function checkManifestOptions(options: unknown): asserts options is PatientManifestOptions {
  if (typeof options !== "object" || options === null) {
    throw new InvalidArgumentError("options must be an object { store, head, keyPair }", { field: "options" });
  }
  const { store, head, keyPair } = options as Partial<Record<keyof PatientManifestOptions, unknown>>;
  const hasMethods = (value: unknown, ...names: string[]): boolean =>
    typeof value === "object" &&
    value !== null &&
    names.every((name) => typeof (value as Record<string, unknown>)[name] === "function");
  if (!hasMethods(store, "put", "get", "has", "stat", "pin", "unpin")) {
    throw new InvalidArgumentError("store must be a ContentStore (HeliaContentStore, KuboContentStore)", {
      field: "store",
    });
  }
  if (!hasMethods(head, "get", "compareAndSet")) {
    throw new InvalidArgumentError("head must be a ManifestHead (e.g. new FileManifestHead(path))", { field: "head" });
  }
  if (typeof keyPair !== "object" || keyPair === null) {
    throw new InvalidArgumentError(
      "keyPair must be the patient's X25519 key pair { publicKey, secretKey } (@hygeia/crypto derives it)",
      { field: "keyPair" },
    );
  }
}

export class PatientManifest {
  readonly #store: ContentStore;
  readonly #head: ManifestHead;
  readonly #keyPair: X25519KeyPair;
  readonly #owner: string;
  readonly #maxAttempts: number;
  readonly #acceptUnauthenticated: boolean;
  readonly #onHeadFallback: ((fallback: HeadFallback) => void) | undefined;
  /** Set once latest() read, or commit() wrote, a version 2 head: from then on acceptUnauthenticated does nothing. */
  #sawAuthenticatedHead = false;
  #lastHeadFallback: HeadFallback | undefined;
  /** addEntries and upgradeSeal of this instance, one at a time: they never race each other for the head. */
  #writes: Promise<unknown> = Promise.resolve();

  constructor(options: PatientManifestOptions) {
    checkManifestOptions(options);
    assertX25519PublicKey(options.keyPair.publicKey);
    // Sealing needs the secret key (it authenticates every version): refuse a pair that cannot seal now, not later.
    assertManifestKeyPair(options.keyPair);
    const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1)
      throw new InvalidArgumentError("maxAttempts must be an integer ≥ 1", { field: "maxAttempts" });
    this.#store = options.store;
    this.#head = options.head;
    this.#keyPair = options.keyPair;
    this.#owner = manifestOwner(options.keyPair.publicKey);
    this.#maxAttempts = maxAttempts;
    this.#acceptUnauthenticated = options.acceptUnauthenticated === true;
    if (options.onHeadFallback !== undefined && typeof options.onHeadFallback !== "function") {
      throw new InvalidArgumentError("onHeadFallback must be a function (fallback) => void", {
        field: "onHeadFallback",
      });
    }
    this.#onHeadFallback = options.onHeadFallback;
  }

  /** The last time this instance moved a head that named lost content back (see latest), or undefined. */
  get lastHeadFallback(): HeadFallback | undefined {
    return this.#lastHeadFallback;
  }

  /** The patient's id inside manifests (multibase X25519 public key). */
  get owner(): string {
    return this.#owner;
  }

  /**
   * One version by CID, authenticated: a version 1 seal is UnauthenticatedManifestError even with
   * acceptUnauthenticated (a CID from the caller is not the patient's head).
   */
  read(cid: CidInput, options: OperationOptions = {}): Promise<Manifest> {
    return readManifest(this.#store, this.#keyPair, cid, options);
  }

  /**
   * The version the head points at, or undefined when the patient has no manifest yet. A version 1 head is read
   * only under acceptUnauthenticated, until this instance has seen or written an authenticated head.
   *
   * A head that can go back (FileManifestHead) and names a manifest this store does not have (a power loss kept
   * the head but not the newest blocks) is moved back to the newest earlier version whose manifest and listed
   * records are all here, and that is reported (onHeadFallback, lastHeadFallback); adding works again on top of
   * it. ContentNotFoundError when no recorded earlier version is complete: then nothing is changed.
   *
   * Only from a version this store wrote (the head records each writer's store id, `writtenBy`): a head file shared
   * with another store may name that store's versions, which are fetched from connected peers, never rolled back
   * from, and never passed over when falling back. HeadContentElsewhereError when such a version cannot be fetched
   * within the timeout (nothing is changed).
   */
  async latest(options: OperationOptions = {}): Promise<Manifest | undefined> {
    let head = await this.#head.get(options);
    if (head === undefined) return undefined;
    // has() is local: a lost head is found at once, without asking peers for a manifest nobody has. Only a version
    // this store wrote can have been lost here; another store's (a shared head file) is fetched from peers below.
    if (isRecoverableHead(this.#head) && this.#wroteHere(head) && !(await this.#store.has(head.cid, options))) {
      head = await this.#fallBack(this.#head, head, options);
    }
    const sealed = await this.#fetchHead(head, options);
    const manifest = await openAt(head.cid, sealed, this.#keyPair, this.#migrating());
    if (manifest.version !== head.version) {
      throw new InvalidManifestError(`head says version ${head.version}, manifest says ${manifest.version}`);
    }
    if (manifest.sealVersion === SEALED_MANIFEST_VERSION) this.#sawAuthenticatedHead = true;
    return manifest;
  }

  /** The id of this instance's store (a HeliaContentStore's peer id), recorded in every head it writes. */
  #storeId(): string | undefined {
    try {
      const id: unknown = Reflect.get(this.#store, "peerId");
      return typeof id === "string" && id.length > 0 ? id : undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether `head` was written through this store (or by an earlier release, which recorded no store). */
  #wroteHere(head: ManifestHeadValue): boolean {
    return head.writtenBy === undefined || head.writtenBy === this.#storeId();
  }

  /** The head's sealed manifest; another store's version that cannot be fetched is HeadContentElsewhereError. */
  async #fetchHead(head: ManifestHeadValue, options: OperationOptions): Promise<Uint8Array> {
    try {
      return await fetchSealed(this.#store, head.cid, options);
    } catch (error) {
      const missing = error instanceof ContentNotFoundError || error instanceof StorageTimeoutError;
      if (!missing || head.writtenBy === undefined || this.#wroteHere(head)) throw error;
      throw new HeadContentElsewhereError(
        head.cid.toString(),
        head.version,
        head.writtenBy,
        `the manifest head names version ${head.version} (${head.cid.toString()}), written by store ` +
          `${head.writtenBy}: it is not in this store and no connected peer sent it; nothing was changed ` +
          "(it is not lost: it is in that store). Connect this node to that one (dial it or pass it in peers) and retry",
        { cause: error },
      );
    }
  }

  /** Runs `action` after every earlier write of this instance settled. */
  #queued<T>(action: () => Promise<T>): Promise<T> {
    const run = this.#writes.then(action);
    this.#writes = run.catch(() => undefined);
    return run;
  }

  /** Whether a version 1 head (and what is behind it) may be read: the option, until the head is authenticated. */
  #migrating(): boolean {
    return this.#acceptUnauthenticated && !this.#sawAuthenticatedHead;
  }

  /**
   * Writes version base.version + 1 = base's entries ∪ `additions`, linked to `base`, and moves the head to it
   * only if the head is still `base` (undefined: no manifest yet). Throws ManifestConflictError when the head
   * moved; the caller decides to merge (see addEntries) or to give up. Every added entry's ciphertext must be
   * pinned in the store first: a manifest never points at data that is not there. ManifestTooLargeError, before
   * anything is stored or the head is touched, when the version would exceed MAX_MANIFEST_BYTES.
   */
  async commit(
    base: Manifest | undefined,
    additions: readonly ManifestEntry[],
    options: OperationOptions = {},
  ): Promise<Manifest> {
    return this.#commit(checkBase(base), checkEntriesToList(additions, "additions"), options);
  }

  /** commit with its arguments checked already (addEntries checks them once, not again on every retry). */
  async #commit(
    base: Manifest | undefined,
    additions: readonly ManifestEntry[],
    options: OperationOptions,
  ): Promise<Manifest> {
    // Only a new record's ciphertext must be here; new recipients of a listed record change no content.
    await this.#assertStored(newEntries(base?.entries ?? [], additions), options);
    const document: ManifestDocument = {
      owner: this.#owner,
      version: (base?.version ?? 0) + 1,
      prev: base?.cid,
      updated: new Date().toISOString(),
      entries: mergeEntries(base?.entries ?? [], additions),
    };
    const sealed = await sealManifest(document, this.#keyPair);
    const { cid } = await this.#store.put([sealed], options);
    let moved: boolean;
    try {
      const next: ManifestHeadValue = { cid, version: document.version };
      const writtenBy = this.#storeId();
      if (writtenBy !== undefined) next.writtenBy = writtenBy;
      moved = await this.#head.compareAndSet(base?.cid, next, options);
    } catch (error) {
      // The head may or may not have moved (a write that failed half-way): unpin only what it surely does not name.
      if ((await this.#headNames(cid, options)) === false) await this.#store.unpin(cid, options).catch(() => undefined);
      throw error;
    }
    if (!moved) {
      // Nothing points at the version we just wrote; let it be garbage collected.
      await this.#store.unpin(cid, options).catch(() => undefined);
      const current = await this.#head.get(options);
      throw new ManifestConflictError(base?.cid.toString(), current?.cid.toString());
    }
    this.#sawAuthenticatedHead = true;
    return { cid, ...document, sealVersion: SEALED_MANIFEST_VERSION };
  }

  /**
   * Adds entries on top of whatever the head is now, retrying with a fresh read after each lost race, so
   * concurrent writers' entries are all kept. Throws ManifestConflictError after `maxAttempts` lost races (to
   * other instances or processes: calls on one instance run one at a time and never race each other).
   */
  async addEntries(additions: readonly ManifestEntry[], options: OperationOptions = {}): Promise<Manifest> {
    additions = checkEntriesToList(additions, "additions");
    return this.#queued(() => this.#addEntries(additions, options));
  }

  #addEntries(additions: readonly ManifestEntry[], options: OperationOptions): Promise<Manifest> {
    return this.#retryingConflicts(async () => {
      const base = await this.latest(options);
      if (base !== undefined && changingEntries(base.entries, additions).length === 0) return base;
      return this.#commit(base, additions, options);
    });
  }

  /** Runs `attempt` (read the head, commit on it) again after each lost race, up to maxAttempts times. */
  async #retryingConflicts<T>(attempt: () => Promise<T>): Promise<T> {
    let lastConflict: ManifestConflictError | undefined;
    for (let count = 0; count < this.#maxAttempts; count++) {
      try {
        return await attempt();
      } catch (error) {
        if (!(error instanceof ManifestConflictError)) throw error;
        lastConflict = error;
      }
    }
    throw lastConflict ?? new ManifestConflictError(undefined, undefined);
  }

  /**
   * Migration: if the head is a version 1 (unauthenticated) seal, writes its entries again as a new,
   * authenticated version (needs acceptUnauthenticated to read it). Returns the head, unchanged if it was
   * authenticated already (or there is none). Any other write re-seals just as well.
   */
  upgradeSeal(options: OperationOptions = {}): Promise<Manifest | undefined> {
    return this.#queued(() => this.#upgradeSeal(options));
  }

  #upgradeSeal(options: OperationOptions): Promise<Manifest | undefined> {
    return this.#retryingConflicts(async () => {
      const base = await this.latest(options);
      if (base === undefined || base.sealVersion === SEALED_MANIFEST_VERSION) return base;
      return this.#commit(base, [], options);
    });
  }

  /** Wraps the records' DEKs to the patient and adds them (see addEntries). */
  async addRecords(records: readonly StoredRecord[], options: OperationOptions = {}): Promise<Manifest> {
    checkStoredRecords(records);
    return this.addEntries(
      records.map((record) => manifestEntryFor(record, this.#keyPair.publicKey)),
      options,
    );
  }

  /**
   * Folds a divergent version (e.g. written by a device whose compare-and-swap lost, or an older branch)
   * into the current head: every entry it has that the head lacks is added. The divergent version must be
   * authenticated (version 2): a version 1 CID is UnauthenticatedManifestError even with acceptUnauthenticated,
   * since anyone who knows the patient's public key could have written it.
   */
  async merge(divergent: CidInput, options: OperationOptions = {}): Promise<Manifest> {
    const other = await this.read(divergent, options);
    return this.addEntries(other.entries, options);
  }

  /**
   * Versions from `from` (default: the head) back to version 1, following prev links. `from` itself must be
   * authenticated (see read). A version 1 seal behind one already read is read if its bytes hash to the CID the
   * later version names (raw CIDs, manifests up to 1 MiB): it is then exactly the version that version's writer
   * built on, so after the migration the pre-migration history stays readable without the option. Walking from a
   * version 1 head read under acceptUnauthenticated, the versions behind it are read under the option too.
   */
  async *history(from?: CidInput, options: OperationOptions = {}): AsyncGenerator<Manifest, void, undefined> {
    let manifest = from === undefined ? await this.latest(options) : await this.read(from, options);
    // The head's own chain, read before its migration: as trusted as the version 1 head the option opened.
    const headChain = from === undefined && manifest?.sealVersion !== SEALED_MANIFEST_VERSION && this.#migrating();
    while (manifest !== undefined) {
      yield manifest;
      if (manifest.prev === undefined) return;
      const sealed = await fetchSealed(this.#store, manifest.prev, options);
      const accept = headChain || (await namesExactly(manifest.prev, sealed));
      const previous: Manifest = await openAt(manifest.prev, sealed, this.#keyPair, accept);
      if (previous.version !== manifest.version - 1) {
        throw new InvalidManifestError(`version ${manifest.version} links to version ${previous.version}`);
      }
      manifest = previous;
    }
  }

  unwrapRecordKey(entry: ManifestEntry): Uint8Array {
    return unwrapRecordKey(checkEntryToRead(entry, "entry"), this.#keyPair);
  }

  /**
   * Shares record `cid` with `recipients` (their X25519 keys, e.g. `await agent.encryptionKeys(clinicDid)`): wraps
   * the record's DEK to each key, bound to the record (context `hygeia:record:<cid>`), and lists the recipients in
   * the entry's `sharedWith` (a new manifest version, merged like addEntries; none if all were listed already).
   * Returns the wraps for the gateway to store. Wrapping to every key a DID lists keeps working across the
   * recipient's key rotation. Sharing again gives fresh wraps of the same DEK.
   *
   * InvalidCidError for a malformed CID; RecordNotFoundError when the latest manifest lists no such record;
   * InvalidArgumentError (`field` "recipients[i].publicKey" / ".id") for a key that is not a usable X25519 public
   * key (wrong length, non-canonical encoding, low-order point) or an id that is missing or longer than
   * MAX_RECIPIENT_ID_LENGTH, and ("recipients") for more than MAX_SHARE_RECIPIENTS keys: then nothing is wrapped or
   * listed. ManifestTooLargeError when the new version would exceed MAX_MANIFEST_BYTES (head unchanged).
   */
  async shareRecord(
    cid: CidInput,
    recipients: readonly RecipientKey[],
    options: OperationOptions = {},
  ): Promise<SharedRecord> {
    const parsed = parseCid(cid);
    const keys = checkRecipients(recipients);
    const base = await this.latest(options);
    const entry = base?.entries.find((candidate) => candidate.cid.equals(parsed));
    if (base === undefined || entry === undefined) {
      throw new RecordNotFoundError(
        parsed.toString(),
        `record ${parsed.toString()} is not in this patient's manifest${base === undefined ? " (no manifest yet)" : ` (version ${base.version})`}: add it first, or check the CID`,
      );
    }
    const context = recordKeyContext(entry.cid);
    const dek = this.unwrapRecordKey(entry);
    let wraps: WrappedKey[];
    try {
      wraps = wrapKeyForRecipients(dek, keys, context);
    } finally {
      wipe(dek);
    }
    const sharedAt = new Date().toISOString();
    const shares: RecordShare[] = keys.map((key) => ({ id: key.id, publicKey: key.publicKey, sharedAt }));
    const manifest = await this.addEntries([{ ...entry, sharedWith: shares }], options);
    const listed = manifest.entries.find((candidate) => candidate.cid.equals(entry.cid)) ?? entry;
    return { entry: listed, manifest, context, wraps };
  }

  /**
   * Whether the head names manifest version `cid` now or did before (FileManifestHead's earlier heads): true, false,
   * or undefined when that cannot be told (the head cannot be read, or keeps no earlier heads and names another).
   * What may be unpinned after a failed write: only a version the head surely does not name.
   */
  async #headNames(cid: CID, options: OperationOptions): Promise<boolean | undefined> {
    try {
      const current = await this.#head.get(options);
      if (current?.cid.equals(cid) === true) return true;
      if (current === undefined) return false;
      if (!isRecoverableHead(this.#head)) return undefined; // a later version may have been built on it
      return (await this.#head.previous(options)).some((head) => head.cid.equals(cid));
    } catch {
      return undefined;
    }
  }

  /** Moves `head` back from `lost` to the newest complete earlier version (see latest) and reports it. */
  async #fallBack(
    head: RecoverableManifestHead,
    lost: ManifestHeadValue,
    options: OperationOptions,
  ): Promise<ManifestHeadValue> {
    for (let attempt = 0; attempt < this.#maxAttempts; attempt++) {
      const skipped: HeadFallback["skipped"] = [];
      let restored: ManifestHeadValue | undefined;
      for (const candidate of await head.previous(options)) {
        // Another store's version (a shared head file) is in that store, whatever this one holds of it: whether it
        // is complete cannot be judged here, and passing over it would unlist that store's intact records.
        if (!this.#wroteHere(candidate)) {
          restored = candidate;
          break;
        }
        const reason = await this.#incomplete(candidate, options);
        if (reason === undefined) {
          restored = candidate;
          break;
        }
        skipped.push({ head: candidate, reason });
      }
      if (restored === undefined) {
        throw new ContentNotFoundError(
          lost.cid.toString(),
          `the manifest head names version ${lost.version} (${lost.cid.toString()}), which is not in this store, ` +
            `and none of the ${skipped.length} earlier versions it recorded is complete here; nothing was changed. ` +
            "Check that the store is the one the head was written with (its data dir), or restore the lost blocks",
        );
      }
      if (await head.rollBack(lost.cid, restored, options)) {
        const fallback: HeadFallback = { lost, restored, skipped };
        this.#lastHeadFallback = fallback;
        this.#onHeadFallback?.(fallback);
        return restored;
      }
      // Someone else moved the head meanwhile (rolled it back too, or wrote): use theirs if it is here.
      const current = await head.get(options);
      if (current === undefined) throw new ContentNotFoundError(lost.cid.toString(), "the manifest head was removed");
      if (!this.#wroteHere(current) || (await this.#store.has(current.cid, options))) return current;
      lost = current;
    }
    throw new ContentNotFoundError(
      lost.cid.toString(),
      `the manifest head kept naming lost content (${lost.cid.toString()})`,
    );
  }

  /** Why `head` is not a complete version here, or undefined when its manifest and every listed record are. */
  async #incomplete(head: ManifestHeadValue, options: OperationOptions): Promise<string | undefined> {
    if (!(await this.#store.has(head.cid, options))) return "its manifest is not in this store";
    let manifest: Manifest;
    try {
      manifest = await openAt(
        head.cid,
        await fetchSealed(this.#store, head.cid, options),
        this.#keyPair,
        this.#migrating(),
      );
    } catch (error) {
      // The store failing is not a fact about this version: stop rather than pass it over.
      if (error instanceof StoreUnavailableError || error instanceof StorageTimeoutError) throw error;
      if (!(error instanceof HygeiaStorageError || error instanceof HygeiaCryptoError)) throw error;
      return `its manifest cannot be read: ${error.message}`;
    }
    if (manifest.version !== head.version) return `its manifest says version ${manifest.version}`;
    const missing: string[] = [];
    for (const entry of manifest.entries) {
      if (!(await this.#isStored(entry, options))) missing.push(entry.cid.toString());
    }
    if (missing.length > 0) {
      return `${missing.length} listed record(s) are not (fully) in this store: ${missing.slice(0, 3).join(", ")}${missing.length > 3 ? ", ..." : ""}`;
    }
    return undefined;
  }

  /** The entry's ciphertext is here, pinned, with its listed size. */
  async #isStored(entry: ManifestEntry, options: OperationOptions): Promise<boolean> {
    // has() is local-only, so missing content is found at once instead of after a network timeout.
    if (!(await this.#store.has(entry.cid, options))) return false;
    try {
      const stat = await this.#store.stat(entry.cid, options);
      return stat.pinned && stat.size === entry.size;
    } catch (error) {
      if (error instanceof ContentNotFoundError || error instanceof BlockCorruptError) return false;
      throw error;
    }
  }

  async #assertStored(entries: readonly ManifestEntry[], options: OperationOptions): Promise<void> {
    for (const entry of entries) {
      if (!(await this.#isStored(entry, options))) {
        throw new ContentNotFoundError(
          entry.cid.toString(),
          `refusing to list ${entry.cid.toString()}: its ciphertext is not pinned here with ${entry.size} bytes`,
        );
      }
    }
  }
}
