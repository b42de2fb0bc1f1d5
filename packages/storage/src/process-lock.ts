// An exclusive lock that the operating system releases when its process dies, so no lock is ever "stale" and
// nothing has to guess whether its holder is gone (the pid-file locks this replaces did, and guessed wrong: an
// empty file was taken for stale and deleted, pid 1 always looked alive, release deleted a successor's lock).
//
// Safety rules:
// - The lock is SQLite's: a node:sqlite connection to `<name>.db` in `locking_mode=EXCLUSIVE` that has run
//   BEGIN EXCLUSIVE keeps its fcntl write lock until the connection closes, and the kernel drops it when the
//   process exits however it exits (SIGKILL included). No native addon.
// - fcntl locks belong to a process, not to a file descriptor: two opens in one process would not exclude each
//   other, and closing ANY descriptor of the file drops the process's lock. So within a process a registry keyed
//   by the lock file's device and inode says who holds it, and nothing here (or anywhere) opens `<name>.db` with
//   plain fs calls. SQLite's own per-inode bookkeeping also refuses a second connection in the process (worker
//   threads included); the registry makes that explicit and names the holder.
// - `<name>.db` is never deleted: a deleted lock file lets the next opener lock a new inode while the holder
//   still holds the old one.
// - Who holds the lock (pid, host, start time) is written to `<name>` (a plain text file) only after the lock is
//   taken, for error messages. It is never read to decide anything. release() removes it while still holding the
//   lock, so it never removes a successor's.
import { stat, rm, writeFile, readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { DatabaseSync } from "node:sqlite";
import type { LockHolderInfo } from "./errors.ts";

/** The result of one attempt: the lock, or who has it. */
export type LockAttempt =
  { lock: ProcessLock; holder?: undefined } | { lock?: undefined; holder: LockHolderInfo | undefined };

/** Locks this process holds, by `<dev>:<ino>` of the lock file. */
const held = new Map<string, ProcessLock>();

/** SQLite's SQLITE_BUSY: another connection (another process, or this one) holds the lock. */
const SQLITE_BUSY = 5;

export class ProcessLock {
  /** The lock file (`<name>.db`). */
  readonly path: string;
  /** The holder-information file (`<name>`). */
  readonly infoPath: string;
  readonly #key: string;
  #db: DatabaseSync | undefined;

  private constructor(path: string, infoPath: string, key: string, db: DatabaseSync) {
    this.path = path;
    this.infoPath = infoPath;
    this.#key = key;
    this.#db = db;
  }

  /**
   * One non-blocking attempt to take the lock `<infoPath>.db`: resolves `{ lock }` or `{ holder }` (undefined when
   * the holder has not written its information yet). Any other failure (the directory is not writable, ...) is
   * thrown as it is, so callers can name the file-system cause.
   */
  static async tryAcquire(infoPath: string): Promise<LockAttempt> {
    const path = `${infoPath}.db`;
    let db: DatabaseSync | undefined = new DatabaseSync(path, { timeout: 0 }); // creates the file if missing
    try {
      const { dev, ino } = await stat(path);
      const key = `${dev}:${ino}`;
      // Checked and set with no await in between: two attempts in this process cannot both pass.
      if (held.has(key)) {
        db.close();
        db = undefined;
        const { host, since } = await readHolder(infoPath);
        return { holder: { pid: process.pid, host, since, thisProcess: true } };
      }
      try {
        db.exec("PRAGMA locking_mode = EXCLUSIVE");
        db.exec("BEGIN EXCLUSIVE"); // in exclusive locking mode the lock outlives the transaction
        db.exec("COMMIT");
      } catch (error) {
        if (!isBusy(error)) throw error;
        db.close();
        db = undefined;
        const { pid, host, since } = await readHolder(infoPath);
        return { holder: pid === undefined ? undefined : { pid, host, since, thisProcess: false } };
      }
      const lock = new ProcessLock(path, infoPath, key, db);
      held.set(key, lock);
      db = undefined;
      try {
        await writeFile(infoPath, `${process.pid}\n${hostname()}\n${new Date().toISOString()}\n`, { mode: 0o644 });
      } catch (error) {
        await lock.release();
        throw error;
      }
      return { lock };
    } finally {
      db?.close();
    }
  }

  /**
   * Whether the lock file at `path` is still the inode this object locked: false once it was deleted or replaced
   * (`rm LOCK.db`, a restore from backup), after which another process can lock the new file while this one still
   * holds the old one, so neither excludes the other. One stat; false also when this object released the lock.
   */
  async stillOwnsFile(): Promise<boolean> {
    if (this.#db === undefined) return false;
    try {
      const { dev, ino } = await stat(this.path);
      return `${dev}:${ino}` === this.#key;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw error;
    }
  }

  /** Whether this object still holds its lock. */
  get held(): boolean {
    return this.#db !== undefined;
  }

  /** Gives the lock up (once; later calls do nothing). Removes only its own holder information. */
  async release(): Promise<void> {
    const db = this.#db;
    if (db === undefined) return;
    this.#db = undefined;
    try {
      await rm(this.infoPath, { force: true }); // still holding: nobody else can have written it
    } finally {
      db.close();
      if (held.get(this.#key) === this) held.delete(this.#key);
    }
  }
}

function isBusy(error: unknown): boolean {
  const errcode = (error as { errcode?: unknown } | undefined)?.errcode;
  return typeof errcode === "number" && (errcode & 0xff) === SQLITE_BUSY;
}

/** What the holder wrote (`pid\nhost\nsince\n`); fields it has not written yet are undefined. */
async function readHolder(
  infoPath: string,
): Promise<{ pid: number | undefined; host: string | undefined; since: string | undefined }> {
  const text = await readFile(infoPath, "utf8").catch(() => "");
  const [pidLine, host, since] = text.split("\n");
  const pid = Number(pidLine);
  return {
    pid: Number.isSafeInteger(pid) && pid > 0 ? pid : undefined,
    host: host === undefined || host === "" ? undefined : host,
    since: since === undefined || since === "" ? undefined : since,
  };
}

/** "process 1234 on host-a since 2026-01-01T00:00:00.000Z" / "this process" / "another process". */
export function describeHolder(holder: LockHolderInfo | undefined): string {
  if (holder === undefined) return "another process (it has not recorded its pid yet)";
  const where = holder.host === undefined ? "" : ` on ${holder.host}`;
  const since = holder.since === undefined ? "" : ` since ${holder.since}`;
  return holder.thisProcess ? `this process (process ${holder.pid}${since})` : `process ${holder.pid}${where}${since}`;
}
