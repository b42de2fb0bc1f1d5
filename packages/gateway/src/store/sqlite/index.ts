// GatewayStore on node:sqlite: one file, <dataDir>/gateway.sqlite, owned by one gateway process.
//
// Safety rules (the interface's promises, and how this file keeps them):
// - Durable when a write resolves: WAL with synchronous=FULL, so each COMMIT fsyncs the WAL before it returns.
//   The audit append takes a batch and writes it in ONE transaction: one fsync for the whole batch.
// - Atomic: every method is one statement or one BEGIN IMMEDIATE ... COMMIT (rolled back on any throw). node:sqlite
//   is synchronous, so a method's work runs to its end before any other JavaScript of this process: two calls never
//   interleave inside one, and the async signature only defers the answer (the PostgreSQL store will truly await).
// - One gateway per data dir: an OS lock (lock.ts) taken before the database is opened, released at close (or by
//   the kernel when the process dies). SQLite's own locking still guards the file against tools opened beside it.
// - The schema is migrated forward at open (migrations.ts); a database from a newer gateway is refused, never
//   written, and a file that is not a database is refused, never replaced.
// - No raw SQLite error leaves: errors.ts maps them (503 DATABASE_UNAVAILABLE for the database failing, 500 for
//   bugs); outcomes the interface names (a used nonce, a lost compare-and-swap, a duplicate record) are results.
// - The audit log is append-only in the schema (triggers), with indexes assigned from the current size, read inside
//   the appending transaction. Appends run on a worker thread with its own connection (audit-writer.ts), so their
//   COMMIT's fsync never stops the event loop; an append resolves once that COMMIT returned. That thread is the only
//   writer of audit_events; SQLite's write lock orders it with the main connection's writes (each waits at most the
//   busy timeout).
// - One audit log per store: the first claimAuditLog stores its origin (the rows already there are that log's), and
//   another origin is refused. Audit methods called before any claim act on that one log, as before claims existed.
import { closeSync, constants, mkdirSync, openSync, statSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import type { SQLInputValue, SQLOutputValue, StatementSync } from "node:sqlite";
import { AuditWriter, AuditWriterStoppedError } from "./audit-writer.ts";
import { DEFAULT_READ_CACHE_TTL_MS, ReadCache, cacheKey } from "./read-cache.ts";
import type {
  AggregateQueryRow,
  AuditLogReader,
  AuditLogRow,
  AuditRow,
  CheckInRow,
  CheckpointRow,
  ConsentLinkRow,
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
  ContributionRow,
  AggregateReleaseRow,
  ContributionWrite,
  TallySumsRow,
  TallyUpdate,
  WebhookRow,
  WrapRow,
} from "../types.ts";
import {
  AuditLogClaimError,
  StoreFailureError,
  StoreOpenError,
  databaseUnavailable,
  sqlitePrimaryCode,
  toStoreError,
} from "./errors.ts";
import { DataDirLock, LOCK_FILE } from "./lock.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "./migrations.ts";
import { rowMappers } from "../rows.ts";

export { AuditLogClaimError, StoreFailureError, StoreOpenError } from "./errors.ts";
export type { AuditLogClaimErrorCode, StoreOpenErrorCode } from "./errors.ts";
export { LOCK_FILE, LOCK_INFO_FILE } from "./lock.ts";
export { MIGRATIONS, SCHEMA_VERSION } from "./migrations.ts";
export type { Migration } from "./migrations.ts";

/** The database file's name inside the data dir. */
export const DATABASE_FILE = "gateway.sqlite";

/** Revoked or expired sessions are kept this long (so a late request learns "revoked"/"expired"), then swept. */
export const SESSION_RETENTION_MS = 24 * 60 * 60 * 1000;

/** Relay-quota windows are swept once they started this long ago (windows are a day; a week is generous). */
export const RELAY_QUOTA_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

export const DEFAULT_BUSY_TIMEOUT_MS = 1000;

export interface SqliteStoreOptions {
  /**
   * How long a statement waits for a lock held by another connection (an operator's sqlite3 shell writing).
   * node:sqlite waits synchronously, stalling every request of the process meanwhile, so the default is short
   * (1000 ms): past it the call fails DATABASE_UNAVAILABLE (503) rather than freezing the gateway. Readers such
   * as `sqlite3 .backup` never block the gateway's writes in WAL mode.
   */
  busyTimeoutMs?: number;
  /**
   * How long the store may answer its hot keyed reads (sessions, roles, records, wraps, consent links, webhooks)
   * from memory: its own writes are seen at once, a write from outside it (a sqlite3 shell) within this time.
   * Default 1000 ms; 0 reads the file every time.
   */
  readCacheTtlMs?: number;
}

const SQLITE_CORRUPT = 11;
const SQLITE_NOTADB = 26;

type Row = Record<string, SQLOutputValue>;
type Params = Record<string, SQLInputValue>;

/**
 * Opens (creating and migrating as needed) the store in `dataDir`. Rejects with a StoreOpenError:
 * DATA_DIR_LOCKED (another gateway holds the dir; the message names it), DATABASE_CORRUPT, DATABASE_TOO_NEW,
 * DATABASE_UNAVAILABLE (the directory or file cannot be opened).
 */
export async function openSqliteStore(dataDir: string, options: SqliteStoreOptions = {}): Promise<SqliteGatewayStore> {
  const file = join(dataDir, DATABASE_FILE);
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new StoreOpenError("DATABASE_UNAVAILABLE", dataDir, `cannot create the gateway data dir ${dataDir}`, {
      cause: error,
    });
  }
  let lock: DataDirLock;
  try {
    lock = await DataDirLock.acquire(dataDir);
  } catch (error) {
    if (error instanceof StoreOpenError) throw error;
    throw new StoreOpenError("DATABASE_UNAVAILABLE", dataDir, `cannot lock the gateway data dir ${dataDir}`, {
      cause: error,
    });
  }
  let db: DatabaseSync | undefined;
  try {
    // Created owner-only before SQLite opens it (SQLite gives the -wal and -shm files the same mode).
    closeSync(openSync(file, constants.O_RDWR | constants.O_CREAT, 0o600));
    db = new DatabaseSync(file, {
      timeout: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
      enableForeignKeyConstraints: true,
    });
    configure(db, file);
    migrate(db, file);
    const { dev, ino } = statSync(file);
    const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
    const store = new SqliteGatewayStore(db, lock, file, `${dev}:${ino}`, {
      busyTimeoutMs,
      readCacheTtlMs: options.readCacheTtlMs ?? DEFAULT_READ_CACHE_TTL_MS,
    });
    db = undefined;
    return store;
  } catch (error) {
    db?.close();
    await lock.release();
    throw openError(error, file);
  }
}

function openError(error: unknown, file: string): StoreOpenError {
  if (error instanceof StoreOpenError) return error;
  const primary = sqlitePrimaryCode(error);
  const reason = error instanceof Error ? error.message : String(error);
  if (primary === SQLITE_NOTADB || primary === SQLITE_CORRUPT) {
    return new StoreOpenError(
      "DATABASE_CORRUPT",
      file,
      `${file} is not a readable SQLite database (${reason}); the gateway will not overwrite it: restore it from a backup or move it aside`,
      { cause: error },
    );
  }
  return new StoreOpenError("DATABASE_UNAVAILABLE", file, `cannot open the gateway database ${file}: ${reason}`, {
    cause: error,
  });
}

function configure(db: DatabaseSync, file: string): void {
  const mode = db.prepare("PRAGMA journal_mode = WAL").get();
  if (mode?.["journal_mode"] !== "wal") {
    throw new StoreOpenError(
      "DATABASE_UNAVAILABLE",
      file,
      `${file}: SQLite refused WAL mode (it kept ${String(mode?.["journal_mode"])})`,
    );
  }
  db.exec("PRAGMA synchronous = FULL");
  // After a checkpoint the WAL file is truncated back to this size, so a burst does not leave a huge file behind.
  db.exec(`PRAGMA journal_size_limit = ${64 * 1024 * 1024}`);
  db.exec("PRAGMA foreign_keys = ON");
  db.exec("PRAGMA trusted_schema = OFF");
  const fk = db.prepare("PRAGMA foreign_keys").get();
  if (fk?.["foreign_keys"] !== 1) {
    throw new StoreOpenError("DATABASE_UNAVAILABLE", file, `${file}: SQLite refused to enforce foreign keys`);
  }
}

/** Applies the pending migrations, each in its own transaction; refuses a schema this gateway does not know. */
function migrate(db: DatabaseSync, file: string): void {
  db.exec("BEGIN IMMEDIATE");
  try {
    db.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT",
    );
    db.exec("COMMIT");
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw error;
  }
  const applied = db.prepare("SELECT version, name FROM schema_migrations ORDER BY version").all();
  const newest = applied.length === 0 ? 0 : int(applied[applied.length - 1] as Row, "version");
  if (newest > SCHEMA_VERSION) {
    throw new StoreOpenError(
      "DATABASE_TOO_NEW",
      file,
      `${file} has schema version ${newest}, newer than this gateway's ${SCHEMA_VERSION}: run the gateway version that wrote it (a database is never migrated back)`,
    );
  }
  applied.forEach((row, i) => {
    const known = MIGRATIONS[i];
    if (known === undefined || int(row, "version") !== known.version || text(row, "name") !== known.name) {
      throw new StoreOpenError(
        "DATABASE_CORRUPT",
        file,
        `${file}: schema_migrations does not match this gateway's migrations at row ${i + 1} (version ${String(row["version"])} "${String(row["name"])}")`,
      );
    }
  });
  for (const migration of MIGRATIONS.slice(applied.length)) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(migration.sql);
      db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)").run(
        migration.version,
        migration.name,
        Date.now(),
      );
      db.exec("COMMIT");
    } catch (error) {
      if (db.isTransaction) db.exec("ROLLBACK");
      const primary = sqlitePrimaryCode(error);
      if (primary === SQLITE_NOTADB || primary === SQLITE_CORRUPT) throw error;
      const reason = error instanceof Error ? error.message : String(error);
      throw new StoreOpenError(
        "DATABASE_MIGRATION_FAILED",
        file,
        `${file}: migration ${migration.version} "${migration.name}" failed and was rolled back (the database stays at version ${migration.version - 1}): ${reason}`,
        { cause: error },
      );
    }
  }
}

export class SqliteGatewayStore implements GatewayStore {
  readonly kind = "sqlite";
  /** The database file. */
  readonly file: string;
  #db: DatabaseSync | undefined;
  readonly #lock: DataDirLock;
  /** The first DATABASE_CORRUPT a statement hit; the ping reports it from then on. */
  #damage: Error | undefined;
  readonly #statements = new Map<string, StatementSync>();
  /** The hot keyed reads' rows (read-cache.ts: sound because this process is the only writer). */
  readonly #cache: ReadCache;
  #closing: Promise<void> | undefined;
  /** `<dev>:<ino>` of the file opened: SQLite keeps writing to a deleted or replaced file, so ping compares. */
  readonly #identity: string;
  /** The audit table's writer: its own connection on a worker thread (audit-writer.ts). */
  readonly #audit: AuditWriter;
  /** The log this store holds, once claimed (this process is the only writer of the file: kept in memory). */
  #log: AuditLogRow | undefined;

  /** Use openSqliteStore. */
  constructor(
    db: DatabaseSync,
    lock: DataDirLock,
    file: string,
    identity: string,
    options: { busyTimeoutMs: number; readCacheTtlMs: number },
  ) {
    this.#db = db;
    this.#audit = new AuditWriter({ file, busyTimeoutMs: options.busyTimeoutMs });
    this.#cache = new ReadCache({ ttlMs: options.readCacheTtlMs });
    this.#identity = identity;
    this.#lock = lock;
    this.file = file;
    const held = db.prepare("SELECT * FROM audit_logs").get();
    this.#log = held === undefined ? undefined : mappers.auditLogRow(held);
  }

  // ---- plumbing

  /** Runs `work` on the open database, mapping every failure (see errors.ts). */
  #run<T>(what: string, work: () => T): T {
    if (this.#db === undefined) throw databaseUnavailable(what, "the store is closed");
    try {
      return work();
    } catch (error) {
      const mapped = toStoreError(error, what);
      // Damage seen once stays reported: /readyz must not call a damaged database ready because its ping's own
      // pages happen to be intact.
      if ((mapped as { code?: unknown }).code === "DATABASE_CORRUPT") this.#damage ??= mapped;
      throw mapped;
    }
  }

  /** A cached prepared statement. */
  #sql(sql: string): StatementSync {
    this.#cache.beforeStatement(sql); // a write drops the cached rows of its table before it runs
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      const db = this.#db;
      if (db === undefined) throw databaseUnavailable("prepare a statement", "the store is closed");
      statement = db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** BEGIN IMMEDIATE (takes the write lock first, so no upgrade deadlock) ... COMMIT, or ROLLBACK on any throw. */
  #transaction<T>(work: () => T): T {
    const db = this.#db;
    if (db === undefined) throw databaseUnavailable("begin a transaction", "the store is closed");
    db.exec("BEGIN IMMEDIATE");
    try {
      const result = work();
      db.exec("COMMIT");
      return result;
    } catch (error) {
      this.#cache.clear(); // nothing read inside was cached, but be sure no row of the undone work survives
      try {
        if (db.isTransaction) db.exec("ROLLBACK");
      } catch {
        // the first error is the one to report; SQLite rolls back a transaction it cannot finish at close
      }
      throw error;
    }
  }

  /**
   * A keyed read through the read cache: `read` runs on a miss, and its answer (a miss too) is kept unless a
   * transaction is open (a ROLLBACK could take it back).
   */
  #cached<T>(table: string, key: string, read: () => T): T {
    const cached = this.#cache.get<T>(table, key);
    if (cached.hit) return cached.value;
    const value = read();
    return this.#db?.isTransaction === false ? this.#cache.set(table, key, value) : value;
  }

  #get(sql: string, params: Params = {}): Row | undefined {
    return this.#sql(sql).get(params);
  }

  #all(sql: string, params: Params = {}): Row[] {
    return this.#sql(sql).all(params);
  }

  #change(sql: string, params: Params = {}): number {
    return Number(this.#sql(sql).run(params).changes);
  }

  // ---- SIWE nonces

  async putNonce(row: NonceRow): Promise<void> {
    this.#run("store a nonce", () =>
      this.#change(
        "INSERT INTO nonces (nonce, expires_at) VALUES ($nonce, $expiresAt) ON CONFLICT (nonce) DO UPDATE SET expires_at = excluded.expires_at",
        { nonce: row.nonce, expiresAt: row.expiresAt },
      ),
    );
  }

  async consumeNonce(nonce: string, now: number): Promise<boolean> {
    return this.#run("consume a nonce", () => {
      // One statement: the nonce is gone whether or not it was still valid, and only one caller can delete it.
      const row = this.#get("DELETE FROM nonces WHERE nonce = $nonce RETURNING expires_at", { nonce });
      return row !== undefined && int(row, "expires_at") > now;
    });
  }

  // ---- sessions

  async putSession(row: SessionRow): Promise<void> {
    this.#run("store a session", () =>
      this.#change(
        `INSERT INTO sessions (id, address, chain_id, issued_at, expires_at, revoked_at)
         VALUES ($id, $address, $chainId, $issuedAt, $expiresAt, $revokedAt)
         ON CONFLICT (id) DO UPDATE SET address = excluded.address, chain_id = excluded.chain_id,
           issued_at = excluded.issued_at, expires_at = excluded.expires_at, revoked_at = excluded.revoked_at`,
        {
          id: row.id,
          address: row.address,
          chainId: row.chainId,
          issuedAt: row.issuedAt,
          expiresAt: row.expiresAt,
          revokedAt: row.revokedAt,
        },
      ),
    );
  }

  async getSession(id: string): Promise<SessionRow | undefined> {
    return this.#run("read a session", () =>
      this.#cached("sessions", id, () => {
        const row = this.#get("SELECT * FROM sessions WHERE id = $id", { id });
        return row === undefined ? undefined : mappers.sessionRow(row);
      }),
    );
  }

  async revokeSession(id: string, at: number): Promise<boolean> {
    return this.#run("revoke a session", () =>
      this.#transaction(() => {
        // A second revoke keeps the first time.
        const changed = this.#change("UPDATE sessions SET revoked_at = coalesce(revoked_at, $at) WHERE id = $id", {
          id,
          at,
        });
        this.#change("DELETE FROM session_roles WHERE session_id = $id", { id });
        return changed === 1;
      }),
    );
  }

  /**
   * Replaces the session's role of that name. Resolves false (nothing written) when the session is unknown or
   * revoked: a role never outlives or precedes its session.
   */
  async putSessionRole(row: SessionRoleRow): Promise<boolean> {
    return this.#run("store a session role", () => {
      const changed = this.#change(
        `INSERT INTO session_roles (session_id, role, credential, issuer, checked_at, valid_until)
         SELECT $sessionId, $role, $credential, $issuer, $checkedAt, $validUntil
           FROM sessions WHERE id = $sessionId AND revoked_at IS NULL
         ON CONFLICT (session_id, role) DO UPDATE SET credential = excluded.credential, issuer = excluded.issuer,
           checked_at = excluded.checked_at, valid_until = excluded.valid_until`,
        {
          sessionId: row.sessionId,
          role: row.role,
          credential: row.credential,
          issuer: row.issuer,
          checkedAt: row.checkedAt,
          validUntil: row.validUntil,
        },
      );
      return changed === 1;
    });
  }

  async sessionRoles(sessionId: string): Promise<SessionRoleRow[]> {
    return this.#run("read session roles", () =>
      this.#cached("session_roles", sessionId, () =>
        this.#all("SELECT * FROM session_roles WHERE session_id = $sessionId ORDER BY role", { sessionId }).map(
          mappers.sessionRoleRow,
        ),
      ),
    );
  }

  async deleteSessionRole(sessionId: string, role: SessionRoleRow["role"]): Promise<void> {
    this.#run("delete a session role", () =>
      this.#change("DELETE FROM session_roles WHERE session_id = $sessionId AND role = $role", { sessionId, role }),
    );
  }

  // ---- records and wraps

  async putRecord(record: RecordRow, wraps: WrapRow[]): Promise<boolean> {
    return this.#run("store a record", () =>
      this.#transaction(() => {
        const inserted = this.#change(
          `INSERT INTO records (patient, cid, size, scope_ids, created_at)
           VALUES ($patient, $cid, $size, $scopeIds, $createdAt) ON CONFLICT DO NOTHING`,
          {
            patient: record.patient,
            cid: record.cid,
            size: record.size,
            scopeIds: JSON.stringify(record.scopeIds),
            createdAt: record.createdAt,
          },
        );
        if (inserted === 0) return false;
        for (const wrap of wraps) this.#putWrap(wrap);
        return true;
      }),
    );
  }

  async getRecord(patient: string, cid: string): Promise<RecordRow | undefined> {
    return this.#run("read a record", () =>
      this.#cached("records", cacheKey(patient, cid), () => {
        const row = this.#get("SELECT * FROM records WHERE patient = $patient AND cid = $cid", { patient, cid });
        return row === undefined ? undefined : mappers.recordRow(row);
      }),
    );
  }

  /** Newest first (createdAt, then CID, descending). `after` is a CID of this patient; an unknown one lists nothing. */
  async listRecords(patient: string, options: ListOptions): Promise<RecordRow[]> {
    return this.#run("list records", () => {
      const rows =
        options.after === undefined
          ? this.#all(
              "SELECT * FROM records WHERE patient = $patient ORDER BY created_at DESC, cid DESC LIMIT $limit",
              { patient, limit: options.limit },
            )
          : this.#all(
              `SELECT * FROM records WHERE patient = $patient
                 AND (created_at, cid) < (SELECT created_at, cid FROM records WHERE patient = $patient AND cid = $after)
               ORDER BY created_at DESC, cid DESC LIMIT $limit`,
              { patient, after: String(options.after), limit: options.limit },
            );
      return rows.map(mappers.recordRow);
    });
  }

  async setRecordScopeIds(patient: string, cid: string, consentAddress: string, scopeIds: string[]): Promise<boolean> {
    return this.#run("set a record's scope ids", () =>
      this.#transaction(() => {
        const row = this.#get("SELECT scope_ids FROM records WHERE patient = $patient AND cid = $cid", {
          patient,
          cid,
        });
        if (row === undefined) return false;
        // A computed key in a literal defines an own property whatever the name (never the prototype).
        const current = { ...mappers.scopeIdsOf(row), [consentAddress]: [...scopeIds] };
        this.#change("UPDATE records SET scope_ids = $scopeIds WHERE patient = $patient AND cid = $cid", {
          patient,
          cid,
          scopeIds: JSON.stringify(current),
        });
        return true;
      }),
    );
  }

  async putWraps(wraps: WrapRow[]): Promise<void> {
    this.#run("store wraps", () =>
      this.#transaction(() => {
        for (const wrap of wraps) this.#putWrap(wrap);
      }),
    );
  }

  #putWrap(wrap: WrapRow): void {
    this.#change(
      `INSERT INTO wraps (cid, recipient, wrap, created_at) VALUES ($cid, $recipient, $wrap, $createdAt)
       ON CONFLICT (cid, recipient) DO UPDATE SET wrap = excluded.wrap, created_at = excluded.created_at`,
      { cid: wrap.cid, recipient: wrap.recipient, wrap: wrap.wrap, createdAt: wrap.createdAt },
    );
  }

  async getWrap(cid: string, recipient: string): Promise<WrapRow | undefined> {
    return this.#run("read a wrap", () =>
      this.#cached("wraps", cacheKey(cid, recipient), () => {
        const row = this.#get("SELECT * FROM wraps WHERE cid = $cid AND recipient = $recipient", { cid, recipient });
        return row === undefined ? undefined : mappers.wrapRow(row);
      }),
    );
  }

  /** Every wrap of a CID (its recipients), oldest first. */
  async wrapsOf(cid: string): Promise<WrapRow[]> {
    return this.#run("list wraps", () =>
      this.#all("SELECT * FROM wraps WHERE cid = $cid ORDER BY created_at, recipient", { cid }).map(mappers.wrapRow),
    );
  }

  async noteGrantee(patient: string, grantee: string, at: number): Promise<boolean> {
    return this.#run(
      "note a grantee",
      () =>
        this.#change(
          `INSERT INTO grantees (patient, grantee, first_at) VALUES ($patient, $grantee, $at)
         ON CONFLICT (patient, grantee) DO NOTHING`,
          { patient, grantee, at },
        ) === 1,
    );
  }

  // ---- manifest pointers

  async getManifestPointer(patient: string): Promise<ManifestPointerRow | undefined> {
    return this.#run("read a manifest pointer", () => {
      const row = this.#get("SELECT * FROM manifest_pointers WHERE patient = $patient", { patient });
      return row === undefined ? undefined : mappers.manifestPointerRow(row);
    });
  }

  async compareAndSetManifestPointer(
    patient: string,
    expected: string | null,
    next: { cid: string; updatedAt: number },
  ): Promise<ManifestPointerRow | undefined> {
    return this.#run("update a manifest pointer", () => {
      // One statement each way: the comparison and the write cannot be separated.
      const row =
        expected === null
          ? this.#get(
              `INSERT INTO manifest_pointers (patient, cid, version, updated_at) VALUES ($patient, $cid, 1, $updatedAt)
               ON CONFLICT (patient) DO NOTHING RETURNING *`,
              { patient, cid: next.cid, updatedAt: next.updatedAt },
            )
          : this.#get(
              `UPDATE manifest_pointers SET cid = $cid, version = version + 1, updated_at = $updatedAt
               WHERE patient = $patient AND cid = $expected RETURNING *`,
              { patient, expected, cid: next.cid, updatedAt: next.updatedAt },
            );
      return row === undefined ? undefined : mappers.manifestPointerRow(row);
    });
  }

  // ---- consent address links

  async putConsentLink(row: ConsentLinkRow): Promise<boolean> {
    return this.#run(
      "store a consent address link",
      () =>
        this.#change(
          `INSERT INTO consent_links (patient, grantee, consent_address, issued_at, link)
         VALUES ($patient, $grantee, $consentAddress, $issuedAt, $link)
         ON CONFLICT (patient, grantee) DO UPDATE SET consent_address = excluded.consent_address,
           issued_at = excluded.issued_at, link = excluded.link
         WHERE excluded.issued_at >= consent_links.issued_at`,
          {
            patient: row.patient,
            grantee: row.grantee,
            consentAddress: row.consentAddress,
            issuedAt: row.issuedAt,
            link: row.link,
          },
        ) === 1,
    );
  }

  async getConsentLink(patient: string, grantee: string): Promise<ConsentLinkRow | undefined> {
    return this.#run("read a consent address link", () =>
      this.#cached("consent_links", cacheKey(patient, grantee), () => {
        const row = this.#get("SELECT * FROM consent_links WHERE patient = $patient AND grantee = $grantee", {
          patient,
          grantee,
        });
        return row === undefined ? undefined : mappers.consentLinkRow(row);
      }),
    );
  }

  /** By grantee. */
  async consentLinksOf(patient: string): Promise<ConsentLinkRow[]> {
    return this.#run("list consent address links", () =>
      this.#all("SELECT * FROM consent_links WHERE patient = $patient ORDER BY grantee", { patient }).map(
        mappers.consentLinkRow,
      ),
    );
  }

  /** Newest first: a consent account linked twice acts for the patient of the newer link. */
  async consentLinkByAddress(consentAddress: string): Promise<ConsentLinkRow | undefined> {
    return this.#run("read a consent address link", () => {
      const row = this.#get(
        `SELECT * FROM consent_links WHERE consent_address = $consentAddress
         ORDER BY issued_at DESC, patient DESC LIMIT 1`,
        { consentAddress },
      );
      return row === undefined ? undefined : mappers.consentLinkRow(row);
    });
  }

  // ---- audit log

  /**
   * Stores the log on the first claim (the rows already in audit_events are its rows) and returns the stored row on
   * a claim of the same origin. A SQLite store holds one log: another origin is refused, naming the one it holds.
   */
  async claimAuditLog(row: AuditLogRow): Promise<AuditLogRow> {
    return this.#run("claim an audit log", () =>
      this.#transaction(() => {
        const held = this.#get("SELECT * FROM audit_logs");
        if (held === undefined) {
          this.#change(
            `INSERT INTO audit_logs (origin, verifier_key, gateway, created_at)
             VALUES ($origin, $verifierKey, $gateway, $createdAt)`,
            { origin: row.origin, verifierKey: row.verifierKey, gateway: row.gateway, createdAt: row.createdAt },
          );
          this.#log = { ...row };
          return { ...row };
        }
        const log = mappers.auditLogRow(held);
        if (log.origin !== row.origin) {
          throw new AuditLogClaimError(
            "AUDIT_LOG_HELD",
            `this gateway's SQLite database ${this.file} holds the audit log "${log.origin}", not "${row.origin}": ` +
              `a SQLite store holds one log (keep the origin it was started with, or use another data dir)`,
          );
        }
        this.#log = log;
        return { ...log };
      }),
    );
  }

  async auditLogs(): Promise<AuditLogRow[]> {
    return this.#run("list the audit logs", () =>
      this.#all("SELECT * FROM audit_logs ORDER BY origin").map(mappers.auditLogRow),
    );
  }

  /** The held log's rows and checkpoints for its origin; nothing for another origin (or before any claim). */
  auditLog(origin: string): AuditLogReader {
    const own = () => this.#log?.origin === origin;
    const none = async <T>(what: string, value: T): Promise<T> => this.#run(what, () => value);
    return {
      origin,
      size: () => (own() ? this.auditSize() : none("read the audit log size", 0)),
      range: (from, to) => (own() ? this.auditRange(from, to) : none("read audit events", [])),
      of: (patient, options) => (own() ? this.auditOf(patient, options) : none("read a patient's audit events", [])),
      getCheckpoint: (size) => (own() ? this.getCheckpoint(size) : none("read a checkpoint", undefined)),
      latestCheckpoint: (options) =>
        own() ? this.latestCheckpoint(options) : none("read the latest checkpoint", undefined),
      listCheckpoints: (options) => (own() ? this.listCheckpoints(options) : none("list checkpoints", [])),
    };
  }

  async appendAudit(events: { patient: string; event: Uint8Array }[]): Promise<AuditRow[]> {
    const what = "append audit events";
    if (this.#db === undefined) throw databaseUnavailable(what, "the store is closed");
    if (events.length === 0) return [];
    // On the writer's thread: one transaction whose indexes start at the log's size read inside it (no other
    // writer can move the end of the log until COMMIT); resolved once that COMMIT returned (durable).
    for (let attempt = 1; ; attempt++) {
      try {
        return rowsFrom(await this.#audit.append(events), events);
      } catch (error) {
        if (!(error instanceof AuditWriterStoppedError)) {
          const mapped = toStoreError(error, what);
          if ((mapped as { code?: unknown }).code === "DATABASE_CORRUPT") this.#damage ??= mapped;
          throw mapped;
        }
        // The thread stopped before answering: its COMMIT may or may not have landed. The log says which (a commit
        // is visible to this connection only once durable). Not there: the dead thread will never commit it, so it
        // is sent once more, to the new thread the next append starts.
        const start = this.#run(what, () => this.#committedAt(events));
        if (start !== undefined) return rowsFrom(start, events);
        if (attempt === 2)
          throw databaseUnavailable(what, "the audit writer thread stopped before committing the batch", error);
      }
    }
  }

  /** Where `events` sit, whole and in order, among the newest LOOKBACK rows of the log; undefined when not there. */
  #committedAt(events: { patient: string; event: Uint8Array }[]): number | undefined {
    const LOOKBACK = 100_000;
    const first = events[0]!;
    const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((byte, i) => byte === b[i]);
    // Newest first: the batch is the last one that writer thread committed.
    const candidates = this.#all(
      `SELECT idx FROM audit_events WHERE idx >= $from AND patient = $patient AND event = $event
       ORDER BY idx DESC LIMIT 1000`,
      { from: Math.max(0, this.#size() - LOOKBACK), patient: first.patient, event: first.event },
    );
    for (const candidate of candidates) {
      const start = int(candidate, "idx");
      const stored = this.#all("SELECT * FROM audit_events WHERE idx >= $start AND idx < $end ORDER BY idx", {
        start,
        end: start + events.length,
      }).map(mappers.auditRow);
      const whole =
        stored.length === events.length &&
        stored.every((row, i) => row.patient === events[i]!.patient && same(row.event, events[i]!.event));
      if (whole) return start;
    }
    return undefined;
  }

  #size(): number {
    const row = this.#get("SELECT coalesce(max(idx) + 1, 0) AS size FROM audit_events");
    return row === undefined ? 0 : int(row, "size");
  }

  async auditSize(): Promise<number> {
    return this.#run("read the audit log size", () => this.#size());
  }

  async auditRange(from: number, to: number): Promise<AuditRow[]> {
    return this.#run("read audit events", () =>
      this.#all("SELECT * FROM audit_events WHERE idx >= $from AND idx < $to ORDER BY idx", { from, to }).map(
        mappers.auditRow,
      ),
    );
  }

  async auditOf(patient: string, options: ListOptions): Promise<AuditRow[]> {
    return this.#run("read a patient's audit events", () =>
      this.#all("SELECT * FROM audit_events WHERE patient = $patient AND idx > $after ORDER BY idx LIMIT $limit", {
        patient,
        after: options.after === undefined ? -1 : Number(options.after),
        limit: options.limit,
      }).map(mappers.auditRow),
    );
  }

  // ---- checkpoints

  /**
   * Keeps the first checkpoint of a size (its note and anchor stay); a later put of the same size may only add
   * a missing anchor. A different root hash for a kept size means the log forked: refused (a bug, 500).
   */
  async putCheckpoint(row: CheckpointRow): Promise<void> {
    this.#run("store a checkpoint", () =>
      this.#transaction(() => {
        const existing = this.#get("SELECT root_hash FROM checkpoints WHERE size = $size", { size: row.size });
        if (existing !== undefined && text(existing, "root_hash") !== row.rootHash) {
          throw new StoreFailureError(
            `a checkpoint of size ${row.size} is already stored with another root hash (the audit log forked)`,
          );
        }
        const anchor = row.anchor;
        this.#change(
          `INSERT INTO checkpoints (size, root_hash, note, created_at, anchor_tx, anchor_block, anchor_first, anchor_count)
           VALUES ($size, $rootHash, $note, $createdAt, $tx, $block, $first, $count)
           ON CONFLICT (size) DO UPDATE SET anchor_tx = excluded.anchor_tx, anchor_block = excluded.anchor_block,
             anchor_first = excluded.anchor_first, anchor_count = excluded.anchor_count
           WHERE checkpoints.anchor_tx IS NULL AND excluded.anchor_tx IS NOT NULL`,
          {
            size: row.size,
            rootHash: row.rootHash,
            note: row.note,
            createdAt: row.createdAt,
            tx: anchor?.txHash ?? null,
            block: anchor?.blockNumber ?? null,
            first: anchor?.firstIndex ?? null,
            count: anchor?.count ?? null,
          },
        );
      }),
    );
  }

  async setCheckpointAnchor(size: number, anchor: NonNullable<CheckpointRow["anchor"]>): Promise<void> {
    this.#run("anchor a checkpoint", () =>
      this.#change(
        `UPDATE checkpoints SET anchor_tx = $tx, anchor_block = $block, anchor_first = $first, anchor_count = $count
         WHERE size = $size`,
        { size, tx: anchor.txHash, block: anchor.blockNumber, first: anchor.firstIndex, count: anchor.count },
      ),
    );
  }

  async getCheckpoint(size: number): Promise<CheckpointRow | undefined> {
    return this.#run("read a checkpoint", () => {
      const row = this.#get("SELECT * FROM checkpoints WHERE size = $size", { size });
      return row === undefined ? undefined : mappers.checkpointRow(row);
    });
  }

  async latestCheckpoint(options: { anchored?: boolean } = {}): Promise<CheckpointRow | undefined> {
    return this.#run("read the latest checkpoint", () => {
      const row =
        options.anchored === true
          ? this.#get("SELECT * FROM checkpoints WHERE anchor_tx IS NOT NULL ORDER BY size DESC LIMIT 1")
          : this.#get("SELECT * FROM checkpoints ORDER BY size DESC LIMIT 1");
      return row === undefined ? undefined : mappers.checkpointRow(row);
    });
  }

  /** Oldest first; `after` is a size. */
  async listCheckpoints(options: ListOptions): Promise<CheckpointRow[]> {
    return this.#run("list checkpoints", () =>
      this.#all("SELECT * FROM checkpoints WHERE size > $after ORDER BY size LIMIT $limit", {
        after: options.after === undefined ? -1 : Number(options.after),
        limit: options.limit,
      }).map(mappers.checkpointRow),
    );
  }

  // ---- check-ins

  async putCheckIn(row: CheckInRow): Promise<void> {
    this.#run("store a check-in", () =>
      this.#change(
        `INSERT INTO check_ins (id, clinic, request, created_at, expires_at, result, completed_at)
         VALUES ($id, $clinic, $request, $createdAt, $expiresAt, $result, $completedAt)
         ON CONFLICT (id) DO UPDATE SET clinic = excluded.clinic, request = excluded.request,
           created_at = excluded.created_at, expires_at = excluded.expires_at, result = excluded.result,
           completed_at = excluded.completed_at`,
        {
          id: row.id,
          clinic: row.clinic,
          request: row.request,
          createdAt: row.createdAt,
          expiresAt: row.expiresAt,
          result: row.result,
          completedAt: row.completedAt,
        },
      ),
    );
  }

  async getCheckIn(id: string): Promise<CheckInRow | undefined> {
    return this.#run("read a check-in", () => {
      const row = this.#get("SELECT * FROM check_ins WHERE id = $id", { id });
      return row === undefined ? undefined : mappers.checkInRow(row);
    });
  }

  async completeCheckIn(id: string, result: string, at: number): Promise<boolean> {
    return this.#run(
      "complete a check-in",
      () =>
        this.#change(
          `UPDATE check_ins SET result = $result, completed_at = $at
         WHERE id = $id AND result IS NULL AND expires_at > $at`,
          { id, result, at },
        ) === 1,
    );
  }

  async replaceCheckInRequest(id: string, expected: string, next: string): Promise<boolean> {
    return this.#run(
      "update a check-in",
      () =>
        this.#change(`UPDATE check_ins SET request = $next WHERE id = $id AND request = $expected AND result IS NULL`, {
          id,
          expected,
          next,
        }) === 1,
    );
  }

  // ---- relay quota

  async takeRelayQuota(patient: string, windowStart: number, limit: number): Promise<boolean> {
    return this.#run("count a relayed transaction", () => {
      if (!(limit >= 1)) return false;
      return (
        this.#change(
          `INSERT INTO relay_quota (patient, window_start, used) VALUES ($patient, $windowStart, 1)
           ON CONFLICT (patient, window_start) DO UPDATE SET used = used + 1 WHERE used < $limit`,
          { patient, windowStart, limit },
        ) === 1
      );
    });
  }

  // ---- status lists

  async putStatusList(row: StatusListRow): Promise<boolean> {
    return this.#run(
      "store a status list",
      () =>
        this.#change(
          `INSERT INTO status_lists (issuer, name, jwt, issued_at, updated_at)
         VALUES ($issuer, $name, $jwt, $issuedAt, $updatedAt)
         ON CONFLICT (issuer, name) DO UPDATE SET jwt = excluded.jwt, issued_at = excluded.issued_at,
           updated_at = excluded.updated_at
         WHERE excluded.issued_at > status_lists.issued_at`,
          { issuer: row.issuer, name: row.name, jwt: row.jwt, issuedAt: row.issuedAt, updatedAt: row.updatedAt },
        ) === 1,
    );
  }

  async getStatusList(issuer: string, name: string): Promise<StatusListRow | undefined> {
    return this.#run("read a status list", () => {
      const row = this.#get("SELECT * FROM status_lists WHERE issuer = $issuer AND name = $name", { issuer, name });
      return row === undefined ? undefined : mappers.statusListRow(row);
    });
  }

  // ---- webhooks

  async putWebhook(row: WebhookRow): Promise<void> {
    this.#run("store a webhook", () =>
      this.#change(
        `INSERT INTO webhooks (patient, url, created_at) VALUES ($patient, $url, $createdAt)
         ON CONFLICT (patient) DO UPDATE SET url = excluded.url, created_at = excluded.created_at`,
        { patient: row.patient, url: row.url, createdAt: row.createdAt },
      ),
    );
  }

  async getWebhook(patient: string): Promise<WebhookRow | undefined> {
    // Read on every access to the patient's data (the notifier's delivery), so through the read cache.
    return this.#run("read a webhook", () =>
      this.#cached("webhooks", patient, () => {
        const row = this.#get("SELECT * FROM webhooks WHERE patient = $patient", { patient });
        return row === undefined ? undefined : mappers.webhookRow(row);
      }),
    );
  }

  async deleteWebhook(patient: string): Promise<boolean> {
    return this.#run(
      "delete a webhook",
      () => this.#change("DELETE FROM webhooks WHERE patient = $patient", { patient }) === 1,
    );
  }

  // ---- staged uploads

  async putStagedUpload(row: StagedUploadRow): Promise<void> {
    this.#run("stage an upload", () =>
      this.#change(
        `INSERT INTO staged_uploads (cid, uploader, size, expires_at) VALUES ($cid, $uploader, $size, $expiresAt)
         ON CONFLICT (uploader, cid) DO UPDATE SET size = excluded.size, expires_at = excluded.expires_at`,
        { cid: row.cid, uploader: row.uploader, size: row.size, expiresAt: row.expiresAt },
      ),
    );
  }

  async getStagedUpload(cid: string, uploader: string): Promise<StagedUploadRow | undefined> {
    return this.#run("read a staged upload", () => {
      const row = this.#get("SELECT * FROM staged_uploads WHERE uploader = $uploader AND cid = $cid", {
        uploader,
        cid,
      });
      return row === undefined ? undefined : mappers.stagedUploadRow(row);
    });
  }

  async takeStagedUpload(cid: string, uploader: string): Promise<StagedUploadRow | undefined> {
    return this.#run("take a staged upload", () => {
      // One statement: of two registrations racing, one gets the row.
      const row = this.#get("DELETE FROM staged_uploads WHERE uploader = $uploader AND cid = $cid RETURNING *", {
        uploader,
        cid,
      });
      return row === undefined ? undefined : mappers.stagedUploadRow(row);
    });
  }

  async expiredStagedUploads(now: number, limit: number): Promise<StagedUploadRow[]> {
    return this.#run("list expired staged uploads", () =>
      this.#all(
        `SELECT * FROM staged_uploads WHERE expires_at <= $now ORDER BY expires_at, uploader, cid LIMIT $limit`,
        { now, limit },
      ).map(mappers.stagedUploadRow),
    );
  }

  async deleteStagedUpload(cid: string, uploader: string, now: number): Promise<boolean> {
    return this.#run(
      "delete a staged upload",
      () =>
        this.#change("DELETE FROM staged_uploads WHERE uploader = $uploader AND cid = $cid AND expires_at <= $now", {
          uploader,
          cid,
          now,
        }) === 1,
    );
  }

  async isStaged(cid: string): Promise<boolean> {
    return this.#run(
      "read a staged upload",
      () => this.#get("SELECT 1 AS found FROM staged_uploads WHERE cid = $cid LIMIT 1", { cid }) !== undefined,
    );
  }

  async stagedBytesOf(uploader: string): Promise<number> {
    return this.#run("sum an uploader's staged bytes", () => {
      const row = this.#get("SELECT coalesce(sum(size), 0) AS total FROM staged_uploads WHERE uploader = $uploader", {
        uploader,
      });
      return row === undefined ? 0 : int(row, "total");
    });
  }

  // ---- studies and contributions

  async putStudy(row: StudyRow): Promise<void> {
    this.#run("store a study", () =>
      this.#change(
        `INSERT INTO studies (study_id, researcher, irb, approval, title, scopes, encryption_key, ends_at, created_at,
                              checked_at, withdrawn_at, withdrawn_reason, tally_key)
         VALUES ($studyId, $researcher, $irb, $approval, $title, $scopes, $encryptionKey, $endsAt, $createdAt,
                 $checkedAt, $withdrawnAt, $withdrawnReason, $tallyKey)
         ON CONFLICT (study_id) DO UPDATE SET researcher = excluded.researcher, irb = excluded.irb,
           approval = excluded.approval, title = excluded.title, scopes = excluded.scopes,
           encryption_key = excluded.encryption_key, ends_at = excluded.ends_at, checked_at = excluded.checked_at,
           withdrawn_at = excluded.withdrawn_at, withdrawn_reason = excluded.withdrawn_reason,
           tally_key = excluded.tally_key`,
        { ...row, scopes: JSON.stringify(row.scopes) },
      ),
    );
  }

  async getStudy(studyId: string): Promise<StudyRow | undefined> {
    return this.#run("read a study", () => {
      const row = this.#get("SELECT * FROM studies WHERE study_id = $studyId", { studyId });
      return row === undefined ? undefined : mappers.studyRow(row);
    });
  }

  async listStudies(options: ListOptions): Promise<StudyRow[]> {
    return this.#run("list studies", () =>
      this.#all(
        options.after === undefined
          ? "SELECT * FROM studies ORDER BY study_id LIMIT $limit"
          : "SELECT * FROM studies WHERE study_id > $after ORDER BY study_id LIMIT $limit",
        { limit: options.limit, ...(options.after === undefined ? {} : { after: String(options.after) }) },
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
      () =>
        this.#change(
          // A withdrawal is final: a later check never clears it.
          `UPDATE studies SET checked_at = $checkedAt,
             withdrawn_at = coalesce(withdrawn_at, $withdrawnAt),
             withdrawn_reason = coalesce(withdrawn_reason, $withdrawnReason)
           WHERE study_id = $studyId`,
          { studyId, checkedAt, withdrawnAt: withdrawn?.at ?? null, withdrawnReason: withdrawn?.reason ?? null },
        ) === 1,
    );
  }

  async putContribution(row: ContributionRow, tally?: TallyUpdate): Promise<ContributionWrite> {
    return this.#run("store a contribution", () =>
      this.#transaction((): ContributionWrite => {
        if (tally !== undefined && !this.#writeTally(row.studyId, tally)) return { written: false };
        const previous = this.#get("SELECT * FROM contributions WHERE study_id = $studyId AND patient = $patient", {
          studyId: row.studyId,
          patient: row.patient,
        });
        this.#change(
          `INSERT INTO contributions (study_id, patient, cid, size, consent_address, scope_id, wrap, facts, created_at)
           VALUES ($studyId, $patient, $cid, $size, $consentAddress, $scopeId, $wrap, $facts, $createdAt)
           ON CONFLICT (study_id, patient) DO UPDATE SET cid = excluded.cid, size = excluded.size,
             consent_address = excluded.consent_address, scope_id = excluded.scope_id, wrap = excluded.wrap,
             facts = excluded.facts, created_at = excluded.created_at`,
          { ...row, facts: row.facts === null ? null : JSON.stringify(row.facts) },
        );
        return { written: true, previous: previous === undefined ? undefined : mappers.contributionRow(previous) };
      }),
    );
  }

  /** In a transaction: writes the study's tallies when `tally.version` is the stored version + 1; false otherwise. */
  #writeTally(studyId: string, tally: TallyUpdate): boolean {
    const current = this.#get("SELECT version FROM tally_sums WHERE study_id = $studyId", { studyId });
    const stored = current === undefined ? 0 : int(current, "version");
    if (tally.version !== stored + 1) return false;
    this.#change(
      `INSERT INTO tally_sums (study_id, version, sums) VALUES ($studyId, $version, $sums)
       ON CONFLICT (study_id) DO UPDATE SET version = excluded.version, sums = excluded.sums`,
      { studyId, version: tally.version, sums: JSON.stringify(tally.sums) },
    );
    return true;
  }

  async getTallySums(studyId: string): Promise<TallySumsRow | undefined> {
    return this.#run("read a study's tallies", () => {
      const row = this.#get("SELECT * FROM tally_sums WHERE study_id = $studyId", { studyId });
      return row === undefined ? undefined : mappers.tallySumsRow(row);
    });
  }

  async getContribution(studyId: string, patient: string): Promise<ContributionRow | undefined> {
    return this.#run("read a contribution", () => {
      const row = this.#get("SELECT * FROM contributions WHERE study_id = $studyId AND patient = $patient", {
        studyId,
        patient,
      });
      return row === undefined ? undefined : mappers.contributionRow(row);
    });
  }

  async deleteContribution(studyId: string, patient: string, tally?: TallyUpdate): Promise<ContributionWrite> {
    return this.#run("delete a contribution", () =>
      this.#transaction((): ContributionWrite => {
        if (tally !== undefined && !this.#writeTally(studyId, tally)) return { written: false };
        const row = this.#get(
          "DELETE FROM contributions WHERE study_id = $studyId AND patient = $patient RETURNING *",
          { studyId, patient },
        );
        return { written: true, previous: row === undefined ? undefined : mappers.contributionRow(row) };
      }),
    );
  }

  async contributionsTo(studyId: string, options: ListOptions): Promise<ContributionRow[]> {
    return this.#run("list a study's contributions", () =>
      this.#all(
        options.after === undefined
          ? "SELECT * FROM contributions WHERE study_id = $studyId ORDER BY patient LIMIT $limit"
          : "SELECT * FROM contributions WHERE study_id = $studyId AND patient > $after ORDER BY patient LIMIT $limit",
        { studyId, limit: options.limit, ...(options.after === undefined ? {} : { after: String(options.after) }) },
      ).map(mappers.contributionRow),
    );
  }

  async contributionsOf(patient: string): Promise<ContributionRow[]> {
    return this.#run("list a patient's contributions", () =>
      this.#all("SELECT * FROM contributions WHERE patient = $patient ORDER BY study_id", { patient }).map(
        mappers.contributionRow,
      ),
    );
  }

  async contributionByCid(studyId: string, cid: string): Promise<ContributionRow | undefined> {
    return this.#run("read a contribution", () => {
      const row = this.#get("SELECT * FROM contributions WHERE cid = $cid AND study_id = $studyId LIMIT 1", {
        cid,
        studyId,
      });
      return row === undefined ? undefined : mappers.contributionRow(row);
    });
  }

  async isContribution(cid: string): Promise<boolean> {
    return this.#run(
      "read a contribution",
      () => this.#get("SELECT 1 AS found FROM contributions WHERE cid = $cid LIMIT 1", { cid }) !== undefined,
    );
  }

  async appendAggregateRelease(row: AggregateReleaseRow): Promise<void> {
    this.#run("store an aggregate release", () =>
      this.#change(
        `INSERT INTO aggregate_releases (study_id, dimension, seq, released_at, release, members)
         VALUES ($studyId, $dimension,
                 (SELECT coalesce(max(seq) + 1, 0) FROM aggregate_releases WHERE study_id = $studyId AND dimension = $dimension),
                 $releasedAt, $release, $members)`,
        {
          studyId: row.studyId,
          dimension: row.dimension,
          releasedAt: row.releasedAt,
          release: JSON.stringify(row.release),
          members: JSON.stringify(row.members),
        },
      ),
    );
  }

  async aggregateReleases(studyId: string, dimension: string): Promise<AggregateReleaseRow[]> {
    return this.#run("list aggregate releases", () =>
      this.#all("SELECT * FROM aggregate_releases WHERE study_id = $studyId AND dimension = $dimension ORDER BY seq", {
        studyId,
        dimension,
      }).map(mappers.aggregateReleaseRow),
    );
  }

  // ---- open aggregate queries

  async putAggregateQuery(
    row: AggregateQueryRow,
    limits: { perStudy: number; total: number },
    now: number,
  ): Promise<boolean> {
    return this.#run("store an aggregate query", () => {
      // One statement: the counts and the insert are one step under the write lock (no other writer between them).
      const inserted = this.#change(
        `INSERT INTO aggregate_queries (id, study_id, dimension, sums, contributors, included, expires_at)
         SELECT $id, $studyId, $dimension, $sums, $contributors, $included, $expiresAt
         WHERE (SELECT count(*) FROM aggregate_queries WHERE study_id = $studyId AND expires_at > $now) < $perStudy
           AND (SELECT count(*) FROM aggregate_queries WHERE expires_at > $now) < $total`,
        {
          id: row.id,
          studyId: row.studyId,
          dimension: row.dimension,
          sums: JSON.stringify(row.sums),
          contributors: row.contributors,
          included: JSON.stringify(row.included),
          expiresAt: row.expiresAt,
          now,
          perStudy: limits.perStudy,
          total: limits.total,
        },
      );
      return inserted === 1;
    });
  }

  async takeAggregateQuery(studyId: string, id: string, now: number): Promise<AggregateQueryRow | undefined> {
    return this.#run("take an aggregate query", () => {
      // One statement: of several takers, one gets the row; an expired row goes too, unanswered.
      const row = this.#get("DELETE FROM aggregate_queries WHERE id = $id AND study_id = $studyId RETURNING *", {
        id,
        studyId,
      });
      return row === undefined || int(row, "expires_at") <= now ? undefined : mappers.aggregateQueryRow(row);
    });
  }

  // ---- housekeeping

  /**
   * Removes expired nonces, expired check-ins, expired aggregate queries, sessions expired or revoked more than
   * SESSION_RETENTION_MS ago (their roles go with them), and relay-quota windows older than RELAY_QUOTA_RETENTION_MS.
   * One transaction.
   */
  async sweep(now: number): Promise<number> {
    return this.#run("sweep expired rows", () =>
      this.#transaction(() => {
        const before = now - SESSION_RETENTION_MS;
        return (
          this.#change("DELETE FROM nonces WHERE expires_at <= $now", { now }) +
          this.#change("DELETE FROM sessions WHERE expires_at <= $before OR revoked_at <= $before", { before }) +
          this.#change("DELETE FROM check_ins WHERE expires_at <= $now", { now }) +
          this.#change("DELETE FROM aggregate_queries WHERE expires_at <= $now", { now }) +
          this.#change("DELETE FROM relay_quota WHERE window_start <= $old", { old: now - RELAY_QUOTA_RETENTION_MS })
        );
      }),
    );
  }

  /**
   * Answers when the database reads, and its file and the data dir lock file are still the ones opened: a
   * gateway.sqlite deleted or replaced under a running gateway (a mistaken cleanup, a restore) would take every
   * later write to a file nobody opens again, and a replaced lock file no longer excludes a second gateway; both
   * are "unavailable" (restart the gateway).
   */
  async ping(): Promise<void> {
    if (this.#damage !== undefined) throw this.#damage;
    this.#run("answer a ping", () => {
      this.#get("SELECT count(*) AS n FROM schema_migrations");
      let current: string | undefined;
      try {
        const { dev, ino } = statSync(this.file);
        current = `${dev}:${ino}`;
      } catch {
        current = undefined;
      }
      if (current !== this.#identity) {
        this.#cache.disable(); // the file this process writes is not the one others open: read it every time
        throw databaseUnavailable(
          "answer a ping",
          `${this.file} was deleted or replaced while the gateway runs; restart the gateway`,
        );
      }
      if (!this.#lock.stillOwnsFile()) {
        this.#cache.disable(); // another gateway may be writing now: read the file every time
        throw databaseUnavailable(
          "answer a ping",
          `the data dir lock ${join(this.#lock.dataDir, LOCK_FILE)} was deleted or replaced, so a second gateway could open this data dir; restart the gateway`,
        );
      }
    });
  }

  /** The connection's settings as SQLite reports them (for /readyz details, logs and tests). */
  settings(): { file: string; schemaVersion: number; journalMode: string; synchronous: string; foreignKeys: boolean } {
    return this.#run("read its settings", () => {
      const pragma = (name: string): SQLOutputValue | undefined => this.#get(`PRAGMA ${name}`)?.[name];
      const synchronous = ["OFF", "NORMAL", "FULL", "EXTRA"][Number(pragma("synchronous"))] ?? "UNKNOWN";
      const version = this.#get("SELECT coalesce(max(version), 0) AS v FROM schema_migrations");
      return {
        file: this.file,
        schemaVersion: version === undefined ? 0 : int(version, "v"),
        journalMode: String(pragma("journal_mode")),
        synchronous,
        foreignKeys: pragma("foreign_keys") === 1,
      };
    });
  }

  /** Closes the database (a final WAL checkpoint) and releases the data dir. Idempotent. */
  close(): Promise<void> {
    // Every call resolves when the store is closed (and its data dir released), not when the first call began.
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const db = this.#db;
    if (db === undefined) return;
    this.#db = undefined;
    this.#statements.clear();
    try {
      // The batches under way commit (their callers were promised durability), then the writer's thread ends.
      await this.#audit.close();
      try {
        db.exec("PRAGMA optimize"); // refreshes the planner's statistics where SQLite thinks it helps; cheap
      } catch {
        // a database failing at close still closes: optimize is advice, not data
      }
      db.close();
    } finally {
      await this.#lock.release();
    }
  }
}

/** The rows a batch of audit events became, the first at index `start`. */
function rowsFrom(start: number, events: { patient: string; event: Uint8Array }[]): AuditRow[] {
  return events.map((e, i) => ({ index: start + i, patient: e.patient, event: e.event }));
}

// ---- row mapping: node:sqlite's column readers for the shared mappers (../rows.ts). A column of the wrong type is a
// corrupt database: refused rather than guessed at.

function text(row: Row, column: string): string {
  const value = row[column];
  if (typeof value !== "string") throw new StoreFailureError(`column ${column} is not text`);
  return value;
}

function int(row: Row, column: string): number {
  const value = row[column];
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new StoreFailureError(`column ${column} is not a safe integer`);
  }
  return value;
}

/** node:sqlite hands over a new Uint8Array per value: no copy needed. */
function bytes(row: Row, column: string): Uint8Array {
  const value = row[column];
  if (!(value instanceof Uint8Array)) throw new StoreFailureError(`column ${column} is not a blob`);
  return value;
}

/** JSON columns are TEXT here. */
function json(row: Row, column: string): unknown {
  if (row[column] === null) return null;
  try {
    return JSON.parse(text(row, column)) as unknown;
  } catch (error) {
    if (error instanceof StoreFailureError) throw error;
    throw new StoreFailureError(`column ${column} is not JSON`);
  }
}

const mappers = rowMappers({ text, int, bytes, json });
