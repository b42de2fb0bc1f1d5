// The SQLite schema, as numbered migrations applied in order at open (each in its own transaction, recorded in
// `schema_migrations`). Rules:
// - A migration, once released, is never edited: a change is a new migration with the next number.
// - Tables are STRICT (a wrong type is an error, not a silent conversion); addresses, ids and CIDs are TEXT as
//   the interface has them (lowercase); times INTEGER unix ms (chain values: unix seconds, as named).
// - Every query of the store is served by an index (named after the query it serves).
// - The audit log is append-only in the schema itself: triggers refuse an index that does not continue the log
//   and any UPDATE or DELETE, so no code path (ours or an operator's sqlite3 shell) can rewrite history quietly.

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
  nonce TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX nonces_by_expiry ON nonces (expires_at);

CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  address TEXT NOT NULL,
  chain_id INTEGER NOT NULL,
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  revoked_at INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE INDEX sessions_by_revocation ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

CREATE TABLE session_roles (
  session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  role TEXT NOT NULL CHECK (role IN ('clinic', 'researcher')),
  credential TEXT NOT NULL,
  issuer TEXT NOT NULL,
  checked_at INTEGER NOT NULL,
  valid_until INTEGER,
  PRIMARY KEY (session_id, role)
) STRICT, WITHOUT ROWID;

CREATE TABLE records (
  patient TEXT NOT NULL,
  cid TEXT NOT NULL,
  size INTEGER NOT NULL CHECK (size >= 0),
  scope_ids TEXT NOT NULL CHECK (json_valid(scope_ids)),
  created_at INTEGER NOT NULL,
  PRIMARY KEY (patient, cid)
) STRICT, WITHOUT ROWID;
CREATE INDEX records_newest_first ON records (patient, created_at DESC, cid DESC);

CREATE TABLE wraps (
  cid TEXT NOT NULL,
  recipient TEXT NOT NULL,
  wrap TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (cid, recipient)
) STRICT, WITHOUT ROWID;

CREATE TABLE grantees (
  patient TEXT NOT NULL,
  grantee TEXT NOT NULL,
  first_at INTEGER NOT NULL,
  PRIMARY KEY (patient, grantee)
) STRICT, WITHOUT ROWID;

CREATE TABLE manifest_pointers (
  patient TEXT PRIMARY KEY,
  cid TEXT NOT NULL,
  version INTEGER NOT NULL CHECK (version >= 1),
  updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE consent_links (
  patient TEXT NOT NULL,
  grantee TEXT NOT NULL,
  consent_address TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  link TEXT NOT NULL,
  PRIMARY KEY (patient, grantee)
) STRICT, WITHOUT ROWID;

CREATE TABLE audit_events (
  idx INTEGER PRIMARY KEY CHECK (idx >= 0),
  patient TEXT NOT NULL,
  event BLOB NOT NULL
) STRICT;
CREATE INDEX audit_by_patient ON audit_events (patient, idx);
CREATE TRIGGER audit_events_continue BEFORE INSERT ON audit_events
  WHEN NEW.idx IS NOT (SELECT coalesce(max(idx) + 1, 0) FROM audit_events)
  BEGIN SELECT RAISE(ABORT, 'audit_events: an index must continue the log without a gap'); END;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
  BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
  BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;

CREATE TABLE checkpoints (
  size INTEGER PRIMARY KEY CHECK (size >= 0),
  root_hash TEXT NOT NULL,
  note TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  anchor_tx TEXT,
  anchor_block INTEGER,
  anchor_first INTEGER,
  anchor_count INTEGER,
  CHECK ((anchor_tx IS NULL) = (anchor_block IS NULL)
     AND (anchor_tx IS NULL) = (anchor_first IS NULL)
     AND (anchor_tx IS NULL) = (anchor_count IS NULL))
) STRICT;
CREATE INDEX checkpoints_anchored ON checkpoints (size) WHERE anchor_tx IS NOT NULL;

CREATE TABLE check_ins (
  id TEXT PRIMARY KEY,
  clinic TEXT NOT NULL,
  request TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  result TEXT,
  completed_at INTEGER,
  CHECK ((result IS NULL) = (completed_at IS NULL))
) STRICT, WITHOUT ROWID;
CREATE INDEX check_ins_by_expiry ON check_ins (expires_at);

CREATE TABLE relay_quota (
  patient TEXT NOT NULL,
  window_start INTEGER NOT NULL,
  used INTEGER NOT NULL CHECK (used >= 1),
  PRIMARY KEY (patient, window_start)
) STRICT, WITHOUT ROWID;
CREATE INDEX relay_quota_by_window ON relay_quota (window_start);

CREATE TABLE status_lists (
  issuer TEXT NOT NULL,
  name TEXT NOT NULL,
  jwt TEXT NOT NULL,
  issued_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (issuer, name)
) STRICT, WITHOUT ROWID;

CREATE TABLE webhooks (
  patient TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
`,
  },
  {
    version: 2,
    name: "records_one_owner_per_cid",
    // Wraps are keyed by (cid, recipient): a second patient recording a copy of someone's ciphertext could
    // otherwise overwrite that patient's wraps. A CID has one owner.
    sql: `CREATE UNIQUE INDEX records_by_cid ON records (cid);`,
  },
  {
    version: 3,
    name: "consent_links_by_address",
    // The consent relay finds the main patient a consent account's message is audited under by its address.
    sql: `CREATE INDEX consent_links_by_address ON consent_links (consent_address, issued_at);`,
  },
  {
    version: 4,
    name: "staged_uploads",
    // Uploads awaiting registration, durable: a restart keeps them registrable until they expire, and the sweep
    // then unpins them (in memory they stayed pinned for ever after a restart). Per uploader for the budget.
    sql: `
CREATE TABLE staged_uploads (
  cid TEXT NOT NULL,
  uploader TEXT NOT NULL,
  size INTEGER NOT NULL CHECK (size >= 0),
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (uploader, cid)
) STRICT, WITHOUT ROWID;
CREATE INDEX staged_uploads_by_expiry ON staged_uploads (expires_at);
CREATE INDEX staged_uploads_by_cid ON staged_uploads (cid);
`,
  },
  {
    version: 5,
    name: "studies_and_contributions",
    // Research: the studies this gateway serves (approval verified, the researcher's tally key share), the
    // patients' encrypted contributions to them (one per study and patient; pulls page by patient) with their
    // encrypted facts, and each aggregate table released (the history small-cell suppression checks against).
    sql: `
CREATE TABLE studies (
  study_id TEXT PRIMARY KEY,
  researcher TEXT NOT NULL,
  irb TEXT NOT NULL,
  approval TEXT NOT NULL,
  title TEXT NOT NULL,
  scopes TEXT NOT NULL,
  encryption_key TEXT NOT NULL,
  ends_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  checked_at INTEGER NOT NULL,
  withdrawn_at INTEGER,
  withdrawn_reason TEXT,
  tally_key TEXT
) STRICT, WITHOUT ROWID;

CREATE TABLE contributions (
  study_id TEXT NOT NULL,
  patient TEXT NOT NULL,
  cid TEXT NOT NULL,
  size INTEGER NOT NULL CHECK (size >= 0),
  consent_address TEXT NOT NULL,
  scope_id TEXT NOT NULL,
  wrap TEXT NOT NULL,
  facts TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (study_id, patient)
) STRICT, WITHOUT ROWID;
CREATE INDEX contributions_by_patient ON contributions (patient, study_id);
CREATE INDEX contributions_by_cid ON contributions (cid);

CREATE TABLE tally_sums (
  study_id TEXT PRIMARY KEY,
  version INTEGER NOT NULL CHECK (version >= 1),
  sums TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE aggregate_releases (
  study_id TEXT NOT NULL,
  dimension TEXT NOT NULL,
  seq INTEGER NOT NULL,
  released_at INTEGER NOT NULL,
  release TEXT NOT NULL,
  members TEXT NOT NULL,
  PRIMARY KEY (study_id, dimension, seq)
) STRICT, WITHOUT ROWID;
`,
  },
  {
    version: 6,
    name: "audit_logs",
    // The log this store appends to, by origin (the interface's claimAuditLog): one row at most, as a SQLite store
    // holds one gateway's log (`one_log` is unique and always 1). The rows of audit_events and checkpoints already
    // there belong to the log claimed first.
    sql: `
CREATE TABLE audit_logs (
  origin TEXT PRIMARY KEY,
  verifier_key TEXT NOT NULL,
  gateway TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  one_log INTEGER NOT NULL DEFAULT 1 UNIQUE CHECK (one_log = 1)
) STRICT, WITHOUT ROWID;
`,
  },
  {
    version: 7,
    name: "aggregate_queries",
    // Open aggregate queries (step 1 answered, step 2 to come), durable and shared instead of in one process's
    // memory: step 2 may reach another gateway (PostgreSQL) or this one after a restart. The limits count a study's
    // unexpired rows and all of them; the sweep deletes by expiry.
    sql: `
CREATE TABLE aggregate_queries (
  id TEXT PRIMARY KEY,
  study_id TEXT NOT NULL,
  dimension TEXT NOT NULL,
  sums TEXT NOT NULL CHECK (json_valid(sums)),
  contributors INTEGER NOT NULL CHECK (contributors >= 0),
  included TEXT NOT NULL CHECK (json_valid(included)),
  expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX aggregate_queries_by_study ON aggregate_queries (study_id, expires_at);
CREATE INDEX aggregate_queries_by_expiry ON aggregate_queries (expires_at);
`,
  },
];

/** The newest schema version this gateway knows. */
export const SCHEMA_VERSION: number = MIGRATIONS.length;
