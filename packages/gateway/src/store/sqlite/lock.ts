// One gateway per data dir: @hygeia/storage's ProcessLock on `<dataDir>/gateway.lock.db`, an exclusive SQLite
// lock the operating system releases when the holder dies (kill -9 included), so a lock is never stale. Its
// rules (never delete the lock file, never open it with plain fs calls, holder information only for messages)
// are stated in packages/storage/src/process-lock.ts. This module only names the files and turns "held by
// someone" into the store's DATA_DIR_LOCKED error.
import { stat } from "node:fs/promises";
import { statSync } from "node:fs";
import { join } from "node:path";
import { ProcessLock, describeHolder } from "@hygeia/storage";
import { StoreOpenError } from "./errors.ts";

export const LOCK_INFO_FILE = "gateway.lock";
export const LOCK_FILE = "gateway.lock.db";

export class DataDirLock {
  readonly dataDir: string;
  readonly #lock: ProcessLock;
  /** `<dev>:<ino>` of the lock file when it was taken. */
  readonly #key: string;

  private constructor(dataDir: string, lock: ProcessLock, key: string) {
    this.dataDir = dataDir;
    this.#lock = lock;
    this.#key = key;
  }

  /** Takes the lock or throws StoreOpenError("DATA_DIR_LOCKED") naming the holder. */
  static async acquire(dataDir: string): Promise<DataDirLock> {
    const attempt = await ProcessLock.tryAcquire(join(dataDir, LOCK_INFO_FILE));
    if (attempt.lock === undefined) {
      const holder = attempt.holder;
      throw new StoreOpenError(
        "DATA_DIR_LOCKED",
        dataDir,
        `the gateway data dir ${dataDir} is in use by ${holder?.thisProcess ? `another store in ${describeHolder(holder)}` : describeHolder(holder)}: one gateway per data dir (stop that one, or set another HYGEIA_DATA_DIR)`,
        { holder: holder === undefined ? undefined : { pid: holder.pid, host: holder.host, since: holder.since } },
      );
    }
    try {
      const { dev, ino } = await stat(attempt.lock.path); // held: nobody can have replaced it in between
      return new DataDirLock(dataDir, attempt.lock, `${dev}:${ino}`);
    } catch (error) {
      await attempt.lock.release();
      throw error;
    }
  }

  /**
   * Whether the lock file is still the inode this lock holds: false once it was deleted or replaced, after which
   * another process could lock the new file while this one holds the old one, and neither excludes the other.
   * Synchronous (one stat) because the store's ping runs it inside its synchronous section.
   */
  stillOwnsFile(): boolean {
    if (!this.#lock.held) return false;
    try {
      const { dev, ino } = statSync(join(this.dataDir, LOCK_FILE));
      return `${dev}:${ino}` === this.#key;
    } catch {
      return false;
    }
  }

  get held(): boolean {
    return this.#lock.held;
  }

  /** Gives the lock up (once; later calls do nothing). Removes only its own holder information. */
  release(): Promise<void> {
    return this.#lock.release();
  }
}
