// Where the latest manifest version is recorded. Locally a file; later an on-chain anchor. Both offer the
// same two operations, and compareAndSet is what keeps concurrent writers from overwriting each other.
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { CID } from "multiformats/cid";
import { parseCid } from "../cid.ts";
import {
  InvalidArgumentError,
  InvalidManifestError,
  ManifestHeadLockedError,
  StoreUnavailableError,
} from "../errors.ts";
import { ProcessLock, describeHolder } from "../process-lock.ts";
import type { LockAttempt } from "../process-lock.ts";
import { syncDirectory } from "../sync-directory.ts";

export interface ManifestHeadValue {
  cid: CID;
  version: number;
  /**
   * The id of the store the version was written to (a HeliaContentStore's peer id), where its content is. Several
   * stores may share one head (FileManifestHead): a store moves a head back only from content it wrote itself and
   * lost; another store's version is fetched from peers (PatientManifest.latest). Undefined for heads written by
   * an earlier release or through a store without an id.
   */
  writtenBy?: string;
}

export interface ManifestHead {
  /** The latest manifest version, or undefined when the patient has none yet. */
  get(options?: { signal?: AbortSignal }): Promise<ManifestHeadValue | undefined>;
  /**
   * Atomically moves the head to `next` if and only if it still points at `expected` (undefined: no head
   * yet) and `next.version` is greater than the current version. Resolves false when the head moved.
   * A chain-backed head implements this as a contract call that checks the expected value, so the version
   * is included: the contract can enforce monotonic versions without reading IPFS.
   */
  compareAndSet(
    expected: CID | undefined,
    next: ManifestHeadValue,
    options?: { signal?: AbortSignal },
  ): Promise<boolean>;
}

/**
 * A head that remembers the versions it pointed at before (FileManifestHead), so that a head naming content the
 * store lost (a power loss that kept the head but not the newest blocks) can be moved back to the newest version
 * that is still complete (PatientManifest does that when it reads the head). A chain-backed head is not one: its
 * versions never go back.
 */
export interface RecoverableManifestHead extends ManifestHead {
  /** Earlier heads, newest first (the current one not included); at most MAX_PREVIOUS_HEADS. */
  previous(options?: { signal?: AbortSignal }): Promise<ManifestHeadValue[]>;
  /**
   * Moves the head back from `lost` (what it points at now) to `to`, one of previous(): only for a head whose
   * content is gone. The heads skipped are kept in the file as `abandoned` (for an operator). Resolves false when
   * the head is no longer `lost`; InvalidArgumentError (field "to") when `to` is not one of previous().
   */
  rollBack(lost: CID, to: ManifestHeadValue, options?: { signal?: AbortSignal }): Promise<boolean>;
}

/** Whether `head` can be moved back to an earlier version (see RecoverableManifestHead). */
export function isRecoverableHead(head: ManifestHead): head is RecoverableManifestHead {
  const candidate = head as Partial<RecoverableManifestHead>;
  return typeof candidate.previous === "function" && typeof candidate.rollBack === "function";
}

/** Earlier heads a FileManifestHead keeps (and abandoned ones, after a roll back), newest first. */
export const MAX_PREVIOUS_HEADS = 16;

/** An entry of the head file's history that could not be parsed and was dropped (FileManifestHead). */
export interface DroppedHeadEntry {
  /** "previous" or "abandoned", and the index in that list ("previous[0]"); "previous" alone when not a list. */
  where: string;
  reason: string;
}

export interface FileManifestHeadOptions {
  /**
   * How long to wait for another live writer's lock before ManifestHeadLockedError. Default 5 s. A writer that
   * died (even by SIGKILL) holds nothing: the operating system released its lock.
   */
  lockTimeoutMs?: number;
  /** @deprecated Ignored: the lock dies with its process, so there is no stale lock to break. */
  staleLockMs?: number;
  /**
   * Called when a write drops history entries of the head file that cannot be parsed (the current head is read
   * strictly; a bad earlier entry only loses that fallback). Default: a process warning with code
   * `HYGEIA_HEAD_HISTORY_DAMAGE`.
   */
  onDroppedHistory?: (dropped: readonly DroppedHeadEntry[], path: string) => void;
}

/** The least a store id has to be, and the most (a peer id is ≈ 52 characters). */
const STORE_ID = /^\S{1,256}$/;

/** A head as the file stores it: the current value, the ones before it, and any abandoned by a roll back. */
interface HeadRecord extends ManifestHeadValue {
  previous: ManifestHeadValue[];
  abandoned: AbandonedHead[];
  /** History entries that did not parse: left out of the lists above, dropped from the file at the next write. */
  dropped: DroppedHeadEntry[];
}

interface AbandonedHead extends ManifestHeadValue {
  /** ISO time of the roll back that abandoned it. */
  at: string;
}

/**
 * A head stored as a small JSON file, replaced by atomic rename (a reader sees the old or the new head, never a
 * torn one). Writers are serialised within the process by a queue and across processes (and across instances in
 * one process) by an exclusive lock the operating system releases when its process dies: `<path>.lock.db`, with
 * the holder's pid in `<path>.lock` for messages (process-lock.ts). The file also keeps the previous
 * MAX_PREVIOUS_HEADS heads (RecoverableManifestHead).
 */
export class FileManifestHead implements RecoverableManifestHead {
  readonly path: string;
  readonly #lockPath: string;
  readonly #lockTimeoutMs: number;
  readonly #onDroppedHistory: (dropped: readonly DroppedHeadEntry[], path: string) => void;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(path: string, options: FileManifestHeadOptions = {}) {
    if (typeof path !== "string" || path.length === 0) {
      throw new InvalidArgumentError("head path must be a non-empty file path", { field: "path" });
    }
    const lockTimeoutMs = options.lockTimeoutMs ?? 5_000;
    if (!Number.isSafeInteger(lockTimeoutMs) || lockTimeoutMs < 0 || lockTimeoutMs > 2_147_483_647) {
      throw new InvalidArgumentError("lockTimeoutMs must be a whole number of milliseconds, 0 to 2147483647", {
        field: "lockTimeoutMs",
      });
    }
    if (options.onDroppedHistory !== undefined && typeof options.onDroppedHistory !== "function") {
      throw new InvalidArgumentError("onDroppedHistory must be a function (dropped, path) => void", {
        field: "onDroppedHistory",
      });
    }
    this.path = path;
    this.#lockPath = `${path}.lock`;
    this.#lockTimeoutMs = lockTimeoutMs;
    this.#onDroppedHistory = options.onDroppedHistory ?? warnOfDroppedHistory;
  }

  async get(): Promise<ManifestHeadValue | undefined> {
    const record = await this.#read();
    return record === undefined ? undefined : headValue(record);
  }

  async previous(): Promise<ManifestHeadValue[]> {
    return (await this.#read())?.previous ?? [];
  }

  async compareAndSet(expected: CID | undefined, next: ManifestHeadValue): Promise<boolean> {
    const nextCid = parseCid(next.cid);
    if (!Number.isSafeInteger(next.version) || next.version < 1) {
      throw new InvalidArgumentError("head version must be a positive integer", { field: "next.version" });
    }
    if (next.writtenBy !== undefined && (typeof next.writtenBy !== "string" || !STORE_ID.test(next.writtenBy))) {
      throw new InvalidArgumentError("writtenBy must be a store id (a peer id): 1 to 256 characters, no whitespace", {
        field: "next.writtenBy",
      });
    }
    const value = headValue({ ...next, cid: nextCid });
    return this.#serialised(() => this.#swap(expected, value));
  }

  async rollBack(lost: CID, to: ManifestHeadValue): Promise<boolean> {
    const lostCid = parseCid(lost);
    const target = parseCid(to.cid);
    return this.#serialised(async () => {
      const current = await this.#read();
      if (current === undefined || !current.cid.equals(lostCid)) return false;
      const index = current.previous.findIndex((head) => head.cid.equals(target) && head.version === to.version);
      if (index < 0) {
        throw new InvalidArgumentError(
          `${target.toString()} (version ${to.version}) is not an earlier head of ${this.path}`,
          {
            field: "to",
          },
        );
      }
      const at = new Date().toISOString();
      const skipped = [current, ...current.previous.slice(0, index)].map((head) => ({ ...headValue(head), at }));
      await this.#write({
        ...current.previous[index]!,
        previous: current.previous.slice(index + 1),
        abandoned: [...skipped, ...current.abandoned].slice(0, MAX_PREVIOUS_HEADS),
        dropped: current.dropped,
      });
      return true;
    });
  }

  #serialised<T>(action: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => this.#withFileLock(action));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #read(): Promise<HeadRecord | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if (isErrno(error, "ENOENT")) return undefined;
      throw new StoreUnavailableError(`cannot read manifest head ${this.path}`, { cause: error });
    }
    return parseHead(text);
  }

  /** Writes `record`; the history entries it dropped are reported once written (they are gone from the file). */
  async #write(record: HeadRecord): Promise<void> {
    const plain = (head: ManifestHeadValue): { cid: string; version: number; writtenBy?: string } => ({
      cid: head.cid.toString(),
      version: head.version,
      ...(head.writtenBy === undefined ? {} : { writtenBy: head.writtenBy }),
    });
    const json = {
      ...plain(record),
      previous: record.previous.map(plain),
      ...(record.abandoned.length === 0
        ? {}
        : { abandoned: record.abandoned.map((head) => ({ ...plain(head), at: head.at })) }),
    };
    await writeFileAtomically(this.path, JSON.stringify(json) + "\n");
    if (record.dropped.length > 0) this.#onDroppedHistory(record.dropped, this.path);
  }

  async #swap(expected: CID | undefined, next: ManifestHeadValue): Promise<boolean> {
    const current = await this.#read();
    const unchanged =
      current === undefined ? expected === undefined : expected !== undefined && current.cid.equals(expected);
    if (!unchanged) return false;
    if (current !== undefined && next.version <= current.version) {
      throw new InvalidArgumentError(`head version must increase (current ${current.version}, next ${next.version})`, {
        field: "next.version",
      });
    }
    const previous =
      current === undefined ? [] : [headValue(current), ...current.previous].slice(0, MAX_PREVIOUS_HEADS);
    await this.#write({ ...next, previous, abandoned: current?.abandoned ?? [], dropped: current?.dropped ?? [] });
    return true;
  }

  async #withFileLock<T>(action: () => Promise<T>): Promise<T> {
    await mkdir(dirname(this.path), { recursive: true });
    const deadline = Date.now() + this.#lockTimeoutMs;
    for (;;) {
      let attempt: LockAttempt;
      try {
        attempt = await ProcessLock.tryAcquire(this.#lockPath);
      } catch (cause) {
        throw new StoreUnavailableError(`cannot lock manifest head ${this.path} (${this.#lockPath}.db)`, { cause });
      }
      if (attempt.lock !== undefined) {
        try {
          return await action();
        } finally {
          await attempt.lock.release();
        }
      }
      if (Date.now() >= deadline) {
        throw new ManifestHeadLockedError(
          this.path,
          attempt.holder,
          `manifest head ${this.path} is locked by ${describeHolder(attempt.holder)}, which held it for longer ` +
            `than lockTimeoutMs (${this.#lockTimeoutMs} ms); nothing was written. A writer that died holds no lock, ` +
            "so this one is alive: retry, or find out why it is stuck",
        );
      }
      await sleep(5 + Math.random() * 20);
    }
  }
}

/**
 * The head file, the current value strictly (InvalidManifestError: there is no head to add to), the history
 * leniently: an entry that does not parse is left out and listed in `dropped` (it only loses that fallback), so
 * one bad earlier entry cannot block every add.
 */
function parseHead(text: string): HeadRecord {
  let value: { previous?: unknown; abandoned?: unknown };
  let current: ManifestHeadValue;
  try {
    value = JSON.parse(text) as { previous?: unknown; abandoned?: unknown };
    current = parseValue(value);
  } catch (cause) {
    throw new InvalidManifestError(
      "manifest head file is corrupt: its current head cannot be read. Restore it from a backup, or write the " +
        "last version you know of (`previous` in the file, or your own records) as the head",
      { cause },
    );
  }
  const dropped: DroppedHeadEntry[] = [];
  const list = <T>(name: string, items: unknown, parse: (item: unknown) => T): T[] => {
    if (items === undefined) return []; // a head written by an earlier release keeps no history
    if (!Array.isArray(items)) {
      dropped.push({ where: name, reason: "not a list" });
      return [];
    }
    const parsed: T[] = [];
    items.slice(0, MAX_PREVIOUS_HEADS).forEach((item: unknown, index) => {
      try {
        parsed.push(parse(item));
      } catch (error) {
        dropped.push({ where: `${name}[${index}]`, reason: error instanceof Error ? error.message : String(error) });
      }
    });
    return parsed;
  };
  return {
    ...current,
    previous: list("previous", value.previous, parseValue),
    abandoned: list("abandoned", value.abandoned, (item) => ({
      ...parseValue(item),
      at: String((item as { at?: unknown }).at ?? ""),
    })),
    dropped,
  };
}

function parseValue(item: unknown): ManifestHeadValue {
  const { cid, version, writtenBy } = (typeof item === "object" && item !== null ? item : {}) as {
    cid?: unknown;
    version?: unknown;
    writtenBy?: unknown;
  };
  if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 1) {
    throw new Error("version is not a positive integer");
  }
  const value: ManifestHeadValue = { cid: parseCid(cid), version };
  if (writtenBy !== undefined) {
    if (typeof writtenBy !== "string" || !STORE_ID.test(writtenBy)) throw new Error("writtenBy is not a store id");
    value.writtenBy = writtenBy;
  }
  return value;
}

/** The value alone (no history). */
function headValue(head: ManifestHeadValue): ManifestHeadValue {
  const value: ManifestHeadValue = { cid: head.cid, version: head.version };
  if (head.writtenBy !== undefined) value.writtenBy = head.writtenBy;
  return value;
}

function warnOfDroppedHistory(dropped: readonly DroppedHeadEntry[], path: string): void {
  process.emitWarning(
    `manifest head ${path}: ${dropped.length} earlier head(s) could not be read and were dropped from its history ` +
      `(${dropped.map((entry) => `${entry.where}: ${entry.reason}`).join("; ")}); the current head is intact`,
    { code: "HYGEIA_HEAD_HISTORY_DAMAGE" },
  );
}

/** Write to a private temp file, fsync, rename over the target, fsync the directory. */
async function writeFileAtomically(path: string, contents: string): Promise<void> {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  const handle = await open(temp, "wx", 0o600);
  try {
    await handle.writeFile(contents, "utf8");
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(dirname(path));
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
