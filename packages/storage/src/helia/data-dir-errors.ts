// What the embedded node says when its data dir cannot be used at open: a DataDirError naming `dataDir`, the path
// that failed and what to do, instead of a bare `EEXIST: file already exists, mkdir …` or an SQLite code. The
// file-system error is found anywhere in the cause chain (a lock or datastore failure wraps it), and SQLite's own
// codes for the same conditions (read-only, full, cannot open) are read as their file-system equivalents, and its
// codes for a file that is not a database or is a damaged one are named as such.
import { DataDirError, HygeiaStorageError, StoreUnavailableError } from "../errors.ts";

/** SQLite primary result codes (node:sqlite's `errcode`, low byte) for the conditions below. */
const SQLITE_REASONS: Readonly<Record<number, string>> = {
  8: "EROFS",
  11: "SQLITE_CORRUPT",
  13: "ENOSPC",
  14: "SQLITE_CANTOPEN",
  26: "SQLITE_NOTADB",
};

interface FsFailure {
  reason: string;
  path: string | undefined;
}

/** The first file-system (or SQLite) failure in `error`'s cause chain. */
function fsFailure(error: unknown): FsFailure | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 8; current = current.cause, depth++) {
    const { code, path } = current as NodeJS.ErrnoException;
    if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return { reason: code, path };
    if (code === "ERR_SQLITE_ERROR") {
      const reason = sqliteReason(current);
      if (reason !== undefined) return { reason, path: undefined };
    }
  }
  return undefined;
}

/** The reason above for a node:sqlite error's `errcode` (extended codes too), if it is one of them. */
export function sqliteReason(error: unknown): string | undefined {
  const errcode = (error as { errcode?: unknown } | undefined)?.errcode;
  return typeof errcode === "number" ? SQLITE_REASONS[errcode & 0xff] : undefined;
}

function advice(dataDir: string, path: string, reason: string): string {
  const where = path === dataDir ? dataDir : `${path} (in dataDir ${dataDir})`;
  switch (reason) {
    case "EEXIST":
    case "ENOTDIR":
      return (
        `dataDir ${dataDir} cannot be used: ${reason === "EEXIST" ? `${where} is a file` : `a part of ${where} is a file`}, ` +
        "not a directory. Pass the path of a directory (it is created if missing), or move the file away"
      );
    case "SQLITE_CANTOPEN":
      return (
        `dataDir ${dataDir} cannot be used: SQLite cannot open ${where}. It must be a database file this process ` +
        "can read and write: check its permissions, or move it away if it is not the node's database"
      );
    case "SQLITE_NOTADB":
      return (
        `dataDir ${dataDir} cannot be used: ${where} is not an SQLite database (SQLITE_NOTADB), so it is not this ` +
        "node's datastore. Pass the data dir the node created, or move the file away (a new datastore is created; " +
        "the node then starts with a new peer id and no pins)"
      );
    case "SQLITE_CORRUPT":
      return (
        `dataDir ${dataDir} cannot be used: the datastore ${where} is corrupt (SQLITE_CORRUPT). Restore it from a ` +
        "backup, or try `sqlite3 <file> .recover` on a copy; moving it away starts a new datastore (a new peer id, " +
        "no pins; the blocks in the blockstore stay but are no longer pinned)"
      );
    case "EACCES":
    case "EPERM":
      return (
        `dataDir ${dataDir} is not writable by this process (${reason} on ${where}): give the user running it ` +
        "write access to the directory, or pass a dataDir it owns"
      );
    case "EROFS":
      return `dataDir ${dataDir} is on a read-only file system (${where}): pass a dataDir on a writable disk`;
    case "ENOSPC":
    case "EDQUOT":
      return (
        `no space left for dataDir ${dataDir} (${reason} on ${where}): free space (or quota) on that disk, or ` +
        "pass a dataDir on a disk with room"
      );
    default:
      return `dataDir ${dataDir} cannot be opened (${reason} on ${where}): check the path and its permissions`;
  }
}

/**
 * Maps a failure while opening the data dir's stores: a file-system failure is a DataDirError; a typed storage
 * error without one (another process holds the lock) passes through; anything else is StoreUnavailableError.
 * A DataDirError from below (a damaged lock file, named with its own advice) keeps its path, reason and message,
 * reported against `dataDir`. `where` is the path to name when the failure does not say (SQLite's errors name none).
 */
export function dataDirFailure(
  dataDir: string,
  error: unknown,
  what: string,
  where: string = dataDir,
): HygeiaStorageError {
  if (error instanceof DataDirError) {
    return error.dataDir === dataDir
      ? error
      : new DataDirError(dataDir, error.path, error.reason, error.message, { cause: error.cause });
  }
  const failure = fsFailure(error);
  if (failure !== undefined) {
    const path = failure.path ?? where;
    return new DataDirError(dataDir, path, failure.reason, advice(dataDir, path, failure.reason), { cause: error });
  }
  if (error instanceof HygeiaStorageError) return error;
  return new StoreUnavailableError(`cannot open ${what} of ${dataDir}`, { cause: error });
}
