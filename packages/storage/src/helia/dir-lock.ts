// One writer per block directory. Two processes (or two stores in one process) appending to the same segment
// files would interleave records and corrupt them, so opening takes `<dir>/LOCK`, created exclusively and holding
// the owner's pid, as Kubo's repo.lock. A lock whose process is gone (a crash) is taken over.
import { open, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { StoreUnavailableError } from "../errors.ts";

export const LOCK_FILE = "LOCK";

export class DirLock {
  readonly path: string;

  private constructor(path: string) {
    this.path = path;
  }

  /** Takes the lock on `dir`, or throws StoreUnavailableError naming the live process that holds it. */
  static async acquire(dir: string): Promise<DirLock> {
    const path = join(dir, LOCK_FILE);
    for (let attempt = 0; ; attempt++) {
      try {
        const handle = await open(path, "wx");
        try {
          await handle.writeFile(`${process.pid}\n`);
        } finally {
          await handle.close();
        }
        return new DirLock(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST" || attempt > 0) throw lockError(dir, error);
      }
      const owner = Number.parseInt(await readFile(path, "utf8").catch(() => ""), 10);
      if (Number.isSafeInteger(owner) && owner > 0 && isAlive(owner)) {
        throw new StoreUnavailableError(`${dir} is in use by process ${owner} (${path})`);
      }
      await rm(path, { force: true }); // left by a process that is gone: take it over (once)
    }
  }

  release(): Promise<void> {
    return rm(this.path, { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: only checks that the process exists
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"; // exists, owned by someone else
  }
}

function lockError(dir: string, cause: unknown): StoreUnavailableError {
  if (cause instanceof StoreUnavailableError) return cause;
  return new StoreUnavailableError(`cannot lock ${dir}`, { cause });
}
