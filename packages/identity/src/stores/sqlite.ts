// node:sqlite databases of this package (the key store, the challenge store), opened so that several processes
// can share one file: a wallet's CLI run twice at once, or a gateway's workers.
//
// Rules:
// - Several processes may open one database. It is in WAL mode (readers never wait for a writer), and a writer
//   that finds the file locked waits up to the busy timeout (default 10 s) instead of failing at once.
// - Every change is one statement (its own transaction) or an explicit IMMEDIATE transaction, so no read
//   transaction is ever upgraded to a write (SQLite refuses that without waiting when another process wrote
//   meanwhile).
// - No raw SQLite error leaves this package: still locked after the busy timeout → DatabaseBusyError; a file that
//   cannot be opened → InvalidIdentityInputError naming the real cause; anything else → DatabaseError.
import { DatabaseSync } from "node:sqlite";
import {
  DatabaseBusyError,
  DatabaseError,
  HygeiaIdentityError,
  InvalidIdentityInputError,
  errorMessage,
  truncate,
} from "../errors.ts";

/** How long a write waits for another process's write before DatabaseBusyError. */
export const DEFAULT_BUSY_TIMEOUT_MS = 10_000;

// SQLite primary result codes (https://sqlite.org/rescode.html); node:sqlite reports the extended code.
const SQLITE_PERM = 3;
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_READONLY = 8;
const SQLITE_IOERR = 10;
const SQLITE_CORRUPT = 11;
const SQLITE_FULL = 13;
const SQLITE_CANTOPEN = 14;
const SQLITE_AUTH = 23;
const SQLITE_NOTADB = 26;

/** Why a path cannot be used as a database: the caller can fix these by passing another path. */
const PATH_PROBLEMS: ReadonlyMap<number, string> = new Map([
  [SQLITE_CANTOPEN, "the file cannot be created or opened (does its directory exist, and may this user write it?)"],
  [SQLITE_NOTADB, "the file is not an SQLite database"],
  [SQLITE_READONLY, "the file or its directory is read-only (the store needs write access)"],
  [SQLITE_PERM, "permission denied"],
  [SQLITE_AUTH, "permission denied"],
]);
const OTHER_CAUSES: ReadonlyMap<number, string> = new Map([
  [SQLITE_IOERR, "disk I/O error"],
  [SQLITE_CORRUPT, "the database file is corrupt"],
  [SQLITE_FULL, "the disk is full"],
]);

export interface SqliteOpenOptions {
  /** Run once after opening (CREATE TABLE IF NOT EXISTS …); it waits for other processes like any write. */
  schema: string;
  busyTimeoutMs?: number;
}

/** A database handle that translates SQLite failures into this package's typed errors. */
export class SqliteDatabase {
  readonly path: string;
  readonly busyTimeoutMs: number;
  private readonly db: DatabaseSync;

  private constructor(db: DatabaseSync, path: string, busyTimeoutMs: number) {
    this.db = db;
    this.path = path;
    this.busyTimeoutMs = busyTimeoutMs;
  }

  /** Opens (or creates) `path`; ":memory:" gives a private in-memory database. Throws typed errors only. */
  static open(path: string, options: SqliteOpenOptions): SqliteDatabase {
    const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    let db: DatabaseSync;
    try {
      db = new DatabaseSync(path, { timeout: busyTimeoutMs });
    } catch (error) {
      throw openError(error, path, busyTimeoutMs);
    }
    try {
      if (path !== ":memory:") db.exec("PRAGMA journal_mode = WAL");
      db.exec(options.schema);
    } catch (error) {
      db.close();
      throw openError(error, path, busyTimeoutMs);
    }
    return new SqliteDatabase(db, path, busyTimeoutMs);
  }

  /** One statement's first row. */
  get<T>(sql: string, ...params: SqliteParam[]): T | undefined {
    return this.guard(() => this.db.prepare(sql).get(...params) as T | undefined);
  }

  all<T>(sql: string, ...params: SqliteParam[]): T[] {
    return this.guard(() => this.db.prepare(sql).all(...params) as unknown as T[]);
  }

  /** One change, in its own transaction; returns the number of rows changed. */
  run(sql: string, ...params: SqliteParam[]): number {
    return this.guard(() => Number(this.db.prepare(sql).run(...params).changes));
  }

  close(): void {
    this.guard(() => this.db.close());
  }

  private guard<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      throw sqliteError(error, this.path, this.busyTimeoutMs);
    }
  }
}

export type SqliteParam = string | number | bigint | null | Uint8Array;

interface NodeSqliteError {
  code: "ERR_SQLITE_ERROR";
  errcode: number;
  errstr: string;
}

function isSqliteError(error: unknown): error is Error & NodeSqliteError {
  return (
    error instanceof Error &&
    (error as Partial<NodeSqliteError>).code === "ERR_SQLITE_ERROR" &&
    typeof (error as Partial<NodeSqliteError>).errcode === "number"
  );
}

/** A failure while opening: busy, a path the caller should change, or another cause, each said as it is. */
function openError(error: unknown, path: string, busyTimeoutMs: number): HygeiaIdentityError {
  if (isSqliteError(error)) {
    const problem = PATH_PROBLEMS.get(error.errcode & 0xff);
    if (problem) return new InvalidIdentityInputError("databasePath", `cannot open ${truncate(path)}: ${problem}`);
  }
  return sqliteError(error, path, busyTimeoutMs, "cannot open");
}

/** Any failure of a database call as a typed error. */
export function sqliteError(
  error: unknown,
  path: string,
  busyTimeoutMs: number,
  action = "failed",
): HygeiaIdentityError {
  if (error instanceof HygeiaIdentityError) return error;
  if (!isSqliteError(error)) return new DatabaseError(path, `${action}: ${errorMessage(error)}`, { cause: error });
  const primary = error.errcode & 0xff;
  if (primary === SQLITE_BUSY || primary === SQLITE_LOCKED)
    return new DatabaseBusyError(path, busyTimeoutMs, { cause: error });
  const cause = OTHER_CAUSES.get(primary) ?? PATH_PROBLEMS.get(primary) ?? error.errstr ?? error.message;
  return new DatabaseError(path, `${action}: ${cause}`, { cause: error });
}
