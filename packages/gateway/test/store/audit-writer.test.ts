// The SQLite store's audit writer: appends commit on a worker thread's own connection, in order, durably, and
// failures come back as SQLite reported them (so the store maps them to 503 like any other).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { expect } from "chai";
import { AuditWriter } from "../../src/store/sqlite/audit-writer.ts";
import { DATABASE_FILE, openSqliteStore } from "../../src/store/sqlite/index.ts";

const event = (n: number) => ({ patient: `0x${"0".repeat(39)}${n % 2}`, event: new Uint8Array([n & 0xff]) });

describe("SQLite audit writer (worker thread)", function () {
  let dir: string;
  let file: string;
  beforeEach(async function () {
    dir = mkdtempSync(join(tmpdir(), "hygeia-audit-writer-"));
    // The store creates and migrates the database (WAL, the audit table and its triggers).
    await (await openSqliteStore(dir)).close();
    file = join(dir, DATABASE_FILE);
  });
  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it("commits concurrent batches one after another with contiguous indexes, each durable when it resolves", async function () {
    const writer = new AuditWriter({ file, busyTimeoutMs: 1000 });
    const batches = Array.from({ length: 40 }, (_, b) => Array.from({ length: 1 + (b % 3) }, (_, i) => event(b + i)));
    const starts = await Promise.all(batches.map((batch) => writer.append(batch)));
    let expected = 0;
    starts.forEach((start, b) => {
      expect(start, `batch ${b}`).to.equal(expected);
      expected += batches[b]!.length;
    });
    // Another connection sees every acknowledged row.
    const reader = new DatabaseSync(file, { readOnly: true });
    try {
      expect(reader.prepare("SELECT count(*) AS n FROM audit_events").get()?.["n"]).to.equal(expected);
    } finally {
      reader.close();
      await writer.close();
    }
  });

  it("carries SQLite's error back (SQLITE_BUSY past the busy timeout), rolls the batch back, and serves the next", async function () {
    const writer = new AuditWriter({ file, busyTimeoutMs: 50 });
    const side = new DatabaseSync(file);
    try {
      side.exec("BEGIN IMMEDIATE");
      const error = (await writer.append([event(1)]).then(
        () => expect.fail("should be refused"),
        (e: unknown) => e,
      )) as { code?: string; errcode?: number };
      expect(error.code).to.equal("ERR_SQLITE_ERROR");
      expect((error.errcode ?? 0) & 0xff).to.equal(5);
      side.exec("ROLLBACK");
      expect(await writer.append([event(2)])).to.equal(0);
    } finally {
      side.close();
      await writer.close();
    }
  });

  it("close waits for the batches under way; later appends are refused as a closed database", async function () {
    const writer = new AuditWriter({ file, busyTimeoutMs: 1000 });
    const pending = Array.from({ length: 10 }, (_, n) => writer.append([event(n)]));
    await writer.close();
    expect(await Promise.all(pending)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const error = (await writer.append([event(11)]).then(
      () => expect.fail("should be refused"),
      (e: unknown) => e,
    )) as { code?: string };
    expect(error.code).to.equal("ERR_INVALID_STATE");
  });
});
