// The PostgreSQL schema, as numbered migrations applied in order at open. Rules (as ../sqlite/migrations.ts):
// - A migration, once released, is never edited: a change is a new migration with the next number.
// - Each is applied in one transaction together with its `schema_migrations` row, under a transaction-scoped advisory
//   lock: several gateways starting at once against one database migrate it once (the others wait, then find
//   nothing left to do). DDL is transactional in PostgreSQL, so a failed migration leaves nothing behind.
// - Addresses, ids and CIDs are text as the interface has them (lowercase); times bigint unix ms (chain values:
//   unix seconds, as named); bytes bytea; JSON values `json` (kept as written, key order included, and validated).
// - Every query of the store is served by an index (named after the query it serves).
// - Several audit logs, one per gateway (`audit_logs`, by origin). Each log's `next_index` is the counter appends
//   lock and advance. The logs are append-only in the schema itself: triggers refuse an index that does not continue
//   its log and any UPDATE, DELETE or TRUNCATE of `audit_events`, whoever connects (the store or a psql shell).
import type { ClientBase } from "pg";
import { StoreOpenError } from "../sqlite/errors.ts";
import { isUnavailable, sqlState } from "./errors.ts";

export interface Migration {
  /** 1, 2, 3, ... without gaps. */
  readonly version: number;
  /** Short name, recorded beside the version (a renamed migration at a known version is refused at open). */
  readonly name: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "initial",
    sql: `
CREATE TABLE nonces (
  nonce text PRIMARY KEY,
  expires_at bigint NOT NULL
);
CREATE INDEX nonces_by_expiry ON nonces (expires_at);

CREATE TABLE sessions (
  id text PRIMARY KEY,
  address text NOT NULL,
  chain_id bigint NOT NULL,
  issued_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  revoked_at bigint
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE INDEX sessions_by_revocation ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE session_roles (
  session_id text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  role text NOT NULL CHECK (role IN ('clinic', 'researcher')),
  credential text NOT NULL,
  issuer text NOT NULL,
  checked_at bigint NOT NULL,
  valid_until bigint,
  PRIMARY KEY (session_id, role)
);

CREATE TABLE records (
  patient text NOT NULL,
  cid text NOT NULL,
  size bigint NOT NULL CHECK (size >= 0),
  scope_ids json NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (patient, cid)
);
-- One owner per CID: wraps are keyed by (cid, recipient), so a second owner could replace the first one's wraps.
CREATE UNIQUE INDEX records_by_cid ON records (cid);
CREATE INDEX records_newest_first ON records (patient, created_at DESC, cid DESC);

CREATE TABLE wraps (
  cid text NOT NULL,
  recipient text NOT NULL,
  wrap text NOT NULL,
  created_at bigint NOT NULL,
  PRIMARY KEY (cid, recipient)
);

CREATE TABLE grantees (
  patient text NOT NULL,
  grantee text NOT NULL,
  first_at bigint NOT NULL,
  PRIMARY KEY (patient, grantee)
);

CREATE TABLE manifest_pointers (
  patient text PRIMARY KEY,
  cid text NOT NULL,
  version bigint NOT NULL CHECK (version >= 1),
  updated_at bigint NOT NULL
);

CREATE TABLE consent_links (
  patient text NOT NULL,
  grantee text NOT NULL,
  consent_address text NOT NULL,
  issued_at bigint NOT NULL,
  link text NOT NULL,
  PRIMARY KEY (patient, grantee)
);
CREATE INDEX consent_links_by_address ON consent_links (consent_address, issued_at);

CREATE TABLE audit_logs (
  origin text PRIMARY KEY,
  verifier_key text NOT NULL,
  gateway text NOT NULL,
  created_at bigint NOT NULL,
  next_index bigint NOT NULL DEFAULT 0 CHECK (next_index >= 0)
);

CREATE TABLE audit_events (
  origin text NOT NULL REFERENCES audit_logs (origin),
  idx bigint NOT NULL CHECK (idx >= 0),
  patient text NOT NULL,
  event bytea NOT NULL,
  PRIMARY KEY (origin, idx)
);
CREATE INDEX audit_by_patient ON audit_events (origin, patient, idx);

CREATE FUNCTION audit_events_continue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- Rows inserted earlier by the same statement are visible here, so a multi-row batch is checked row by row.
  IF NEW.idx IS DISTINCT FROM (SELECT coalesce(max(idx) + 1, 0) FROM audit_events WHERE origin = NEW.origin) THEN
    RAISE EXCEPTION 'audit_events: an index must continue the log without a gap';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER audit_events_continue BEFORE INSERT ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_continue();

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only';
END $$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

CREATE TABLE checkpoints (
  origin text NOT NULL REFERENCES audit_logs (origin),
  size bigint NOT NULL CHECK (size >= 0),
  root_hash text NOT NULL,
  note text NOT NULL,
  created_at bigint NOT NULL,
  anchor_tx text,
  anchor_block bigint,
  anchor_first bigint,
  anchor_count bigint,
  PRIMARY KEY (origin, size),
  CHECK ((anchor_tx IS NULL) = (anchor_block IS NULL)
     AND (anchor_tx IS NULL) = (anchor_first IS NULL)
     AND (anchor_tx IS NULL) = (anchor_count IS NULL))
);
CREATE INDEX checkpoints_anchored ON checkpoints (origin, size) WHERE anchor_tx IS NOT NULL;

CREATE TABLE check_ins (
  id text PRIMARY KEY,
  clinic text NOT NULL,
  request text NOT NULL,
  created_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  result text,
  completed_at bigint,
  CHECK ((result IS NULL) = (completed_at IS NULL))
);
CREATE INDEX check_ins_by_expiry ON check_ins (expires_at);

CREATE TABLE relay_quota (
  patient text NOT NULL,
  window_start bigint NOT NULL,
  used bigint NOT NULL CHECK (used >= 1),
  PRIMARY KEY (patient, window_start)
);
CREATE INDEX relay_quota_by_window ON relay_quota (window_start);

CREATE TABLE status_lists (
  issuer text NOT NULL,
  name text NOT NULL,
  jwt text NOT NULL,
  issued_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  PRIMARY KEY (issuer, name)
);

CREATE TABLE webhooks (
  patient text PRIMARY KEY,
  url text NOT NULL,
  created_at bigint NOT NULL
);

CREATE TABLE staged_uploads (
  cid text NOT NULL,
  uploader text NOT NULL,
  size bigint NOT NULL CHECK (size >= 0),
  expires_at bigint NOT NULL,
  PRIMARY KEY (uploader, cid)
);
CREATE INDEX staged_uploads_by_expiry ON staged_uploads (expires_at);
CREATE INDEX staged_uploads_by_cid ON staged_uploads (cid);

CREATE TABLE studies (
  study_id text PRIMARY KEY,
  researcher text NOT NULL,
  irb text NOT NULL,
  approval text NOT NULL,
  title text NOT NULL,
  scopes json NOT NULL,
  encryption_key text NOT NULL,
  ends_at bigint NOT NULL,
  created_at bigint NOT NULL,
  checked_at bigint NOT NULL,
  withdrawn_at bigint,
  withdrawn_reason text,
  tally_key text
);

CREATE TABLE contributions (
  study_id text NOT NULL,
  patient text NOT NULL,
  cid text NOT NULL,
  size bigint NOT NULL CHECK (size >= 0),
  consent_address text NOT NULL,
  scope_id text NOT NULL,
  wrap text NOT NULL,
  facts json,
  created_at bigint NOT NULL,
  PRIMARY KEY (study_id, patient)
);
CREATE INDEX contributions_by_patient ON contributions (patient, study_id);
CREATE INDEX contributions_by_cid ON contributions (cid);

CREATE TABLE tally_sums (
  study_id text PRIMARY KEY,
  version bigint NOT NULL CHECK (version >= 1),
  sums json NOT NULL
);

-- seq orders a (study, dimension)'s releases: an identity, so two gateways releasing at once never collide.
CREATE TABLE aggregate_releases (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  study_id text NOT NULL,
  dimension text NOT NULL,
  released_at bigint NOT NULL,
  release json NOT NULL,
  members json NOT NULL
);
CREATE INDEX aggregate_releases_by_dimension ON aggregate_releases (study_id, dimension, seq);
`,
  },
  {
    version: 2,
    name: "aggregate_queries",
    // Open aggregate queries (step 1 answered, step 2 to come), shared: step 2 may reach another gateway than step 1.
    // The limits count a study's unexpired rows and all of them; the sweep deletes by expiry.
    sql: `
CREATE TABLE aggregate_queries (
  id text PRIMARY KEY,
  study_id text NOT NULL,
  dimension text NOT NULL,
  sums json NOT NULL,
  contributors bigint NOT NULL CHECK (contributors >= 0),
  included json NOT NULL,
  expires_at bigint NOT NULL
);
CREATE INDEX aggregate_queries_by_study ON aggregate_queries (study_id, expires_at);
CREATE INDEX aggregate_queries_by_expiry ON aggregate_queries (expires_at);
`,
  },
];

/** The newest schema version this gateway knows. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;

/**
 * The advisory lock key every gateway's migration takes (transaction-scoped: released at COMMIT or ROLLBACK, and by
 * the server when a connection dies). Any constant works; this one spells "hygeiaMG".
 */
const MIGRATION_LOCK = "7527942307384493895";

/**
 * Applies the pending migrations, each in its own transaction under the migration lock; refuses a schema this
 * gateway does not know. `where` names the database in errors (never its password).
 */
export async function migrate(client: ClientBase, where: string): Promise<number> {
  for (;;) {
    await client.query("BEGIN");
    try {
      // A migration may build indexes on large tables: the connection's statement timeout is not for it.
      await client.query("SET LOCAL statement_timeout = 0");
      await client.query(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
      await client.query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)",
      );
      const applied = await appliedMigrations(client, where);
      const next = MIGRATIONS[applied];
      if (next === undefined) {
        await client.query("COMMIT");
        return applied;
      }
      await apply(client, next, where);
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined); // the first error is the one to report
      throw error;
    }
  }
}

/** How many migrations the database has, checked against this gateway's list. */
async function appliedMigrations(client: ClientBase, where: string): Promise<number> {
  const { rows } = await client.query<{ version: number; name: string }>(
    "SELECT version, name FROM schema_migrations ORDER BY version",
  );
  const newest = rows.length === 0 ? 0 : Number(rows[rows.length - 1]!.version);
  if (newest > SCHEMA_VERSION) {
    throw new StoreOpenError(
      "DATABASE_TOO_NEW",
      where,
      `${where} has schema version ${newest}, newer than this gateway's ${SCHEMA_VERSION}: run the gateway version that wrote it (a database is never migrated back)`,
    );
  }
  rows.forEach((row, i) => {
    const known = MIGRATIONS[i];
    if (known === undefined || Number(row.version) !== known.version || row.name !== known.name) {
      throw new StoreOpenError(
        "DATABASE_CORRUPT",
        where,
        `${where}: schema_migrations does not match this gateway's migrations at row ${i + 1} (version ${String(row.version)} "${String(row.name)}")`,
      );
    }
  });
  return rows.length;
}

async function apply(client: ClientBase, migration: Migration, where: string): Promise<void> {
  try {
    await client.query(migration.sql);
    await client.query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)", [
      migration.version,
      migration.name,
      Date.now(),
    ]);
  } catch (error) {
    if (sqlState(error) === undefined || isUnavailable(error)) throw error; // the database failed, not the migration
    const reason = error instanceof Error ? error.message : String(error);
    throw new StoreOpenError(
      "DATABASE_MIGRATION_FAILED",
      where,
      `${where}: migration ${migration.version} "${migration.name}" failed and was rolled back (the database stays at version ${migration.version - 1}): ${reason}`,
      { cause: error },
    );
  }
}
