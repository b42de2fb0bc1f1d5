/**
 * One `npm start` per data dir: an exclusive lock file, `<data-dir>/stack.lock`.
 *
 * Rules this module guarantees:
 * - At most one live holder. The lock file is created with link(2) from a complete temp file
 *   (written with O_EXCL): link is as exclusive as O_EXCL (EEXIST when the name exists) and the lock
 *   never exists half-written, so a reader never mistakes a lock being written for a broken one.
 * - A lock is only taken over when its holder is provably gone: same host, and its pid (and the pid
 *   of the anvil it started) no longer run, or the machine has rebooted since. A lock from another
 *   host is never taken over (its pid cannot be checked from here).
 * - A takeover removes exactly the stale lock it judged: it first takes `stack.lock.takeover`
 *   (also by link), re-reads the lock and removes it only if it still carries the stale holder's
 *   token. Only takeovers remove a lock that is not theirs, so of any number of concurrent starts
 *   exactly one links its lock. A takeover guard left behind (a crash inside that window) is
 *   never removed automatically: the error says which file to delete.
 * - Release removes the lock only if it is still ours.
 */
import { randomBytes } from "node:crypto";
import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

export const LOCK_FILE_NAME = "stack.lock";

/** What the lock file holds (JSON). Tools may read it to find the running stack. */
export interface LockHolder {
  readonly pid: number;
  /** Machine the holder runs on (os.hostname()). */
  readonly hostname: string;
  /** Linux boot id at start: a lock from before a reboot is stale whatever its pid. */
  readonly bootId?: string;
  /** Linux: the pid's start time (clock ticks after boot), so a reused pid is not taken for the holder. */
  readonly pidStartTime?: string;
  /** ISO 8601. */
  readonly startedAt: string;
  /** Interface the chain binds. */
  readonly host: string;
  /** The requested port (0 = any free one) until the chain listens, then the actual one. */
  readonly port: number;
  /** Set once the chain listens. */
  readonly rpcUrl?: string;
  readonly anvilPid?: number;
  readonly anvilStartTime?: string;
  /** Random; tells this holder's lock from any later one with the same pid. */
  readonly token: string;
}

export class StartError extends Error {
  readonly code: string = "START_ERROR";
  /** The option or file at fault. */
  readonly field: string;
  constructor(field: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.field = field;
  }
}

/** Another start holds the data dir (or may: see the message). */
export class DataDirLockedError extends StartError {
  override readonly code = "DATA_DIR_LOCKED";
  /** The holder as recorded in the lock file; undefined when the file cannot be read. */
  readonly holder: LockHolder | undefined;
  readonly lockFile: string;
  constructor(lockFile: string, holder: LockHolder | undefined, message: string) {
    super("data-dir", message);
    this.lockFile = lockFile;
    this.holder = holder;
  }
}

export interface DataDirLock {
  readonly path: string;
  readonly holder: LockHolder;
  /**
   * Records the anvil pid (as soon as it is spawned) and later where the chain listens (atomically replaces the
   * file's content).
   */
  update(fields: { anvilPid: number; port?: number; rpcUrl?: string }): void;
  /** Removes the lock if it is still ours. Synchronous, so it can run in an 'exit' handler. Idempotent. */
  release(): void;
}

export interface AcquireOptions {
  host: string;
  port: number;
  /** Told when a stale lock is taken over. */
  onNotice?: (message: string) => void;
}

const MAX_ATTEMPTS = 200;
const RETRY_MS = 10;

/** Takes the data dir's lock or throws a DataDirLockedError that names the holder. */
export async function acquireDataDirLock(dataDir: string, options: AcquireOptions): Promise<DataDirLock> {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, LOCK_FILE_NAME);
  const holder: LockHolder = {
    ...processIdentity(process.pid),
    startedAt: new Date().toISOString(),
    host: options.host,
    port: options.port,
    token: randomBytes(16).toString("hex"),
  };
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (createFrom(path, holder)) return heldLock(path, holder);
    const current = readHolder(path);
    if (current === "missing") continue; // released or taken over between our link and read
    if (current === "unreadable") {
      throw new DataDirLockedError(
        path,
        undefined,
        `${path} exists but is not a lock this script wrote; if no npm start is running on ${dataDir}, delete it`,
      );
    }
    const liveness = judge(current);
    if (liveness !== "gone")
      throw new DataDirLockedError(path, current, lockedMessage(dataDir, path, current, liveness));
    const outcome = takeOver(path, current);
    if (outcome === "removed") {
      options.onNotice?.(
        `start: taking over ${path}: the start that held it (pid ${current.pid}, since ${current.startedAt}) is gone`,
      );
    } else if (outcome === "busy") {
      await sleep(RETRY_MS); // another start is taking it over: see who wins
    }
  }
  throw new DataDirLockedError(path, undefined, `could not take ${path} after ${MAX_ATTEMPTS} attempts; try again`);
}

function heldLock(path: string, initial: LockHolder): DataDirLock {
  let holder = initial;
  let released = false;
  return {
    path,
    get holder() {
      return holder;
    },
    update({ port, rpcUrl, anvilPid }) {
      if (released) return;
      const anvilStartTime = readPidStartTime(anvilPid);
      holder = {
        ...holder,
        ...(port === undefined ? {} : { port }),
        ...(rpcUrl === undefined ? {} : { rpcUrl }),
        anvilPid,
        ...(anvilStartTime ? { anvilStartTime } : {}),
      };
      const temp = `${path}.${holder.token}.tmp`;
      writeFileSync(temp, JSON.stringify(holder), { flag: "wx" });
      renameSync(temp, path); // atomic replace: the lock never disappears meanwhile
    },
    release() {
      if (released) return;
      released = true;
      const current = readHolder(path);
      if (typeof current === "object" && current.token === holder.token) unlinkQuietly(path);
    },
  };
}

/** Creates `path` holding `content` iff it does not exist. */
function createFrom(path: string, content: LockHolder | ProcessIdentity): boolean {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  writeFileSync(temp, JSON.stringify(content), { flag: "wx" });
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    unlinkQuietly(temp);
  }
}

/**
 * Removes the lock if it still is `stale`, under the takeover guard: "removed", "changed" (it is no
 * longer that lock: nothing removed) or "busy" (another start holds the guard).
 */
function takeOver(path: string, stale: LockHolder): "removed" | "changed" | "busy" {
  const guard = `${path}.takeover`;
  if (!createFrom(guard, processIdentity(process.pid))) {
    const other = readHolder(guard);
    if (typeof other === "object" && judge(other) === "gone") {
      throw new DataDirLockedError(
        path,
        stale,
        `a start (pid ${other.pid}) died while taking over ${path}; if no npm start is running, delete ${guard} and ${path}`,
      );
    }
    return "busy";
  }
  try {
    const current = readHolder(path);
    if (typeof current !== "object" || current.token !== stale.token) return "changed";
    unlinkQuietly(path);
    return "removed";
  } finally {
    unlinkQuietly(guard);
  }
}

type Liveness = "running" | "orphaned-anvil" | "other-host" | "gone";

function judge(holder: ProcessIdentity & Pick<LockHolder, "anvilPid" | "anvilStartTime">): Liveness {
  if (holder.hostname !== hostname()) return "other-host";
  const bootId = readBootId();
  if (bootId && holder.bootId && bootId !== holder.bootId) return "gone";
  if (isRunning(holder.pid, holder.pidStartTime)) return "running";
  if (holder.anvilPid && isRunning(holder.anvilPid, holder.anvilStartTime)) return "orphaned-anvil";
  return "gone";
}

interface ProcessIdentity {
  readonly pid: number;
  readonly hostname: string;
  readonly bootId?: string;
  readonly pidStartTime?: string;
}

function processIdentity(pid: number): ProcessIdentity {
  const bootId = readBootId();
  const pidStartTime = readPidStartTime(pid);
  return { pid, hostname: hostname(), ...(bootId ? { bootId } : {}), ...(pidStartTime ? { pidStartTime } : {}) };
}

function lockedMessage(dataDir: string, path: string, holder: LockHolder, liveness: Liveness): string {
  const where = holder.rpcUrl ?? `port ${holder.port}`;
  switch (liveness) {
    case "other-host":
      return (
        `${dataDir} is in use by npm start pid ${holder.pid} on host ${holder.hostname} (${where}, since ${holder.startedAt}); ` +
        `stop it there, or delete ${path} if it no longer runs`
      );
    case "orphaned-anvil":
      return (
        `${dataDir} is in use by anvil pid ${holder.anvilPid} (${where}), left running by npm start pid ${holder.pid}, which is gone; ` +
        `stop it with kill -INT ${holder.anvilPid} (it saves its state), then start again`
      );
    default:
      return (
        `${dataDir} is in use by npm start pid ${holder.pid} (${where}, since ${holder.startedAt}); ` +
        `stop it (Ctrl-C in its terminal, or kill -INT ${holder.pid}) or use another --data-dir`
      );
  }
}

function readHolder(path: string): LockHolder | "missing" | "unreadable" {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "missing";
    throw error;
  }
  try {
    const value = JSON.parse(text) as Partial<LockHolder> | null;
    if (
      value === null ||
      typeof value !== "object" ||
      !Number.isSafeInteger(value.pid) ||
      (value.pid ?? 0) <= 0 ||
      typeof value.hostname !== "string"
    ) {
      return "unreadable";
    }
    return { token: "", startedAt: "?", host: "?", port: 0, ...value } as LockHolder;
  } catch {
    return "unreadable";
  }
}

/** Whether `pid` runs (not a zombie) and, when its recorded start time is known, is still the same process. */
function isRunning(pid: number, startTime?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false; // EPERM: alive, someone else's
  }
  const stat = readProcStat(pid);
  if (!stat) return true; // not Linux (or already gone): trust kill(0)
  if (stat.state === "Z" || stat.state === "X") return false; // exited, not yet reaped by its parent
  return !startTime || stat.startTime === startTime;
}

/** Linux: state (field 3) and start time in clock ticks after boot (field 22) of /proc/<pid>/stat. */
function readProcStat(pid: number): { state: string; startTime: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The fields after the command name, which may contain spaces and ends at the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0] ?? "", startTime: fields[19] ?? "" };
  } catch {
    return undefined;
  }
}

function readPidStartTime(pid: number): string | undefined {
  return readProcStat(pid)?.startTime;
}

function readBootId(): string | undefined {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim() || undefined;
  } catch {
    return undefined; // not Linux: rely on the pid alone
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
