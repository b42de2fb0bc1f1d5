// Single-use verifier challenges (nonces). A verifier issues a challenge for a domain; the first presentation
// that verifies consumes it, so a replayed presentation fails the "challenge" check.
import { randomBytes } from "node:crypto";
import { SqliteDatabase } from "../stores/sqlite.ts";

export type ConsumeOutcome = "consumed" | "unknown" | "expired" | "already-used" | "wrong-domain";

export interface ChallengeStore {
  /** A fresh random challenge for `domain`, valid for `ttlSeconds`. */
  issue(domain: string, ttlSeconds?: number): Promise<string>;
  /** Atomically marks the challenge used; reports why not when it cannot be. */
  consume(challenge: string, domain: string): Promise<ConsumeOutcome>;
}

const DEFAULT_TTL_SECONDS = 300;

function newChallenge(): string {
  return randomBytes(24).toString("base64url");
}

interface ChallengeRecord {
  domain: string;
  expiresAt: number;
  used: boolean;
}

export class MemoryChallengeStore implements ChallengeStore {
  private readonly records = new Map<string, ChallengeRecord>();
  private readonly clock: () => number;
  constructor(options: { clock?: () => number } = {}) {
    this.clock = options.clock ?? Date.now;
  }

  async issue(domain: string, ttlSeconds = DEFAULT_TTL_SECONDS): Promise<string> {
    this.sweep();
    const challenge = newChallenge();
    this.records.set(challenge, { domain, expiresAt: this.clock() + ttlSeconds * 1000, used: false });
    return challenge;
  }

  async consume(challenge: string, domain: string): Promise<ConsumeOutcome> {
    const record = this.records.get(challenge);
    if (!record) return "unknown";
    if (record.domain !== domain) return "wrong-domain";
    if (record.used) return "already-used";
    if (record.expiresAt <= this.clock()) return "expired";
    record.used = true;
    return "consumed";
  }

  private sweep(): void {
    const now = this.clock();
    // Used records are kept until expiry so that replays report "already-used", not "unknown".
    for (const [key, record] of this.records) if (record.expiresAt <= now) this.records.delete(key);
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
  constructor(path: string, options: { clock?: () => number; busyTimeoutMs?: number } = {}) {
    this.db = SqliteDatabase.open(path, {
      schema: `CREATE TABLE IF NOT EXISTS identity_challenges (
      challenge TEXT PRIMARY KEY, domain TEXT NOT NULL, expires_at INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0)`,
      ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
    });
    this.clock = options.clock ?? Date.now;
  }

  async issue(domain: string, ttlSeconds = DEFAULT_TTL_SECONDS): Promise<string> {
    const now = this.clock();
    this.db.run("DELETE FROM identity_challenges WHERE expires_at <= ?", now);
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
    // One UPDATE decides: two verifiers racing on the same challenge cannot both consume it.
    const updated = this.db.run(
      "UPDATE identity_challenges SET used = 1 WHERE challenge = ? AND domain = ? AND used = 0 AND expires_at > ?",
      challenge,
      domain,
      this.clock(),
    );
    if (updated === 1) return "consumed";
    const row = this.db.get<{ domain: string; expires_at: number; used: number }>(
      "SELECT domain, expires_at, used FROM identity_challenges WHERE challenge = ?",
      challenge,
    );
    if (!row) return "unknown";
    if (row.domain !== domain) return "wrong-domain";
    if (row.used) return "already-used";
    return "expired";
  }

  close(): void {
    this.db.close();
  }
}
