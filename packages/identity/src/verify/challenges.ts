// Single-use verifier challenges (nonces). A verifier issues a challenge for a domain; the first presentation
// that verifies consumes it, so a replayed presentation fails the "challenge" check.
//
// Rules:
// - A store holds at most `maxLive` unexpired challenges (default 100,000); issue() beyond that throws
//   ChallengeStoreFullError and stores nothing (whoever can make a verifier issue challenges must not grow it
//   without bound).
// - Expired challenges are swept a few at a time from the oldest end at each issue(), never all of them at once
//   (a sweep of every record per issue made n issues cost n^2).
import { randomBytes } from "node:crypto";
import { SqliteDatabase } from "../stores/sqlite.ts";
import { ChallengeStoreFullError, InvalidIdentityInputError } from "../errors.ts";
import { functionArgument, optionsArgument, wholeNumberOrDefault } from "../arguments.ts";
import { domainProblem } from "../credentials/inputs.ts";

export type ConsumeOutcome = "consumed" | "unknown" | "expired" | "already-used" | "wrong-domain";
/** What consume() would find, without consuming: "live" when it would consume. */
export type ChallengeState = "live" | Exclude<ConsumeOutcome, "consumed">;

export interface ChallengeStore {
  /** A fresh random challenge for `domain`, valid for `ttlSeconds`. */
  issue(domain: string, ttlSeconds?: number): Promise<string>;
  /** Atomically marks the challenge used; reports why not when it cannot be. */
  consume(challenge: string, domain: string): Promise<ConsumeOutcome>;
  /**
   * Looks at a challenge without consuming it. Optional: a verifier uses it to fetch nothing (status lists) for a
   * presentation answering a challenge it never issued; without it, only consume() (last) decides.
   */
  check?(challenge: string, domain: string): Promise<ChallengeState>;
}

const DEFAULT_TTL_SECONDS = 300;
/** A challenge is for one exchange: at most a day. */
const MAX_TTL_SECONDS = 86_400;
/** Default bound on unexpired challenges held by one store. */
export const DEFAULT_MAX_LIVE_CHALLENGES = 100_000;
/** The SQLite store counts its rows at least every this many issue() calls. */
const COUNT_EVERY = 256;
/** Expired records looked at per issue() from the oldest end. */
const SWEEP_PER_ISSUE = 16;

export interface ChallengeStoreOptions {
  clock?: () => number;
  /** At most this many unexpired challenges are held; issue() then throws ChallengeStoreFullError. */
  maxLive?: number;
}

function maxLiveOption(options: { maxLive?: number }): number {
  return wholeNumberOrDefault(options.maxLive, DEFAULT_MAX_LIVE_CHALLENGES, "maxLive");
}

/** issue()'s arguments: the verifier's domain (1 to 256 characters) and a lifetime in whole seconds. */
function checkIssue(domain: unknown, ttlSeconds: unknown): asserts domain is string {
  const problem = domainProblem(domain);
  if (problem) throw new InvalidIdentityInputError("domain", problem);
  if (!Number.isSafeInteger(ttlSeconds) || (ttlSeconds as number) <= 0 || (ttlSeconds as number) > MAX_TTL_SECONDS)
    throw new InvalidIdentityInputError("ttlSeconds", `must be a whole number of seconds, 1 to ${MAX_TTL_SECONDS}`);
}

/** consume()'s arguments: strings (the verifier passes the request's, already checked). */
function checkConsume(challenge: unknown, domain: unknown): void {
  if (typeof challenge !== "string") throw new InvalidIdentityInputError("challenge", "must be a string");
  if (typeof domain !== "string") throw new InvalidIdentityInputError("domain", "must be a string");
}

function clockOption(options: { clock?: () => number }): () => number {
  return options.clock === undefined ? Date.now : functionArgument(options.clock, "clock", "() => milliseconds");
}

function newChallenge(): string {
  return randomBytes(24).toString("base64url");
}

interface ChallengeRecord {
  domain: string;
  expiresAt: number;
  used: boolean;
}

/** What a presentation answering `record` for `domain` at `now` finds: both stores' check() and consume() rules. */
function stateOf(record: ChallengeRecord | undefined, domain: string, now: number): ChallengeState {
  if (!record) return "unknown";
  if (record.domain !== domain) return "wrong-domain";
  if (record.used) return "already-used";
  if (record.expiresAt <= now) return "expired";
  return "live";
}

export class MemoryChallengeStore implements ChallengeStore {
  /** Insertion order: the first records are the oldest (with one TTL, also the first to expire). */
  private readonly records = new Map<string, ChallengeRecord>();
  private readonly clock: () => number;
  private readonly maxLive: number;
  /** When every record was last swept (clock ms): a full store sweeps all at most once a second. */
  private lastFullSweep = Number.NEGATIVE_INFINITY;
  constructor(options: ChallengeStoreOptions = {}) {
    options = optionsArgument(options, "options", "{ clock?, maxLive? }");
    this.clock = clockOption(options);
    this.maxLive = maxLiveOption(options);
  }

  /** How many challenges are held (live, used and not yet swept). */
  get size(): number {
    return this.records.size;
  }

  async issue(domain: string, ttlSeconds = DEFAULT_TTL_SECONDS): Promise<string> {
    checkIssue(domain, ttlSeconds);
    this.sweep();
    if (this.records.size >= this.maxLive) throw new ChallengeStoreFullError(this.maxLive);
    const challenge = newChallenge();
    this.records.set(challenge, { domain, expiresAt: this.clock() + ttlSeconds * 1000, used: false });
    return challenge;
  }

  async consume(challenge: string, domain: string): Promise<ConsumeOutcome> {
    checkConsume(challenge, domain);
    // Looked at and marked in one synchronous step: two verifiers racing on the same challenge cannot both consume it.
    const record = this.records.get(challenge);
    const state = stateOf(record, domain, this.clock());
    if (state !== "live") return state;
    record!.used = true;
    return "consumed";
  }

  async check(challenge: string, domain: string): Promise<ChallengeState> {
    checkConsume(challenge, domain);
    return stateOf(this.records.get(challenge), domain, this.clock());
  }

  /**
   * Drops expired records from the oldest end (a few per call; used records are kept until expiry so that
   * replays report "already-used", not "unknown"). Records with a longer TTL can sit in front of expired ones,
   * so a full store also sweeps everything, at most once a second.
   */
  private sweep(): void {
    const now = this.clock();
    let seen = 0;
    for (const [key, record] of this.records) {
      if (++seen > SWEEP_PER_ISSUE) break;
      if (record.expiresAt <= now) this.records.delete(key);
    }
    if (this.records.size >= this.maxLive && now - this.lastFullSweep >= 1000) {
      this.lastFullSweep = now;
      for (const [key, record] of this.records) if (record.expiresAt <= now) this.records.delete(key);
    }
  }
}

/**
 * Challenges in node:sqlite, shared by processes that use the same file (WAL, writes wait for each other up to
 * `busyTimeoutMs`). Failures are typed: DatabaseBusyError, DatabaseError, InvalidIdentityInputError for a path
 * that cannot be opened.
 */
export class SqliteChallengeStore implements ChallengeStore {
  private readonly db: SqliteDatabase;
  private readonly clock: () => number;
  private readonly maxLive: number;
  private lastCount = 0;
  private issuedSinceCount = Number.POSITIVE_INFINITY;
  constructor(path: string, options: ChallengeStoreOptions & { busyTimeoutMs?: number } = {}) {
    if (typeof path !== "string" || path === "")
      throw new InvalidIdentityInputError("path", 'must be a file path or ":memory:"');
    options = optionsArgument(options, "options", "{ clock?, maxLive?, busyTimeoutMs? }");
    const clock = clockOption(options);
    this.maxLive = maxLiveOption(options);
    this.db = SqliteDatabase.open(path, {
      name: "challenge store",
      // The expiry index makes the sweep at each issue() a range delete, not a scan of every row.
      schema: `CREATE TABLE IF NOT EXISTS identity_challenges (
      challenge TEXT PRIMARY KEY, domain TEXT NOT NULL, expires_at INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0);
      CREATE INDEX IF NOT EXISTS identity_challenges_expiry ON identity_challenges (expires_at)`,
      ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
    });
    this.clock = clock;
  }

  async issue(domain: string, ttlSeconds = DEFAULT_TTL_SECONDS): Promise<string> {
    checkIssue(domain, ttlSeconds);
    const now = this.clock();
    this.db.run("DELETE FROM identity_challenges WHERE expires_at <= ?", now);
    // The rows are counted (a scan of up to maxLive index entries) every COUNT_EVERY issues, and at every issue
    // once the last count plus this store's issues since could reach maxLive. Other processes sharing the file
    // can overshoot by up to COUNT_EVERY issues each.
    if (this.issuedSinceCount >= COUNT_EVERY || this.lastCount + this.issuedSinceCount >= this.maxLive) {
      const held = this.db.get<{ n: number }>(
        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM identity_challenges LIMIT ?)",
        this.maxLive,
      );
      this.lastCount = held?.n ?? 0;
      this.issuedSinceCount = 0;
      if (this.lastCount >= this.maxLive) throw new ChallengeStoreFullError(this.maxLive);
    }
    this.issuedSinceCount++;
    const challenge = newChallenge();
    this.db.run(
      "INSERT INTO identity_challenges (challenge, domain, expires_at) VALUES (?, ?, ?)",
      challenge,
      domain,
      now + ttlSeconds * 1000,
    );
    return challenge;
  }

  async consume(challenge: string, domain: string): Promise<ConsumeOutcome> {
    checkConsume(challenge, domain);
    // One UPDATE decides: two verifiers racing on the same challenge cannot both consume it.
    const now = this.clock();
    const updated = this.db.run(
      "UPDATE identity_challenges SET used = 1 WHERE challenge = ? AND domain = ? AND used = 0 AND expires_at > ?",
      challenge,
      domain,
      now,
    );
    if (updated === 1) return "consumed";
    // The UPDATE found it not live at `now`; a row is never made live again, so this says why.
    const state = stateOf(this.record(challenge), domain, now);
    return state === "live" ? "expired" : state;
  }

  async check(challenge: string, domain: string): Promise<ChallengeState> {
    checkConsume(challenge, domain);
    return stateOf(this.record(challenge), domain, this.clock());
  }

  private record(challenge: string): ChallengeRecord | undefined {
    const row = this.db.get<{ domain: string; expires_at: number; used: number }>(
      "SELECT domain, expires_at, used FROM identity_challenges WHERE challenge = ?",
      challenge,
    );
    return row && { domain: row.domain, expiresAt: row.expires_at, used: row.used !== 0 };
  }

  close(): void {
    this.db.close();
  }
}
