// One writer per block directory. Two processes (or two stores in one process) appending to the same segment
// files would interleave records and overwrite each other's, so opening takes `<dir>/LOCK.db`, an exclusive lock
// the operating system releases when the holding process dies (process-lock.ts), as Kubo's repo.lock. There is no
// staleness to guess: a lock that is held has a live holder, and a crashed holder's lock is free at once.
// `<dir>/LOCK` names the holder (pid, host, since) for the error message only; a LOCK file left by an older
// release (a pid file) is ignored and overwritten.
//
// Safety rule: LOCK.db is never deleted, by this code or by hand. A holder whose LOCK.db was deleted (or replaced)
// still holds a lock on the old inode while the next opener locks a new file, and both write: assertHeld() (one
// stat) lets a holder notice and refuse writes before each one (DataDirLockLostError). A damaged LOCK.db is
// truncated to 0 bytes with every process stopped: it holds no data, and SQLite treats an empty file as new.
import { access, constants } from "node:fs/promises";
import { dirname, join } from "node:path";
import { DataDirError, DataDirLockLostError, DataDirLockedError, StoreUnavailableError } from "../errors.ts";
import { ProcessLock, describeHolder } from "../process-lock.ts";
import { sqliteReason } from "./data-dir-errors.ts";

/** The holder-information file; the lock itself is `LOCK.db` next to it (never delete that one by hand). */
export const LOCK_FILE = "LOCK";

export class DirLock {
  readonly path: string;
  readonly #lock: ProcessLock;

  private constructor(path: string, lock: ProcessLock) {
    this.path = path;
    this.#lock = lock;
  }

  /**
   * Takes the lock on `dir` (which must exist), or throws DataDirLockedError naming the process that holds it
   * (this one, for a second store in the same process). A directory it cannot lock (not writable, ...) is a
   * StoreUnavailableError whose cause is the file-system or SQLite error.
   */
  static async acquire(dir: string): Promise<DirLock> {
    const path = join(dir, LOCK_FILE);
    let attempt;
    try {
      attempt = await ProcessLock.tryAcquire(path);
    } catch (cause) {
      const damaged = damagedLockReason(cause);
      if (damaged !== undefined) {
        throw new DataDirError(
          dir,
          `${path}.db`,
          damaged,
          `the lock file ${path}.db is damaged (${damaged}): it holds no data, only the lock. Stop every process ` +
            `that may use ${dir}, then truncate it to 0 bytes (\`truncate -s 0 ${path}.db\`); never delete it ` +
            "(a deleted lock file lets two processes write at once). Nothing else in the directory needs to change",
          { cause },
        );
      }
      throw new StoreUnavailableError(`cannot lock ${dir} (${path}.db)`, { cause: await fileSystemCause(dir, cause) });
    }
    if (attempt.lock !== undefined) return new DirLock(path, attempt.lock);
    const { holder } = attempt;
    const fix = holder?.thisProcess
      ? "close the other store on it first (or share that one)"
      : "stop that process (or wait for it to close the store), or use another directory";
    throw new DataDirLockedError(dir, holder, `${dir} is in use by ${describeHolder(holder)}: ${fix}`);
  }

  /**
   * Rejects with DataDirLockLostError when `LOCK.db` is no longer the file this object locked (deleted or replaced
   * while the store ran): another process may then hold a lock on the new file and write to the same directory.
   * One stat: call it before each write batch, segment start and sync. Also rejects after release().
   */
  async assertHeld(): Promise<void> {
    let owned: boolean;
    try {
      owned = await this.#lock.stillOwnsFile();
    } catch (cause) {
      throw new StoreUnavailableError(`cannot check the lock ${this.#lock.path}`, { cause });
    }
    if (owned) return;
    const dir = dirname(this.path);
    throw new DataDirLockLostError(
      dir,
      this.#lock.path,
      this.#lock.held
        ? `the lock file ${this.#lock.path} was deleted or replaced while this store had ${dir} open, so another ` +
            "process may be writing there too: nothing more is written. Close this store (and any other on the " +
            "directory) and open it again; never delete LOCK.db (truncate a damaged one with every process stopped)"
        : `the lock on ${dir} was released (the store is closed): nothing more is written`,
    );
  }

  /** Releases the lock this object took (once; later calls do nothing). Never touches another holder's lock. */
  release(): Promise<void> {
    return this.#lock.release();
  }
}

/** SQLITE_CORRUPT or SQLITE_NOTADB: the lock file is not a usable database. */
function damagedLockReason(error: unknown): string | undefined {
  const reason = sqliteReason(error);
  return reason === "SQLITE_CORRUPT" || reason === "SQLITE_NOTADB" ? reason : undefined;
}

/**
 * SQLite reports an unwritable directory as "unable to open database file" or "readonly database": find the
 * file-system reason (EACCES, EROFS, ...) so the caller can say what to do (data-dir-errors.ts).
 */
async function fileSystemCause(dir: string, cause: unknown): Promise<unknown> {
  try {
    await access(dir, constants.W_OK | constants.X_OK);
    await access(join(dir, `${LOCK_FILE}.db`), constants.R_OK | constants.W_OK).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    });
    return cause;
  } catch (error) {
    return Object.assign(error as Error, { cause });
  }
}
