// The SQLite store's read cache: which table a statement writes (a wrong answer would keep a stale row), its bound,
// and that its rows cannot be changed through a reference a caller holds.
import { expect } from "chai";
import { ReadCache, cacheKey, writtenTable } from "../../src/store/sqlite/read-cache.ts";

describe("sqlite store read cache", function () {
  it("names the table each kind of writing statement changes", function () {
    expect(writtenTable("INSERT INTO sessions (id) VALUES ($id)")).to.equal("sessions");
    expect(writtenTable("  insert or replace into Wraps (cid) VALUES (1)")).to.equal("wraps");
    expect(writtenTable("REPLACE INTO records (cid) VALUES (1)")).to.equal("records");
    expect(writtenTable("UPDATE sessions SET revoked_at = 1 WHERE id = $id")).to.equal("sessions");
    expect(writtenTable("UPDATE OR IGNORE records SET size = 1")).to.equal("records");
    expect(writtenTable('DELETE FROM "main"."sessions" WHERE id = 1')).to.equal("sessions");
    expect(writtenTable("INSERT INTO main.webhooks(patient) VALUES (1)")).to.equal("webhooks");
    expect(writtenTable("DELETE FROM staged_uploads WHERE cid = $cid RETURNING *")).to.equal("staged_uploads");
    expect(
      writtenTable("INSERT INTO session_roles (session_id) SELECT $id FROM sessions WHERE id = $id"),
      "the table written, not the one read",
    ).to.equal("session_roles");
  });

  it("takes reads as reads, and anything it cannot tell as a write of everything", function () {
    expect(writtenTable("SELECT * FROM sessions WHERE id = $id")).to.equal(null);
    expect(writtenTable("WITH x AS (SELECT 1) SELECT * FROM x")).to.equal(null);
    expect(writtenTable("PRAGMA quick_check")).to.equal(null);
    expect(writtenTable("PRAGMA cache_size = 10")).to.equal("*");
    expect(writtenTable("WITH x AS (SELECT 1) DELETE FROM sessions")).to.equal("*");
    expect(writtenTable("VACUUM")).to.equal("*");
  });

  it("drops the written table's rows and its cascades' rows, keeps the others", function () {
    const cache = new ReadCache();
    cache.set("sessions", "s", { id: "s" });
    cache.set("session_roles", "s", []);
    cache.set("records", "r", undefined);
    cache.beforeStatement("SELECT * FROM sessions");
    expect(cache.get("sessions", "s").hit).to.equal(true);
    cache.beforeStatement("DELETE FROM sessions WHERE expires_at <= $before");
    expect(cache.get("sessions", "s").hit).to.equal(false);
    expect(cache.get("session_roles", "s").hit, "ON DELETE CASCADE").to.equal(false);
    expect(cache.get("records", "r"), "a cached miss").to.deep.equal({ hit: true, value: undefined });
    cache.beforeStatement("VACUUM");
    expect(cache.get("records", "r").hit).to.equal(false);
  });

  it("freezes what it keeps, bytes aside", function () {
    const cache = new ReadCache();
    const row = { scopeIds: { a: ["x"] }, bytes: new Uint8Array(2) };
    cache.set("records", "k", row);
    expect(() => row.scopeIds.a.push("y")).to.throw(TypeError);
    expect(Object.isFrozen(row)).to.equal(true);
  });

  it("serves a table's rows for ttlMs after the first was read, then reads again; keeps nothing once disabled", function () {
    let now = 1_000;
    const cache = new ReadCache({ ttlMs: 100, now: () => now });
    cache.set("sessions", "a", { id: "a" });
    now += 60;
    cache.set("sessions", "b", { id: "b" });
    expect(cache.get("sessions", "b").hit).to.equal(true);
    now += 40;
    expect(cache.get("sessions", "b").hit, "100 ms after the table's first row").to.equal(false);
    expect(cache.get("sessions", "a").hit).to.equal(false);
    cache.set("sessions", "a", { id: "a" });
    cache.disable();
    expect(cache.get("sessions", "a").hit).to.equal(false);
    cache.set("sessions", "a", { id: "a" });
    expect(cache.get("sessions", "a").hit).to.equal(false);
    const off = new ReadCache({ ttlMs: 0 });
    off.set("wraps", "k", undefined);
    expect(off.get("wraps", "k").hit).to.equal(false);
  });

  it("makes one key of several parts that no other parts make", function () {
    expect(cacheKey("p", "x y")).to.not.equal(cacheKey("p x", "y"));
    expect(cacheKey("a", "bc")).to.not.equal(cacheKey("ab", "c"));
    expect(cacheKey("1:a", "")).to.not.equal(cacheKey("1", "a"));
    expect(cacheKey("a", "b")).to.equal(cacheKey("a", "b"));
  });

  it("stays bounded: a table's rows are dropped when it is full", function () {
    const cache = new ReadCache();
    for (let i = 0; i < 50_001; i++) cache.set("wraps", `k${i}`, undefined);
    expect(cache.get("wraps", "k0").hit).to.equal(false);
    expect(cache.get("wraps", "k50000").hit).to.equal(true);
  });
});
