// One writer per block directory. Two processes (or two stores in one process) appending to the same segment
// files would interleave records and overwrite each other's, so opening takes `<dir>/LOCK.db`, an exclusive lock
// the operating system releases when the holding process dies (process-lock.ts), as Kubo's repo.lock. There is no
// staleness to guess: a lock that is held has a live holder, and a crashed holder's lock is free at once.
// `<dir>/LOCK` names the holder (pid, host, since) for the error message only; a LOCK file left by an older
// release (a pid file) is ignored and overwritten.
import { access, constants } from "node:fs/promises";
import { join } from "node:path";
import { DataDirLockedError, StoreUnavailableError } from "../errors.ts";
import { ProcessLock, describeHolder } from "../process-lock.ts";

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
      throw new StoreUnavailableError(`cannot lock ${dir} (${path}.db)`, { cause: await fileSystemCause(dir, cause) });
    }
    if (attempt.lock !== undefined) return new DirLock(path, attempt.lock);
    const { holder } = attempt;
    const fix = holder?.thisProcess
      ? "close the other store on it first (or share that one)"
      : "stop that process (or wait for it to close the store), or use another directory";
    throw new DataDirLockedError(dir, holder, `${dir} is in use by ${describeHolder(holder)}: ${fix}`);
  }

  /** Releases the lock this object took (once; later calls do nothing). Never touches another holder's lock. */
  release(): Promise<void> {
    return this.#lock.release();
  }
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
