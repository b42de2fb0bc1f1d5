// Typed errors. Every failure this package reports is a HygeiaStorageError with a stable `code`, so callers
// (gateway, SDK) can fail closed on `err.code` or `instanceof` without parsing messages. Integrity failures of
// a record's ciphertext are @hygeia/crypto errors (IntegrityError and subclasses) and are passed through as is.

export const StorageErrorCode = {
  /** A caller-supplied argument (CID string, metadata field, option) is malformed or out of range. */
  InvalidArgument: "INVALID_ARGUMENT",
  /** A CID string or value could not be parsed as a CID. */
  InvalidCid: "INVALID_CID",
  /** No block of the content could be found locally or from any connected peer within the timeout. */
  ContentNotFound: "CONTENT_NOT_FOUND",
  /** The content started to arrive but the transfer stalled longer than the timeout. */
  Timeout: "TIMEOUT",
  /** The store is closed, not started, or its backend is unreachable. */
  StoreUnavailable: "STORE_UNAVAILABLE",
  /** The manifest head moved since the version the update was based on. */
  ManifestConflict: "MANIFEST_CONFLICT",
  /** A manifest document is malformed, of an unknown format, or not the patient's. */
  InvalidManifest: "INVALID_MANIFEST",
  /** A stored block failed its checksum or holds other bytes than its CID names: it is never served. */
  BlockCorrupt: "BLOCK_CORRUPT",
  /** The CID is not a record of this patient's manifest (nothing to share or read under that CID). */
  RecordNotFound: "RECORD_NOT_FOUND",
  /** A manifest version would be larger than readers accept (MAX_MANIFEST_BYTES): it was not written. */
  ManifestTooLarge: "MANIFEST_TOO_LARGE",
  /** The embedded node's data dir cannot be used: not a directory, not writable, read-only, or its disk is full. */
  DataDirUnusable: "DATA_DIR_UNUSABLE",
  /** Another store (in another process, or in this one) has the directory open: one writer per directory. */
  DataDirLocked: "DATA_DIR_LOCKED",
  /** Another writer held the manifest head's lock for longer than lockTimeoutMs (it is alive: a dead one's is gone). */
  ManifestHeadLocked: "MANIFEST_HEAD_LOCKED",
  /** The store's lock file was deleted or replaced while it ran: it refuses writes, which another opener could clobber. */
  DataDirLockLost: "DATA_DIR_LOCK_LOST",
} as const;
export type StorageErrorCode = (typeof StorageErrorCode)[keyof typeof StorageErrorCode];

/** Base class of every error thrown by @hygeia/storage. */
export class HygeiaStorageError extends Error {
  readonly code: StorageErrorCode;

  constructor(code: StorageErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export interface InvalidArgumentOptions extends ErrorOptions {
  /**
   * The offending argument or field ("plaintext", "recipients[1].publicKey"): required, so every refusal says what to fix. A nested
   * field is named by its path in the argument ("metadata.created", "recipients[1].id"), an option by its name.
   */
  readonly field: string;
}

export class InvalidArgumentError extends HygeiaStorageError {
  /** The offending argument or field (always set). */
  readonly field: string;

  constructor(message: string, options: InvalidArgumentOptions) {
    super(StorageErrorCode.InvalidArgument, message, options);
    this.field = options.field;
  }
}

export class InvalidCidError extends HygeiaStorageError {
  constructor(message: string, options?: ErrorOptions) {
    super(StorageErrorCode.InvalidCid, message, options);
  }
}

export class ContentNotFoundError extends HygeiaStorageError {
  readonly cid: string;

  constructor(cid: string, message: string, options?: ErrorOptions) {
    super(StorageErrorCode.ContentNotFound, message, options);
    this.cid = cid;
  }
}

/**
 * The manifest head (a FileManifestHead shared by several stores) names a version another store wrote, and that
 * version is neither in this store nor fetched from a connected peer within the timeout. Nothing was changed: the
 * version is not lost, it is in the other store (`writtenBy`, that node's peer id). Connect to that node (dial it or
 * pass it in `peers`) and retry. A ContentNotFoundError (code CONTENT_NOT_FOUND).
 */
export class HeadContentElsewhereError extends ContentNotFoundError {
  /** The id of the store that wrote the head (a HeliaContentStore's peer id). */
  readonly writtenBy: string;
  /** The head's version. */
  readonly version: number;

  constructor(cid: string, version: number, writtenBy: string, message: string, options?: ErrorOptions) {
    super(cid, message, options);
    this.writtenBy = writtenBy;
    this.version = version;
  }
}

export class StorageTimeoutError extends HygeiaStorageError {
  readonly timeoutMs: number;

  constructor(timeoutMs: number, message: string, options?: ErrorOptions) {
    super(StorageErrorCode.Timeout, message, options);
    this.timeoutMs = timeoutMs;
  }
}

export class StoreUnavailableError extends HygeiaStorageError {
  /** `code` is STORE_UNAVAILABLE, or a more precise one of a subclass (DATA_DIR_LOCKED, MANIFEST_HEAD_LOCKED). */
  constructor(message: string, options?: ErrorOptions, code: StorageErrorCode = StorageErrorCode.StoreUnavailable) {
    super(code, message, options);
  }
}

/**
 * The disk refused a write or a flush of the store's files (PackBlockstore): `reason` is the file-system error code
 * (`ENOSPC` / `EDQUOT`: no space or quota left, free some and retry; `EIO`: the device failed, check it; `EROFS`:
 * mounted read-only; or another code), `path` the file or directory that failed. Nothing the write was part of
 * was acknowledged. A StoreUnavailableError (code STORE_UNAVAILABLE).
 */
export class StoreWriteFailedError extends StoreUnavailableError {
  readonly reason: string;
  readonly path: string;

  constructor(path: string, reason: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.path = path;
    this.reason = reason;
  }
}

/** Who held a lock (process-lock.ts): recorded for this message only, never to decide that a lock is stale. */
export interface LockHolderInfo {
  readonly pid: number;
  readonly host: string | undefined;
  /** ISO time at which it took the lock. */
  readonly since: string | undefined;
  /** The holder is this process (another store or head object in it). */
  readonly thisProcess: boolean;
}

/**
 * A second store opened a directory another store holds (PackBlockstore / HeliaContentStore: one writer per
 * directory). The lock is the operating system's and dies with its process, so the holder is alive: stop it, or
 * close the other store in this process. A StoreUnavailableError with its own code.
 */
export class DataDirLockedError extends StoreUnavailableError {
  /** The locked directory. */
  readonly dir: string;
  /** Who holds it; undefined when it had not recorded itself yet. */
  readonly holder: LockHolderInfo | undefined;

  constructor(dir: string, holder: LockHolderInfo | undefined, message: string, options?: ErrorOptions) {
    super(message, options, StorageErrorCode.DataDirLocked);
    this.dir = dir;
    this.holder = holder;
  }
}

/**
 * A running store found its lock file (`LOCK.db`) deleted or replaced by another file: another process may now hold
 * a lock on the new file and write to the same directory, so this store refuses every write (close it and open the
 * directory again). Never delete LOCK.db; truncate a damaged one with every process stopped. A StoreUnavailableError.
 */
export class DataDirLockLostError extends StoreUnavailableError {
  /** The directory the lock protected. */
  readonly dir: string;
  /** The lock file that is gone or replaced. */
  readonly lockFile: string;

  constructor(dir: string, lockFile: string, message: string, options?: ErrorOptions) {
    super(message, options, StorageErrorCode.DataDirLockLost);
    this.dir = dir;
    this.lockFile = lockFile;
  }
}

/**
 * FileManifestHead: another writer (alive: a dead writer's lock is released by the operating system) held the
 * head's lock for longer than `lockTimeoutMs`. Nothing was written by this call. A StoreUnavailableError.
 */
export class ManifestHeadLockedError extends StoreUnavailableError {
  /** The head file. */
  readonly path: string;
  readonly holder: LockHolderInfo | undefined;

  constructor(path: string, holder: LockHolderInfo | undefined, message: string, options?: ErrorOptions) {
    super(message, options, StorageErrorCode.ManifestHeadLocked);
    this.path = path;
    this.holder = holder;
  }
}

/** A block in the local blockstore is damaged (bad checksum, torn, or another block's bytes). */
export class BlockCorruptError extends HygeiaStorageError {
  readonly cid: string | undefined;

  constructor(cid: string | undefined, message: string, options?: ErrorOptions) {
    super(StorageErrorCode.BlockCorrupt, message, options);
    this.cid = cid;
  }
}

/** The head moved: `currentHead` is what it points at now (undefined if it was cleared). */
export class ManifestConflictError extends HygeiaStorageError {
  readonly expectedHead: string | undefined;
  readonly currentHead: string | undefined;

  constructor(expectedHead: string | undefined, currentHead: string | undefined, options?: ErrorOptions) {
    super(
      StorageErrorCode.ManifestConflict,
      `manifest head moved: expected ${expectedHead ?? "(none)"}, found ${currentHead ?? "(none)"}`,
      options,
    );
    this.expectedHead = expectedHead;
    this.currentHead = currentHead;
  }
}

/** The patient's manifest (its latest version) lists no record with this CID. */
export class RecordNotFoundError extends HygeiaStorageError {
  readonly cid: string;

  constructor(cid: string, message: string, options?: ErrorOptions) {
    super(StorageErrorCode.RecordNotFound, message, options);
    this.cid = cid;
  }
}

export class InvalidManifestError extends HygeiaStorageError {
  constructor(message: string, options?: ErrorOptions) {
    super(StorageErrorCode.InvalidManifest, message, options);
  }
}

/**
 * A manifest version would be larger than MAX_MANIFEST_BYTES, which every reader refuses: it was not stored and the
 * head was not moved, so the patient's manifest stays readable.
 */
export class ManifestTooLargeError extends HygeiaStorageError {
  /** The sealed size the version would have had (at least; sealing stops as soon as it is over). */
  readonly bytes: number;
  readonly maxBytes: number;

  constructor(bytes: number, maxBytes: number, options?: ErrorOptions) {
    super(
      StorageErrorCode.ManifestTooLarge,
      `this manifest version would be ${bytes} bytes sealed, more than the ${maxBytes} bytes readers accept ` +
        "(MAX_MANIFEST_BYTES): nothing was written and the head is unchanged. Every entry and every sharedWith " +
        "recipient (its id and key) counts: share with fewer keys, or with shorter key ids",
      options,
    );
    this.bytes = bytes;
    this.maxBytes = maxBytes;
  }
}

/** The manifest is a version 1 seal: it has no tag, so it could be forged. Read it only to migrate your own. */
export class UnauthenticatedManifestError extends InvalidManifestError {
  readonly sealVersion: number;

  constructor(sealVersion: number, options?: ErrorOptions) {
    super(
      `manifest is sealed with version ${sealVersion}, which is not authenticated: anyone who knows the patient's ` +
        "public key could have written it, so it is refused. If it is your own manifest, written before " +
        "authenticated manifests, and your head points at it, open your records once with " +
        "{ acceptUnauthenticated: true } (PatientManifest / PatientRecords options: it opens the head only, never a " +
        "CID passed to read, merge or recoverRecords) and call manifest.upgradeSeal(): it re-seals it as version 2. " +
        "For a CID of your own from elsewhere, see unsafeRecoverUnauthenticatedRecords",
      options,
    );
    this.sealVersion = sealVersion;
  }
}

/**
 * The embedded node cannot use its data dir (HeliaContentStore.create): `reason` is the file-system error code
 * (`EEXIST` / `ENOTDIR`: a file where a directory must be; `EACCES` / `EPERM`: not writable by this process;
 * `EROFS`: a read-only file system; `ENOSPC` / `EDQUOT`: no space; or another code), `path` what failed (the data
 * dir or a file in it). The message says what to do.
 */
export class DataDirError extends HygeiaStorageError {
  /** Always "dataDir": the option to change (or the directory to fix). */
  readonly field = "dataDir";
  readonly dataDir: string;
  readonly path: string;
  readonly reason: string;

  constructor(dataDir: string, path: string, reason: string, message: string, options?: ErrorOptions) {
    super(StorageErrorCode.DataDirUnusable, message, options);
    this.dataDir = dataDir;
    this.path = path;
    this.reason = reason;
  }
}
