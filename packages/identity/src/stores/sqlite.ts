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
// - A file replaced (a backup restored over it) or removed while open is never written: the file's device and
//   inode are recorded at open and compared with the path before each write and at close; on a mismatch the
//   write is a DatabaseError and nothing more is written. SQLite would otherwise keep writing to the old file,
//   and its write-ahead log, which stays at the path, would be replayed into the restored file by the next
//   process to open it. At close that log is removed when it is still the one opened with the old file.
//   Stop every process using a store before restoring it.
import { statSync, unlinkSync } from "node:fs";
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
  /** What the file is, for messages ("key store"); default "database". */
  name?: string;
}

/** Which file a path named when it was opened. */
interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
}

/** The database file and its write-ahead log as opened (undefined for ":memory:"). */
interface OpenedFiles {
  readonly database: FileIdentity;
  readonly wal: FileIdentity | undefined;
  readonly shm: FileIdentity | undefined;
}

/** A database handle that translates SQLite failures into this package's typed errors. */
export class SqliteDatabase {
  readonly path: string;
  readonly busyTimeoutMs: number;
  private readonly db: DatabaseSync;
  private readonly name: string;
  private readonly opened: OpenedFiles | undefined;
  /** Set once the path no longer names the opened file; from then on nothing is written. */
  private moved: string | undefined;

  private constructor(db: DatabaseSync, path: string, busyTimeoutMs: number, name: string, opened?: OpenedFiles) {
    this.db = db;
    this.path = path;
    this.busyTimeoutMs = busyTimeoutMs;
    this.name = name;
    this.opened = opened;
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
    let opened: OpenedFiles | undefined;
    try {
      if (path !== ":memory:") db.exec("PRAGMA journal_mode = WAL");
      db.exec(options.schema);
      // After the schema: the log files exist now (a read opens them), and a file replaced while the schema
      // waited for a lock is the one the path names and the one opened.
      if (path !== ":memory:")
        opened = {
          database: fileIdentity(path) ?? fail("the file disappeared while it was being opened"),
          wal: fileIdentity(`${path}-wal`),
          shm: fileIdentity(`${path}-shm`),
        };
    } catch (error) {
      db.close();
      throw openError(error, path, busyTimeoutMs);
    }
    return new SqliteDatabase(db, path, busyTimeoutMs, options.name ?? "database", opened);
  }

  /** One statement's first row. */
  get<T>(sql: string, ...params: SqliteParam[]): T | undefined {
    return this.guard(() => this.db.prepare(sql).get(...params) as T | undefined);
  }

  all<T>(sql: string, ...params: SqliteParam[]): T[] {
    return this.guard(() => this.db.prepare(sql).all(...params) as unknown as T[]);
  }

  /**
   * One change, in its own transaction; returns the number of rows changed. DatabaseError, writing nothing, once
   * the file was replaced or removed since it was opened.
   */
  run(sql: string, ...params: SqliteParam[]): number {
    this.assertSameFile();
    return this.guard(() => Number(this.db.prepare(sql).run(...params).changes));
  }

  /**
   * Closes the handle. When the file was replaced or removed meanwhile, it also removes the write-ahead log left
   * at the path if it is still the one opened with the old file (so the next process does not replay it into the
   * new file), then throws DatabaseError: what was written since the store was opened is not in the new file.
   */
  close(): void {
    const moved = this.movedReason();
    this.guard(() => this.db.close());
    if (moved === undefined) return;
    for (const [suffix, opened] of [
      ["-wal", this.opened?.wal],
      ["-shm", this.opened?.shm],
    ] as const)
      if (opened && sameFile(fileIdentity(`${this.path}${suffix}`), opened)) unlinkQuietly(`${this.path}${suffix}`);
    throw this.movedError(moved, "closed without writing to the new file");
  }

  private assertSameFile(): void {
    const moved = this.movedReason();
    if (moved !== undefined) throw this.movedError(moved, "nothing was written");
  }

  /** Why the path no longer names the opened file (latched once seen), or undefined. */
  private movedReason(): string | undefined {
    if (this.opened === undefined || this.moved !== undefined) return this.moved;
    let now: FileIdentity | undefined;
    try {
      now = fileIdentity(this.path);
    } catch (error) {
      throw new DatabaseError(this.path, `cannot check the file before writing: ${errorMessage(error)}`, {
        cause: error,
      });
    }
    if (now === undefined) this.moved = `the ${this.name} file was removed while open`;
    else if (!sameFile(now, this.opened.database)) this.moved = `the ${this.name} file was replaced while open`;
    return this.moved;
  }

  private movedError(moved: string, outcome: string): DatabaseError {
    return new DatabaseError(
      this.path,
      `${moved}; ${outcome}. Stop every process using a ${this.name} before restoring or moving its file, ` +
        "then open it again",
    );
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

/** The device and inode `path` names now; undefined when there is no file. */
function fileIdentity(path: string): FileIdentity | undefined {
  const stats = statSync(path, { throwIfNoEntry: false });
  return stats && { dev: stats.dev, ino: stats.ino };
}

function sameFile(a: FileIdentity | undefined, b: FileIdentity): boolean {
  return a !== undefined && a.dev === b.dev && a.ino === b.ino;
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Gone already, or not ours to remove: the close error says what happened either way.
  }
}

function fail(message: string): never {
  throw new Error(message);
}

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
