// The audit writer's thread (audit-writer.ts starts it): appends audit batches on its own connection to the
// gateway's database, so the COMMIT's fsync (synchronous=FULL) blocks this thread, never the event loop.
//
// Safety rules:
// - One batch at a time, in the order received, each in ONE BEGIN IMMEDIATE ... COMMIT whose indexes start at the
//   log's size read inside that transaction (no other writer can move the end of the log until COMMIT).
// - A batch is answered only after its COMMIT returned (durable: WAL + synchronous=FULL on this connection), or
//   with the SQLite error (rolled back): the main thread maps it like any other store failure.
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { parentPort, workerData } from "node:worker_threads";
import type { AuditWorkerData, FromAuditWorker, ToAuditWorker } from "./audit-writer.ts";

const { file, busyTimeoutMs } = workerData as AuditWorkerData;
const port = parentPort!;

let db: DatabaseSync | undefined;
let size: StatementSync;
let insert: StatementSync;

function open(): DatabaseSync {
  const opened = new DatabaseSync(file, { timeout: busyTimeoutMs, enableForeignKeyConstraints: true });
  try {
    // Per connection, as index.ts configure() sets the main one: every COMMIT fsyncs the WAL before it returns.
    // Not configure() itself: it sets journal_mode, which needs a lock a writer thread that died may still hold.
    opened.exec("PRAGMA synchronous = FULL");
    opened.exec(`PRAGMA journal_size_limit = ${64 * 1024 * 1024}`);
    opened.exec("PRAGMA trusted_schema = OFF");
    const mode = opened.prepare("PRAGMA journal_mode").get();
    if (mode?.["journal_mode"] !== "wal") throw new Error(`${file} is not in WAL mode`);
    size = opened.prepare("SELECT coalesce(max(idx) + 1, 0) AS size FROM audit_events");
    insert = opened.prepare("INSERT INTO audit_events (idx, patient, event) VALUES ($index, $patient, $event)");
  } catch (error) {
    opened.close();
    throw error;
  }
  return opened;
}

function append(events: readonly { patient: string; event: Uint8Array }[]): number {
  const conn = (db ??= open());
  conn.exec("BEGIN IMMEDIATE");
  try {
    const start = Number(size.get()?.["size"] ?? 0);
    events.forEach((e, i) => insert.run({ index: start + i, patient: e.patient, event: e.event }));
    conn.exec("COMMIT");
    return start;
  } catch (error) {
    try {
      if (conn.isTransaction) conn.exec("ROLLBACK");
    } catch {
      // the first error is the one to report
    }
    throw error;
  }
}

function errorShape(error: unknown): Extract<FromAuditWorker, { ok: false }>["error"] {
  const e = (error ?? {}) as { message?: unknown; code?: unknown; errcode?: unknown; errstr?: unknown };
  return {
    message: typeof e.message === "string" ? e.message : String(error),
    ...(typeof e.code === "string" ? { code: e.code } : {}),
    ...(typeof e.errcode === "number" ? { errcode: e.errcode } : {}),
    ...(typeof e.errstr === "string" ? { errstr: e.errstr } : {}),
  };
}

port.on("message", (message: ToAuditWorker) => {
  if (message.type === "close") {
    try {
      db?.close();
    } finally {
      db = undefined;
      port.close();
    }
    return;
  }
  let answer: FromAuditWorker;
  try {
    answer = { id: message.id, ok: true, start: append(message.events) };
  } catch (error) {
    answer = { id: message.id, ok: false, error: errorShape(error) };
  }
  port.postMessage(answer);
});
