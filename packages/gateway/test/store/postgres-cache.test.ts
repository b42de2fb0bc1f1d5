// The PostgreSQL store's read cache (src/store/postgres/read-cache.ts) on a real server, with two stores on one
// database standing for two gateways: a row cached at B is served from B's memory (a change made behind the stores'
// back, by psql, is not seen there within the TTL), and every write at A that changes it is seen at B within the bus
// latency; with B's bus listener broken (a server restart) B drops its cache and reads the database again; the TTL
// bounds what a lost invalidation leaves stale; the cache's messages and the notifier's never mistake each other.
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { Client } from "pg";
import { openPostgresStore } from "../../src/store/postgres/index.ts";
import type { PostgresGatewayStore, PostgresStoreOptions } from "../../src/store/postgres/index.ts";
import { parseInvalidationMessage } from "../../src/store/postgres/read-cache.ts";
import type { SessionRoleRow, SessionRow } from "../../src/store/types.ts";
import { startPostgres, type TestPostgres } from "../support/postgres.ts";

/** Long enough that only an invalidation (never the TTL) can make B read again within a test. */
const LONG_TTL_MS = 600_000;
/** What "promptly" means here: the bus latency on loopback, with room for a loaded test machine. */
const BUS_LATENCY_MS = 3_000;

function address(): string {
  return `0x${randomBytes(20).toString("hex")}`;
}

function sessionRow(id: string): SessionRow {
  return { id, address: address(), chainId: 1, issuedAt: 1, expiresAt: Date.now() + 3_600_000, revokedAt: null };
}

function roleRow(sessionId: string, credential: string): SessionRoleRow {
  return { sessionId, role: "clinic", credential, issuer: "did:ethr:0x1", checkedAt: 1, validUntil: null };
}

/** Lets the invalidations of writes just made reach the other store (else they might drop what it reads next). */
async function busSettles(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 300));
}

/** Polls `read` until `done` holds of its result; returns how long that took, or fails after `timeoutMs`. */
async function seenWithin<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = BUS_LATENCY_MS) {
  const start = Date.now();
  let last: T | undefined;
  while (Date.now() - start <= timeoutMs) {
    try {
      last = await read();
      if (done(last)) return Date.now() - start;
    } catch {
      // the server restarting: try again
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect.fail(`not seen within ${timeoutMs} ms; last read ${JSON.stringify(last)}`);
}

describe("PostgreSQL store read cache across gateways", function () {
  this.timeout(300_000);
  let server: TestPostgres;
  const opened: PostgresGatewayStore[] = [];
  const clients: Client[] = [];

  before(async function () {
    this.timeout(900_000); // a brand-new machine installs PostgreSQL first
    server = await startPostgres();
  });

  after(async function () {
    for (const client of clients) await client.end().catch(() => undefined);
    for (const store of opened) await store.close();
    await server?.stop();
  });

  async function open(url: string, options: Partial<PostgresStoreOptions> = {}): Promise<PostgresGatewayStore> {
    const store = await openPostgresStore({ url, ...options });
    opened.push(store);
    return store;
  }

  /** Gateway A (default TTL) and gateway B (a TTL long enough that only invalidations refresh it) on one database. */
  async function pair(ttlAtB = LONG_TTL_MS) {
    const url = await server.createDatabase();
    const a = await open(url);
    const b = await open(url, { readCacheTtlMs: ttlAtB });
    return { url, a, b };
  }

  /** Runs SQL as an operator would: behind every store's back, so no invalidation is published. */
  async function psql(url: string, sql: string, params: unknown[] = []): Promise<void> {
    const client = new Client({ connectionString: url });
    client.on("error", () => undefined);
    await client.connect();
    try {
      await client.query(sql, params);
    } finally {
      await client.end();
    }
  }

  it("serves a row from memory: a change behind the stores' back is not seen within the TTL", async function () {
    const { url, b } = await pair();
    await b.putWebhook({ patient: "0xp", url: "https://one.example/hook", createdAt: 1 });
    expect((await b.getWebhook("0xp"))?.url).to.equal("https://one.example/hook");
    await psql(url, "UPDATE webhooks SET url = 'https://two.example/hook' WHERE patient = '0xp'");
    expect((await b.getWebhook("0xp"))?.url).to.equal("https://one.example/hook");
  });

  it("sees a session revoked at another gateway within the bus latency", async function () {
    const { a, b } = await pair();
    await a.putSession(sessionRow("s1"));
    await a.putSessionRole(roleRow("s1", "cred-1"));
    expect((await b.getSession("s1"))?.revokedAt).to.equal(null);
    expect(await b.sessionRoles("s1")).to.have.length(1);
    expect(await a.revokeSession("s1", 1234)).to.equal(true);
    const ms = await seenWithin(
      () => b.getSession("s1"),
      (row) => row?.revokedAt === 1234,
    );
    expect(await b.sessionRoles("s1")).to.deep.equal([]);
    expect(ms).to.be.below(BUS_LATENCY_MS);
  });

  it("sees a session role put and deleted at another gateway", async function () {
    const { a, b } = await pair();
    await a.putSession(sessionRow("s2"));
    expect(await b.sessionRoles("s2")).to.deep.equal([]); // a miss, cached
    expect(await a.putSessionRole(roleRow("s2", "cred-1"))).to.equal(true);
    await seenWithin(
      () => b.sessionRoles("s2"),
      (roles) => roles.length === 1 && roles[0]!.credential === "cred-1",
    );
    await a.putSessionRole(roleRow("s2", "cred-2"));
    await seenWithin(
      () => b.sessionRoles("s2"),
      (roles) => roles[0]?.credential === "cred-2",
    );
    await a.deleteSessionRole("s2", "clinic");
    await seenWithin(
      () => b.sessionRoles("s2"),
      (roles) => roles.length === 0,
    );
  });

  it("sees a wrap replaced, a record's scope ids set and a record inserted at another gateway", async function () {
    const { a, b } = await pair();
    const patient = address();
    const reader = address();
    expect(await b.getRecord(patient, "cid-1")).to.equal(undefined); // a miss, cached
    expect(await b.getWrap("cid-1", reader)).to.equal(undefined);
    await a.putRecord({ patient, cid: "cid-1", size: 10, scopeIds: {}, createdAt: 1 }, [
      { cid: "cid-1", recipient: reader, wrap: "wrap-1", createdAt: 1 },
    ]);
    await seenWithin(
      () => b.getRecord(patient, "cid-1"),
      (row) => row?.size === 10,
    );
    await seenWithin(
      () => b.getWrap("cid-1", reader),
      (row) => row?.wrap === "wrap-1",
    );
    await a.putWraps([{ cid: "cid-1", recipient: reader, wrap: "wrap-2", createdAt: 2 }]);
    await seenWithin(
      () => b.getWrap("cid-1", reader),
      (row) => row?.wrap === "wrap-2",
    );
    const consent = address();
    expect(await a.setRecordScopeIds(patient, "cid-1", consent, [`0x${"1".repeat(64)}`])).to.equal(true);
    await seenWithin(
      () => b.getRecord(patient, "cid-1"),
      (row) => row?.scopeIds[consent]?.[0] === `0x${"1".repeat(64)}`,
    );
  });

  it("sees a newer consent link and a webhook deleted or put at another gateway", async function () {
    const { a, b } = await pair();
    const [patient, grantee] = [address(), address()];
    const link = (issuedAt: number) => ({
      patient,
      grantee,
      consentAddress: address(),
      issuedAt,
      link: `link-${issuedAt}`,
    });
    await a.putConsentLink(link(100));
    expect((await b.getConsentLink(patient, grantee))?.issuedAt).to.equal(100);
    expect(await a.putConsentLink(link(200))).to.equal(true);
    await seenWithin(
      () => b.getConsentLink(patient, grantee),
      (row) => row?.issuedAt === 200,
    );

    expect(await b.getWebhook(patient)).to.equal(undefined); // a miss, cached
    await a.putWebhook({ patient, url: "https://one.example/hook", createdAt: 1 });
    await seenWithin(
      () => b.getWebhook(patient),
      (row) => row?.url === "https://one.example/hook",
    );
    expect(await a.deleteWebhook(patient)).to.equal(true);
    await seenWithin(
      () => b.getWebhook(patient),
      (row) => row === undefined,
    );
  });

  it("drops its cache when its bus listener is broken (a server restart) and reads the database again", async function () {
    const { url, a, b } = await pair();
    await a.putSession(sessionRow("s3"));
    await busSettles();
    expect((await b.getSession("s3"))?.revokedAt).to.equal(null);
    // Revoked behind the stores' back: no invalidation will ever come. B still serves its cached row...
    await psql(url, "UPDATE sessions SET revoked_at = 77 WHERE id = 's3'");
    expect((await b.getSession("s3"))?.revokedAt).to.equal(null);
    // ...until its listener's connection goes: then the cache goes too, and what B serves comes from the database.
    await server.restart();
    await seenWithin(
      () => b.getSession("s3"),
      (row) => row?.revokedAt === 77,
      30_000,
    );
    // Listening again, B caches again (a change behind its back is not seen) and hears A's invalidations again.
    await seenWithin(
      () => a.putWebhook({ patient: "0xq", url: "https://before.example/hook", createdAt: 1 }).then(() => true),
      (done) => done,
      30_000,
    );
    let n = 0;
    await seenWithin(
      async () => {
        const first = await b.getWebhook("0xq");
        await psql(url, "UPDATE webhooks SET url = $1 WHERE patient = '0xq'", [`https://behind.example/${n++}`]);
        return first !== undefined && first.url === (await b.getWebhook("0xq"))?.url;
      },
      (servedFromMemory) => servedFromMemory,
      30_000,
    );
    await a.revokeSession("s3", 99); // a second revoke keeps the first time, 77
    await a.putWebhook({ patient: "0xq", url: "https://after.example/hook", createdAt: 2 });
    await seenWithin(
      () => b.getWebhook("0xq"),
      (row) => row?.url === "https://after.example/hook",
    );
  });

  it("serves a cached row at most the TTL after it was read (a lost invalidation)", async function () {
    const { url, b } = await pair(400);
    await b.putWebhook({ patient: "0xr", url: "https://one.example/hook", createdAt: 1 });
    expect((await b.getWebhook("0xr"))?.url).to.equal("https://one.example/hook");
    const changedAt = Date.now();
    await psql(url, "UPDATE webhooks SET url = 'https://two.example/hook' WHERE patient = '0xr'");
    const ms = await seenWithin(
      () => b.getWebhook("0xr"),
      (row) => row?.url === "https://two.example/hook",
      5_000,
    );
    expect(Date.now() - changedAt).to.be.below(400 + 1_000);
    expect(ms).to.be.below(1_400);
  });

  it("caches nothing with a TTL of 0", async function () {
    const { url, b } = await pair(0);
    await b.putWebhook({ patient: "0xs", url: "https://one.example/hook", createdAt: 1 });
    expect((await b.getWebhook("0xs"))?.url).to.equal("https://one.example/hook");
    await psql(url, "UPDATE webhooks SET url = 'https://two.example/hook' WHERE patient = '0xs'");
    expect((await b.getWebhook("0xs"))?.url).to.equal("https://two.example/hook");
  });

  it("hands out cached values no caller can change", async function () {
    const { a, b } = await pair();
    await a.putSession(sessionRow("s4"));
    await a.putSessionRole(roleRow("s4", "cred-1"));
    await busSettles();
    await b.getSession("s4");
    await b.sessionRoles("s4");
    const [session, roles] = [(await b.getSession("s4"))!, await b.sessionRoles("s4")];
    expect(() => ((session as { revokedAt: number | null }).revokedAt = 5)).to.throw(TypeError);
    expect(() => roles.pop()).to.throw(TypeError);
    expect(() => ((roles[0] as { credential: string }).credential = "x")).to.throw(TypeError);
    expect((await b.getSession("s4"))!.revokedAt).to.equal(null);
    expect(await b.sessionRoles("s4")).to.have.length(1);
  });

  it("remembers a noted grantee, at every gateway, as noted for good", async function () {
    const { a, b } = await pair();
    const [patient, grantee] = [address(), address()];
    expect(await a.noteGrantee(patient, grantee, 1)).to.equal(true);
    expect(await a.noteGrantee(patient, grantee, 2)).to.equal(false);
    expect(await b.noteGrantee(patient, grantee, 3)).to.equal(false);
    expect(await b.noteGrantee(patient, grantee, 4)).to.equal(false);
  });

  it("sends invalidations the notifier ignores, and ignores the notifier's messages", async function () {
    const { a, b } = await pair();
    const heard: string[] = [];
    await b.bus.listen((message) => void heard.push(message));
    await a.putSession(sessionRow("s5"));
    await busSettles();
    expect((await b.getSession("s5"))?.revokedAt).to.equal(null);
    // A notifier's message naming the same key, even with an `inv` member, drops nothing at B.
    const notification = {
      v: 1,
      from: "gateway-a",
      patient: "s5",
      notification: { index: 0 },
      inv: [["sessions", "s5"]],
    };
    await a.bus.publish(JSON.stringify(notification));
    await a.revokeSession("s5", 1);
    await seenWithin(
      async () => heard,
      (messages) => messages.some((m) => m.includes("session_roles")),
    );
    const invalidation = heard.find((m) => m.includes("session_roles"))!;
    expect(parseInvalidationMessage(invalidation)).to.not.equal(undefined);
    const parsed = JSON.parse(invalidation) as Record<string, unknown>;
    expect(parsed).to.not.have.property("v"); // the notifier's isBusMessage wants v: 1
    expect(parsed).to.not.have.property("from");
    expect(parsed.inv).to.deep.equal([
      ["sessions", "s5"],
      ["session_roles", "s5"],
    ]);
    expect(parseInvalidationMessage(JSON.stringify(notification))).to.equal(undefined);
    expect(parseInvalidationMessage('{"inv":[["nonces","n"]],"by":"x"}')).to.equal(undefined);
    expect(parseInvalidationMessage('{"inv":[["records","only-one-part"]],"by":"x"}')).to.equal(undefined);
  });

  it("drops whole tables when a write's keys do not fit in one bus message", async function () {
    const { a, b } = await pair();
    const reader = address();
    await a.putRecord({ patient: "0xp", cid: "cid-big", size: 1, scopeIds: {}, createdAt: 1 }, [
      { cid: "cid-big", recipient: reader, wrap: "old", createdAt: 1 },
    ]);
    expect((await b.getWrap("cid-big", reader))?.wrap).to.equal("old");
    const many = Array.from({ length: 200 }, (_, i) => ({
      cid: `cid-many-${i}`,
      recipient: address(),
      wrap: "w",
      createdAt: 1,
    }));
    await a.putWraps([...many, { cid: "cid-big", recipient: reader, wrap: "new", createdAt: 2 }]);
    await seenWithin(
      () => b.getWrap("cid-big", reader),
      (row) => row?.wrap === "new",
    );
  });
});
