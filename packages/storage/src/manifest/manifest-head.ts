// Where the latest manifest version is recorded. Locally a file; later an on-chain anchor. Both offer the
// same two operations, and compareAndSet is what keeps concurrent writers from overwriting each other.
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { CID } from "multiformats/cid";
import { parseCid } from "../cid.ts";
import { InvalidArgumentError, InvalidManifestError, StoreUnavailableError } from "../errors.ts";

export interface ManifestHeadValue {
  cid: CID;
  version: number;
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

export interface FileManifestHeadOptions {
  /** How long to wait for another process's lock before StoreUnavailableError. Default 5 s. */
  lockTimeoutMs?: number;
  /** A lock file older than this is from a crashed writer and is broken. Default 30 s. */
  staleLockMs?: number;
}

/**
 * A head stored as a small JSON file, replaced by atomic rename (a reader sees the old or the new head,
 * never a torn one). Writers are serialised within the process by a queue and across processes by an
 * exclusive lock file next to it.
 */
export class FileManifestHead implements ManifestHead {
  readonly path: string;
  readonly #lockPath: string;
  readonly #lockTimeoutMs: number;
  readonly #staleLockMs: number;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(path: string, options: FileManifestHeadOptions = {}) {
    if (typeof path !== "string" || path.length === 0) {
      throw new InvalidArgumentError("head path must be a non-empty file path", { field: "path" });
    }
    this.path = path;
    this.#lockPath = `${path}.lock`;
    this.#lockTimeoutMs = options.lockTimeoutMs ?? 5_000;
    this.#staleLockMs = options.staleLockMs ?? 30_000;
  }

  async get(): Promise<ManifestHeadValue | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (error) {
      if (isErrno(error, "ENOENT")) return undefined;
      throw new StoreUnavailableError(`cannot read manifest head ${this.path}`, { cause: error });
    }
    return parseHead(text);
  }

  async compareAndSet(expected: CID | undefined, next: ManifestHeadValue): Promise<boolean> {
    const nextCid = parseCid(next.cid);
    if (!Number.isSafeInteger(next.version) || next.version < 1) {
      throw new InvalidArgumentError("head version must be a positive integer", { field: "next.version" });
    }
    const run = this.#queue.then(() =>
      this.#withFileLock(() => this.#swap(expected, { cid: nextCid, version: next.version })),
    );
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #swap(expected: CID | undefined, next: ManifestHeadValue): Promise<boolean> {
    const current = await this.get();
    const unchanged =
      current === undefined ? expected === undefined : expected !== undefined && current.cid.equals(expected);
    if (!unchanged) return false;
    if (current !== undefined && next.version <= current.version) {
      throw new InvalidArgumentError(`head version must increase (current ${current.version}, next ${next.version})`, {
        field: "next.version",
      });
    }
    await writeFileAtomically(this.path, JSON.stringify({ cid: next.cid.toString(), version: next.version }) + "\n");
    return true;
  }

  async #withFileLock<T>(action: () => Promise<T>): Promise<T> {
    await mkdir(dirname(this.path), { recursive: true });
    const deadline = Date.now() + this.#lockTimeoutMs;
    for (;;) {
      try {
        const handle = await open(this.#lockPath, "wx");
        await handle.close();
        break;
      } catch (error) {
        if (!isErrno(error, "EEXIST")) throw new StoreUnavailableError(`cannot lock ${this.path}`, { cause: error });
      }
      await this.#breakStaleLock();
      if (Date.now() > deadline)
        throw new StoreUnavailableError(`manifest head ${this.path} is locked by another writer`);
      await sleep(5 + Math.random() * 20);
    }
    try {
      return await action();
    } finally {
      await rm(this.#lockPath, { force: true });
    }
  }

  async #breakStaleLock(): Promise<void> {
    try {
      const { mtimeMs } = await stat(this.#lockPath);
      if (Date.now() - mtimeMs > this.#staleLockMs) await rm(this.#lockPath, { force: true });
    } catch {
      // Gone already: the next attempt will take it.
    }
  }
}

function parseHead(text: string): ManifestHeadValue {
  try {
    const value = JSON.parse(text) as { cid?: unknown; version?: unknown };
    const version = value.version;
    if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 1) throw new Error("bad version");
    return { cid: parseCid(value.cid), version };
  } catch (cause) {
    throw new InvalidManifestError("manifest head file is corrupt", { cause });
  }
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
  const directory = await open(dirname(path), "r");
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
