// Audit appends off the event loop: a worker thread (audit-worker.ts) with its own connection to the same WAL
// database commits each batch, so the fsync of synchronous=FULL no longer stops every request of the gateway while
// the disk syncs (the main thread serves on, and the audit log's next group-commit batch grows meanwhile).
//
// Safety rules:
// - append() resolves only after the worker's COMMIT returned: durability is the store's as before.
// - Batches are committed one at a time in the order appended (the worker handles one message at a time).
// - The worker is the audit table's only writer; the main connection keeps every other write. Two connections
//   contend for SQLite's write lock: each waits at most the store's busy timeout, then fails DATABASE_UNAVAILABLE.
// - A worker that dies rejects every batch it had not answered with AuditWriterStoppedError: outcome unknown (it may
//   have died between its COMMIT and its answer), so the store looks for the batch in the log before calling it
//   failed. The next append starts a new worker. close() waits for the batches under way, then stops the worker.
// - The worker is referenced only while a batch is under way: an idle store does not keep the process alive, a
//   pending append does.
import { Worker } from "node:worker_threads";
import { once } from "node:events";

export interface AuditWorkerData {
  file: string;
  busyTimeoutMs: number;
}

export type ToAuditWorker =
  { type: "append"; id: number; events: { patient: string; event: Uint8Array }[] } | { type: "close" };

export type FromAuditWorker =
  | { id: number; ok: true; start: number }
  | { id: number; ok: false; error: { message: string; code?: string; errcode?: number; errstr?: string } };

const WORKER_URL = new URL("./audit-worker.ts", import.meta.url);

interface Waiter {
  resolve: (start: number) => void;
  reject: (error: Error) => void;
}

/** The writer thread stopped before answering for a batch: whether its COMMIT landed is not known here. */
export class AuditWriterStoppedError extends Error {
  override name = "AuditWriterStoppedError";
}

export class AuditWriter {
  readonly #data: AuditWorkerData;
  #worker: Worker | undefined;
  readonly #waiting = new Map<number, Waiter>();
  /** Settles when each batch under way settles (close waits for them). */
  readonly #underWay = new Set<Promise<void>>();
  #nextId = 0;
  #closed = false;

  constructor(data: AuditWorkerData) {
    this.#data = data;
  }

  /**
   * Commits `events` as one transaction at the end of the log; resolves with the first event's index once durable.
   * Rejects with the SQLite error as the worker saw it (code, errcode, errstr kept), or AuditWriterStoppedError when
   * the thread stopped before answering (the batch may have committed).
   */
  append(events: { patient: string; event: Uint8Array }[]): Promise<number> {
    if (this.#closed) return Promise.reject(closedError());
    const worker = this.#running();
    const id = this.#nextId++;
    const committed = new Promise<number>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      if (this.#waiting.size === 1) worker.ref();
      worker.postMessage({ type: "append", id, events } satisfies ToAuditWorker);
    });
    const settled: Promise<void> = committed.then(
      () => void this.#underWay.delete(settled),
      () => void this.#underWay.delete(settled),
    );
    this.#underWay.add(settled);
    return committed;
  }

  /** Waits for the batches under way, then stops the worker. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    const worker = this.#worker;
    if (worker === undefined) return;
    await Promise.all([...this.#underWay]);
    this.#worker = undefined;
    const exited = once(worker, "exit").catch(() => undefined);
    worker.ref();
    worker.postMessage({ type: "close" } satisfies ToAuditWorker);
    await exited;
  }

  #running(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(WORKER_URL, { workerData: this.#data });
    worker.unref();
    worker.on("message", (answer: FromAuditWorker) => {
      const waiter = this.#waiting.get(answer.id);
      if (waiter === undefined) return;
      this.#waiting.delete(answer.id);
      if (this.#waiting.size === 0) worker.unref();
      if (answer.ok) waiter.resolve(answer.start);
      else waiter.reject(Object.assign(new Error(answer.error.message), answer.error));
    });
    const fail = (error: Error) => {
      // Once per thread ('error' is followed by 'exit'), and never for batches posted to the thread after it.
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      const waiting = [...this.#waiting.values()];
      this.#waiting.clear();
      for (const waiter of waiting) waiter.reject(error);
    };
    worker.on("error", (error) =>
      fail(new AuditWriterStoppedError(`the audit writer thread failed: ${error.message}`, { cause: error })),
    );
    worker.on("exit", (code) => fail(new AuditWriterStoppedError(`the audit writer thread exited (code ${code})`)));
    this.#worker = worker;
    return worker;
  }
}

function closedError(): Error {
  // node:sqlite's own "closed" error shape, so the store maps it to DATABASE_UNAVAILABLE like a closed connection.
  return Object.assign(new Error("the audit writer is closed"), { code: "ERR_INVALID_STATE" });
}
