// Single-use verifier challenges (nonces). A verifier issues a challenge for a domain; the first presentation
// that verifies consumes it, so a replayed presentation fails the "challenge" check.
//
// Rules:
// - A store holds at most `maxLive` unexpired challenges (default 100,000); issue() beyond that throws
//   ChallengeStoreFullError and stores nothing (whoever can make a verifier issue challenges must not grow it
//   without bound).
// - Expired challenges are swept a few at a time from the oldest end at each issue(), never all of them at once
//   (a sweep of every record per issue made n issues cost n^2).
import { randomBytes, toBase64url } from "../bytes.ts";
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

export const DEFAULT_TTL_SECONDS = 300;
/** A challenge is for one exchange: at most a day. */
const MAX_TTL_SECONDS = 86_400;
/** Default bound on unexpired challenges held by one store. */
export const DEFAULT_MAX_LIVE_CHALLENGES = 100_000;
/** The SQLite store counts its rows at least every this many issue() calls. */
export const COUNT_EVERY = 256;
/** Expired records looked at per issue() from the oldest end. */
const SWEEP_PER_ISSUE = 16;

export interface ChallengeStoreOptions {
  clock?: () => number;
  /** At most this many unexpired challenges are held; issue() then throws ChallengeStoreFullError. */
  maxLive?: number;
}

/** @internal shared with SqliteChallengeStore (challenges-sqlite.ts). */
export function maxLiveOption(options: { maxLive?: number }): number {
  return wholeNumberOrDefault(options.maxLive, DEFAULT_MAX_LIVE_CHALLENGES, "maxLive");
}

/** issue()'s arguments: the verifier's domain (1 to 256 characters) and a lifetime in whole seconds. */
/** @internal shared with SqliteChallengeStore (challenges-sqlite.ts). */
export function checkIssue(domain: unknown, ttlSeconds: unknown): asserts domain is string {
  const problem = domainProblem(domain);
  if (problem) throw new InvalidIdentityInputError("domain", problem);
  if (!Number.isSafeInteger(ttlSeconds) || (ttlSeconds as number) <= 0 || (ttlSeconds as number) > MAX_TTL_SECONDS)
    throw new InvalidIdentityInputError("ttlSeconds", `must be a whole number of seconds, 1 to ${MAX_TTL_SECONDS}`);
}

/** consume()'s arguments: strings (the verifier passes the request's, already checked). */
/** @internal shared with SqliteChallengeStore (challenges-sqlite.ts). */
export function checkConsume(challenge: unknown, domain: unknown): void {
  if (typeof challenge !== "string") throw new InvalidIdentityInputError("challenge", "must be a string");
  if (typeof domain !== "string") throw new InvalidIdentityInputError("domain", "must be a string");
}

/** @internal shared with SqliteChallengeStore (challenges-sqlite.ts). */
export function clockOption(options: { clock?: () => number }): () => number {
  return options.clock === undefined ? Date.now : functionArgument(options.clock, "clock", "() => milliseconds");
}

/** @internal shared with SqliteChallengeStore (challenges-sqlite.ts). */
export function newChallenge(): string {
  return toBase64url(randomBytes(24));
}

/** @internal */
export interface ChallengeRecord {
  domain: string;
  expiresAt: number;
  used: boolean;
}

/** What a presentation answering `record` for `domain` at `now` finds: both stores' check() and consume() rules. */
/** @internal shared with SqliteChallengeStore (challenges-sqlite.ts). */
export function stateOf(record: ChallengeRecord | undefined, domain: string, now: number): ChallengeState {
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
