// The SQLite GatewayStore: the shared contract, then what only a file on disk can show (reopen, migrations, the
// data dir lock, damaged files, another connection holding the write lock, kill -9 in the middle of appends).
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  closeSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { expect } from "chai";
import { DependencyUnavailableError } from "../../src/errors.ts";
import {
  DATABASE_FILE,
  LOCK_FILE,
  SCHEMA_VERSION,
  AuditLogClaimError,
  StoreFailureError,
  StoreOpenError,
  openSqliteStore,
} from "../../src/store/sqlite/index.ts";
import type { SqliteGatewayStore } from "../../src/store/sqlite/index.ts";
import { storeContract } from "./contract.ts";

const CHILD = new URL("./fixtures/store-child.ts", import.meta.url).pathname;
const dirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "hygeia-store-"));
  dirs.push(dir);
  return dir;
}

after(function () {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

storeContract("sqlite", () => openSqliteStore(tempDir()));

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  expect.fail("expected a rejection");
}

async function openError(dir: string): Promise<StoreOpenError> {
  const error = await rejection(openSqliteStore(dir));
  expect(error).to.be.instanceOf(StoreOpenError);
  return error as StoreOpenError;
}

/** A side connection, as an operator's sqlite3 shell or a backup tool would open the file. */
function side(dir: string): DatabaseSync {
  return new DatabaseSync(join(dir, DATABASE_FILE), { timeout: 0 });
}

interface Child {
  process: ChildProcess;
  lines: string[];
  exited: Promise<void>;
  waitForLines(count: number): Promise<void>;
}

function startChild(mode: "hold" | "append", dir: string, round = 0): Child {
  const child = spawn(process.execPath, [CHILD, mode, dir, String(round)], { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  let buffered = "";
  let stderr = "";
  const waiters: (() => void)[] = [];
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split("\n");
    buffered = parts.pop() ?? "";
    lines.push(...parts);
    for (const wake of waiters.splice(0)) wake();
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    process: child,
    lines,
    exited,
    async waitForLines(count: number): Promise<void> {
      while (lines.length < count) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`child exited (${child.exitCode ?? child.signalCode}) before ${count} lines: ${stderr}`);
        }
        await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), exited]);
      }
    },
  };
}

describe("SQLite GatewayStore", function () {
  it("keeps every kind of row across close and reopen", async function () {
    const dir = tempDir();
    const patient = `0x${"a1".repeat(20)}`;
    const grantee = `0x${"b2".repeat(20)}`;
    const record = {
      patient,
      cid: "bafkreirecord",
      size: 42,
      scopeIds: { [patient]: [`0x${"11".repeat(32)}`] },
      createdAt: 7,
    };
    const wrap = { cid: record.cid, recipient: patient, wrap: "self", createdAt: 7 };
    const session = { id: "s1", address: patient, chainId: 31337, issuedAt: 1, expiresAt: 2, revokedAt: null };
    const role = {
      sessionId: "s1",
      role: "clinic" as const,
      credential: "jwt",
      issuer: "did:x",
      checkedAt: 1,
      validUntil: 9,
    };
    const link = { patient, grantee, consentAddress: grantee, issuedAt: 5, link: "{}" };
    const checkpoint = { size: 2, rootHash: `0x${"cd".repeat(32)}`, note: "n", createdAt: 3, anchor: null };
    const checkIn = {
      id: "c1",
      clinic: grantee,
      request: "{}",
      createdAt: 1,
      expiresAt: 99,
      result: null,
      completedAt: null,
    };
    const statusList = { issuer: grantee, name: "revocation", jwt: "j", issuedAt: 4, updatedAt: 4 };
    const webhook = { patient, url: "https://hook.example/x", createdAt: 1 };

    let store: SqliteGatewayStore = await openSqliteStore(dir);
    await store.putNonce({ nonce: "n1", expiresAt: 1_000 });
    await store.putSession(session);
    await store.putSessionRole(role);
    await store.putRecord(record, [wrap]);
    await store.noteGrantee(patient, grantee, 1);
    await store.compareAndSetManifestPointer(patient, null, { cid: "m1", updatedAt: 1 });
    await store.putConsentLink(link);
    const rows = await store.appendAudit([
      { patient, event: new Uint8Array([1, 2, 3]) },
      { patient: grantee, event: new Uint8Array([0, 255]) },
    ]);
    await store.putCheckpoint(checkpoint);
    await store.putCheckIn(checkIn);
    await store.takeRelayQuota(patient, 0, 1);
    await store.putStatusList(statusList);
    await store.putWebhook(webhook);
    await store.close();

    store = await openSqliteStore(dir);
    try {
      expect(await store.consumeNonce("n1", 0)).to.equal(true);
      expect(await store.getSession("s1")).to.deep.equal(session);
      expect(await store.sessionRoles("s1")).to.deep.equal([role]);
      expect(await store.getRecord(patient, record.cid)).to.deep.equal(record);
      expect(await store.getWrap(record.cid, patient)).to.deep.equal(wrap);
      expect(await store.noteGrantee(patient, grantee, 2)).to.equal(false);
      expect(await store.getManifestPointer(patient)).to.deep.equal({ patient, cid: "m1", version: 1, updatedAt: 1 });
      expect(await store.getConsentLink(patient, grantee)).to.deep.equal(link);
      expect(await store.auditSize()).to.equal(2);
      const read = await store.auditRange(0, 2);
      expect(read.map((r) => ({ ...r, event: [...r.event] }))).to.deep.equal(
        rows.map((r) => ({ ...r, event: [...r.event] })),
      );
      expect(await store.getCheckpoint(2)).to.deep.equal(checkpoint);
      expect(await store.getCheckIn("c1")).to.deep.equal(checkIn);
      expect(await store.takeRelayQuota(patient, 0, 1)).to.equal(false);
      expect(await store.getStatusList(grantee, "revocation")).to.deep.equal(statusList);
      expect(await store.getWebhook(patient)).to.deep.equal(webhook);
    } finally {
      await store.close();
    }
  });

  it("creates the schema in an empty data dir (owner-only file, WAL) and reopening applies nothing twice", async function () {
    const dir = tempDir();
    await (await openSqliteStore(dir)).close();
    const file = join(dir, DATABASE_FILE);
    expect(statSync(file).mode & 0o777).to.equal(0o600);
    const readMigrations = (): unknown[] => {
      const db = side(dir);
      try {
        expect(db.prepare("PRAGMA journal_mode").get()?.["journal_mode"]).to.equal("wal");
        return db.prepare("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").all();
      } finally {
        db.close();
      }
    };
    const first = readMigrations();
    expect(first.map((row) => (row as { version: number }).version)).to.deep.equal(
      Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1),
    );
    await (await openSqliteStore(dir)).close();
    expect(readMigrations()).to.deep.equal(first);
  });

  it("runs with WAL, synchronous=FULL and foreign keys on, at the newest schema", async function () {
    const store = await openSqliteStore(tempDir());
    try {
      expect(store.settings()).to.include({
        schemaVersion: SCHEMA_VERSION,
        journalMode: "wal",
        synchronous: "FULL",
        foreignKeys: true,
      });
    } finally {
      await store.close();
    }
  });

  it("fails its ping when gateway.sqlite is deleted or replaced under it", async function () {
    const dir = tempDir();
    const store = await openSqliteStore(dir);
    try {
      await store.ping();
      const file = join(dir, DATABASE_FILE);
      renameSync(file, `${file}.moved`);
      writeFileSync(file, "");
      const error = await rejection(store.ping());
      expect(error).to.be.instanceOf(DependencyUnavailableError);
      expect((error as Error).message).to.contain("deleted or replaced");
    } finally {
      await store.close();
    }
  });

  it("fails its ping when the data dir lock file is deleted under it", async function () {
    const dir = tempDir();
    const store = await openSqliteStore(dir);
    try {
      rmSync(join(dir, LOCK_FILE));
      const error = await rejection(store.ping());
      expect(error).to.be.instanceOf(DependencyUnavailableError);
      expect((error as Error).message).to.contain("a second gateway could open this data dir");
    } finally {
      await store.close();
    }
  });

  it("refuses a data dir that cannot be created with DATABASE_UNAVAILABLE", async function () {
    const notADir = join(tempDir(), "file");
    writeFileSync(notADir, "x");
    const error = await openError(join(notADir, "gateway"));
    expect(error.code).to.equal("DATABASE_UNAVAILABLE");
  });

  it("upgrades a database of an older schema one migration at a time", async function () {
    const dir = tempDir();
    await (await openSqliteStore(dir)).close();
    let db = side(dir); // back to version 1: before one owner per CID
    db.exec(
      "DROP INDEX records_by_cid; DROP INDEX consent_links_by_address; DROP TABLE staged_uploads; " +
        "DROP TABLE contributions; DROP TABLE studies; DROP TABLE aggregate_releases; DROP TABLE tally_sums; " +
        "DROP TABLE audit_logs; DROP TABLE aggregate_queries; " +
        "DELETE FROM schema_migrations WHERE version >= 2",
    );
    db.close();
    const store = await openSqliteStore(dir);
    try {
      expect(store.settings().schemaVersion).to.equal(SCHEMA_VERSION);
      const record = { patient: "0x01", cid: "bafy-one", size: 1, scopeIds: {}, createdAt: 1 };
      expect(await store.putRecord(record, [])).to.equal(true);
      expect(await store.putRecord({ ...record, patient: "0x02" }, [])).to.equal(false);
      await store.putStagedUpload({ cid: "bafy-two", uploader: "0x01", size: 5, expiresAt: 10 });
      expect(await store.stagedBytesOf("0x01")).to.equal(5);
      const query = {
        id: "q1",
        studyId: "0x0a",
        dimension: "sex",
        sums: ["YQ"],
        contributors: 0,
        included: [],
        expiresAt: 10,
      };
      expect(await store.putAggregateQuery(query, { perStudy: 16, total: 1_000 }, 1)).to.equal(true);
      expect(await store.takeAggregateQuery("0x0a", "q1", 1)).to.deep.equal(query);
    } finally {
      await store.close();
    }
    db = side(dir);
    const indexes = db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND name IN ('records_by_cid', 'consent_links_by_address')",
      )
      .all();
    db.close();
    expect(indexes).to.have.length(2);
  });

  it("rolls a failing migration back whole and refuses to open, naming it", async function () {
    const dir = tempDir();
    await (await openSqliteStore(dir)).close();
    let db = side(dir); // a version-1 database holding what version 2 forbids: one CID under two patients
    db.exec(
      "DROP INDEX records_by_cid; DROP INDEX consent_links_by_address; DROP TABLE staged_uploads; " +
        "DROP TABLE contributions; DROP TABLE studies; DROP TABLE aggregate_releases; DROP TABLE tally_sums; " +
        "DROP TABLE audit_logs; DROP TABLE aggregate_queries; " +
        "DELETE FROM schema_migrations WHERE version >= 2",
    );
    db.exec(`INSERT INTO records VALUES ('0x01', 'bafy-dup', 1, '{}', 1), ('0x02', 'bafy-dup', 1, '{}', 2)`);
    db.close();
    const error = await openError(dir);
    expect(error.code).to.equal("DATABASE_MIGRATION_FAILED");
    expect(error.message).to.contain('migration 2 "records_one_owner_per_cid"');
    db = side(dir);
    try {
      expect(db.prepare("SELECT max(version) AS v FROM schema_migrations").get()?.["v"]).to.equal(1);
      expect(db.prepare("SELECT count(*) AS n FROM records").get()?.["n"]).to.equal(2);
    } finally {
      db.close();
    }
  });

  it("refuses a database migrated by a newer gateway, and writes nothing to it", async function () {
    const dir = tempDir();
    await (await openSqliteStore(dir)).close();
    let db = side(dir);
    db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from-the-future', 0)").run(
      SCHEMA_VERSION + 1,
    );
    db.close();
    const before = readFileSync(join(dir, DATABASE_FILE));
    const error = await openError(dir);
    expect(error.code).to.equal("DATABASE_TOO_NEW");
    expect(error.message).to.contain(`schema version ${SCHEMA_VERSION + 1}`);
    expect(error.message).to.contain(`this gateway's ${SCHEMA_VERSION}`);
    expect(readFileSync(join(dir, DATABASE_FILE)).equals(before)).to.equal(true);
    // The refusal released the data dir: once the database is fixed, the gateway opens it.
    db = side(dir);
    db.prepare("DELETE FROM schema_migrations WHERE version = ?").run(SCHEMA_VERSION + 1);
    db.close();
    await (await openSqliteStore(dir)).close();
  });

  it("refuses a second store on the same data dir in this process, naming the holder", async function () {
    const dir = tempDir();
    const store = await openSqliteStore(dir);
    try {
      const error = await openError(dir);
      expect(error.code).to.equal("DATA_DIR_LOCKED");
      expect(error.message).to.contain(String(process.pid));
    } finally {
      await store.close();
    }
    await (await openSqliteStore(dir)).close();
  });

  it("refuses a second gateway process on the same data dir, naming its pid, until that process dies", async function () {
    const dir = tempDir();
    const child = startChild("hold", dir);
    try {
      await child.waitForLines(1);
      const error = await openError(dir);
      expect(error.code).to.equal("DATA_DIR_LOCKED");
      expect(error.holder?.pid).to.equal(child.process.pid);
      expect(error.message).to.contain(`process ${child.process.pid}`);
    } finally {
      child.process.kill("SIGKILL");
      await child.exited;
    }
    // The kernel dropped the lock with the process: no stale lock to clean up by hand.
    await (await openSqliteStore(dir)).close();
  });

  it("refuses a file that is not a SQLite database with DATABASE_CORRUPT and leaves it as it was", async function () {
    const dir = tempDir();
    const garbage = randomBytes(16_384);
    writeFileSync(join(dir, DATABASE_FILE), garbage);
    const error = await openError(dir);
    expect(error.code).to.equal("DATABASE_CORRUPT");
    expect(error.message).to.contain(join(dir, DATABASE_FILE));
    expect(error.message).to.contain("restore it from a backup or move it aside");
    expect(readFileSync(join(dir, DATABASE_FILE)).equals(garbage)).to.equal(true);
  });

  it("answers DATABASE_CORRUPT (503), not a crash, when the audit pages of the file are damaged, and its ping reports the damage from then on", async function () {
    const dir = tempDir();
    let store = await openSqliteStore(dir);
    const event = new Uint8Array(300).fill(7);
    for (let i = 0; i < 20; i += 1) {
      await store.appendAudit(Array.from({ length: 100 }, () => ({ patient: `0x${"0".repeat(40)}`, event })));
    }
    await store.close();
    // The audit rows were written last, so they fill the end of the file: overwrite its last 64 KiB.
    const file = join(dir, DATABASE_FILE);
    const size = statSync(file).size;
    const fd = openSync(file, "r+");
    writeSync(fd, randomBytes(65_536), 0, 65_536, size - 65_536);
    closeSync(fd);

    store = await openSqliteStore(dir);
    try {
      const error = await rejection(store.auditRange(0, 2_000));
      expect(error).to.be.instanceOf(DependencyUnavailableError);
      expect((error as DependencyUnavailableError).code).to.equal("DATABASE_CORRUPT");
      expect((error as Error).message).to.contain("SQLITE_CORRUPT");
      // The ping's own pages are intact, but readiness must not call a damaged database ready.
      const ping = await rejection(store.ping());
      expect((ping as DependencyUnavailableError).code).to.equal("DATABASE_CORRUPT");
    } finally {
      await store.close();
    }
  });

  it("refuses, in the schema itself, any rewrite of the audit log (update, delete, an index with a gap)", async function () {
    const dir = tempDir();
    const store = await openSqliteStore(dir);
    await store.appendAudit([{ patient: "0x01", event: new Uint8Array([1]) }]);
    const db = side(dir);
    try {
      expect(() => db.exec("UPDATE audit_events SET patient = '0x02'")).to.throw(/append-only/);
      expect(() => db.exec("DELETE FROM audit_events")).to.throw(/append-only/);
      expect(() => db.exec("INSERT INTO audit_events (idx, patient, event) VALUES (5, '0x01', x'00')")).to.throw(/gap/);
    } finally {
      db.close();
      await store.close();
    }
  });

  it("answers DATABASE_UNAVAILABLE when another connection holds the write lock past the busy timeout", async function () {
    const dir = tempDir();
    const store = await openSqliteStore(dir, { busyTimeoutMs: 50 });
    const db = side(dir);
    try {
      db.exec("BEGIN IMMEDIATE");
      const error = await rejection(store.appendAudit([{ patient: "0x01", event: new Uint8Array([1]) }]));
      expect(error).to.be.instanceOf(DependencyUnavailableError);
      expect((error as Error).message).to.contain("SQLITE_BUSY");
      db.exec("ROLLBACK");
      expect((await store.appendAudit([{ patient: "0x01", event: new Uint8Array([2]) }]))[0]?.index).to.equal(0);
    } finally {
      db.close();
      await store.close();
    }
  });

  it("reports a forked checkpoint as DATABASE_ERROR (a bug, 500), never as a raw SQLite error", async function () {
    const store = await openSqliteStore(tempDir());
    try {
      await store.putCheckpoint({ size: 1, rootHash: "0x01", note: "n", createdAt: 1, anchor: null });
      const error = await rejection(
        store.putCheckpoint({ size: 1, rootHash: "0x02", note: "n", createdAt: 1, anchor: null }),
      );
      expect(error).to.be.instanceOf(StoreFailureError);
      expect((error as StoreFailureError).code).to.equal("DATABASE_ERROR");
      expect((error as StoreFailureError).status).to.equal(500);
    } finally {
      await store.close();
    }
  });

  describe("one audit log per store", function () {
    const logRow = (origin: string) => ({
      origin,
      verifierKey: `${origin}+00000000+key`,
      gateway: `0x${"0".repeat(40)}`,
      createdAt: 5,
    });

    it("the first claim adopts the rows already in the log (a database from before claims), and keeps it across a reopen", async function () {
      const dir = tempDir();
      let store = await openSqliteStore(dir);
      await store.appendAudit([
        { patient: "0x01", event: new Uint8Array([1]) },
        { patient: "0x02", event: new Uint8Array([2]) },
      ]);
      await store.putCheckpoint({ size: 2, rootHash: "0x02", note: "n", createdAt: 1, anchor: null });
      expect(await store.auditLogs()).to.deep.equal([]);
      expect(await store.auditLog("a.example/log").size()).to.equal(0);
      expect(await store.claimAuditLog(logRow("a.example/log"))).to.deep.equal(logRow("a.example/log"));
      const reader = store.auditLog("a.example/log");
      expect(await reader.size()).to.equal(2);
      expect((await reader.range(0, 2)).map((row) => row.patient)).to.deep.equal(["0x01", "0x02"]);
      expect((await reader.getCheckpoint(2))?.rootHash).to.equal("0x02");
      await store.close();

      store = await openSqliteStore(dir);
      try {
        expect(await store.auditLogs()).to.deep.equal([logRow("a.example/log")]);
        // Read before any claim in this process: the held log answers for its origin.
        expect(await store.auditLog("a.example/log").size()).to.equal(2);
        expect(await store.auditLog("b.example/log").size()).to.equal(0);
        expect(await store.claimAuditLog({ ...logRow("a.example/log"), createdAt: 9 })).to.deep.equal(
          logRow("a.example/log"),
        );
      } finally {
        await store.close();
      }
    });

    it("refuses a claim of another origin, naming the one it holds, and keeps serving its own", async function () {
      const store = await openSqliteStore(tempDir());
      try {
        await store.claimAuditLog(logRow("a.example/log"));
        const error = await rejection(store.claimAuditLog(logRow("b.example/log")));
        expect(error).to.be.instanceOf(AuditLogClaimError);
        expect((error as AuditLogClaimError).code).to.equal("AUDIT_LOG_HELD");
        expect((error as Error).message).to.contain('"a.example/log"');
        expect(await store.auditLogs()).to.deep.equal([logRow("a.example/log")]);
        const rows = await store.appendAudit([{ patient: "0x01", event: new Uint8Array([7]) }]);
        expect(rows[0]?.index).to.equal(0);
        expect(await store.auditLog("a.example/log").size()).to.equal(1);
        expect(await store.auditLog("b.example/log").range(0, 10)).to.deep.equal([]);
      } finally {
        await store.close();
      }
    });
  });

  it("keeps a prefix of whole batches, every acknowledged one included, when killed -9 mid-stream", async function () {
    const dir = tempDir();
    const acknowledged: number[] = [];
    for (let round = 0; round < 3; round += 1) {
      const child = startChild("append", dir, round);
      try {
        await child.waitForLines(3); // ready, begin 0, ack 0
        await new Promise((resolve) => setTimeout(resolve, 100 + Math.floor(Math.random() * 200)));
        // Kill as soon as a batch begins, so the kill lands while that batch is being written or committed.
        const seen = child.lines.length;
        while (!child.lines.slice(seen).some((line) => line.startsWith("begin "))) {
          await child.waitForLines(child.lines.length + 1);
        }
      } finally {
        child.process.kill("SIGKILL");
        await child.exited;
      }
      const acks = child.lines.filter((line) => line.startsWith("ack "));
      expect(acks.length).to.be.greaterThan(0);
      acknowledged.push(Number(acks[acks.length - 1]?.split(" ")[2]));
    }

    const store = await openSqliteStore(dir);
    try {
      const size = await store.auditSize();
      expect(size).to.be.at.least(Math.max(...acknowledged));
      const rows = await store.auditRange(0, size);
      expect(rows.map((r) => r.index)).to.deep.equal(Array.from({ length: size }, (_, i) => i));
      // Walk the log: each round's batches run 0, 1, 2, ... each whole (i = 0 .. length-1), rounds in order.
      let at = 0;
      let lastRound = -1;
      let nextBatch = 0;
      while (at < rows.length) {
        const head = JSON.parse(new TextDecoder().decode(rows[at]?.event)) as {
          round: number;
          batch: number;
          length: number;
        };
        if (head.round !== lastRound) {
          expect(head.round).to.equal(lastRound + 1);
          lastRound = head.round;
          nextBatch = 0;
        }
        expect(head.batch).to.equal(nextBatch);
        for (let i = 0; i < head.length; i += 1) {
          const event = JSON.parse(new TextDecoder().decode(rows[at + i]?.event)) as Record<string, number>;
          expect(event, `a half batch at index ${at + i}`).to.include({ round: head.round, batch: head.batch, i });
        }
        at += head.length;
        nextBatch += 1;
      }
      expect(at).to.equal(size);
      expect(lastRound).to.equal(2);
    } finally {
      await store.close();
    }
  });
});
