// The node:sqlite challenge store (Node only: the check-in and verifier modules a browser bundles use
// MemoryChallengeStore from challenges.ts, and never reach node:sqlite through this file).
import { SqliteDatabase } from "../stores/sqlite.ts";
import { ChallengeStoreFullError, InvalidIdentityInputError } from "../errors.ts";
import { optionsArgument } from "../arguments.ts";
import {
  COUNT_EVERY,
  DEFAULT_TTL_SECONDS,
  checkConsume,
  checkIssue,
  clockOption,
  maxLiveOption,
  newChallenge,
  stateOf,
  type ChallengeRecord,
  type ChallengeState,
  type ChallengeStore,
  type ChallengeStoreOptions,
  type ConsumeOutcome,
} from "./challenges.ts";

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
