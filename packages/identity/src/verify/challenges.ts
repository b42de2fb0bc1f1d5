// Single-use verifier challenges (nonces). A verifier issues a challenge for a domain; the first presentation
// that verifies consumes it, so a replayed presentation fails the "challenge" check.
import { randomBytes } from "node:crypto";
import { SqliteDatabase } from "../stores/sqlite.ts";
import { InvalidIdentityInputError } from "../errors.ts";
import { functionArgument, optionsArgument } from "../arguments.ts";
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

export class MemoryChallengeStore implements ChallengeStore {
  private readonly records = new Map<string, ChallengeRecord>();
  private readonly clock: () => number;
  constructor(options: { clock?: () => number } = {}) {
    this.clock = clockOption(optionsArgument(options, "options", "{ clock? }"));
  }

  async issue(domain: string, ttlSeconds = DEFAULT_TTL_SECONDS): Promise<string> {
    checkIssue(domain, ttlSeconds);
    this.sweep();
    const challenge = newChallenge();
    this.records.set(challenge, { domain, expiresAt: this.clock() + ttlSeconds * 1000, used: false });
    return challenge;
  }

  async consume(challenge: string, domain: string): Promise<ConsumeOutcome> {
    checkConsume(challenge, domain);
    const record = this.records.get(challenge);
    if (!record) return "unknown";
    if (record.domain !== domain) return "wrong-domain";
    if (record.used) return "already-used";
    if (record.expiresAt <= this.clock()) return "expired";
    record.used = true;
    return "consumed";
  }

  async check(challenge: string, domain: string): Promise<ChallengeState> {
    checkConsume(challenge, domain);
    const record = this.records.get(challenge);
    if (!record) return "unknown";
    if (record.domain !== domain) return "wrong-domain";
    if (record.used) return "already-used";
    if (record.expiresAt <= this.clock()) return "expired";
    return "live";
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
    if (typeof path !== "string" || path === "")
      throw new InvalidIdentityInputError("path", 'must be a file path or ":memory:"');
    options = optionsArgument(options, "options", "{ clock?, busyTimeoutMs? }");
    const clock = clockOption(options);
    this.db = SqliteDatabase.open(path, {
      name: "challenge store",
      schema: `CREATE TABLE IF NOT EXISTS identity_challenges (
      challenge TEXT PRIMARY KEY, domain TEXT NOT NULL, expires_at INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0)`,
      ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
    });
    this.clock = clock;
  }

  async issue(domain: string, ttlSeconds = DEFAULT_TTL_SECONDS): Promise<string> {
    checkIssue(domain, ttlSeconds);
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
    checkConsume(challenge, domain);
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

  async check(challenge: string, domain: string): Promise<ChallengeState> {
    checkConsume(challenge, domain);
    const row = this.db.get<{ domain: string; expires_at: number; used: number }>(
      "SELECT domain, expires_at, used FROM identity_challenges WHERE challenge = ?",
      challenge,
    );
    if (!row) return "unknown";
    if (row.domain !== domain) return "wrong-domain";
    if (row.used) return "already-used";
    if (row.expires_at <= this.clock()) return "expired";
    return "live";
  }

  close(): void {
    this.db.close();
  }
}
