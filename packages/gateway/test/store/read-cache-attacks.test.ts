// Attacks on the SQLite store's read cache (read-cache.ts) and its audit writer thread (audit-writer.ts):
// can the gateway act on a stale row (a signed-out or swept session, a deleted role, a replaced wrap or link, a
// deleted webhook), can a caller change what the next caller reads, and does every audit append mean what its
// answer says (resolved: durable; rejected: not written)?
//
// The first review's defects (keys that collided, schema-qualified writes, writes from outside the store, a lost
// data-dir lock, a batch committed by a writer thread that died before answering, a second close()) each have a
// test here that failed before its fix.
import { mkdtempSync, mkdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Worker } from "node:worker_threads";
import { expect } from "chai";
import {
  DATABASE_FILE,
  LOCK_FILE,
  LOCK_INFO_FILE,
  StoreOpenError,
  openSqliteStore,
  type SqliteGatewayStore,
} from "../../src/store/sqlite/index.ts";
import { writtenTable } from "../../src/store/sqlite/read-cache.ts";
import { startStoreSweeper } from "../../src/store/sweeper.ts";
import type { SessionRoleRow, SessionRow } from "../../src/store/types.ts";

const DAY = 24 * 60 * 60 * 1000;
const NOW = 1_900_000_000_000;
const ALICE = `0x${"a".repeat(40)}`;
const BOB = `0x${"b".repeat(40)}`;
const CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "hygeia-cache-attack-"));
  dirs.push(dir);
  return dir;
}
after(function () {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const session = (id: string, over: Partial<SessionRow> = {}): SessionRow => ({
  id,
  address: ALICE,
  chainId: 31337,
  issuedAt: NOW - 1000,
  expiresAt: NOW + DAY,
  revokedAt: null,
  ...over,
});

const role = (sessionId: string, over: Partial<SessionRoleRow> = {}): SessionRoleRow => ({
  sessionId,
  role: "clinic",
  credential: "vc",
  issuer: "did:web:issuer.example",
  checkedAt: NOW,
  validUntil: null,
  ...over,
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return expect.fail("expected a rejection");
}

/** The store's audit writer threads, caught as the store posts to them (the store keeps its Worker private). */
const workers: Worker[] = [];
const postMessage = Worker.prototype.postMessage;
before(function () {
  Worker.prototype.postMessage = function (this: Worker, ...args: Parameters<Worker["postMessage"]>) {
    if (!workers.includes(this)) workers.push(this);
    return postMessage.apply(this, args);
  };
});
after(function () {
  Worker.prototype.postMessage = postMessage;
});

describe("SQLite store read cache: attacks", function () {
  let dir: string;
  let store: SqliteGatewayStore;
  beforeEach(async function () {
    dir = tempDir();
    store = await openSqliteStore(dir);
  });
  afterEach(async function () {
    await store.close();
  });

  describe("sessions and roles", function () {
    it("a signed-out session is refused and loses its roles from the next read on, though both were cached", async function () {
      await store.putSession(session("s1"));
      expect(await store.putSessionRole(role("s1"))).to.equal(true);
      expect((await store.getSession("s1"))?.revokedAt).to.equal(null);
      expect(await store.sessionRoles("s1")).to.have.length(1);
      expect(await store.revokeSession("s1", NOW)).to.equal(true);
      expect((await store.getSession("s1"))?.revokedAt).to.equal(NOW);
      expect(await store.sessionRoles("s1")).to.deep.equal([]);
      // And no role can be attached afterwards (the INSERT ... SELECT FROM sessions reads the revocation).
      expect(await store.putSessionRole(role("s1", { role: "researcher" }))).to.equal(false);
      expect(await store.sessionRoles("s1")).to.deep.equal([]);
    });

    it("a swept session and its roles (ON DELETE CASCADE) are gone, through the sweeper too", async function () {
      await store.putSession(session("old", { expiresAt: NOW - 2 * DAY }));
      await store.putSessionRole(role("old"));
      await store.putSession(session("live"));
      await store.putSessionRole(role("live"));
      expect(await store.getSession("old")).to.not.equal(undefined);
      expect(await store.sessionRoles("old")).to.have.length(1);
      expect(await store.sessionRoles("live")).to.have.length(1);
      const sweeper = startStoreSweeper(store, { now: () => NOW, onError: (error) => expect.fail(String(error)) });
      try {
        expect(await sweeper.sweepNow()).to.be.greaterThan(0);
      } finally {
        await sweeper.stop();
      }
      expect(await store.getSession("old")).to.equal(undefined);
      expect(await store.sessionRoles("old"), "the cascade's rows").to.deep.equal([]);
      expect(await store.sessionRoles("live")).to.have.length(1);
    });

    it("a deleted or replaced role is seen at once, and a cached miss does not hide a new session or role", async function () {
      expect(await store.getSession("s2")).to.equal(undefined);
      expect(await store.sessionRoles("s2")).to.deep.equal([]);
      await store.putSession(session("s2"));
      expect((await store.getSession("s2"))?.id).to.equal("s2");
      expect(await store.sessionRoles("s2")).to.deep.equal([]);
      await store.putSessionRole(role("s2", { validUntil: NOW + 10 }));
      expect((await store.sessionRoles("s2"))[0]?.validUntil).to.equal(NOW + 10);
      await store.putSessionRole(role("s2", { validUntil: NOW + 5 }));
      expect((await store.sessionRoles("s2"))[0]?.validUntil).to.equal(NOW + 5);
      await store.deleteSessionRole("s2", "clinic");
      expect(await store.sessionRoles("s2")).to.deep.equal([]);
      // A session un-revoked by a new putSession with the same id (an upsert) is seen as such, both ways.
      await store.putSession(session("s2", { revokedAt: NOW }));
      expect((await store.getSession("s2"))?.revokedAt).to.equal(NOW);
    });

    it("a caller cannot change a cached session or roles list for the next caller", async function () {
      await store.putSession(session("s3"));
      await store.putSessionRole(role("s3"));
      const row = (await store.getSession("s3")) as { revokedAt: number | null; expiresAt: number };
      expect(() => {
        row.expiresAt = NOW + 100 * DAY;
      }).to.throw(TypeError);
      const roles = await store.sessionRoles("s3");
      expect(() => roles.push(role("s3", { role: "researcher" }))).to.throw(TypeError);
      expect(() => {
        (roles[0] as { validUntil: number | null }).validUntil = null;
      }).to.throw(TypeError);
      await store.revokeSession("s3", NOW);
      // An old reference stays what it was; the store's next answer is the truth.
      expect(row.revokedAt).to.equal(null);
      expect((await store.getSession("s3"))?.revokedAt).to.equal(NOW);
      expect((await store.getSession("s3"))?.expiresAt).to.equal(NOW + DAY);
    });

    it("a full cache (50 000 keys of misses from requests) never keeps a revoked session", async function () {
      await store.putSession(session("target"));
      expect((await store.getSession("target"))?.revokedAt).to.equal(null);
      for (let i = 0; i < 50_010; i++) await store.getSession(`probe-${i}`);
      expect((await store.getSession("target"))?.revokedAt).to.equal(null);
      await store.revokeSession("target", NOW);
      expect((await store.getSession("target"))?.revokedAt).to.equal(NOW);
    });
  });

  describe("records, wraps, consent links, webhooks", function () {
    it("a replaced wrap, a changed scope, a newer consent link and a deleted webhook are served new", async function () {
      expect(await store.getWrap(CID, BOB)).to.equal(undefined);
      expect(await store.getRecord(ALICE, CID)).to.equal(undefined);
      const wrap = { cid: CID, recipient: BOB, wrap: "old-wrap", createdAt: NOW };
      expect(
        await store.putRecord({ patient: ALICE, cid: CID, size: 1, scopeIds: {}, createdAt: NOW }, [wrap]),
      ).to.equal(true);
      expect((await store.getWrap(CID, BOB))?.wrap, "a cached miss, then the record's own wraps").to.equal("old-wrap");
      expect((await store.getRecord(ALICE, CID))?.scopeIds).to.deep.equal({});
      await store.putWraps([{ ...wrap, wrap: "new-wrap", createdAt: NOW + 1 }]);
      expect((await store.getWrap(CID, BOB))?.wrap).to.equal("new-wrap");
      expect(await store.setRecordScopeIds(ALICE, CID, BOB, ["0x01"])).to.equal(true);
      expect((await store.getRecord(ALICE, CID))?.scopeIds).to.deep.equal({ [BOB]: ["0x01"] });
      expect(await store.setRecordScopeIds(ALICE, CID, BOB, ["0x02"])).to.equal(true);
      expect((await store.getRecord(ALICE, CID))?.scopeIds).to.deep.equal({ [BOB]: ["0x02"] });

      const link = { patient: ALICE, grantee: BOB, consentAddress: `0x${"c".repeat(40)}`, issuedAt: 10, link: "l1" };
      expect(await store.getConsentLink(ALICE, BOB)).to.equal(undefined);
      expect(await store.putConsentLink(link)).to.equal(true);
      expect((await store.getConsentLink(ALICE, BOB))?.link).to.equal("l1");
      expect(
        await store.putConsentLink({ ...link, consentAddress: `0x${"d".repeat(40)}`, issuedAt: 11, link: "l2" }),
      ).to.equal(true);
      expect((await store.getConsentLink(ALICE, BOB))?.consentAddress).to.equal(`0x${"d".repeat(40)}`);
      expect(await store.putConsentLink({ ...link, issuedAt: 9, link: "l0" }), "older: refused").to.equal(false);
      expect((await store.getConsentLink(ALICE, BOB))?.link).to.equal("l2");

      expect(await store.getWebhook(ALICE)).to.equal(undefined);
      await store.putWebhook({ patient: ALICE, url: "https://a.example/hook", createdAt: 1 });
      expect((await store.getWebhook(ALICE))?.url).to.equal("https://a.example/hook");
      await store.putWebhook({ patient: ALICE, url: "https://b.example/hook", createdAt: 2 });
      expect((await store.getWebhook(ALICE))?.url).to.equal("https://b.example/hook");
      expect(await store.deleteWebhook(ALICE)).to.equal(true);
      expect(await store.getWebhook(ALICE)).to.equal(undefined);
    });

    it("a transaction that fails half way leaves neither its rows nor a cached trace of them", async function () {
      const good = { cid: CID, recipient: BOB, wrap: "w", createdAt: NOW };
      const bad = { cid: CID, recipient: ALICE, wrap: null as unknown as string, createdAt: NOW }; // NOT NULL: refused
      expect(await store.getRecord(ALICE, CID)).to.equal(undefined);
      expect(await store.getWrap(CID, BOB)).to.equal(undefined);
      await rejection(
        store.putRecord({ patient: ALICE, cid: CID, size: 1, scopeIds: {}, createdAt: NOW }, [good, bad]),
      );
      expect(await store.getRecord(ALICE, CID)).to.equal(undefined);
      expect(await store.getWrap(CID, BOB)).to.equal(undefined);
      // A replacement undone by the rollback: the old wrap, cached before, is what stays.
      await store.putRecord({ patient: ALICE, cid: CID, size: 1, scopeIds: {}, createdAt: NOW }, [good]);
      expect((await store.getWrap(CID, BOB))?.wrap).to.equal("w");
      await rejection(store.putWraps([{ ...good, wrap: "w2" }, bad]));
      expect((await store.getWrap(CID, BOB))?.wrap).to.equal("w");
      // A record of the same CID by another patient is refused (one owner per CID), its wraps with it.
      expect(await store.getRecord(BOB, CID)).to.equal(undefined);
      expect(
        await store.putRecord({ patient: BOB, cid: CID, size: 1, scopeIds: {}, createdAt: NOW }, [
          { ...good, wrap: "hijack" },
        ]),
      ).to.equal(false);
      expect((await store.getWrap(CID, BOB))?.wrap).to.equal("w");
      expect(await store.getRecord(BOB, CID)).to.equal(undefined);
      expect((await store.getRecord(ALICE, CID))?.patient).to.equal(ALICE);
    });

    it("a caller cannot change a cached record's scope ids for the next caller", async function () {
      await store.putRecord({ patient: ALICE, cid: CID, size: 1, scopeIds: { [BOB]: ["0x01"] }, createdAt: NOW }, []);
      const row = await store.getRecord(ALICE, CID);
      expect(() => row?.scopeIds[BOB]?.push("0x02")).to.throw(TypeError);
      expect(() => {
        if (row) row.scopeIds[ALICE] = ["0x03"];
      }).to.throw(TypeError);
      expect((await store.getRecord(ALICE, CID))?.scopeIds).to.deep.equal({ [BOB]: ["0x01"] });
    });

    it("two different (patient, cid) keys never share one cached row, whatever their parts hold", async function () {
      // Keys were once `${a} ${b}`: ("p", "x y") and ("p x", "y") collided, so a caller passing unvalidated text got
      // another key's row (the store trusts its callers).
      await store.putRecord({ patient: "p", cid: "x y", size: 7, scopeIds: {}, createdAt: NOW }, [
        { cid: "c x", recipient: "r", wrap: "wrap-of-r", createdAt: NOW },
      ]);
      await store.putConsentLink({ patient: "p", grantee: "g h", consentAddress: "0xc", issuedAt: 1, link: "l" });
      expect((await store.getRecord("p", "x y"))?.size).to.equal(7);
      expect((await store.getWrap("c x", "r"))?.wrap).to.equal("wrap-of-r");
      expect((await store.getConsentLink("p", "g h"))?.link).to.equal("l");
      expect(await store.getRecord("p x", "y"), "another patient's record").to.equal(undefined);
      expect(await store.getWrap("c", "x r"), "another recipient's wrap").to.equal(undefined);
      expect(await store.getConsentLink("p g", "h"), "another patient's link").to.equal(undefined);
    });
  });

  describe("writers other than this store's statements", function () {
    it("writtenTable names the table, not the schema, of a schema-qualified write (main.sessions)", function () {
      // It once captured the first word after INTO/UPDATE/FROM ("main"): a statement written as
      // `DELETE FROM main.sessions ...` would have dropped nothing and kept every revoked session cached.
      for (const sql of [
        "DELETE FROM main.sessions WHERE id = $id",
        'UPDATE "main"."sessions" SET revoked_at = 1',
        "INSERT INTO main.webhooks (patient, url, created_at) VALUES (1, 2, 3)",
      ]) {
        expect(writtenTable(sql), sql).to.be.oneOf(["sessions", "webhooks"]);
      }
    });

    it("a session revoked by an operator's sqlite3 shell (the README allows one beside the gateway) is refused within the cache's TTL", async function () {
      await store.close();
      store = await openSqliteStore(dir, { readCacheTtlMs: 200 });
      await store.putSession(session("s4"));
      await store.putSessionRole(role("s4"));
      expect((await store.getSession("s4"))?.revokedAt).to.equal(null);
      expect(await store.sessionRoles("s4")).to.have.length(1);
      const shell = new DatabaseSync(join(dir, DATABASE_FILE), { enableForeignKeyConstraints: true });
      try {
        shell.exec(`UPDATE sessions SET revoked_at = ${NOW} WHERE id = 's4'`);
        shell.exec("DELETE FROM session_roles WHERE session_id = 's4'");
        shell.exec(`DELETE FROM webhooks`);
      } finally {
        shell.close();
      }
      // Still the cached rows for up to the TTL (the store cannot see another connection's commit without asking)...
      expect((await store.getSession("s4"))?.revokedAt).to.equal(null);
      await new Promise((resolve) => setTimeout(resolve, 250));
      // ...then the file's.
      expect((await store.getSession("s4"))?.revokedAt, "revoked in the database").to.equal(NOW);
      expect(await store.sessionRoles("s4"), "deleted in the database").to.deep.equal([]);
    });

    it("once the data-dir lock file is lost (ping says so), a second gateway's sign-out is seen at once", async function () {
      await store.putSession(session("s5"));
      expect((await store.getSession("s5"))?.revokedAt).to.equal(null);
      // A cleanup script removes the lock files; a second gateway starts on the same dir and signs s5 out.
      rmSync(join(dir, LOCK_FILE));
      rmSync(join(dir, LOCK_INFO_FILE), { force: true });
      const second = await openSqliteStore(dir);
      try {
        expect(await second.revokeSession("s5", NOW)).to.equal(true);
      } finally {
        await second.close();
      }
      await rejection(store.ping()); // readiness fails, and the store stops answering from memory
      expect((await store.getSession("s5"))?.revokedAt).to.equal(NOW);
    });

    it("a second store on the same data dir through another path (a symlink) is refused in this process", async function () {
      const link = join(tempDir(), "alias");
      symlinkSync(dir, link);
      const error = await rejection(openSqliteStore(link));
      expect(error).to.be.instanceOf(StoreOpenError);
      expect((error as StoreOpenError).code).to.equal("DATA_DIR_LOCKED");
      const nested = join(dir, "sub", "..");
      mkdirSync(join(dir, "sub"));
      expect(((await rejection(openSqliteStore(nested))) as StoreOpenError).code).to.equal("DATA_DIR_LOCKED");
    });
  });
});

describe("SQLite store audit writer thread: attacks", function () {
  const event = (n: number) => ({ patient: ALICE, event: new Uint8Array([n & 0xff, n >> 8]) });

  it("close() while batches are under way commits every one, contiguously, and refuses appends after", async function () {
    const dir = tempDir();
    const store = await openSqliteStore(dir);
    const pending = Array.from({ length: 30 }, (_, b) => store.appendAudit([event(2 * b), event(2 * b + 1)]));
    await store.close();
    const starts = (await Promise.all(pending)).map((rows) => rows[0]?.index);
    expect(starts).to.deep.equal(Array.from({ length: 30 }, (_, b) => 2 * b));
    const refused = (await rejection(store.appendAudit([event(99)]))) as { code?: string; status?: number };
    expect(refused.code).to.equal("DATABASE_UNAVAILABLE");
    const reopened = await openSqliteStore(dir);
    try {
      expect(await reopened.auditSize()).to.equal(60);
      const rows = await reopened.auditRange(0, 60);
      expect(rows.map((r) => r.index)).to.deep.equal(Array.from({ length: 60 }, (_, i) => i));
    } finally {
      await reopened.close();
    }
  });

  it("a second close() resolves only once the first has closed the store and released the data dir", async function () {
    // It once returned at once while the first call still awaited the audit writer (and then the lock).
    const dir = tempDir();
    const store = await openSqliteStore(dir);
    const pending = Array.from({ length: 20 }, (_, i) =>
      store.appendAudit([{ patient: ALICE, event: new Uint8Array(100_000).fill(i) }]),
    );
    const first = store.close();
    await store.close();
    try {
      const again = await openSqliteStore(dir).catch((error: unknown) => error);
      if (again instanceof StoreOpenError) expect.fail(`reopen after close() resolved: ${again.code}`);
      await (again as SqliteGatewayStore).close();
    } finally {
      await first;
      await Promise.all(pending);
    }
  });

  it("a writer thread killed inside a batch leaves no write lock behind; the batch is committed once, by the next thread", async function () {
    const dir = tempDir();
    const store = await openSqliteStore(dir);
    try {
      await store.appendAudit([event(0)]);
      const worker = workers[workers.length - 1]!;
      const big = Array.from({ length: 2000 }, (_, i) => ({ patient: ALICE, event: new Uint8Array(4000).fill(i) }));
      const doomed = store.appendAudit(big);
      await new Promise((resolve) => setTimeout(resolve, 5));
      await worker.terminate();
      const outcome = await doomed.then(
        () => "resolved",
        () => "rejected",
      );
      // Committed by the dying thread or sent again to a new one: resolved, and in the log exactly once.
      expect(outcome).to.equal("resolved");
      await store.putSession(session("after-kill"));
      const size = await store.auditSize();
      expect(size).to.equal(2001);
      const next = await store.appendAudit([event(1)]);
      expect(next[0]?.index).to.equal(size);
    } finally {
      await store.close();
    }
  });

  it("a writer thread that dies after its COMMIT, before answering, has its durable batch reported as written", async function () {
    // The worker answers only after COMMIT returns. A death in between (here terminate() while COMMIT's
    // autocheckpoint runs) once rejected a batch that is in the log: the audit log would then tell its callers the
    // event was not durable and hand its seqs to the next events. Racy by nature, so several attempts.
    this.timeout(120_000);
    const dir = tempDir();
    const store = await openSqliteStore(dir);
    const side = new DatabaseSync(join(dir, DATABASE_FILE), { readOnly: true });
    const end = side.prepare("SELECT coalesce(max(idx) + 1, 0) AS n FROM audit_events");
    try {
      await store.appendAudit([event(0)]);
      for (let attempt = 0; attempt < 8; attempt++) {
        const worker = workers[workers.length - 1]!;
        const before = Number(end.get()?.["n"]);
        const big = Array.from({ length: 1000 }, (_, i) => ({ patient: ALICE, event: new Uint8Array(60_000).fill(i) }));
        const pending = store.appendAudit(big);
        const deadline = Date.now() + 30_000;
        while (Number(end.get()?.["n"]) < before + big.length && Date.now() < deadline); // spin until committed
        void worker.terminate();
        const error = await pending.then(
          () => undefined,
          (e: unknown) => e,
        );
        if (error !== undefined) {
          expect(Number(end.get()?.["n"]), "committed").to.equal(before + big.length);
          expect.fail(`a committed batch was rejected: ${String(error)}`);
        }
        await store.appendAudit([event(attempt + 1)]); // restarts the writer thread for the next attempt
      }
    } finally {
      side.close();
      await store.close();
    }
  });
});
