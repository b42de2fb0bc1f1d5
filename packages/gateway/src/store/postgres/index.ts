// GatewayStore on PostgreSQL (the `pg` client, pure JS): one database shared by several gateway processes.
//
// Safety rules (the interface's promises, and how this file keeps them across processes):
// - Durable when a write resolves: every connection runs with synchronous_commit=on, so COMMIT returns once the WAL
//   is flushed on the server.
// - Atomic: every method is one statement or one BEGIN ... COMMIT on one pooled connection (rolled back on any
//   throw). Isolation is READ COMMITTED, and what must hold across processes is written so that it holds there:
//   - single-use and compare-and-swap writes are ONE statement whose WHERE or ON CONFLICT clause is the condition
//     (DELETE ... RETURNING for a nonce or a staged upload; UPDATE ... WHERE cid = expected for the manifest
//     pointer; INSERT ... ON CONFLICT DO UPDATE ... WHERE for quotas and "newer only" rows). A concurrent writer of
//     the same row makes PostgreSQL wait for it and evaluate the condition again on the row it committed, so of
//     two racing writers exactly one wins, whichever process they run in;
//   - read-then-write methods lock the row they read first (SELECT ... FOR UPDATE / FOR SHARE), and the tally
//     compare-and-swap is an UPDATE ... WHERE version = next - 1 (or an INSERT ... ON CONFLICT DO NOTHING for the
//     first version) inside the contribution's transaction.
//   No SERIALIZABLE: its failures would need retry loops around every method, and nothing here needs it.
// - Audit logs: one per gateway (by origin). appendAudit locks its own log's row in `audit_logs` and takes the
//   indexes from its `next_index` (see appendAudit for why a row lock). Triggers keep each log append-only and
//   gap-free in the schema itself (migrations.ts).
// - The schema is migrated forward at open under an advisory lock (migrations.ts): gateways starting together
//   migrate once; a database from a newer gateway is refused, never written.
// - No raw `pg` error leaves: errors.ts maps them (503 DATABASE_UNAVAILABLE for the database failing, 500 for bugs).
// - The pool outlives a server restart: a connection that dies (idle or busy) is dropped from the pool, the calls on
//   it reject with 503, and later calls open new connections once the server is back. An idle connection's error
//   is handled here, never an uncaught 'error' event.
// - A read cache for the hot keyed reads (read-cache.ts): other gateways write the same rows, so every write of a
//   cached table drops its keys here and publishes them on the bus, and every store drops what the others publish.
//   The bus is best effort: nothing is cached while this store's listener is disconnected, and a row is served at
//   most readCacheTtlMs after it was read, so a lost invalidation leaves a row stale for that long at worst.
import { randomUUID } from "node:crypto";
import { Client, Pool } from "pg";
import { MAX_MESSAGE_BYTES, PostgresBus } from "./bus.ts";
import {
  PostgresReadCache,
  cacheKey,
  invalidationMessage,
  parseInvalidationMessage,
  type CachedTable,
  type Invalidation,
} from "./read-cache.ts";
import type { ClientBase, PoolClient, PoolConfig } from "pg";
import type {
  AggregateQueryRow,
  AggregateReleaseRow,
  AuditLogReader,
  AuditLogRow,
  AuditRow,
  CheckInRow,
  CheckpointRow,
  ConsentLinkRow,
  ContributionRow,
  ContributionWrite,
  GatewayStore,
  ListOptions,
  ManifestPointerRow,
  NonceRow,
  RecordRow,
  SessionRoleRow,
  SessionRow,
  StagedUploadRow,
  StatusListRow,
  StudyRow,
  TallySumsRow,
  TallyUpdate,
  WebhookRow,
  WrapRow,
} from "../types.ts";
import { DependencyUnavailableError } from "../../errors.ts";
import { AuditLogClaimError, StoreFailureError, StoreOpenError, databaseUnavailable } from "../sqlite/errors.ts";
import { isUnavailable, sqlState, toStoreError } from "./errors.ts";
import { MIGRATIONS, SCHEMA_VERSION, migrate } from "./migrations.ts";
import { int, mappers, text } from "./rows.ts";
import type { Row } from "./rows.ts";

export { MIGRATIONS as POSTGRES_MIGRATIONS, SCHEMA_VERSION as POSTGRES_SCHEMA_VERSION };

/** Revoked or expired sessions are kept this long (as in the SQLite store), then swept. */
const SESSION_RETENTION_MS = 24 * 60 * 60 * 1000;
/** Relay-quota windows are swept once they started this long ago. */
const RELAY_QUOTA_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * The advisory lock key of putAggregateQuery (transaction-scoped): openers count the open queries and insert one at a
 * time across every gateway. Any constant other than the migrations' works; this one spells "hygeiaAQ".
 */
const AGGREGATE_QUERIES_LOCK = "7528161937383833937";
export const DEFAULT_POOL_SIZE = 10;
export const DEFAULT_STATEMENT_TIMEOUT_MS = 5_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:5432/db` (HYGEIA_DATABASE_URL). Never logged: errors name it without the password. */
  url: string;
  /** Connections this process keeps at most (default 10). Every gateway has its own pool. */
  poolSize?: number;
  /**
   * The server cancels a statement running longer (default 5000 ms), and the call fails DATABASE_UNAVAILABLE (503)
   * rather than holding the request; this includes a wait for a row lock another gateway holds.
   */
  statementTimeoutMs?: number;
  /** How long a call waits for a connection, a new one or a free one of the pool (default 5000 ms), then 503. */
  connectTimeoutMs?: number;
  /**
   * How long a cached row of the hot keyed reads may be served after it was read (default 1000 ms; 0: no cache).
   * The bound on staleness when an invalidation from another gateway is lost (see read-cache.ts).
   */
  readCacheTtlMs?: number;
  /**
   * The key the gateways of this database authenticate their bus messages with (32 bytes; the gateway derives it from
   * HYGEIA_GATEWAY_SECRET). Without it the bus takes any message: any login of the database can NOTIFY.
   */
  busKey?: Uint8Array;
}

/** The url as errors may show it: scheme, user, host, port and database, never the password. */
export function describeDatabase(url: string): string {
  try {
    const parsed = new URL(url);
    const user = parsed.username === "" ? "" : `${decodeURIComponent(parsed.username)}@`;
    return `${parsed.protocol}//${user}${parsed.host}${parsed.pathname}`;
  } catch {
    return "the PostgreSQL database"; // a key=value string: it may hold the password anywhere
  }
}

function poolConfig(options: PostgresStoreOptions): PoolConfig {
  const statementTimeoutMs = options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  return {
    connectionString: options.url,
    max: options.poolSize ?? DEFAULT_POOL_SIZE,
    connectionTimeoutMillis: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: 10_000,
    // An idle pool does not keep the process alive (as an idle SQLite store does not).
    allowExitOnIdle: true,
    keepAlive: true,
    application_name: "hygeia-gateway",
    // Durable when resolved, whatever the server's or the role's default.
    options: "-c synchronous_commit=on",
    statement_timeout: statementTimeoutMs,
    // A backstop for a server that never answers (a network partition): the server's own timeout comes first.
    query_timeout: statementTimeoutMs + 5_000,
    // A gateway stuck inside a transaction (its event loop blocked) must not hold its rows' locks for ever.
    idle_in_transaction_session_timeout: Math.max(60_000, statementTimeoutMs * 4),
  };
}

/**
 * Opens the store: connects, migrates the schema forward (once, whichever gateway gets there first) and returns it.
 * Rejects with a StoreOpenError: DATABASE_UNAVAILABLE (the server cannot be reached), DATABASE_TOO_NEW,
 * DATABASE_CORRUPT (a migration history this gateway does not know), DATABASE_MIGRATION_FAILED.
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<PostgresGatewayStore> {
  const where = describeDatabase(options.url);
  const config = poolConfig(options);
  // Migrations on a connection of their own, without the statement and query timeouts (an index build may be long).
  const { statement_timeout: _s, query_timeout: _q, ...migrationConfig } = config;
  const client = new Client(migrationConfig);
  client.on("error", () => undefined); // reported by the query that fails on it
  try {
    await client.connect();
    await migrate(client, where);
  } catch (error) {
    throw openError(error, where);
  } finally {
    await client.end().catch(() => undefined);
  }
  const pool = new Pool(config);
  const store = new PostgresGatewayStore(pool, where, new PostgresBus(pool, migrationConfig, options.busKey), {
    readCacheTtlMs: options.readCacheTtlMs,
  });
  await store.listening;
  return store;
}

/** Anything that failed before the store was returned: the server (or its login) could not serve this gateway. */
function openError(error: unknown, where: string): StoreOpenError {
  if (error instanceof StoreOpenError) return error;
  const reason = error instanceof Error ? error.message : String(error);
  const state = sqlState(error);
  return new StoreOpenError(
    "DATABASE_UNAVAILABLE",
    where,
    `cannot open the gateway database ${where}: ${reason}${state === undefined ? "" : ` (SQLSTATE ${state})`}`,
    { cause: error },
  );
}

type Queryable = Pick<ClientBase, "query">;
type Event = { patient: string; event: Uint8Array };

async function rows(db: Queryable, sql: string, params: unknown[] = []): Promise<Row[]> {
  return (await db.query<Row>(sql, params)).rows;
}

async function one(db: Queryable, sql: string, params: unknown[] = []): Promise<Row | undefined> {
  return (await rows(db, sql, params))[0];
}

async function changed(db: Queryable, sql: string, params: unknown[] = []): Promise<number> {
  return (await db.query(sql, params)).rowCount ?? 0;
}

/** Whether a ROLLBACK worked (the connection is sound to reuse). */
async function rollBack(client: PoolClient): Promise<boolean> {
  try {
    await client.query("ROLLBACK");
    return true;
  } catch {
    return false;
  }
}

/** The rows a batch of audit events became, the first at index `start`. */
function rowsFrom(start: number, events: Event[]): AuditRow[] {
  return events.map((e, i) => ({ index: start + i, patient: e.patient, event: e.event }));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/** Cursor of a list by index or size (`after`), -1 for the first page. */
function afterNumber(options: ListOptions): number {
  return options.after === undefined ? -1 : Number(options.after);
}

export class PostgresGatewayStore implements GatewayStore {
  readonly kind = "postgres";
  /** NOTIFY/LISTEN between the gateways sharing the database (access notifications to live streams). */
  readonly bus: PostgresBus;
  /** The database as errors name it (never the password). */
  readonly where: string;
  readonly #pool: Pool;
  #closing: Promise<void> | undefined;
  /** The origin of the log this store appends to, once claimed. */
  #origin: string | undefined;
  /** The claimed log's size after this store's last append (undefined: unknown, take the locked path). */
  #nextIndex: number | undefined;
  #appending: Promise<unknown> = Promise.resolve();
  readonly #cache: PostgresReadCache;
  /** Names this store's invalidations on the bus: its own come back to it, and are skipped. */
  readonly #busId = randomUUID();
  /** Settles once the cache's first attempt to listen on the bus settled (connected or not). */
  readonly listening: Promise<void>;

  /** Use openPostgresStore. */
  constructor(pool: Pool, where: string, bus: PostgresBus, options: { readCacheTtlMs?: number | undefined } = {}) {
    this.#pool = pool;
    this.bus = bus;
    this.where = where;
    this.#cache = new PostgresReadCache({ ttlMs: options.readCacheTtlMs });
    this.listening = this.#cache.enabled
      ? bus.watch(
          (message) => this.#invalidated(message),
          (listening) => this.#cache.setListening(listening),
        )
      : Promise.resolve();
    // A pooled connection that dies while idle (a server restart, a failover) is removed by the pool, which then
    // emits 'error': without a listener that would crash the process. The next call opens a new connection.
    pool.on("error", () => undefined);
    // A connection that dies while checked out (mid-transaction) makes its client emit 'error' too, and the pool
    // listens only to idle ones: every client gets a listener of its own. The failure itself reaches the query
    // under way (or the next one), which rejects and is mapped like any other.
    pool.on("connect", (client) => client.on("error", () => undefined));
  }

  // ---- plumbing

  /** Runs `work` on the pool, mapping every failure (errors.ts). */
  async #run<T>(what: string, work: (db: Queryable) => Promise<T>): Promise<T> {
    if (this.#closing !== undefined) throw databaseUnavailable(what, "the store is closed");
    try {
      return await work(this.#pool);
    } catch (error) {
      throw toStoreError(error, what);
    }
  }

  /** BEGIN ... COMMIT on one connection, or ROLLBACK on any throw. */
  async #transaction<T>(what: string, work: (client: PoolClient) => Promise<T>): Promise<T> {
    return this.#run(what, () =>
      this.#withClient(async (client) => {
        await client.query("BEGIN");
        const result = await work(client);
        await client.query("COMMIT");
        return result;
      }),
    );
  }

  /**
   * A connection of the pool for `work`. On a throw the transaction is rolled back, and a connection that failed
   * (or whose rollback failed) is destroyed rather than handed to the next call.
   */
  async #withClient<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    let sound = true;
    try {
      return await work(client);
    } catch (error) {
      // A connection that failed without the server answering (a socket error, a read timeout) is not asked to
      // roll back: the server does that when the connection closes. Any other is, and kept only when that works.
      const lost = sqlState(error) === undefined && isUnavailable(error);
      sound = !lost && (await rollBack(client));
      throw error;
    } finally {
      client.release(!sound);
    }
  }

  /** Another gateway's invalidations (read-cache.ts); any other message of the bus is not this store's. */
  #invalidated(message: string): void {
    const parsed = parseInvalidationMessage(message);
    if (parsed === undefined || parsed.from === this.#busId) return;
    this.#cache.drop(parsed.invalidations);
  }

  /** A keyed read through the cache: served from it when there, else read from the database and kept. */
  async #cached<T>(table: CachedTable, parts: string[], read: () => Promise<T>): Promise<T> {
    const cache = this.#cache;
    if (!cache.active || this.#closing !== undefined) return read();
    return cache.read(table, cacheKey(...parts), read);
  }

  /**
   * Runs a write of cached rows, then, whatever its outcome (a write that failed may still have committed), drops
   * their keys here and publishes them to the other gateways. The publish is awaited after a write that worked (the
   * others hear of it before the caller does), not after one that failed (the database is likely away); a publish
   * that fails is not the write's failure: the TTL bounds what it leaves stale.
   */
  async #writing<T>(invalidations: Invalidation[], work: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await work();
    } catch (error) {
      void this.#invalidate(invalidations);
      throw error;
    }
    await this.#invalidate(invalidations);
    return result;
  }

  async #invalidate(invalidations: Invalidation[]): Promise<void> {
    if (invalidations.length === 0) return;
    this.#cache.drop(invalidations);
    // Published even with this store's cache off: the other gateways may cache.
    await this.bus.publish(invalidationMessage(this.#busId, invalidations, MAX_MESSAGE_BYTES)).catch(() => undefined);
  }

  /** The claimed log's origin; rejects when the store is closed (503) or no log was claimed yet. */
  #claimed(what: string): string {
    if (this.#closing !== undefined) throw databaseUnavailable(what, "the store is closed");
    if (this.#origin === undefined) {
      throw new AuditLogClaimError(
        "AUDIT_LOG_NOT_CLAIMED",
        `cannot ${what}: no audit log is claimed yet (a PostgreSQL store holds the logs of several gateways: call claimAuditLog first)`,
      );
    }
    return this.#origin;
  }

  // ---- SIWE nonces

  async putNonce(row: NonceRow): Promise<void> {
    await this.#run("store a nonce", (db) =>
      changed(
        db,
        `INSERT INTO nonces (nonce, expires_at) VALUES ($1, $2)
         ON CONFLICT (nonce) DO UPDATE SET expires_at = excluded.expires_at`,
        [row.nonce, row.expiresAt],
      ),
    );
  }

  async consumeNonce(nonce: string, now: number): Promise<boolean> {
    return this.#run("consume a nonce", async (db) => {
      // One statement: the nonce is gone whether or not it was still valid, and only one caller (of any gateway)
      // deletes it; a second DELETE waits for the first and then finds nothing.
      const row = await one(db, "DELETE FROM nonces WHERE nonce = $1 RETURNING expires_at", [nonce]);
      return row !== undefined && int(row, "expires_at") > now;
    });
  }

  // ---- sessions

  async putSession(row: SessionRow): Promise<void> {
    await this.#writing([["sessions", row.id]], () =>
      this.#run("store a session", (db) =>
        changed(
          db,
          `INSERT INTO sessions (id, address, chain_id, issued_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET address = excluded.address, chain_id = excluded.chain_id,
           issued_at = excluded.issued_at, expires_at = excluded.expires_at, revoked_at = excluded.revoked_at`,
          [row.id, row.address, row.chainId, row.issuedAt, row.expiresAt, row.revokedAt],
        ),
      ),
    );
  }

  async getSession(id: string): Promise<SessionRow | undefined> {
    return this.#cached("sessions", [id], () =>
      this.#run("read a session", async (db) => {
        const row = await one(db, "SELECT * FROM sessions WHERE id = $1", [id]);
        return row === undefined ? undefined : mappers.sessionRow(row);
      }),
    );
  }

  async revokeSession(id: string, at: number): Promise<boolean> {
    const keys: Invalidation[] = [
      ["sessions", id],
      ["session_roles", id],
    ];
    return this.#writing(keys, () => this.#revokeSession(id, at));
  }

  async #revokeSession(id: string, at: number): Promise<boolean> {
    return this.#transaction("revoke a session", async (client) => {
      // A second revoke keeps the first time.
      const count = await changed(client, "UPDATE sessions SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1", [
        id,
        at,
      ]);
      await changed(client, "DELETE FROM session_roles WHERE session_id = $1", [id]);
      return count === 1;
    });
  }

  /**
   * Replaces the session's role of that name; false when the session is unknown or revoked. FOR SHARE locks the
   * session row: a revocation committing meanwhile (another gateway) either waits for this insert and then deletes
   * the role, or commits first and this insert finds the session revoked. Never a role outliving its session.
   */
  async putSessionRole(row: SessionRoleRow): Promise<boolean> {
    return this.#writing([["session_roles", row.sessionId]], () => this.#putSessionRole(row));
  }

  async #putSessionRole(row: SessionRoleRow): Promise<boolean> {
    return this.#run("store a session role", async (db) => {
      const count = await changed(
        db,
        `INSERT INTO session_roles (session_id, role, credential, issuer, checked_at, valid_until)
         SELECT id, $2::text, $3::text, $4::text, $5::bigint, $6::bigint
           FROM sessions WHERE id = $1 AND revoked_at IS NULL FOR SHARE
         ON CONFLICT (session_id, role) DO UPDATE SET credential = excluded.credential, issuer = excluded.issuer,
           checked_at = excluded.checked_at, valid_until = excluded.valid_until`,
        [row.sessionId, row.role, row.credential, row.issuer, row.checkedAt, row.validUntil],
      );
      return count === 1;
    });
  }

  async sessionRoles(sessionId: string): Promise<SessionRoleRow[]> {
    return this.#cached("session_roles", [sessionId], () =>
      this.#run("read session roles", async (db) =>
        (await rows(db, "SELECT * FROM session_roles WHERE session_id = $1 ORDER BY role", [sessionId])).map(
          mappers.sessionRoleRow,
        ),
      ),
    );
  }

  async deleteSessionRole(sessionId: string, role: SessionRoleRow["role"]): Promise<void> {
    await this.#writing([["session_roles", sessionId]], () =>
      this.#run("delete a session role", (db) =>
        changed(db, "DELETE FROM session_roles WHERE session_id = $1 AND role = $2", [sessionId, role]),
      ),
    );
  }

  // ---- records and wraps

  async putRecord(record: RecordRow, wraps: WrapRow[]): Promise<boolean> {
    const keys: Invalidation[] = [["records", record.patient, record.cid], ...wrapKeys(wraps)];
    return this.#writing(keys, () => this.#putRecord(record, wraps));
  }

  async #putRecord(record: RecordRow, wraps: WrapRow[]): Promise<boolean> {
    return this.#transaction("store a record", async (client) => {
      // ON CONFLICT DO NOTHING covers both keys: (patient, cid) and the unique cid. Of two gateways recording one
      // CID at once, the second waits for the first to commit and then inserts nothing.
      const inserted = await changed(
        client,
        `INSERT INTO records (patient, cid, size, scope_ids, created_at) VALUES ($1, $2, $3, $4::json, $5)
         ON CONFLICT DO NOTHING`,
        [record.patient, record.cid, record.size, JSON.stringify(record.scopeIds), record.createdAt],
      );
      if (inserted === 0) return false;
      await putWrapsInOrder(client, wraps);
      return true;
    });
  }

  async getRecord(patient: string, cid: string): Promise<RecordRow | undefined> {
    return this.#cached("records", [patient, cid], () =>
      this.#run("read a record", async (db) => {
        const row = await one(db, "SELECT * FROM records WHERE patient = $1 AND cid = $2", [patient, cid]);
        return row === undefined ? undefined : mappers.recordRow(row);
      }),
    );
  }

  /** Newest first (createdAt, then CID, descending). `after` is a CID of this patient; an unknown one lists nothing. */
  async listRecords(patient: string, options: ListOptions): Promise<RecordRow[]> {
    return this.#run("list records", async (db) => {
      const found =
        options.after === undefined
          ? await rows(db, "SELECT * FROM records WHERE patient = $1 ORDER BY created_at DESC, cid DESC LIMIT $2", [
              patient,
              options.limit,
            ])
          : await rows(
              db,
              `SELECT * FROM records WHERE patient = $1
                 AND (created_at, cid) < (SELECT created_at, cid FROM records WHERE patient = $1 AND cid = $2)
               ORDER BY created_at DESC, cid DESC LIMIT $3`,
              [patient, String(options.after), options.limit],
            );
      return found.map(mappers.recordRow);
    });
  }

  async setRecordScopeIds(patient: string, cid: string, consentAddress: string, scopeIds: string[]): Promise<boolean> {
    return this.#writing([["records", patient, cid]], () =>
      this.#setRecordScopeIds(patient, cid, consentAddress, scopeIds),
    );
  }

  async #setRecordScopeIds(patient: string, cid: string, consentAddress: string, scopeIds: string[]): Promise<boolean> {
    return this.#transaction("set a record's scope ids", async (client) => {
      // Locked: two gateways adding different consent addresses at once both keep theirs.
      const row = await one(client, "SELECT scope_ids FROM records WHERE patient = $1 AND cid = $2 FOR UPDATE", [
        patient,
        cid,
      ]);
      if (row === undefined) return false;
      // A computed key in a literal defines an own property whatever the name (never the prototype).
      const current = { ...mappers.scopeIdsOf(row), [consentAddress]: [...scopeIds] };
      await changed(client, "UPDATE records SET scope_ids = $3::json WHERE patient = $1 AND cid = $2", [
        patient,
        cid,
        JSON.stringify(current),
      ]);
      return true;
    });
  }

  async putWraps(wraps: WrapRow[]): Promise<void> {
    await this.#writing(wrapKeys(wraps), () =>
      this.#transaction("store wraps", (client) => putWrapsInOrder(client, wraps)),
    );
  }

  async getWrap(cid: string, recipient: string): Promise<WrapRow | undefined> {
    return this.#cached("wraps", [cid, recipient], () =>
      this.#run("read a wrap", async (db) => {
        const row = await one(db, "SELECT * FROM wraps WHERE cid = $1 AND recipient = $2", [cid, recipient]);
        return row === undefined ? undefined : mappers.wrapRow(row);
      }),
    );
  }

  async wrapsOf(cid: string): Promise<WrapRow[]> {
    return this.#run("list wraps", async (db) =>
      (await rows(db, "SELECT * FROM wraps WHERE cid = $1 ORDER BY created_at, recipient", [cid])).map(mappers.wrapRow),
    );
  }

  async noteGrantee(patient: string, grantee: string, at: number): Promise<boolean> {
    // A pair once noted stays noted (nothing deletes grantees): "already known" needs no invalidation.
    const key = cacheKey(patient, grantee);
    if (this.#closing === undefined && this.#cache.knowsGrantee(key)) return false;
    const inserted = await this.#run(
      "note a grantee",
      async (db) =>
        (await changed(
          db,
          `INSERT INTO grantees (patient, grantee, first_at) VALUES ($1, $2, $3)
           ON CONFLICT (patient, grantee) DO NOTHING`,
          [patient, grantee, at],
        )) === 1,
    );
    this.#cache.noteGrantee(key);
    return inserted;
  }

  // ---- manifest pointers

  async getManifestPointer(patient: string): Promise<ManifestPointerRow | undefined> {
    return this.#run("read a manifest pointer", async (db) => {
      const row = await one(db, "SELECT * FROM manifest_pointers WHERE patient = $1", [patient]);
      return row === undefined ? undefined : mappers.manifestPointerRow(row);
    });
  }

  async compareAndSetManifestPointer(
    patient: string,
    expected: string | null,
    next: { cid: string; updatedAt: number },
  ): Promise<ManifestPointerRow | undefined> {
    return this.#run("update a manifest pointer", async (db) => {
      // One statement each way: the comparison and the write cannot be separated, even between gateways (a racing
      // UPDATE waits for the winner and re-checks `cid = expected` on the row it committed).
      const row =
        expected === null
          ? await one(
              db,
              `INSERT INTO manifest_pointers (patient, cid, version, updated_at) VALUES ($1, $2, 1, $3)
               ON CONFLICT (patient) DO NOTHING RETURNING *`,
              [patient, next.cid, next.updatedAt],
            )
          : await one(
              db,
              `UPDATE manifest_pointers SET cid = $3, version = version + 1, updated_at = $4
               WHERE patient = $1 AND cid = $2 RETURNING *`,
              [patient, expected, next.cid, next.updatedAt],
            );
      return row === undefined ? undefined : mappers.manifestPointerRow(row);
    });
  }

  // ---- consent address links

  async putConsentLink(row: ConsentLinkRow): Promise<boolean> {
    return this.#writing([["consent_links", row.patient, row.grantee]], () =>
      this.#run(
        "store a consent address link",
        async (db) =>
          (await changed(
            db,
            `INSERT INTO consent_links (patient, grantee, consent_address, issued_at, link) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (patient, grantee) DO UPDATE SET consent_address = excluded.consent_address,
             issued_at = excluded.issued_at, link = excluded.link
           WHERE excluded.issued_at >= consent_links.issued_at`,
            [row.patient, row.grantee, row.consentAddress, row.issuedAt, row.link],
          )) === 1,
      ),
    );
  }

  async getConsentLink(patient: string, grantee: string): Promise<ConsentLinkRow | undefined> {
    return this.#cached("consent_links", [patient, grantee], () =>
      this.#run("read a consent address link", async (db) => {
        const row = await one(db, "SELECT * FROM consent_links WHERE patient = $1 AND grantee = $2", [
          patient,
          grantee,
        ]);
        return row === undefined ? undefined : mappers.consentLinkRow(row);
      }),
    );
  }

  async consentLinksOf(patient: string): Promise<ConsentLinkRow[]> {
    return this.#run("list consent address links", async (db) =>
      (await rows(db, "SELECT * FROM consent_links WHERE patient = $1 ORDER BY grantee", [patient])).map(
        mappers.consentLinkRow,
      ),
    );
  }

  async consentLinkByAddress(consentAddress: string): Promise<ConsentLinkRow | undefined> {
    return this.#run("read a consent address link", async (db) => {
      const row = await one(
        db,
        `SELECT * FROM consent_links WHERE consent_address = $1 ORDER BY issued_at DESC, patient DESC LIMIT 1`,
        [consentAddress],
      );
      return row === undefined ? undefined : mappers.consentLinkRow(row);
    });
  }

  // ---- audit logs

  /**
   * Stores the log when its origin is new and returns the stored row. The store appends to the log only when the
   * stored verifier key is the caller's: a row under another key is another gateway's log, which the caller refuses
   * (and this store never writes to meanwhile).
   */
  async claimAuditLog(row: AuditLogRow): Promise<AuditLogRow> {
    return this.#run("claim an audit log", async (db) => {
      if (this.#origin !== undefined && this.#origin !== row.origin) {
        throw new AuditLogClaimError(
          "AUDIT_LOG_HELD",
          `this store already appends to the audit log "${this.#origin}", not "${row.origin}" (one store, one log)`,
        );
      }
      // Two statements, not one: a row another gateway commits meanwhile makes the INSERT do nothing, and only a
      // statement started after it sees that row.
      await changed(
        db,
        `INSERT INTO audit_logs (origin, verifier_key, gateway, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (origin) DO NOTHING`,
        [row.origin, row.verifierKey, row.gateway, row.createdAt],
      );
      const stored = await one(db, "SELECT * FROM audit_logs WHERE origin = $1", [row.origin]);
      if (stored === undefined) throw new StoreFailureError(`the audit log "${row.origin}" vanished as it was claimed`);
      const log = mappers.auditLogRow(stored);
      if (log.verifierKey === row.verifierKey) this.#origin = log.origin;
      return log;
    });
  }

  async auditLogs(): Promise<AuditLogRow[]> {
    return this.#run("list the audit logs", async (db) =>
      (await rows(db, "SELECT * FROM audit_logs ORDER BY origin")).map(mappers.auditLogRow),
    );
  }

  auditLog(origin: string): AuditLogReader {
    return {
      origin,
      size: () => this.#run("read an audit log's size", (db) => logSize(db, origin)),
      range: (from, to) => this.#run("read audit events", (db) => logRange(db, origin, from, to)),
      of: (patient, options) => this.#run("read a patient's audit events", (db) => logOf(db, origin, patient, options)),
      getCheckpoint: (size) => this.#run("read a checkpoint", (db) => checkpointOf(db, origin, size)),
      latestCheckpoint: (options = {}) =>
        this.#run("read the latest checkpoint", (db) => latestCheckpointOf(db, origin, options)),
      listCheckpoints: (options) => this.#run("list checkpoints", (db) => checkpointsOf(db, origin, options)),
    };
  }

  /**
   * Appends the batch to the claimed log in one transaction. Appends of one log are serialized by a row lock on that
   * log's row in `audit_logs` (SELECT next_index ... FOR UPDATE): whichever gateway process or pool connection
   * appends, the next one waits until this COMMIT and then reads the advanced `next_index`, so indexes stay
   * consecutive and gap-free. A row lock per log rather than one global advisory or table lock: each gateway appends
   * to its own log, so gateways never wait for each other's commits (their fsyncs), only for their own.
   */
  async appendAudit(events: Event[]): Promise<AuditRow[]> {
    const what = "append audit events";
    const origin = this.#claimed(what);
    if (events.length === 0) return [];
    // One append at a time from this store: the fast path's compare-and-swap starts where the previous one ended.
    const result = this.#appending.then(() => this.#append(what, origin, events));
    this.#appending = result.catch(() => undefined);
    return result;
  }

  /**
   * The hot durable write, in ONE statement (one round trip, one commit): advance the log's counter from the size
   * this store last saw (compare-and-swap) and insert the batch at it. Only the gateway that claimed a log appends to
   * it, so the swap fails only after an unknown outcome or a second appender of the same log; then the locked
   * transaction below decides.
   */
  async #append(what: string, origin: string, events: Event[]): Promise<AuditRow[]> {
    const start = this.#nextIndex;
    if (start !== undefined) {
      try {
        const inserted = await this.#run(what, (db) =>
          changed(
            db,
            `WITH head AS (
               UPDATE audit_logs SET next_index = next_index + $3 WHERE origin = $1 AND next_index = $2 RETURNING origin
             )
             INSERT INTO audit_events (origin, idx, patient, event)
             SELECT head.origin, $2::bigint + t.ord - 1, t.patient, t.event
               FROM head, unnest($4::text[], $5::bytea[]) WITH ORDINALITY AS t (patient, event, ord)
              ORDER BY t.ord`,
            [origin, start, events.length, ...eventColumns(events)],
          ),
        );
        if (inserted === events.length) {
          this.#nextIndex = start + events.length;
          return rowsFrom(start, events);
        }
      } catch (error) {
        this.#nextIndex = undefined;
        // The connection failed, perhaps with the statement committed: the log says whether it landed.
        if (error instanceof DependencyUnavailableError && (await this.#landed(origin, start, events))) {
          this.#nextIndex = start + events.length;
          return rowsFrom(start, events);
        }
        throw error;
      }
    }
    const rows = await this.#appendLocked(what, origin, events);
    this.#nextIndex = rows[0]!.index + events.length;
    return rows;
  }

  /** The append under the log's row lock (BEGIN, SELECT … FOR UPDATE, INSERT, UPDATE, COMMIT). */
  async #appendLocked(what: string, origin: string, events: Event[]): Promise<AuditRow[]> {
    this.#nextIndex = undefined;
    return this.#run(what, async () => {
      let start: number | undefined;
      try {
        return await this.#withClient(async (client) => {
          await client.query("BEGIN");
          const log = await one(client, "SELECT next_index FROM audit_logs WHERE origin = $1 FOR UPDATE", [origin]);
          if (log === undefined)
            throw new StoreFailureError(`the claimed audit log "${origin}" is not in the database`);
          start = int(log, "next_index");
          await insertEvents(client, origin, start, events);
          await changed(client, "UPDATE audit_logs SET next_index = $2 WHERE origin = $1", [
            origin,
            start + events.length,
          ]);
          await client.query("COMMIT");
          return rowsFrom(start, events);
        });
      } catch (error) {
        // The connection failed, perhaps with the COMMIT sent: the batch may have landed. Its indexes were ours alone
        // under the lock, so the log says which: whole at [start, start + n), or not at all.
        if (start !== undefined && isUnavailable(error) && (await this.#landed(origin, start, events))) {
          return rowsFrom(start, events);
        }
        throw error;
      }
    });
  }

  /** Whether `events` are stored whole at [start, start + n) of the log; false when that cannot be read either. */
  async #landed(origin: string, start: number, events: Event[]): Promise<boolean> {
    try {
      const stored = await logRange(this.#pool, origin, start, start + events.length);
      return (
        stored.length === events.length &&
        stored.every((row, i) => row.patient === events[i]!.patient && sameBytes(row.event, events[i]!.event))
      );
    } catch {
      return false;
    }
  }

  async auditSize(): Promise<number> {
    const origin = this.#claimed("read the audit log size");
    return this.auditLog(origin).size();
  }

  async auditRange(from: number, to: number): Promise<AuditRow[]> {
    const origin = this.#claimed("read audit events");
    return this.auditLog(origin).range(from, to);
  }

  async auditOf(patient: string, options: ListOptions): Promise<AuditRow[]> {
    const origin = this.#claimed("read a patient's audit events");
    return this.auditLog(origin).of(patient, options);
  }

  // ---- checkpoints (of the claimed log)

  /**
   * Keeps the first checkpoint of a size (its note and anchor stay); a later put of the same size may only add a
   * missing anchor. One statement: the row is locked by the upsert, so two gateways racing see one stored head. A
   * different root hash for a kept size means the log forked: refused (a bug, 500), the row unchanged.
   */
  async putCheckpoint(row: CheckpointRow): Promise<void> {
    const origin = this.#claimed("store a checkpoint");
    await this.#run("store a checkpoint", async (db) => {
      const anchor = row.anchor;
      const stored = await one(
        db,
        `INSERT INTO checkpoints (origin, size, root_hash, note, created_at, anchor_tx, anchor_block, anchor_first,
                                  anchor_count)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (origin, size) DO UPDATE SET
           anchor_tx = CASE WHEN ${ADDS_ANCHOR} THEN excluded.anchor_tx ELSE checkpoints.anchor_tx END,
           anchor_block = CASE WHEN ${ADDS_ANCHOR} THEN excluded.anchor_block ELSE checkpoints.anchor_block END,
           anchor_first = CASE WHEN ${ADDS_ANCHOR} THEN excluded.anchor_first ELSE checkpoints.anchor_first END,
           anchor_count = CASE WHEN ${ADDS_ANCHOR} THEN excluded.anchor_count ELSE checkpoints.anchor_count END
         RETURNING root_hash`,
        [
          origin,
          row.size,
          row.rootHash,
          row.note,
          row.createdAt,
          anchor?.txHash ?? null,
          anchor?.blockNumber ?? null,
          anchor?.firstIndex ?? null,
          anchor?.count ?? null,
        ],
      );
      if (stored !== undefined && text(stored, "root_hash") !== row.rootHash) {
        throw new StoreFailureError(
          `a checkpoint of size ${row.size} is already stored with another root hash (the audit log forked)`,
        );
      }
    });
  }

  async setCheckpointAnchor(size: number, anchor: NonNullable<CheckpointRow["anchor"]>): Promise<void> {
    const origin = this.#claimed("anchor a checkpoint");
    await this.#run("anchor a checkpoint", (db) =>
      changed(
        db,
        `UPDATE checkpoints SET anchor_tx = $3, anchor_block = $4, anchor_first = $5, anchor_count = $6
         WHERE origin = $1 AND size = $2`,
        [origin, size, anchor.txHash, anchor.blockNumber, anchor.firstIndex, anchor.count],
      ),
    );
  }

  async getCheckpoint(size: number): Promise<CheckpointRow | undefined> {
    const origin = this.#claimed("read a checkpoint");
    return this.auditLog(origin).getCheckpoint(size);
  }

  async latestCheckpoint(options: { anchored?: boolean } = {}): Promise<CheckpointRow | undefined> {
    const origin = this.#claimed("read the latest checkpoint");
    return this.auditLog(origin).latestCheckpoint(options);
  }

  async listCheckpoints(options: ListOptions): Promise<CheckpointRow[]> {
    const origin = this.#claimed("list checkpoints");
    return this.auditLog(origin).listCheckpoints(options);
  }

  // ---- check-ins

  async putCheckIn(row: CheckInRow): Promise<void> {
    await this.#run("store a check-in", (db) =>
      changed(
        db,
        `INSERT INTO check_ins (id, clinic, request, created_at, expires_at, result, completed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET clinic = excluded.clinic, request = excluded.request,
           created_at = excluded.created_at, expires_at = excluded.expires_at, result = excluded.result,
           completed_at = excluded.completed_at`,
        [row.id, row.clinic, row.request, row.createdAt, row.expiresAt, row.result, row.completedAt],
      ),
    );
  }

  async getCheckIn(id: string): Promise<CheckInRow | undefined> {
    return this.#run("read a check-in", async (db) => {
      const row = await one(db, "SELECT * FROM check_ins WHERE id = $1", [id]);
      return row === undefined ? undefined : mappers.checkInRow(row);
    });
  }

  async completeCheckIn(id: string, result: string, at: number): Promise<boolean> {
    return this.#run(
      "complete a check-in",
      async (db) =>
        (await changed(
          db,
          `UPDATE check_ins SET result = $2, completed_at = $3 WHERE id = $1 AND result IS NULL AND expires_at > $3`,
          [id, result, at],
        )) === 1,
    );
  }

  async replaceCheckInRequest(id: string, expected: string, next: string): Promise<boolean> {
    return this.#run(
      "update a check-in",
      async (db) =>
        (await changed(db, `UPDATE check_ins SET request = $3 WHERE id = $1 AND request = $2 AND result IS NULL`, [
          id,
          expected,
          next,
        ])) === 1,
    );
  }

  // ---- relay quota

  async takeRelayQuota(patient: string, windowStart: number, limit: number): Promise<boolean> {
    return this.#run("count a relayed transaction", async (db) => {
      if (!(limit >= 1)) return false;
      // The upsert locks the counter row; a concurrent taker re-checks `used < limit` on the committed count.
      const count = await changed(
        db,
        `INSERT INTO relay_quota (patient, window_start, used) VALUES ($1, $2, 1)
         ON CONFLICT (patient, window_start) DO UPDATE SET used = relay_quota.used + 1 WHERE relay_quota.used < $3`,
        [patient, windowStart, limit],
      );
      return count === 1;
    });
  }

  // ---- status lists

  async putStatusList(row: StatusListRow): Promise<boolean> {
    return this.#run(
      "store a status list",
      async (db) =>
        (await changed(
          db,
          `INSERT INTO status_lists (issuer, name, jwt, issued_at, updated_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (issuer, name) DO UPDATE SET jwt = excluded.jwt, issued_at = excluded.issued_at,
             updated_at = excluded.updated_at
           WHERE excluded.issued_at > status_lists.issued_at`,
          [row.issuer, row.name, row.jwt, row.issuedAt, row.updatedAt],
        )) === 1,
    );
  }

  async getStatusList(issuer: string, name: string): Promise<StatusListRow | undefined> {
    return this.#run("read a status list", async (db) => {
      const row = await one(db, "SELECT * FROM status_lists WHERE issuer = $1 AND name = $2", [issuer, name]);
      return row === undefined ? undefined : mappers.statusListRow(row);
    });
  }

  // ---- webhooks

  async putWebhook(row: WebhookRow): Promise<void> {
    await this.#writing([["webhooks", row.patient]], () =>
      this.#run("store a webhook", (db) =>
        changed(
          db,
          `INSERT INTO webhooks (patient, url, created_at) VALUES ($1, $2, $3)
         ON CONFLICT (patient) DO UPDATE SET url = excluded.url, created_at = excluded.created_at`,
          [row.patient, row.url, row.createdAt],
        ),
      ),
    );
  }

  async getWebhook(patient: string): Promise<WebhookRow | undefined> {
    return this.#cached("webhooks", [patient], () =>
      this.#run("read a webhook", async (db) => {
        const row = await one(db, "SELECT * FROM webhooks WHERE patient = $1", [patient]);
        return row === undefined ? undefined : mappers.webhookRow(row);
      }),
    );
  }

  async deleteWebhook(patient: string): Promise<boolean> {
    return this.#writing([["webhooks", patient]], () =>
      this.#run(
        "delete a webhook",
        async (db) => (await changed(db, "DELETE FROM webhooks WHERE patient = $1", [patient])) === 1,
      ),
    );
  }

  // ---- staged uploads

  async putStagedUpload(row: StagedUploadRow): Promise<void> {
    await this.#run("stage an upload", (db) =>
      changed(
        db,
        `INSERT INTO staged_uploads (cid, uploader, size, expires_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (uploader, cid) DO UPDATE SET size = excluded.size, expires_at = excluded.expires_at`,
        [row.cid, row.uploader, row.size, row.expiresAt],
      ),
    );
  }

  async getStagedUpload(cid: string, uploader: string): Promise<StagedUploadRow | undefined> {
    return this.#run("read a staged upload", async (db) => {
      const row = await one(db, "SELECT * FROM staged_uploads WHERE uploader = $1 AND cid = $2", [uploader, cid]);
      return row === undefined ? undefined : mappers.stagedUploadRow(row);
    });
  }

  async takeStagedUpload(cid: string, uploader: string): Promise<StagedUploadRow | undefined> {
    return this.#run("take a staged upload", async (db) => {
      // One statement: of two registrations racing (on any gateways), one gets the row.
      const row = await one(db, "DELETE FROM staged_uploads WHERE uploader = $1 AND cid = $2 RETURNING *", [
        uploader,
        cid,
      ]);
      return row === undefined ? undefined : mappers.stagedUploadRow(row);
    });
  }

  async expiredStagedUploads(now: number, limit: number): Promise<StagedUploadRow[]> {
    return this.#run("list expired staged uploads", async (db) =>
      (
        await rows(
          db,
          "SELECT * FROM staged_uploads WHERE expires_at <= $1 ORDER BY expires_at, uploader, cid LIMIT $2",
          [now, limit],
        )
      ).map(mappers.stagedUploadRow),
    );
  }

  async deleteStagedUpload(cid: string, uploader: string, now: number): Promise<boolean> {
    return this.#run(
      "delete a staged upload",
      async (db) =>
        (await changed(db, "DELETE FROM staged_uploads WHERE uploader = $1 AND cid = $2 AND expires_at <= $3", [
          uploader,
          cid,
          now,
        ])) === 1,
    );
  }

  async isStaged(cid: string): Promise<boolean> {
    return this.#run(
      "read a staged upload",
      async (db) => (await one(db, "SELECT 1 FROM staged_uploads WHERE cid = $1 LIMIT 1", [cid])) !== undefined,
    );
  }

  async stagedBytesOf(uploader: string): Promise<number> {
    return this.#run("sum an uploader's staged bytes", async (db) => {
      const row = await one(
        db,
        "SELECT coalesce(sum(size), 0)::bigint AS total FROM staged_uploads WHERE uploader = $1",
        [uploader],
      );
      return row === undefined ? 0 : int(row, "total");
    });
  }

  // ---- studies and contributions

  async putStudy(row: StudyRow): Promise<void> {
    await this.#run("store a study", (db) =>
      changed(
        db,
        `INSERT INTO studies (study_id, researcher, irb, approval, title, scopes, encryption_key, ends_at, created_at,
                              checked_at, withdrawn_at, withdrawn_reason, tally_key)
         VALUES ($1, $2, $3, $4, $5, $6::json, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (study_id) DO UPDATE SET researcher = excluded.researcher, irb = excluded.irb,
           approval = excluded.approval, title = excluded.title, scopes = excluded.scopes,
           encryption_key = excluded.encryption_key, ends_at = excluded.ends_at, checked_at = excluded.checked_at,
           withdrawn_at = excluded.withdrawn_at, withdrawn_reason = excluded.withdrawn_reason,
           tally_key = excluded.tally_key`,
        [
          row.studyId,
          row.researcher,
          row.irb,
          row.approval,
          row.title,
          JSON.stringify(row.scopes),
          row.encryptionKey,
          row.endsAt,
          row.createdAt,
          row.checkedAt,
          row.withdrawnAt,
          row.withdrawnReason,
          row.tallyKey,
        ],
      ),
    );
  }

  async getStudy(studyId: string): Promise<StudyRow | undefined> {
    return this.#run("read a study", async (db) => {
      const row = await one(db, "SELECT * FROM studies WHERE study_id = $1", [studyId]);
      return row === undefined ? undefined : mappers.studyRow(row);
    });
  }

  async listStudies(options: ListOptions): Promise<StudyRow[]> {
    return this.#run("list studies", async (db) =>
      (options.after === undefined
        ? await rows(db, "SELECT * FROM studies ORDER BY study_id LIMIT $1", [options.limit])
        : await rows(db, "SELECT * FROM studies WHERE study_id > $1 ORDER BY study_id LIMIT $2", [
            String(options.after),
            options.limit,
          ])
      ).map(mappers.studyRow),
    );
  }

  async setStudyCheck(
    studyId: string,
    checkedAt: number,
    withdrawn: { at: number; reason: string } | null,
  ): Promise<boolean> {
    return this.#run(
      "record a study check",
      async (db) =>
        (await changed(
          db,
          // A withdrawal is final: a later check never clears it.
          `UPDATE studies SET checked_at = $2, withdrawn_at = coalesce(withdrawn_at, $3),
             withdrawn_reason = coalesce(withdrawn_reason, $4)
           WHERE study_id = $1`,
          [studyId, checkedAt, withdrawn?.at ?? null, withdrawn?.reason ?? null],
        )) === 1,
    );
  }

  async putContribution(row: ContributionRow, tally?: TallyUpdate): Promise<ContributionWrite> {
    return this.#transaction("store a contribution", async (client): Promise<ContributionWrite> => {
      if (tally !== undefined && !(await writeTally(client, row.studyId, tally))) return { written: false };
      return { written: true, previous: await replaceContribution(client, row) };
    });
  }

  async getContribution(studyId: string, patient: string): Promise<ContributionRow | undefined> {
    return this.#run("read a contribution", async (db) => {
      const row = await one(db, "SELECT * FROM contributions WHERE study_id = $1 AND patient = $2", [studyId, patient]);
      return row === undefined ? undefined : mappers.contributionRow(row);
    });
  }

  async deleteContribution(studyId: string, patient: string, tally?: TallyUpdate): Promise<ContributionWrite> {
    return this.#transaction("delete a contribution", async (client): Promise<ContributionWrite> => {
      if (tally !== undefined && !(await writeTally(client, studyId, tally))) return { written: false };
      const row = await one(client, "DELETE FROM contributions WHERE study_id = $1 AND patient = $2 RETURNING *", [
        studyId,
        patient,
      ]);
      return { written: true, previous: row === undefined ? undefined : mappers.contributionRow(row) };
    });
  }

  async getTallySums(studyId: string): Promise<TallySumsRow | undefined> {
    return this.#run("read a study's tallies", async (db) => {
      const row = await one(db, "SELECT * FROM tally_sums WHERE study_id = $1", [studyId]);
      return row === undefined ? undefined : mappers.tallySumsRow(row);
    });
  }

  async contributionsTo(studyId: string, options: ListOptions): Promise<ContributionRow[]> {
    return this.#run("list a study's contributions", async (db) =>
      (options.after === undefined
        ? await rows(db, "SELECT * FROM contributions WHERE study_id = $1 ORDER BY patient LIMIT $2", [
            studyId,
            options.limit,
          ])
        : await rows(db, "SELECT * FROM contributions WHERE study_id = $1 AND patient > $2 ORDER BY patient LIMIT $3", [
            studyId,
            String(options.after),
            options.limit,
          ])
      ).map(mappers.contributionRow),
    );
  }

  async contributionsOf(patient: string): Promise<ContributionRow[]> {
    return this.#run("list a patient's contributions", async (db) =>
      (await rows(db, "SELECT * FROM contributions WHERE patient = $1 ORDER BY study_id", [patient])).map(
        mappers.contributionRow,
      ),
    );
  }

  async contributionByCid(studyId: string, cid: string): Promise<ContributionRow | undefined> {
    return this.#run("read a contribution", async (db) => {
      const row = await one(db, "SELECT * FROM contributions WHERE cid = $1 AND study_id = $2 LIMIT 1", [cid, studyId]);
      return row === undefined ? undefined : mappers.contributionRow(row);
    });
  }

  async isContribution(cid: string): Promise<boolean> {
    return this.#run(
      "read a contribution",
      async (db) => (await one(db, "SELECT 1 FROM contributions WHERE cid = $1 LIMIT 1", [cid])) !== undefined,
    );
  }

  async appendAggregateRelease(row: AggregateReleaseRow): Promise<void> {
    await this.#run("store an aggregate release", (db) =>
      changed(
        db,
        `INSERT INTO aggregate_releases (study_id, dimension, released_at, release, members)
         VALUES ($1, $2, $3, $4::json, $5::json)`,
        [row.studyId, row.dimension, row.releasedAt, JSON.stringify(row.release), JSON.stringify(row.members)],
      ),
    );
  }

  async aggregateReleases(studyId: string, dimension: string): Promise<AggregateReleaseRow[]> {
    return this.#run("list aggregate releases", async (db) =>
      (
        await rows(db, "SELECT * FROM aggregate_releases WHERE study_id = $1 AND dimension = $2 ORDER BY seq", [
          studyId,
          dimension,
        ])
      ).map(mappers.aggregateReleaseRow),
    );
  }

  // ---- open aggregate queries

  async putAggregateQuery(
    row: AggregateQueryRow,
    limits: { perStudy: number; total: number },
    now: number,
  ): Promise<boolean> {
    return this.#transaction("store an aggregate query", async (client) => {
      // Under READ COMMITTED two gateways' INSERT ... WHERE count < limit would both see the same count: the
      // transaction-scoped advisory lock makes the openers of every gateway count and insert one after another
      // (takes and the sweep only lower the counts, so they do not take it).
      await client.query(`SELECT pg_advisory_xact_lock(${AGGREGATE_QUERIES_LOCK})`);
      const inserted = await changed(
        client,
        `INSERT INTO aggregate_queries (id, study_id, dimension, sums, contributors, included, expires_at)
         SELECT $1::text, $2::text, $3::text, $4::json, $5::bigint, $6::json, $7::bigint
         WHERE (SELECT count(*) FROM aggregate_queries WHERE study_id = $2 AND expires_at > $8::bigint) < $9::bigint
           AND (SELECT count(*) FROM aggregate_queries WHERE expires_at > $8::bigint) < $10::bigint`,
        [
          row.id,
          row.studyId,
          row.dimension,
          JSON.stringify(row.sums),
          row.contributors,
          JSON.stringify(row.included),
          row.expiresAt,
          now,
          limits.perStudy,
          limits.total,
        ],
      );
      return inserted === 1;
    });
  }

  async takeAggregateQuery(studyId: string, id: string, now: number): Promise<AggregateQueryRow | undefined> {
    return this.#run("take an aggregate query", async (db) => {
      // One statement: of several takers (on any gateways), one deletes the row; a second DELETE waits for the first
      // and then finds nothing. An expired row goes too, unanswered.
      const row = await one(db, "DELETE FROM aggregate_queries WHERE id = $1 AND study_id = $2 RETURNING *", [
        id,
        studyId,
      ]);
      return row === undefined || int(row, "expires_at") <= now ? undefined : mappers.aggregateQueryRow(row);
    });
  }

  // ---- housekeeping

  /**
   * Removes expired nonces, expired check-ins, expired aggregate queries, sessions expired or revoked more than a
   * day ago (their roles go with them) and relay-quota windows older than a week. One transaction.
   */
  async sweep(now: number): Promise<number> {
    let sessions: number | undefined;
    try {
      return await this.#transaction("sweep expired rows", async (client) => {
        const before = now - SESSION_RETENTION_MS;
        sessions = await changed(client, "DELETE FROM sessions WHERE expires_at <= $1 OR revoked_at <= $1", [before]);
        return (
          (await changed(client, "DELETE FROM nonces WHERE expires_at <= $1", [now])) +
          sessions +
          (await changed(client, "DELETE FROM check_ins WHERE expires_at <= $1", [now])) +
          (await changed(client, "DELETE FROM aggregate_queries WHERE expires_at <= $1", [now])) +
          (await changed(client, "DELETE FROM relay_quota WHERE window_start <= $1", [now - RELAY_QUOTA_RETENTION_MS]))
        );
      });
    } finally {
      // Sessions gone (and their roles, by the cascade), or perhaps gone: their cached rows go too, everywhere.
      if (sessions !== 0) await this.#invalidate([["sessions"], ["session_roles"]]);
    }
  }

  /** Answers when the database answers a query (a connection from the pool, a round trip). */
  async ping(): Promise<void> {
    await this.#run("answer a ping", (db) => db.query("SELECT 1"));
  }

  /** Waits for the calls under way, then closes every connection. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.bus.close();
      await this.#pool.end().catch(() => undefined);
    })();
    return this.#closing;
  }
}

// ---- statements shared by several methods

/** The cache keys of these wraps. */
function wrapKeys(wraps: WrapRow[]): Invalidation[] {
  return wraps.map((wrap): Invalidation => ["wraps", wrap.cid, wrap.recipient]);
}

/**
 * Upserts the wraps in key order: two gateways writing wraps of the same records lock the rows in the same order, so
 * they wait for each other rather than deadlock. (A later wrap of the same key in one call still wins, as written.)
 */
async function putWrapsInOrder(db: Queryable, wraps: WrapRow[]): Promise<void> {
  const key = (wrap: WrapRow) => `${wrap.cid}\u0000${wrap.recipient}`;
  const ordered = wraps.map((wrap, i) => ({ wrap, i })).sort((a, b) => compare(key(a.wrap), key(b.wrap)) || a.i - b.i);
  for (const { wrap } of ordered) {
    await changed(
      db,
      `INSERT INTO wraps (cid, recipient, wrap, created_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (cid, recipient) DO UPDATE SET wrap = excluded.wrap, created_at = excluded.created_at`,
      [wrap.cid, wrap.recipient, wrap.wrap, wrap.createdAt],
    );
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A put of a checkpoint size already stored may add its anchor only: same head, none stored yet. */
const ADDS_ANCHOR = "checkpoints.anchor_tx IS NULL AND checkpoints.root_hash = excluded.root_hash";

/** The batch's rows, at start, start + 1, ... in order (the gap trigger checks each against the row before). */
/** The batch as two arrays for unnest(): patients and event bytes. */
function eventColumns(events: Event[]): [string[], Buffer[]] {
  return [
    events.map((e) => e.patient),
    events.map((e) => Buffer.from(e.event.buffer, e.event.byteOffset, e.event.byteLength)),
  ];
}

async function insertEvents(client: PoolClient, origin: string, start: number, events: Event[]): Promise<void> {
  await changed(
    client,
    `INSERT INTO audit_events (origin, idx, patient, event)
     SELECT $1, $2::bigint + t.ord - 1, t.patient, t.event
       FROM unnest($3::text[], $4::bytea[]) WITH ORDINALITY AS t (patient, event, ord)
     ORDER BY t.ord`,
    [origin, start, ...eventColumns(events)],
  );
}

async function logSize(db: Queryable, origin: string): Promise<number> {
  const row = await one(db, "SELECT next_index FROM audit_logs WHERE origin = $1", [origin]);
  return row === undefined ? 0 : int(row, "next_index");
}

async function logRange(db: Queryable, origin: string, from: number, to: number): Promise<AuditRow[]> {
  return (
    await rows(db, "SELECT * FROM audit_events WHERE origin = $1 AND idx >= $2 AND idx < $3 ORDER BY idx", [
      origin,
      from,
      to,
    ])
  ).map(mappers.auditRow);
}

async function logOf(db: Queryable, origin: string, patient: string, options: ListOptions): Promise<AuditRow[]> {
  return (
    await rows(db, "SELECT * FROM audit_events WHERE origin = $1 AND patient = $2 AND idx > $3 ORDER BY idx LIMIT $4", [
      origin,
      patient,
      afterNumber(options),
      options.limit,
    ])
  ).map(mappers.auditRow);
}

async function checkpointOf(db: Queryable, origin: string, size: number): Promise<CheckpointRow | undefined> {
  const row = await one(db, "SELECT * FROM checkpoints WHERE origin = $1 AND size = $2", [origin, size]);
  return row === undefined ? undefined : mappers.checkpointRow(row);
}

async function latestCheckpointOf(
  db: Queryable,
  origin: string,
  options: { anchored?: boolean },
): Promise<CheckpointRow | undefined> {
  const row = await one(
    db,
    options.anchored === true
      ? "SELECT * FROM checkpoints WHERE origin = $1 AND anchor_tx IS NOT NULL ORDER BY size DESC LIMIT 1"
      : "SELECT * FROM checkpoints WHERE origin = $1 ORDER BY size DESC LIMIT 1",
    [origin],
  );
  return row === undefined ? undefined : mappers.checkpointRow(row);
}

async function checkpointsOf(db: Queryable, origin: string, options: ListOptions): Promise<CheckpointRow[]> {
  return (
    await rows(db, "SELECT * FROM checkpoints WHERE origin = $1 AND size > $2 ORDER BY size LIMIT $3", [
      origin,
      afterNumber(options),
      options.limit,
    ])
  ).map(mappers.checkpointRow);
}

/**
 * In a transaction: writes the study's tallies when `tally.version` is the stored version + 1; false otherwise.
 * One conditional statement either way, so of two gateways writing the same next version, one wins: the first
 * version by the primary key (the loser's INSERT does nothing), a later one by `version = next - 1` (the loser's
 * UPDATE waits for the winner and then matches no row).
 */
async function writeTally(client: PoolClient, studyId: string, tally: TallyUpdate): Promise<boolean> {
  if (!Number.isSafeInteger(tally.version) || tally.version < 1) return false;
  const sums = JSON.stringify(tally.sums);
  const count =
    tally.version === 1
      ? await changed(
          client,
          "INSERT INTO tally_sums (study_id, version, sums) VALUES ($1, 1, $2::json) ON CONFLICT (study_id) DO NOTHING",
          [studyId, sums],
        )
      : await changed(
          client,
          "UPDATE tally_sums SET version = $2, sums = $3::json WHERE study_id = $1 AND version = $2::bigint - 1",
          [studyId, tally.version, sums],
        );
  return count === 1;
}

/**
 * In a transaction: stores the contribution, returning the row it replaced. The row is read locked (FOR UPDATE), so
 * `previous` is exactly what this write replaced even with another gateway writing the same (study, patient); when
 * there was none, a concurrent first insert makes ours do nothing, and the loop reads that row and replaces it.
 */
async function replaceContribution(client: PoolClient, row: ContributionRow): Promise<ContributionRow | undefined> {
  const values = [
    row.studyId,
    row.patient,
    row.cid,
    row.size,
    row.consentAddress,
    row.scopeId,
    row.wrap,
    row.facts === null ? null : JSON.stringify(row.facts),
    row.createdAt,
  ];
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const previous = await one(client, "SELECT * FROM contributions WHERE study_id = $1 AND patient = $2 FOR UPDATE", [
      row.studyId,
      row.patient,
    ]);
    if (previous !== undefined) {
      await changed(
        client,
        `UPDATE contributions SET cid = $3, size = $4, consent_address = $5, scope_id = $6, wrap = $7, facts = $8::json,
           created_at = $9
         WHERE study_id = $1 AND patient = $2`,
        values,
      );
      return mappers.contributionRow(previous);
    }
    const inserted = await changed(
      client,
      `INSERT INTO contributions (study_id, patient, cid, size, consent_address, scope_id, wrap, facts, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8::json, $9) ON CONFLICT (study_id, patient) DO NOTHING`,
      values,
    );
    if (inserted === 1) return undefined;
  }
  throw databaseUnavailable("store a contribution", "the row kept changing under concurrent writers; try again");
}
