// Uploads staged between PUT /v1/uploads and their registration (POST /v1/records, PUT /v1/manifest), and the
// garbage they leave.
//
// Safety rules:
// - A staged CID belongs to the address that uploaded it: only that address can register it, and only before it
//   expires. Staging lives in the store (staged_uploads): a restart keeps it registrable, and keeps it counted.
// - Expired and unregistered: the sweep unpins it, unless the CID is referenced after all (a record of anyone,
//   the uploader's manifest pointer) or another address still has it staged. The sweep runs at start and on an
//   unref'd timer; then `content.gc()` deletes the unpinned blocks, so has() is false for them. (The pack
//   blockstore keeps the bytes on disk until a compaction exists: gc bounds what is reachable; the budget below
//   and the upload size limit bound growth.)
// - An aborted upload pinned nothing; its written blocks go at a gc scheduled after the abort (debounced: aborts
//   within the delay share one gc, and abort-scheduled gcs are at least gcMinIntervalMs apart).
// - Budget: an uploader's staged bytes (plus its uploads under way) never pass `budgetBytes`; an upload that
//   would is refused with 429 UPLOAD_BUDGET_EXCEEDED.
// - One lock orders staging, registration and the sweep's unpin (in this process): the sweep cannot unpin a CID
//   between a registration's check and its record, nor between an upload's pin and its staging row. (Several
//   gateways on one store would need the store to arbitrate; the scale-out issue.)
import type { ContentStore } from "@hygeia/storage";
import { GatewayError } from "../../errors.ts";
import type { GatewayStore, StagedUploadRow } from "../../store/types.ts";
import type { RegistrationReceipts } from "./receipts.ts";

export interface StagedUpload {
  cid: string;
  /** The uploader. */
  patient: string;
  size: number;
  expiresAt: number;
}

export interface StagingLog {
  warn(object: Record<string, unknown>, message: string): void;
  info(object: Record<string, unknown>, message: string): void;
}

export interface UploadStagingOptions {
  store: GatewayStore;
  content: ContentStore;
  /** The registration receipts: a CID with one is a record, database or not. */
  receipts: RegistrationReceipts;
  ttlMs: number;
  now: () => number;
  /** Bytes one uploader may hold staged (with its uploads under way). */
  budgetBytes: number;
  /** How often the sweep runs, ms. Default: a tenth of the TTL, between 1 s and 60 s. */
  sweepEveryMs?: number;
  /** Delay between an aborted upload and the gc it schedules, ms (more aborts within it share one gc). Default 5 s. */
  gcDelayMs?: number;
  /**
   * Least time between two gcs that aborts schedule, ms (a gc reads every stored block: aborting uploads in a loop
   * must not make the node do that continuously). Default 60 s.
   */
  gcMinIntervalMs?: number;
  /** Passed to content.gc (its idle timeout), ms. */
  gcTimeoutMs?: number;
  log: StagingLog;
}

/** Counts one upload's bytes against its uploader's budget (UploadStaging.begin). */
export interface UploadMeter {
  /** Refuses (429) when `bytes` more would pass the budget (a declared length, before reading). */
  fits(bytes: number): void;
  /** Counts `bytes` received; refuses (429), counting nothing, when they would pass the budget. */
  add(bytes: number): void;
  /** The upload ended (staged, refused or cut off): its bytes no longer count as under way. */
  end(): void;
}

/** Expired rows handled per store query. */
const SWEEP_BATCH = 100;

export function budgetExceeded(budget: number, staged: number): GatewayError {
  return new GatewayError(
    "UPLOAD_BUDGET_EXCEEDED",
    429,
    `your staged uploads would pass ${budget} bytes: register or let some expire first`,
    { extensions: { budget, staged } },
  );
}

export class UploadStaging {
  readonly #options: UploadStagingOptions;
  readonly #inFlight = new Map<string, number>();
  readonly #closing = new AbortController();
  #lock: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setInterval> | undefined;
  #gcTimer: ReturnType<typeof setTimeout> | undefined;
  #sweeping: Promise<number> | undefined;
  #collecting: Promise<void> | undefined;
  #closed = false;
  /** When the last gc started (process clock, ms). */
  #lastGcAt = -Infinity;

  constructor(options: UploadStagingOptions) {
    this.#options = options;
  }

  /** Sweeps once now (in the background) and then on the timer. */
  start(): void {
    if (this.#timer !== undefined || this.#closed) return;
    const every = this.#options.sweepEveryMs ?? Math.min(60_000, Math.max(1_000, Math.floor(this.#options.ttlMs / 10)));
    this.#timer = setInterval(() => void this.sweep(), every);
    this.#timer.unref();
    void this.sweep();
  }

  /** Runs `work` under the staging lock (registration: check, record, take). */
  async locked<T>(work: () => Promise<T>): Promise<T> {
    const previous = this.#lock;
    let release!: () => void;
    this.#lock = new Promise<void>((resolve) => (release = resolve));
    await previous;
    try {
      return await work();
    } finally {
      release();
    }
  }

  /**
   * An upload of `uploader` starts: refuses (429) when its staged bytes and uploads under way already use the
   * budget; returns a meter to count the bytes as they arrive (`add` refuses once the budget would pass) and to
   * end (always call `end`).
   */
  async begin(uploader: string): Promise<UploadMeter> {
    const budget = this.#options.budgetBytes;
    const staged = await this.#options.store.stagedBytesOf(uploader);
    let counted = 0;
    const check = (more: number) => {
      const total = staged + (this.#inFlight.get(uploader) ?? 0) + more;
      if (total > budget) throw budgetExceeded(budget, staged);
    };
    check(1);
    return {
      fits: (bytes) => check(bytes),
      add: (bytes) => {
        check(bytes);
        counted += bytes;
        this.#inFlight.set(uploader, (this.#inFlight.get(uploader) ?? 0) + bytes);
      },
      end: () => {
        const left = (this.#inFlight.get(uploader) ?? 0) - counted;
        counted = 0;
        if (left > 0) this.#inFlight.set(uploader, left);
        else this.#inFlight.delete(uploader);
      },
    };
  }

  /**
   * Stages (or re-stages, with a fresh TTL) `cid`, which the caller's put pinned. Under the lock: the budget is
   * checked against the store (a re-staged CID counts once) and the CID pinned again (a sweep may have unpinned
   * an earlier staging of the same bytes since the put). Over budget: unpinned unless referenced, then 429.
   */
  async stage(cid: string, uploader: string, size: number): Promise<StagedUpload> {
    return this.locked(async () => {
      const { store, content } = this.#options;
      const budget = this.#options.budgetBytes;
      const previous = await store.getStagedUpload(cid, uploader);
      const staged = (await store.stagedBytesOf(uploader)) - (previous?.size ?? 0);
      if (staged + size > budget) {
        if (previous === undefined) await this.#unpinIfUnreferenced(cid, uploader);
        throw budgetExceeded(budget, staged);
      }
      // Pinned by the put; pinned again only if a sweep unpinned it since (pin() would wait for a gc under way).
      if (!(await content.stat(cid)).pinned) await content.pin(cid);
      const row: StagedUploadRow = { cid, uploader, size, expiresAt: this.#options.now() + this.#options.ttlMs };
      await store.putStagedUpload(row);
      return toStaged(row);
    });
  }

  /** The uploader's staging of `cid`, while it has not expired. */
  async get(cid: string, uploader: string): Promise<StagedUpload | undefined> {
    const row = await this.#options.store.getStagedUpload(cid, uploader);
    if (row === undefined || row.expiresAt <= this.#options.now()) return undefined;
    return toStaged(row);
  }

  /** Removes the staging once registered (the content stays pinned); false when it was not staged. */
  async take(cid: string, uploader: string): Promise<boolean> {
    return (await this.#options.store.takeStagedUpload(cid, uploader)) !== undefined;
  }

  /** An upload was cut off: its written blocks are garbage; a gc follows after the delay (one for many aborts). */
  uploadAborted(): void {
    if (this.#closed || this.#gcTimer !== undefined) return;
    const delay = Math.max(
      this.#options.gcDelayMs ?? 5_000,
      this.#lastGcAt + (this.#options.gcMinIntervalMs ?? 60_000) - performance.now(),
    );
    this.#gcTimer = setTimeout(() => {
      this.#gcTimer = undefined;
      void this.collect();
    }, delay);
    this.#gcTimer.unref();
  }

  /**
   * Unpins every expired staged upload nobody references, then runs the content store's gc when any was
   * unpinned; resolves with how many were unpinned. One sweep at a time (a call during one joins it). Never
   * rejects: failures are logged and retried at the next sweep.
   */
  sweep(): Promise<number> {
    if (this.#closed) return Promise.resolve(0);
    this.#sweeping ??= this.#sweep().finally(() => (this.#sweeping = undefined));
    return this.#sweeping;
  }

  /** Runs the content store's gc (one at a time; a call during one joins it). Never rejects. */
  collect(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#collecting ??= this.#collect().finally(() => (this.#collecting = undefined));
    return this.#collecting;
  }

  /** Stops the timers, aborts a gc under way, waits for what runs (at close; staged uploads stay in the store). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#gcTimer !== undefined) clearTimeout(this.#gcTimer);
    this.#closing.abort(new Error("the gateway is closing"));
    await Promise.all([this.#sweeping, this.#collecting]);
  }

  async #sweep(): Promise<number> {
    const { store, log } = this.#options;
    let unpinned = 0;
    try {
      const now = this.#options.now();
      let seen = new Set<string>();
      for (;;) {
        const rows = (await store.expiredStagedUploads(now, SWEEP_BATCH)).filter(
          (row) => !seen.has(`${row.uploader} ${row.cid}`),
        );
        if (rows.length === 0) break;
        seen = new Set([...seen, ...rows.map((row) => `${row.uploader} ${row.cid}`)]);
        for (const row of rows) {
          if (this.#closed) return unpinned;
          if (await this.#expire(row, now)) unpinned += 1;
        }
      }
    } catch (error) {
      log.warn({ err: error }, "the staged-upload sweep failed; it runs again at the next tick");
    }
    if (unpinned > 0) {
      log.info({ unpinned }, "unpinned expired staged uploads");
      await this.collect();
    }
    return unpinned;
  }

  /** Ends one expired row; true when it unpinned the CID. A row re-staged meanwhile is kept. */
  async #expire(row: StagedUploadRow, now: number): Promise<boolean> {
    return this.locked(async () => {
      if (!(await this.#options.store.deleteStagedUpload(row.cid, row.uploader, now))) return false;
      // Another address's staging of the same bytes keeps them (its own expiry decides).
      if (await this.#options.store.isStaged(row.cid)) return false;
      return this.#unpinIfUnreferenced(row.cid, row.uploader);
    });
  }

  /**
   * Unpins a CID its uploader let go of (a study contribution withdrawn or replaced), under the lock, unless it is
   * staged or still referenced; true when it was unpinned. Its blocks go at a later gc.
   */
  async letGo(cid: string, uploader: string): Promise<boolean> {
    return this.locked(async () => {
      if (await this.#options.store.isStaged(cid)) return false;
      return this.#unpinIfUnreferenced(cid, uploader);
    });
  }

  /** Unpins unless a record of anyone or the uploader's manifest pointer names the CID. Logs and keeps on failure. */
  async #unpinIfUnreferenced(cid: string, uploader: string): Promise<boolean> {
    const { store, content, receipts, log } = this.#options;
    try {
      if (await isReferenced(store, receipts, cid, uploader)) return false;
      await content.unpin(cid);
      return true;
    } catch (error) {
      log.warn({ err: error, cid }, "could not unpin an expired upload; it stays pinned");
      return false;
    }
  }

  async #collect(): Promise<void> {
    const { content, log } = this.#options;
    this.#lastGcAt = performance.now();
    try {
      const { removed } = await content.gc({
        signal: this.#closing.signal,
        ...(this.#options.gcTimeoutMs !== undefined ? { timeoutMs: this.#options.gcTimeoutMs } : {}),
      });
      if (removed > 0) log.info({ removed }, "garbage collection deleted unpinned blocks");
    } catch (error) {
      if (!this.#closing.signal.aborted) log.warn({ err: error }, "garbage collection failed; it runs again later");
    }
  }
}

/**
 * Whether the CID must stay pinned although its staging ended: it is a record of anyone (someone may re-upload a
 * ciphertext it fetched, to have it unpinned at expiry): its wraps, or its registration receipt when the database
 * lost the wraps; or it is the uploader's manifest pointer, or a study contribution.
 */
export async function isReferenced(
  store: GatewayStore,
  receipts: RegistrationReceipts,
  cid: string,
  uploader: string,
): Promise<boolean> {
  if ((await store.wrapsOf(cid)).length > 0) return true;
  if ((await store.getManifestPointer(uploader))?.cid === cid) return true;
  if (await store.isContribution(cid)) return true;
  return receipts.isRegistered(cid);
}

function toStaged(row: StagedUploadRow): StagedUpload {
  return { cid: row.cid, patient: row.uploader, size: row.size, expiresAt: row.expiresAt };
}
