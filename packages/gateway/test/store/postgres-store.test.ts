// The PostgreSQL GatewayStore against a real server (test/support/postgres.ts): the shared contract (a fresh
// database per store), then what only a shared server shows: several pools standing for several gateway processes
// racing on one database, several audit logs, migrations raced, a server restart and a server gone.
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { Client } from "pg";
import { DependencyUnavailableError } from "../../src/errors.ts";
import { openPostgresStore } from "../../src/store/postgres/index.ts";
import type { PostgresGatewayStore, PostgresStoreOptions } from "../../src/store/postgres/index.ts";
import { POSTGRES_SCHEMA_VERSION } from "../../src/store/postgres/index.ts";
import { AuditLogClaimError, StoreFailureError, StoreOpenError } from "../../src/store/sqlite/errors.ts";
import type { AuditLogRow, AuditRow, ContributionRow } from "../../src/store/types.ts";
import { startPostgres, type TestPostgres } from "../support/postgres.ts";
import { storeContract } from "./contract.ts";

function address(): string {
  return `0x${randomBytes(20).toString("hex")}`;
}

function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function logRow(origin: string, key = "key-1"): AuditLogRow {
  return { origin, verifierKey: `${origin}+${key}`, gateway: `0x${"0".repeat(40)}`, createdAt: 1 };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  expect.fail("expected a rejection");
}

function expectUnavailable(error: unknown): void {
  expect(error).to.be.instanceOf(DependencyUnavailableError);
  expect((error as DependencyUnavailableError).dependency).to.equal("database");
  expect((error as DependencyUnavailableError).code).to.equal("DATABASE_UNAVAILABLE");
  expect((error as Error).message).to.contain("database");
}

describe("PostgreSQL GatewayStore", function () {
  let server: TestPostgres;
  const opened: PostgresGatewayStore[] = [];

  before(async function () {
    this.timeout(900_000); // a brand-new machine installs PostgreSQL first
    server = await startPostgres();
  });

  after(async function () {
    for (const store of opened) await store.close();
    await server?.stop();
  });

  /** A store on `url` (default: a fresh database), closed after the file. */
  async function open(url?: string, options: Partial<PostgresStoreOptions> = {}): Promise<PostgresGatewayStore> {
    const store = await openPostgresStore({ url: url ?? (await server.createDatabase()), ...options });
    opened.push(store);
    return store;
  }

  /** A connection of the test's own, as an operator's psql would open one. */
  async function psql(url: string): Promise<Client> {
    const client = new Client({ connectionString: url });
    client.on("error", () => undefined); // a restart ends it; the query under way reports that
    await client.connect();
    return client;
  }

  storeContract("postgres", async () => openPostgresStore({ url: await server.createDatabase() }));

  describe("schema and migrations", function () {
    it("migrates a fresh database once, even with four gateways opening it at the same moment", async function () {
      const url = await server.createDatabase();
      const stores = await Promise.all(Array.from({ length: 4 }, () => open(url)));
      expect(stores.map((store) => store.kind)).to.deep.equal(["postgres", "postgres", "postgres", "postgres"]);
      const client = await psql(url);
      try {
        const { rows } = await client.query<{ version: number }>("SELECT version FROM schema_migrations ORDER BY 1");
        expect(rows.map((row) => row.version)).to.deep.equal(
          Array.from({ length: POSTGRES_SCHEMA_VERSION }, (_, i) => i + 1),
        );
      } finally {
        await client.end();
      }
      await (await open(url)).ping(); // a later start finds nothing to do
    });

    it("upgrades a database of schema version 1 to the newest (open aggregate queries)", async function () {
      const url = await server.createDatabase();
      await open(url);
      const client = await psql(url);
      try {
        await client.query("DROP TABLE aggregate_queries; DELETE FROM schema_migrations WHERE version >= 2");
        const store = await open(url);
        const { rows } = await client.query<{ version: number }>("SELECT version FROM schema_migrations ORDER BY 1");
        expect(rows.map((row) => row.version)).to.deep.equal(
          Array.from({ length: POSTGRES_SCHEMA_VERSION }, (_, i) => i + 1),
        );
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
        await client.end();
      }
    });

    it("refuses a database migrated by a newer gateway, writing nothing", async function () {
      const url = await server.createDatabase();
      await open(url);
      const client = await psql(url);
      try {
        await client.query("INSERT INTO schema_migrations VALUES ($1, 'from-the-future', 0)", [
          POSTGRES_SCHEMA_VERSION + 1,
        ]);
        const error = await rejection(openPostgresStore({ url }));
        expect(error).to.be.instanceOf(StoreOpenError);
        expect((error as StoreOpenError).code).to.equal("DATABASE_TOO_NEW");
        const { rows } = await client.query("SELECT count(*)::int AS n FROM schema_migrations");
        expect(rows[0]?.n).to.equal(POSTGRES_SCHEMA_VERSION + 1);
      } finally {
        await client.end();
      }
    });

    it("refuses, in the schema itself, any rewrite of an audit log (update, delete, truncate, a gap)", async function () {
      const url = await server.createDatabase();
      const store = await open(url);
      await store.claimAuditLog(logRow("a.example/log"));
      await store.appendAudit([{ patient: "0x01", event: utf8("{}") }]);
      const client = await psql(url);
      try {
        for (const sql of [
          "UPDATE audit_events SET patient = '0x02'",
          "DELETE FROM audit_events",
          "TRUNCATE audit_events CASCADE",
        ]) {
          expect(((await rejection(client.query(sql))) as Error).message).to.contain("append-only");
        }
        const gap = await rejection(
          client.query("INSERT INTO audit_events VALUES ('a.example/log', 5, '0x01', '\\x00'::bytea)"),
        );
        expect((gap as Error).message).to.contain("without a gap");
      } finally {
        await client.end();
      }
    });

    it("reports a forked checkpoint as DATABASE_ERROR (a bug, 500), never as a raw pg error", async function () {
      const store = await open();
      await store.claimAuditLog(logRow("a.example/log"));
      await store.putCheckpoint({ size: 1, rootHash: "0x01", note: "n", createdAt: 1, anchor: null });
      const error = await rejection(
        store.putCheckpoint({ size: 1, rootHash: "0x02", note: "n", createdAt: 1, anchor: null }),
      );
      expect(error).to.be.instanceOf(StoreFailureError);
      expect((error as StoreFailureError).status).to.equal(500);
    });
  });

  describe("several audit logs, one per gateway", function () {
    it("rejects audit methods before a log is claimed, with an error saying so", async function () {
      const store = await open();
      for (const call of [
        () => store.appendAudit([{ patient: "0x01", event: utf8("{}") }]),
        () => store.auditSize(),
        () => store.latestCheckpoint(),
        () => store.putCheckpoint({ size: 1, rootHash: "0x01", note: "n", createdAt: 1, anchor: null }),
      ]) {
        const error = await rejection(call());
        expect(error).to.be.instanceOf(AuditLogClaimError);
        expect((error as AuditLogClaimError).code).to.equal("AUDIT_LOG_NOT_CLAIMED");
        expect((error as Error).message).to.contain("claimAuditLog");
      }
    });

    it("keeps each gateway's log apart: own indexes from 0, own checkpoints, every log readable by every gateway", async function () {
      const url = await server.createDatabase();
      const [a, b] = [await open(url), await open(url)];
      await a.claimAuditLog(logRow("a.example/log"));
      await b.claimAuditLog(logRow("b.example/log"));
      const patient = address();
      const fromA = await a.appendAudit([
        { patient, event: utf8('{"from":"a","n":0}') },
        { patient, event: utf8('{"from":"a","n":1}') },
      ]);
      const fromB = await b.appendAudit([{ patient, event: utf8('{"from":"b","n":0}') }]);
      expect(fromA.map((row) => row.index)).to.deep.equal([0, 1]);
      expect(fromB.map((row) => row.index)).to.deep.equal([0]);
      expect((await a.auditLogs()).map((log) => log.origin)).to.deep.equal(["a.example/log", "b.example/log"]);
      expect(await a.auditLog("b.example/log").size()).to.equal(1);
      expect(await b.auditLog("a.example/log").of(patient, { limit: 10 })).to.deep.equal(fromA);
      // The same size in two logs is two checkpoints, not a fork.
      await a.putCheckpoint({ size: 1, rootHash: "0xaa", note: "a", createdAt: 1, anchor: null });
      await b.putCheckpoint({ size: 1, rootHash: "0xbb", note: "b", createdAt: 1, anchor: null });
      expect((await b.auditLog("a.example/log").getCheckpoint(1))?.rootHash).to.equal("0xaa");
      expect((await a.auditLog("b.example/log").latestCheckpoint())?.rootHash).to.equal("0xbb");
    });

    it("returns the stored row for an origin held under another key, and never appends to that log", async function () {
      const url = await server.createDatabase();
      const [owner, other] = [await open(url), await open(url)];
      await owner.claimAuditLog(logRow("a.example/log", "owner"));
      expect(await other.claimAuditLog(logRow("a.example/log", "intruder"))).to.deep.equal(
        logRow("a.example/log", "owner"),
      );
      const error = await rejection(other.appendAudit([{ patient: "0x01", event: utf8("{}") }]));
      expect((error as AuditLogClaimError).code).to.equal("AUDIT_LOG_NOT_CLAIMED");
      expect(await owner.auditSize()).to.equal(0);
    });

    it("appends to one log only per store: claiming a second origin is refused", async function () {
      const store = await open();
      await store.claimAuditLog(logRow("a.example/log"));
      const error = await rejection(store.claimAuditLog(logRow("b.example/log")));
      expect((error as AuditLogClaimError).code).to.equal("AUDIT_LOG_HELD");
      expect((error as Error).message).to.contain('"a.example/log"');
    });

    it("keeps one log's indexes gap-free and each batch whole and in order with appenders on four pools", async function () {
      const url = await server.createDatabase();
      const stores = await Promise.all(Array.from({ length: 4 }, () => open(url)));
      for (const store of stores) await store.claimAuditLog(logRow("shared.example/log"));
      const batches = stores.flatMap((store, s) =>
        Array.from({ length: 12 }, (_, b) => ({
          store,
          events: Array.from({ length: 1 + ((s + b) % 5) }, (_, i) => ({
            patient: address(),
            event: utf8(JSON.stringify({ s, b, i })),
          })),
        })),
      );
      const results = await Promise.all(batches.map(({ store, events }) => store.appendAudit(events)));
      const total = batches.reduce((sum, batch) => sum + batch.events.length, 0);
      expect(await stores[0]!.auditSize()).to.equal(total);
      const stored = await stores[1]!.auditRange(0, total);
      expect(stored.map((row) => row.index)).to.deep.equal(Array.from({ length: total }, (_, i) => i));
      results.forEach((rows, k) => {
        const first = rows[0]!.index;
        expect(rows.map((row) => row.index)).to.deep.equal(rows.map((_, i) => first + i));
        const bytes = stored.slice(first, first + rows.length).map((row) => Buffer.from(row.event).toString());
        expect(bytes).to.deep.equal(batches[k]!.events.map((e) => Buffer.from(e.event).toString()));
      });
    });

    it("never makes one gateway's appends wait for another's: the lock is the log's own row", async function () {
      const url = await server.createDatabase();
      const [a, b] = [await open(url), await open(url)];
      await a.claimAuditLog(logRow("a.example/log"));
      await b.claimAuditLog(logRow("b.example/log"));
      const holder = await psql(url);
      try {
        // A transaction holding log a's row lock, as an append of gateway a stuck before its COMMIT would.
        await holder.query("BEGIN");
        await holder.query("SELECT next_index FROM audit_logs WHERE origin = 'a.example/log' FOR UPDATE");
        let aDone = false;
        const aAppend = a.appendAudit([{ patient: "0x0a", event: utf8("{}") }]).then((rows) => {
          aDone = true;
          return rows;
        });
        const started = Date.now();
        for (let i = 0; i < 5; i += 1) await b.appendAudit([{ patient: "0x0b", event: utf8(`{"n":${i}}`) }]);
        expect(Date.now() - started).to.be.below(2_000);
        expect(await b.auditSize()).to.equal(5);
        expect(aDone, "a's append waits for a's lock").to.equal(false);
        await holder.query("ROLLBACK");
        expect((await aAppend).map((row) => row.index)).to.deep.equal([0]);
      } finally {
        await holder.end();
      }
    });
  });

  describe("single-use and compare-and-swap writes raced from two pools (two gateways)", function () {
    let one: PostgresGatewayStore;
    let two: PostgresGatewayStore;
    before(async function () {
      const url = await server.createDatabase();
      [one, two] = [await open(url), await open(url)];
    });

    /** Runs `call` 8 times on each store at once; the results, in no particular order. */
    async function race<T>(call: (store: PostgresGatewayStore, i: number) => Promise<T>): Promise<T[]> {
      return Promise.all([one, two].flatMap((store) => Array.from({ length: 8 }, (_, i) => call(store, i))));
    }

    it("consumes a nonce exactly once", async function () {
      for (let round = 0; round < 10; round += 1) {
        const nonce = randomBytes(12).toString("hex");
        await one.putNonce({ nonce, expiresAt: 10_000 });
        expect((await race((store) => store.consumeNonce(nonce, 1))).filter(Boolean)).to.have.length(1);
      }
    });

    it("gives an open aggregate query to one taker, and opens no more than the limits from both", async function () {
      const query = (studyId: string, id: string) => ({
        id,
        studyId,
        dimension: "sex",
        sums: ["YQ", "Yg"],
        contributors: 0,
        included: [],
        expiresAt: 9_000,
      });
      for (let round = 0; round < 5; round += 1) {
        const studyId = `0x${randomBytes(32).toString("hex")}`;
        const id = randomBytes(16).toString("hex");
        expect(await one.putAggregateQuery(query(studyId, id), { perStudy: 16, total: 1_000 }, 1_000)).to.equal(true);
        const taken = await race((store) => store.takeAggregateQuery(studyId, id, 1_000));
        expect(taken.filter((row) => row !== undefined)).to.have.length(1);
      }
      const studyId = `0x${randomBytes(32).toString("hex")}`;
      const opened = await race((store, i) =>
        store.putAggregateQuery(
          query(studyId, `${store === one ? "a" : "b"}${i}`),
          { perStudy: 3, total: 1_000 },
          1_000,
        ),
      );
      expect(opened.filter(Boolean)).to.have.length(3);
    });

    it("gives a staged upload to one registration, completes a check-in once, counts the relay quota exactly", async function () {
      const [uploader, cid] = [address(), `bafk${randomBytes(16).toString("hex")}`];
      await one.putStagedUpload({ cid, uploader, size: 5, expiresAt: 10 });
      expect((await race((store) => store.takeStagedUpload(cid, uploader))).filter(Boolean)).to.have.length(1);
      await two.putCheckIn({
        id: "race",
        clinic: address(),
        request: "{}",
        createdAt: 0,
        expiresAt: 100,
        result: null,
        completedAt: null,
      });
      expect((await race((store, i) => store.completeCheckIn("race", `{"n":${i}}`, 5))).filter(Boolean)).to.have.length(
        1,
      );
      const patient = address();
      expect((await race((store) => store.takeRelayQuota(patient, 0, 7))).filter(Boolean)).to.have.length(7);
    });

    it("moves a manifest pointer once from one expected CID, and records a CID for one owner only", async function () {
      const patient = address();
      await one.compareAndSetManifestPointer(patient, null, { cid: "base", updatedAt: 1 });
      const moved = await race((store, i) =>
        store.compareAndSetManifestPointer(patient, "base", { cid: `next-${i}`, updatedAt: 2 }),
      );
      expect(moved.filter((row) => row !== undefined)).to.have.length(1);
      expect((await two.getManifestPointer(patient))?.version).to.equal(2);
      const cid = `bafk${randomBytes(16).toString("hex")}`;
      const owners = await race((store) =>
        store.putRecord({ patient: address(), cid, size: 1, scopeIds: {}, createdAt: 1 }, []),
      );
      expect(owners.filter(Boolean)).to.have.length(1);
    });

    it("writes each tally version once: of contributions racing on the same version, one is stored", async function () {
      const studyId = `0x${randomBytes(32).toString("hex")}`;
      const contribution = (patient: string): ContributionRow => ({
        studyId,
        patient,
        cid: `bafk${randomBytes(16).toString("hex")}`,
        size: 1,
        consentAddress: patient,
        scopeId: `0x${"00".repeat(32)}`,
        wrap: "w",
        facts: null,
        createdAt: 1,
      });
      for (let version = 1; version <= 5; version += 1) {
        const writes = await race((store) =>
          store.putContribution(contribution(address()), { version, sums: { d: [`v${version}`] } }),
        );
        expect(writes.filter((write) => write.written)).to.have.length(1);
      }
      expect(await one.getTallySums(studyId)).to.deep.equal({ studyId, version: 5, sums: { d: ["v5"] } });
      expect(await two.contributionsTo(studyId, { limit: 100 })).to.have.length(5);
      // An opt-out racing on the next version too: one wins.
      const [first] = await one.contributionsTo(studyId, { limit: 1 });
      const deletes = await race((store) =>
        store.deleteContribution(studyId, first!.patient, { version: 6, sums: { d: ["v6"] } }),
      );
      expect(deletes.filter((write) => write.written)).to.have.length(1);
    });

    it("reports the replaced contribution exactly when two gateways write the same (study, patient)", async function () {
      const studyId = `0x${randomBytes(32).toString("hex")}`;
      const patient = address();
      const writes = await race((store, i) =>
        store.putContribution({
          studyId,
          patient,
          cid: `bafk-${i}-${randomBytes(8).toString("hex")}`,
          size: 1,
          consentAddress: patient,
          scopeId: `0x${"00".repeat(32)}`,
          wrap: "w",
          facts: null,
          createdAt: i,
        }),
      );
      // Each write replaced exactly one other (or none, the first): the replaced CIDs form one chain.
      const firsts = writes.filter((write) => write.written && write.previous === undefined);
      expect(firsts).to.have.length(1);
      const replaced = writes.map((write) => write.previous?.cid).filter((cid) => cid !== undefined);
      expect(new Set(replaced).size).to.equal(replaced.length);
    });
  });

  describe("a server restart and a server gone", function () {
    it("rejects the calls under way with DATABASE_UNAVAILABLE, answers again once the server is back, and loses nothing acknowledged", async function () {
      const url = await server.createDatabase();
      const store = await open(url, { connectTimeoutMs: 2_000 });
      await store.claimAuditLog(logRow("a.example/log"));
      const acknowledged: AuditRow[] = [];
      const append = async (n: number) => acknowledged.push(...(await store.appendAudit(batchOf(n))));
      for (let n = 0; n < 20; n += 1) await append(n);

      // In flight at the restart: an append waiting for its log's lock, which a psql session holds.
      const holder = await psql(url);
      await holder.query("BEGIN");
      await holder.query("SELECT 1 FROM audit_logs WHERE origin = 'a.example/log' FOR UPDATE");
      const inFlight = rejection(store.appendAudit(batchOf(999)));
      await new Promise((resolve) => setTimeout(resolve, 200));

      // Appends keep coming while the server restarts: some fail (503), none is lost once acknowledged.
      let restarting = true;
      const failures: unknown[] = [];
      const load = (async () => {
        let n = 100;
        while (restarting) {
          try {
            await append(n++);
          } catch (error) {
            failures.push(error);
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
        }
      })();
      await server.restart();
      restarting = false;
      await load;
      await holder.end().catch(() => undefined);

      expectUnavailable(await inFlight);
      expect(failures.length, "appends while the server was down").to.be.greaterThan(0);
      failures.forEach(expectUnavailable);
      for (let n = 200; n < 210; n += 1) await append(n); // the pool reconnects: every call succeeds again
      await store.ping();

      const size = await store.auditSize();
      const stored = await store.auditRange(0, size);
      expect(stored.map((row) => row.index)).to.deep.equal(Array.from({ length: size }, (_, i) => i));
      for (const row of acknowledged) {
        expect(Buffer.from(stored[row.index]!.event).toString(), `row ${row.index}`).to.equal(
          Buffer.from(row.event).toString(),
        );
      }
    });

    it("answers DATABASE_UNAVAILABLE when no connection of the pool frees up within the connect timeout, and the statement timeout bounds a lock wait", async function () {
      const url = await server.createDatabase();
      const store = await open(url, { poolSize: 1, connectTimeoutMs: 300, statementTimeoutMs: 1_000 });
      await store.claimAuditLog(logRow("a.example/log"));
      const holder = await psql(url);
      try {
        await holder.query("BEGIN");
        await holder.query("SELECT 1 FROM audit_logs WHERE origin = 'a.example/log' FOR UPDATE");
        // The pool's one connection waits for the lock until the statement timeout cancels it...
        const waiting = rejection(store.appendAudit(batchOf(1)));
        await new Promise((resolve) => setTimeout(resolve, 50));
        // ...and meanwhile no call gets a connection.
        const starved = await rejection(store.ping());
        expectUnavailable(starved);
        expect((starved as Error).message).to.contain("timeout");
        const cancelled = await waiting;
        expectUnavailable(cancelled);
        expect((cancelled as Error).message).to.contain("57014");
      } finally {
        await holder.query("ROLLBACK").catch(() => undefined);
        await holder.end();
      }
      expect((await store.appendAudit(batchOf(2)))[0]?.index).to.equal(0);
    });

    it("rejects with DATABASE_UNAVAILABLE while the server is down (ping included), and refuses to open, naming it without its password", async function () {
      const url = await server.createDatabase();
      const store = await open(url, { connectTimeoutMs: 2_000 });
      await store.claimAuditLog(logRow("a.example/log"));
      await store.ping();
      await server.stop();
      expectUnavailable(await rejection(store.ping()));
      expectUnavailable(await rejection(store.putNonce({ nonce: "n", expiresAt: 1 })));
      expectUnavailable(await rejection(store.appendAudit(batchOf(1))));
      const withPassword = url.replace("postgres@", "postgres:hunter2-secret@");
      const error = await rejection(openPostgresStore({ url: withPassword, connectTimeoutMs: 2_000 }));
      expect(error).to.be.instanceOf(StoreOpenError);
      expect((error as StoreOpenError).code).to.equal("DATABASE_UNAVAILABLE");
      expect((error as Error).message).to.contain(`127.0.0.1:${server.port}`);
      expect((error as Error).message).to.not.contain("hunter2-secret");
    });
  });
});

function batchOf(n: number): { patient: string; event: Uint8Array }[] {
  return Array.from({ length: 1 + (n % 3) }, (_, i) => ({
    patient: `0x${"ab".repeat(20)}`,
    event: utf8(`{"n":${n},"i":${i}}`),
  }));
}
