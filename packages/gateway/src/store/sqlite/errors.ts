// How SQLite failures leave the store: never as a raw SQLite error.
// - At open: a StoreOpenError whose `code` says what to do (another gateway holds the data dir, the file is not a
//   database, the schema is newer than this gateway). server.ts prints it and exits.
// - While serving: a failure of the database itself (busy, I/O, disk full, corrupt, closed) is a
//   DependencyUnavailableError("database", "DATABASE_UNAVAILABLE") naming the operation and SQLite's reason: the
//   request is refused with 503 (fail closed). Anything else is a bug of the store or its caller (a constraint the
//   caller should have made impossible): a GatewayError "DATABASE_ERROR", 500, whose detail stays in the logs.
import { DependencyUnavailableError, GatewayError } from "../../errors.ts";

export type StoreOpenErrorCode =
  /** Another gateway process (or another store in this one) holds the data dir. */
  | "DATA_DIR_LOCKED"
  /** The database file is not a SQLite database, or is damaged. */
  | "DATABASE_CORRUPT"
  /** The database was migrated by a newer gateway than this one (its schema is unknown here). */
  | "DATABASE_TOO_NEW"
  /** A pending migration failed; it was rolled back and the database stays at the previous version. */
  | "DATABASE_MIGRATION_FAILED"
  /** The file or directory cannot be opened (permissions, missing parent, disk). */
  | "DATABASE_UNAVAILABLE";

/** The store could not be opened; `path` is the file or directory at fault. */
export class StoreOpenError extends Error {
  override name = "StoreOpenError";
  readonly code: StoreOpenErrorCode;
  readonly path: string;
  /** For DATA_DIR_LOCKED: the holder as it recorded itself, when it did. */
  readonly holder: { pid: number; host: string | undefined; since: string | undefined } | undefined;
  constructor(
    code: StoreOpenErrorCode,
    path: string,
    message: string,
    options: { cause?: unknown; holder?: StoreOpenError["holder"] } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.path = path;
    this.holder = options.holder;
  }
}

/** A failure that is neither the database being unavailable nor the caller's input: a bug (HTTP 500). */
export class StoreFailureError extends GatewayError {
  override name = "StoreFailureError";
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("DATABASE_ERROR", 500, message, options);
  }
}

export type AuditLogClaimErrorCode =
  /** The store holds another log (a SQLite store holds one), or this store already claimed another origin. */
  | "AUDIT_LOG_HELD"
  /** An audit method was called before `claimAuditLog` (a store shared by several logs must know which). */
  | "AUDIT_LOG_NOT_CLAIMED";

/** An audit log claim refused, or audit use without a claim: a configuration error or a bug of the caller (500). */
export class AuditLogClaimError extends GatewayError {
  override name = "AuditLogClaimError";
  declare readonly code: AuditLogClaimErrorCode;
  constructor(code: AuditLogClaimErrorCode, message: string) {
    super(code, 500, message);
  }
}

/** SQLite primary result codes that mean "the database cannot serve now", not "this statement is wrong". */
const UNAVAILABLE_CODES: Readonly<Record<number, string>> = {
  5: "SQLITE_BUSY",
  6: "SQLITE_LOCKED",
  7: "SQLITE_NOMEM",
  8: "SQLITE_READONLY",
  9: "SQLITE_INTERRUPT",
  10: "SQLITE_IOERR",
  11: "SQLITE_CORRUPT",
  13: "SQLITE_FULL",
  14: "SQLITE_CANTOPEN",
  15: "SQLITE_PROTOCOL",
  26: "SQLITE_NOTADB",
};

interface SqliteErrorShape {
  code: string;
  errcode?: number;
  errstr?: string;
  message: string;
}

function sqliteError(error: unknown): SqliteErrorShape | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  if (code !== "ERR_SQLITE_ERROR" && code !== "ERR_INVALID_STATE") return undefined;
  const errcode = (error as { errcode?: unknown }).errcode;
  const errstr = (error as { errstr?: unknown }).errstr;
  return {
    code,
    message: error.message,
    ...(typeof errcode === "number" ? { errcode } : {}),
    ...(typeof errstr === "string" ? { errstr } : {}),
  };
}

/** SQLite's primary result code of an error (its extended code's low byte), or undefined for other errors. */
export function sqlitePrimaryCode(error: unknown): number | undefined {
  const shape = sqliteError(error);
  return shape?.errcode === undefined ? undefined : shape.errcode & 0xff;
}

export function databaseUnavailable(what: string, reason: string, cause?: unknown): DependencyUnavailableError {
  return new DependencyUnavailableError(
    "database",
    "DATABASE_UNAVAILABLE",
    `the gateway database could not ${what}: ${reason}`,
    { cause },
  );
}

const SQLITE_CORRUPT = 11;
const SQLITE_NOTADB = 26;

/**
 * The file is damaged: not a transient failure a retry fixes. Still 503 (fail closed, nothing served from a damaged
 * file), with its own code, and the store stops answering its readiness ping until an operator repairs it.
 */
export function databaseCorrupt(what: string, cause?: unknown): DependencyUnavailableError {
  return new DependencyUnavailableError(
    "database",
    "DATABASE_CORRUPT",
    `the gateway database could not ${what}: the database file is damaged (SQLITE_CORRUPT); stop the gateway and ` +
      `restore gateway.sqlite from a backup (PRAGMA integrity_check names the damage)`,
    { cause },
  );
}

/** Maps anything a statement threw to the store's errors (see the rules at the top). `what`: "consume a nonce". */
export function toStoreError(error: unknown, what: string): Error {
  if (error instanceof GatewayError) return error;
  const shape = sqliteError(error);
  if (shape === undefined) {
    return new StoreFailureError(`the gateway database failed to ${what}`, { cause: error });
  }
  if (shape.code === "ERR_INVALID_STATE") return databaseUnavailable(what, "the database is closed", error);
  const primary = shape.errcode === undefined ? undefined : shape.errcode & 0xff;
  const name = primary === undefined ? undefined : UNAVAILABLE_CODES[primary];
  if (primary === SQLITE_CORRUPT || primary === SQLITE_NOTADB) return databaseCorrupt(what, error);
  if (name !== undefined) {
    return databaseUnavailable(what, `${shape.errstr ?? shape.message} (${name})`, error);
  }
  return new StoreFailureError(`the gateway database refused to ${what}: ${shape.message}`, { cause: error });
}
