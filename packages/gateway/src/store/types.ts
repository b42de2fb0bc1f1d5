// GatewayStore: every piece of state the gateway keeps, behind one interface.
//
// Rules every implementation keeps (node:sqlite now, PostgreSQL in the scale-out issue; the contract tests
// in test/store/contract.ts run against each):
// - Every method is atomic: it commits fully or not at all. SQL and transactions stay inside the
//   implementation; callers never see a connection or a transaction.
// - Durable when it resolves: a resolved write survives `kill -9` and power loss (SQLite: WAL with
//   synchronous=FULL). The audit append is the one hot durable write; it takes a batch so that one
//   commit (one fsync) serves many concurrent requests (group commit, done by the audit log).
// - Times are unix milliseconds (numbers); addresses are lowercase 0x-hex; bytes32 ids lowercase 0x-hex;
//   CIDs are CIDv1 base32 strings. Validation happens before the store: the store trusts its callers.
// - Nothing here ever holds plaintext, an unwrapped key, a session token, or a scope key.
// - Unavailable backing store: methods reject with a `DependencyUnavailableError("database", ...)`.

/** A SIWE nonce handed out and not yet used. */
export interface NonceRow {
  nonce: string;
  expiresAt: number;
}

/** A signed-in session. The token itself is never stored: `id` is its random identifier, the MAC key is the gateway's. */
export interface SessionRow {
  id: string;
  address: string;
  chainId: number;
  issuedAt: number;
  expiresAt: number;
  revokedAt: number | null;
}

/** A role a session proved with a credential, re-checked while the session lives. */
export interface SessionRoleRow {
  sessionId: string;
  role: "clinic" | "researcher";
  /** The credential as presented (a JWT or SD-JWT; it names only the holder's organisation, never a patient). */
  credential: string;
  issuer: string;
  /** When the role was last verified (credential status and issuer accreditation), unix ms. */
  checkedAt: number;
  /** When the credential itself stops being valid, unix ms (its `exp`), or null. */
  validUntil: number | null;
}

/** An uploaded record: its ciphertext CID, owner, size, and the opaque scope ids the wallet attached. */
export interface RecordRow {
  /** The patient's main (signed-in) address: the owner. */
  patient: string;
  cid: string;
  /** Ciphertext bytes. */
  size: number;
  /**
   * The record's scope ids per consent address (the patient's main address and each pairwise consent
   * account the wallet uses for some grantee): `{ [consentAddress]: bytes32[] }`, 1 to 32 ids each.
   */
  scopeIds: Record<string, string[]>;
  createdAt: number;
}

/** A DEK sealed to one recipient's X25519 key (@hygeia/crypto key wrap, version 1), base64url. */
export interface WrapRow {
  cid: string;
  /** The recipient's address (the patient's own address for its self-wrap). */
  recipient: string;
  wrap: string;
  createdAt: number;
}

/** The pointer to a patient's latest sealed manifest on IPFS (compare-and-swap). */
export interface ManifestPointerRow {
  patient: string;
  cid: string;
  /** Increases by one per successful update. */
  version: number;
  updatedAt: number;
}

/** Which consent address acts for the patient toward a grantee (a verified ConsentAddressLink, as JSON). */
export interface ConsentLinkRow {
  patient: string;
  grantee: string;
  consentAddress: string;
  /** Unix seconds, as in the link: a newer link of the pair replaces an older one, never the reverse. */
  issuedAt: number;
  /** The signed link, JSON (`signConsentAddressLink`'s output), kept so a restored wallet can fetch it back. */
  link: string;
}

/** One audit event as stored: its position, its canonical bytes (the leaf data) and indexed columns. */
export interface AuditRow {
  /** Position in the log, from 0, assigned by the store in append order without gaps. */
  index: number;
  /** The data owner whose log view lists it (lowercase address). */
  patient: string;
  /** The canonical event bytes (UTF-8 JSON, see @hygeia/audit `encodeAuditEvent`): the Merkle leaf's data. */
  event: Uint8Array;
}

/** A tree head the gateway computed and signed; `anchor` is set once it is mined on AuditAnchor. */
export interface CheckpointRow {
  size: number;
  /** RFC 9162 root hash, 0x-hex. */
  rootHash: string;
  /** The C2SP signed note text. */
  note: string;
  createdAt: number;
  anchor: { txHash: string; blockNumber: number; firstIndex: number; count: number } | null;
}

/** A check-in a clinic opened (challenge) and, once answered, its verified result. */
export interface CheckInRow {
  id: string;
  clinic: string;
  /** The request as JSON (challenge, domain, credential types and claims asked for). */
  request: string;
  createdAt: number;
  expiresAt: number;
  /** The verification result as JSON, once the patient answered; null before. */
  result: string | null;
  completedAt: number | null;
}

/** An issuer's published status list credential (JWT), served at a stable URL. */
export interface StatusListRow {
  issuer: string;
  /** The list's name within the issuer's namespace (URL path segment). */
  name: string;
  jwt: string;
  /** The credential's `iat` (unix seconds): an update must be newer. */
  issuedAt: number;
  updatedAt: number;
}

/**
 * An upload pinned for the address that sent it and not yet registered (PUT /v1/uploads, then POST /v1/records or
 * PUT /v1/manifest). Kept in the store so a restart neither forgets it (it would stay pinned for ever) nor lets
 * its uploader past the staging budget.
 */
export interface StagedUploadRow {
  cid: string;
  /** The address that uploaded it: the only one that may register it. */
  uploader: string;
  /** Bytes (the file's size). */
  size: number;
  /** Unix ms: after this it is no longer registrable, and the sweep unpins it unless something references it. */
  expiresAt: number;
}

/** A patient's notification webhook. */
export interface WebhookRow {
  patient: string;
  url: string;
  createdAt: number;
}

/**
 * A study this gateway serves: registered on the StudyRegistry, its EthicsApprovalCredential verified here (issuer
 * the study's IRB, trusted at issuance and now, not revoked, naming the registration's protocol). Research issue.
 */
export interface StudyRow {
  /** bytes32, lowercase. */
  studyId: string;
  researcher: string;
  irb: string;
  /** The EthicsApprovalCredential (JWT) as issued: keccak256 of it is the registration's approvalHash. */
  approval: string;
  /** The protocol title the approval names. */
  title: string;
  /** The canonical scope strings the study asks for (their keccak256 are the registration's scopes). */
  scopes: string[];
  /** The study's X25519 public key, 0x-hex (contributions are sealed to it). */
  encryptionKey: string;
  /** Unix seconds: the registration's end. */
  endsAt: number;
  createdAt: number;
  /** When the approval was last verified (its status list, the IRB's accreditation), unix ms. */
  checkedAt: number;
  /** Set when a re-check found the approval revoked or the IRB no longer trusted: the study is not served again. */
  withdrawnAt: number | null;
  /** Why (an UPPER_SNAKE code), with `withdrawnAt`. */
  withdrawnReason: string | null;
  /** The researcher's share of the study's tally key (base64url point), when the study has aggregate scopes. */
  tallyKey: string | null;
}

/** A patient's facts for one aggregate dimension: its encrypted one-hot vector and proofs (@hygeia/crypto tallies). */
export interface EncryptedFactsRow {
  /** One base64url 64-byte cell per category. */
  cells: string[];
  /** base64url proof. */
  proof: string;
}

/**
 * A study's running tallies: per aggregate dimension, the encrypted sum of the cells of every stored contribution
 * (@hygeia/crypto addCells), so a count costs the contributors left out, not all of them. `version` orders the
 * updates: each write of a contribution of the study carries the next one (compare-and-swap between gateways).
 */
export interface TallySumsRow {
  studyId: string;
  version: number;
  /** dimension -> one base64url 64-byte encrypted sum per category. */
  sums: Record<string, string[]>;
}

/** The study's new tallies, written with a contribution: `version` must be the stored version + 1 (1: none yet). */
export interface TallyUpdate {
  version: number;
  sums: Record<string, string[]>;
}

/** A contribution write: done (with the row it replaced or deleted), or refused because the tallies moved. */
export type ContributionWrite =
  { written: true; previous: ContributionRow | undefined } | { written: false; previous?: undefined };

/** One aggregate table released to a study (after small-cell suppression): the history later releases check. */
export interface AggregateReleaseRow {
  studyId: string;
  dimension: string;
  releasedAt: number;
  /** As released: cell label -> count, null where withheld. */
  release: { cells: Record<string, number | null>; total: number | null; k: number };
  /** Who was counted: a short hash of each included contribution's CID (rule 0 of the next releases). */
  members: string[];
}

/**
 * An open aggregate query (step 1 of an aggregate, answered; step 2 takes it): the encrypted sums it served and the
 * contributions they count, so that any gateway sharing the store can finish it. Holds no plaintext and no key.
 */
export interface AggregateQueryRow {
  /** Random (a UUID): the researcher's handle for step 2. */
  id: string;
  studyId: string;
  /** The dimension's name; its categories are the study's (found again at step 2). */
  dimension: string;
  /** The encrypted count per category, in the dimension's order, base64url. */
  sums: string[];
  contributors: number;
  /** The contributions counted: step 2 checks their consent again, and the release records who was counted. */
  included: { patient: string; cid: string; consentAddress: string; scopeId: string }[];
  /** Unix ms: from then on it is neither taken nor counted against the limits. */
  expiresAt: number;
}

/** A patient's contribution to a study: a de-identified extract, encrypted, its DEK sealed to the study's key. */
export interface ContributionRow {
  studyId: string;
  /** The patient's main (signed-in) address. Never served to the researcher. */
  patient: string;
  /** The encrypted extract's CID. */
  cid: string;
  size: number;
  /** The consent address the research grant comes from (the patient's, or its pairwise account for the researcher). */
  consentAddress: string;
  /** The keyed scope id of `study:<studyId>` under that address (bytes32, lowercase). */
  scopeId: string;
  /** The extract's DEK sealed to the study's X25519 key, base64url. */
  wrap: string;
  /** The patient's encrypted facts per aggregate dimension (verified before storing); null: the study has none. */
  facts: Record<string, EncryptedFactsRow> | null;
  createdAt: number;
}

/**
 * One gateway's audit log. Several gateways sharing one store (scale-out) each keep their own log, signed with their
 * own key and anchored from their own account; a patient's view merges them, each with proofs against its own log.
 */
export interface AuditLogRow {
  /** The log's checkpoint origin line: its name, unique within a store. */
  origin: string;
  /** C2SP verifier key of the Ed25519 key that signs its checkpoints. */
  verifierKey: string;
  /** The anchoring address written into its events (lowercase 0x-hex; the zero address when not anchored). */
  gateway: string;
  createdAt: number;
}

/** Reads of one audit log of the store: this gateway's own, or another gateway's on a shared store. */
export interface AuditLogReader {
  readonly origin: string;
  size(): Promise<number>;
  /** Rows [from, to) in index order. */
  range(from: number, to: number): Promise<AuditRow[]>;
  /** A patient's rows in index order, after `options.after` (an index). */
  of(patient: string, options: ListOptions): Promise<AuditRow[]>;
  getCheckpoint(size: number): Promise<CheckpointRow | undefined>;
  latestCheckpoint(options?: { anchored?: boolean }): Promise<CheckpointRow | undefined>;
  /** Oldest first. */
  listCheckpoints(options: ListOptions): Promise<CheckpointRow[]>;
}

export interface ListOptions {
  /** Exclusive cursor: return rows after this one (a CID for records, an index for audit rows). */
  after?: string | number;
  limit: number;
}

/**
 * Best-effort messages between the gateways sharing a store (PostgreSQL LISTEN/NOTIFY): an access decided at one
 * gateway reaches the patient's live event streams held by the others. Not a record: the audit log is.
 */
export interface GatewayBus {
  /** Sends `message` (at most 7,000 bytes) to every gateway's listeners, this one's included; rejects when it cannot. */
  publish(message: string): Promise<void>;
  /**
   * Calls `listener` with every message published from now on; resolves once listening, to the unsubscribe.
   * `onState` hears when the listening connection comes back (true) and goes (false): messages published meanwhile
   * were lost to this listener.
   */
  listen(listener: (message: string) => void, onState?: (listening: boolean) => void): Promise<() => Promise<void>>;
}

export interface GatewayStore {
  /** Which implementation: "sqlite" or "postgres"; for /readyz and the logs. */
  readonly kind: string;
  /** Messages to the other gateways sharing this store; absent when no other gateway can share it (SQLite). */
  readonly bus?: GatewayBus;

  // SIWE nonces: single use across every gateway sharing the store.
  putNonce(row: NonceRow): Promise<void>;
  /** True exactly once per nonce, and only before it expires; a used nonce is gone. */
  consumeNonce(nonce: string, now: number): Promise<boolean>;

  // Sessions.
  putSession(row: SessionRow): Promise<void>;
  getSession(id: string): Promise<SessionRow | undefined>;
  /** Sets `revokedAt`; false when no such session. Its roles go with it. */
  revokeSession(id: string, at: number): Promise<boolean>;
  /** Replaces the session's role of that name; false (nothing written) when the session is unknown or revoked. */
  putSessionRole(row: SessionRoleRow): Promise<boolean>;
  sessionRoles(sessionId: string): Promise<SessionRoleRow[]>;
  deleteSessionRole(sessionId: string, role: SessionRoleRow["role"]): Promise<void>;

  // Records and wraps.
  /**
   * Inserts the record and its wraps in one transaction; false (nothing written) when the CID is already
   * recorded, for that patient or any other: a CID names one ciphertext and wraps are keyed by (cid, recipient),
   * so a second owner (a copied ciphertext) could otherwise replace the first owner's wraps.
   */
  putRecord(record: RecordRow, wraps: WrapRow[]): Promise<boolean>;
  getRecord(patient: string, cid: string): Promise<RecordRow | undefined>;
  /** Newest first. */
  listRecords(patient: string, options: ListOptions): Promise<RecordRow[]>;
  /** Adds scope ids under a consent address to a record (a new grantee's account); replaces that address's list. */
  setRecordScopeIds(patient: string, cid: string, consentAddress: string, scopeIds: string[]): Promise<boolean>;
  /** Adds or replaces wraps of an existing record (a grant that covers existing records). */
  putWraps(wraps: WrapRow[]): Promise<void>;
  getWrap(cid: string, recipient: string): Promise<WrapRow | undefined>;
  /** Every wrap of a CID (its recipients), oldest first. */
  wrapsOf(cid: string): Promise<WrapRow[]>;

  /** Remembers that `grantee` received a release of the patient's data; true the first time (a new grantee to flag). */
  noteGrantee(patient: string, grantee: string, at: number): Promise<boolean>;

  // Manifest pointers.
  getManifestPointer(patient: string): Promise<ManifestPointerRow | undefined>;
  /**
   * Sets the pointer when its current CID is `expected` (null: none yet). Returns the new row, or
   * undefined when the current pointer differs (the caller answers 409 with the current one).
   */
  compareAndSetManifestPointer(
    patient: string,
    expected: string | null,
    next: { cid: string; updatedAt: number },
  ): Promise<ManifestPointerRow | undefined>;

  // Consent address links (pairwise accounts).
  /** Keeps the newest link per (patient, grantee); false when a link of the pair with a later `issuedAt` is kept. */
  putConsentLink(row: ConsentLinkRow): Promise<boolean>;
  getConsentLink(patient: string, grantee: string): Promise<ConsentLinkRow | undefined>;
  consentLinksOf(patient: string): Promise<ConsentLinkRow[]>;
  /**
   * The link naming `consentAddress` as a patient's consent address (whose main patient it acts for); the newest
   * (`issuedAt`, then patient) when several do. Undefined when none does.
   */
  consentLinkByAddress(consentAddress: string): Promise<ConsentLinkRow | undefined>;

  // The audit log (append-only). Each store appends to ONE log, the one its gateway claimed; the methods below
  // without an origin act on that log.
  /**
   * Claims `row.origin` as the log this store appends to (once, before any other audit method): stores the row
   * when the origin is new and returns the stored row, which the caller compares with its own key (a different
   * verifier key: another gateway's log, refuse to start). A store holding one log only (SQLite) rejects a second
   * origin with an Error naming the one it holds.
   */
  claimAuditLog(row: AuditLogRow): Promise<AuditLogRow>;
  /** Every audit log in the store, by origin. */
  auditLogs(): Promise<AuditLogRow[]>;
  /** Reads of the log of that origin (empty when unknown). */
  auditLog(origin: string): AuditLogReader;
  /**
   * Appends the events in order, in ONE transaction (one durable commit), and returns their rows with
   * the indexes assigned: consecutive, continuing the log without a gap. Several gateways may append
   * to one store: the implementation serializes appends (the PostgreSQL one with a lock).
   */
  appendAudit(events: { patient: string; event: Uint8Array }[]): Promise<AuditRow[]>;
  auditSize(): Promise<number>;
  /** Rows [from, to) in index order. */
  auditRange(from: number, to: number): Promise<AuditRow[]>;
  /** A patient's rows in index order, after `options.after` (an index). */
  auditOf(patient: string, options: ListOptions): Promise<AuditRow[]>;

  // Checkpoints (signed tree heads) and their anchors.
  putCheckpoint(row: CheckpointRow): Promise<void>;
  setCheckpointAnchor(size: number, anchor: NonNullable<CheckpointRow["anchor"]>): Promise<void>;
  getCheckpoint(size: number): Promise<CheckpointRow | undefined>;
  latestCheckpoint(options?: { anchored?: boolean }): Promise<CheckpointRow | undefined>;
  /** Oldest first. */
  listCheckpoints(options: ListOptions): Promise<CheckpointRow[]>;

  // Check-in sessions.
  putCheckIn(row: CheckInRow): Promise<void>;
  getCheckIn(id: string): Promise<CheckInRow | undefined>;
  /** Records the result once; false when already completed or expired. */
  completeCheckIn(id: string, result: string, at: number): Promise<boolean>;
  /**
   * Replaces a check-in's request while it still reads `expected` and has no result (compare-and-swap: the
   * check-in's read-modify-writes from several gateways); false, nothing written, otherwise. Never touches `result`.
   */
  replaceCheckInRequest(id: string, expected: string, next: string): Promise<boolean>;

  // Relay quota: a per-patient counter in fixed windows.
  /** Counts one relayed transaction for the patient in the window starting at `windowStart`; false when `limit` is reached. */
  takeRelayQuota(patient: string, windowStart: number, limit: number): Promise<boolean>;

  // Status lists.
  /** Stores the list when newer (`issuedAt`) than the one kept; false otherwise. */
  putStatusList(row: StatusListRow): Promise<boolean>;
  getStatusList(issuer: string, name: string): Promise<StatusListRow | undefined>;

  // Webhooks.
  putWebhook(row: WebhookRow): Promise<void>;
  getWebhook(patient: string): Promise<WebhookRow | undefined>;
  deleteWebhook(patient: string): Promise<boolean>;

  // Staged uploads (additive, with migration 4).
  /** Stages `cid` for `uploader`, or re-stages it (new size and expiry) when that uploader has it staged already. */
  putStagedUpload(row: StagedUploadRow): Promise<void>;
  getStagedUpload(cid: string, uploader: string): Promise<StagedUploadRow | undefined>;
  /** Removes and returns the row (its registration); undefined when that uploader has not staged that CID. */
  takeStagedUpload(cid: string, uploader: string): Promise<StagedUploadRow | undefined>;
  /** Rows with `expiresAt <= now`, soonest expired first, at most `limit`. */
  expiredStagedUploads(now: number, limit: number): Promise<StagedUploadRow[]>;
  /**
   * Deletes the row only while it is still expired at `now` (a re-stage meanwhile gave it a later expiry: kept);
   * true when it went.
   */
  deleteStagedUpload(cid: string, uploader: string, now: number): Promise<boolean>;
  /** Whether any uploader has `cid` staged (expired or not: an expired row is the sweep's to decide). */
  isStaged(cid: string): Promise<boolean>;
  /** The bytes `uploader` holds staged (every row, expired ones too until swept). */
  stagedBytesOf(uploader: string): Promise<number>;

  // Studies and contributions (additive, with migration 5; research issue).
  /** Stores the study, or replaces the row of that id (a researcher presenting its approval again). */
  putStudy(row: StudyRow): Promise<void>;
  getStudy(studyId: string): Promise<StudyRow | undefined>;
  /** Ordered by studyId, after `options.after` (a studyId). */
  listStudies(options: ListOptions): Promise<StudyRow[]>;
  /** Records a re-check of the approval: its time and, when it failed for good, the withdrawal. False: no such study. */
  setStudyCheck(studyId: string, checkedAt: number, withdrawn: { at: number; reason: string } | null): Promise<boolean>;
  /**
   * Stores the patient's contribution to the study, replacing its earlier one (`previous`). With `tally`, the
   * study's tallies are written in the same transaction, and nothing is written (`written: false`) unless
   * `tally.version` is the stored version + 1.
   */
  putContribution(row: ContributionRow, tally?: TallyUpdate): Promise<ContributionWrite>;
  getContribution(studyId: string, patient: string): Promise<ContributionRow | undefined>;
  /** Removes the patient's contribution (opt-out; `previous` is it, undefined when none), with `tally` as above. */
  deleteContribution(studyId: string, patient: string, tally?: TallyUpdate): Promise<ContributionWrite>;
  /** The study's running tallies; undefined before its first contribution with facts. */
  getTallySums(studyId: string): Promise<TallySumsRow | undefined>;
  /** A study's contributions ordered by patient, after `options.after` (a patient address). */
  contributionsTo(studyId: string, options: ListOptions): Promise<ContributionRow[]>;
  /** The patient's contributions, ordered by studyId. */
  contributionsOf(patient: string): Promise<ContributionRow[]>;
  /** The study's contribution of that CID, if any. */
  contributionByCid(studyId: string, cid: string): Promise<ContributionRow | undefined>;
  /** Whether any contribution is stored under this CID (the staging sweep keeps it pinned). */
  isContribution(cid: string): Promise<boolean>;
  /** Appends a released aggregate table to its (study, dimension) history. */
  appendAggregateRelease(row: AggregateReleaseRow): Promise<void>;
  /** The (study, dimension) releases, oldest first. */
  aggregateReleases(studyId: string, dimension: string): Promise<AggregateReleaseRow[]>;

  // Open aggregate queries (additive, with SQLite migration 7 / PostgreSQL migration 2): step 1 of an aggregate at
  // one gateway, step 2 at any gateway sharing the store.
  /**
   * Stores the query unless the unexpired open queries (`expiresAt > now`) of its study reach `limits.perStudy` or
   * all of them reach `limits.total`: false then, nothing stored. Count and insert are one atomic step, so several
   * gateways opening at once never exceed the limits together.
   */
  putAggregateQuery(row: AggregateQueryRow, limits: { perStudy: number; total: number }, now: number): Promise<boolean>;
  /**
   * Removes and returns the study's open query of that id (single use: of several takers, on any gateways, one gets
   * it); undefined when unknown, another study's, already taken or expired at `now` (an expired one is not returned).
   */
  takeAggregateQuery(studyId: string, id: string, now: number): Promise<AggregateQueryRow | undefined>;

  /** Removes expired nonces, sessions, check-ins and aggregate queries; returns how many rows went. */
  sweep(now: number): Promise<number>;
  /** Answers when the database is reachable (for /readyz). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
