// Status lists on the verifier's side: a credential's entries are checked against lists fetched through an
// injected fetcher.
//
// Rules:
// - A credential has at most one entry per purpose (one revocation, one suspension, one token reference); more
//   fail the check before anything is fetched. One verification consults at most maxListsPerVerification
//   distinct lists and ends its status checks by its deadline (fetches are aborted).
// - A URL is fetched only when the policy allows it (url-policy.ts: https to public addresses, plain http only
//   to listed hosts, the configured origins), vetted on every use, cached or not, and only for a credential
//   whose issuer was already found trusted (the verifier's job: it calls check() after the trust check). Only
//   the normalized href is fetched. Concurrent checks of one URL share one fetch.
// - A list counts only for the URL it was fetched from (its id / jti / sub must be that URL), signed by the
//   credential's issuer, of the entry's purpose and format, with an `iat` and an `exp` at most
//   maxListValiditySeconds after it, and not expired.
// - Rollback: per URL the newest `iat` of a list that passed every check is remembered (longer than the list
//   cache keeps lists); an older version is refused (STALE_STATUS_LIST).
// - Only a list that passed every check is cached; the cache is bounded by bytes (and count). A list is reused
//   for at most the TTL, never past its own expiry (or its `ttl`).
// - Fetch errors are never copied into a reason: their text is the status host's (or the network's), and the
//   verifier's caller may show reasons to the presenter. The reason is fixed, with a code; the error is `cause`.
// - When a list cannot be fetched the check fails (failClosed, the default); a list that was fetched but is not
//   valid always fails.
import { InvalidIdentityInputError, InvalidStatusListError, StatusListUnavailableError } from "../errors.ts";
import type { Bitstring } from "./bitstring.ts";
import { functionArgument, listUrlArgument, objectArgument, wholeNumberOrDefault } from "../arguments.ts";
import { type StatusPurpose } from "./bitstring.ts";
import { TOKEN_STATUS_INVALID, TOKEN_STATUS_SUSPENDED, type TokenStatusList } from "./token-status-list.ts";
import { BoundedCache } from "../verify/bounded-cache.ts";
import { vetStatusUrl, type StatusUrlPolicy } from "./url-policy.ts";

/** A credential's `credentialStatus` entry (Bitstring Status List v1.0). */
export interface BitstringStatusListEntry {
  id: string;
  type: "BitstringStatusListEntry";
  statusPurpose: StatusPurpose;
  /** Decimal string, as the spec says. */
  statusListIndex: string;
  statusListCredential: string;
}

/**
 * The credentialStatus entry pointing at bit `index` of the `purpose` list served at `listUrl`.
 * InvalidIdentityInputError naming the field for a listUrl that is not http(s), another purpose, a bad index.
 */
export function statusEntry(listUrl: string, purpose: StatusPurpose, index: number): BitstringStatusListEntry {
  listUrlArgument(listUrl, "listUrl", "status list credential");
  if (purpose !== "revocation" && purpose !== "suspension")
    throw new InvalidIdentityInputError("purpose", 'must be "revocation" or "suspension"');
  if (!Number.isSafeInteger(index) || index < 0)
    throw new InvalidIdentityInputError("index", "must be a whole number >= 0");
  return {
    id: `${listUrl}#${index}`,
    type: "BitstringStatusListEntry",
    statusPurpose: purpose,
    statusListIndex: String(index),
    statusListCredential: listUrl,
  };
}

/** Parses one untrusted credentialStatus entry; undefined when it is not a bitstring status entry. */
export function parseStatusEntry(value: unknown): BitstringStatusListEntry | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const entry = value as Record<string, unknown>;
  if (entry.type !== "BitstringStatusListEntry") return undefined;
  if (entry.statusPurpose !== "revocation" && entry.statusPurpose !== "suspension") return undefined;
  if (typeof entry.statusListIndex !== "string" || !/^\d{1,9}$/.test(entry.statusListIndex)) return undefined;
  if (typeof entry.statusListCredential !== "string" || entry.statusListCredential.length > 2048) return undefined;
  return {
    id: typeof entry.id === "string" ? entry.id : `${entry.statusListCredential}#${entry.statusListIndex}`,
    type: "BitstringStatusListEntry",
    statusPurpose: entry.statusPurpose,
    statusListIndex: entry.statusListIndex,
    statusListCredential: entry.statusListCredential,
  };
}

/**
 * An SD-JWT VC's `status.status_list` reference (IETF Token Status List): status `idx` of the Status List
 * Token served at `uri`.
 */
export interface TokenStatusReference {
  type: "TokenStatusList";
  idx: number;
  uri: string;
}

/** Whatever points a credential at a status list. */
export type StatusReference = BitstringStatusListEntry | TokenStatusReference;

/**
 * The `status` claim value for an SD-JWT VC pointing at status `idx` of the Status List Token served at `uri`.
 * InvalidIdentityInputError naming the field for a uri that is not http(s) or a bad idx.
 */
export function tokenStatusClaim(uri: string, idx: number): { status_list: { idx: number; uri: string } } {
  listUrlArgument(uri, "uri", "status list token");
  if (!Number.isSafeInteger(idx) || idx < 0) throw new InvalidIdentityInputError("idx", "must be a whole number >= 0");
  return { status_list: { idx, uri } };
}

/**
 * Parses an untrusted SD-JWT VC `status` claim. Only `status_list` (IETF Token Status List) is understood; any
 * other mechanism, or a malformed reference, throws InvalidStatusListError (the verifier fails closed on it).
 */
export function parseTokenStatusClaim(value: unknown): TokenStatusReference {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new InvalidStatusListError("status claim is not an object");
  const mechanisms = Object.keys(value);
  const unknown = mechanisms.filter((name) => name !== "status_list");
  if (unknown.length > 0 || mechanisms.length === 0)
    throw new InvalidStatusListError(
      `unsupported status mechanism ${unknown.map((m) => JSON.stringify(m.slice(0, 40))).join(", ") || "(none)"} (only status_list)`,
    );
  const { idx, uri } = ((value as Record<string, unknown>).status_list ?? {}) as Record<string, unknown>;
  if (!Number.isSafeInteger(idx) || (idx as number) < 0 || (idx as number) > 999_999_999)
    throw new InvalidStatusListError("status.status_list.idx is not a whole number >= 0");
  if (typeof uri !== "string" || uri.length > 2048)
    throw new InvalidStatusListError("status.status_list.uri is not a URL");
  return { type: "TokenStatusList", idx: idx as number, uri };
}

/** What the checker needs from a verified BitstringStatusListCredential. */
export interface VerifiedStatusList {
  format?: "bitstring";
  issuer: string;
  purpose: StatusPurpose;
  list: Bitstring;
  /** Unix seconds (`exp`); the list must not be used after this. Required: a list without it is refused. */
  validUntil: number | undefined;
  /** Unix seconds (`iat`, else `nbf`): orders versions of one URL's list. Required. */
  issuedAt?: number | undefined;
}

/** What the checker needs from a verified Status List Token (`typ` statuslist+jwt). */
export interface VerifiedTokenStatusList {
  format: "token";
  issuer: string;
  list: TokenStatusList;
  /** Unix seconds (`exp`); the list must not be used after this. Required. */
  validUntil: number | undefined;
  /** Unix seconds (`iat`): orders versions of one URL's list. Required. */
  issuedAt?: number | undefined;
  /** The token's `ttl`: reuse it for at most this many seconds after fetching. */
  maxReuseSeconds: number | undefined;
}

export type AnyVerifiedStatusList = VerifiedStatusList | VerifiedTokenStatusList;

/** Handed to the fetcher: aborted when the verification's status deadline passes. */
export interface StatusListFetchOptions {
  signal: AbortSignal;
}
/** Fetches the list served at `url` (always a normalized href the URL policy allowed). */
export type StatusListFetcher = (url: string, options?: StatusListFetchOptions) => Promise<string>;
/**
 * Verifies a status list fetched from `url` (signature, type, and that it is the list of that URL); throws
 * (InvalidStatusListError) when it is not valid.
 */
export type StatusListVerifier = (jwt: string, url: string) => Promise<AnyVerifiedStatusList>;

/** Stable codes of a failed status check (VerificationCheck.code). */
export type StatusCheckCode =
  | "STATUS_LIST_UNAVAILABLE"
  | "INVALID_STATUS_LIST"
  | "STALE_STATUS_LIST"
  | "STATUS_URL_NOT_ALLOWED"
  | "TOO_MANY_STATUS_ENTRIES"
  | "TOO_MANY_STATUS_LISTS"
  | "STATUS_NOT_CHECKED"
  | "UNSUPPORTED_STATUS"
  | "REVOKED"
  | "SUSPENDED";

export interface StatusCheckResult {
  readonly pass: boolean;
  readonly reason: string;
  readonly code?: StatusCheckCode;
  /** The underlying error (a fetch failure): for logs, never shown to whoever presented the credential. */
  readonly cause?: unknown;
}

export { statusUrlProblem, vetStatusUrl, isNonPublicHost, type StatusUrlPolicy } from "./url-policy.ts";

/** Defaults of the checker's bounds (see StatusListCheckerOptions). */
export const STATUS_DEFAULTS = Object.freeze({
  ttlMs: 60_000,
  maxCachedLists: 256,
  cacheBytes: 64 * 1024 * 1024,
  maxListsPerVerification: 8,
  deadlineMs: 15_000,
  maxListValiditySeconds: 7 * 86_400,
  clockSkewSeconds: 60,
});
/** URLs whose newest list version is remembered (it outlives the list cache; least recently used go first). */
const NEWEST_SEEN_ENTRIES = 10_000;

export interface StatusListCheckerOptions {
  fetcher: StatusListFetcher;
  verifier: StatusListVerifier;
  /** How long a fetched list is reused (never past its own expiry). Default 60 s. */
  ttlMs?: number;
  /** When a list cannot be fetched (or has expired): fail the check (default) or pass it with a warning reason. */
  failClosed?: boolean;
  /** Which URLs may be fetched. Default: https to public addresses only. */
  urlPolicy?: StatusUrlPolicy;
  /** At most this many lists are cached. Default 256. */
  maxCachedLists?: number;
  /** At most this many bytes of (inflated) lists are cached. Default 64 MiB. */
  cacheBytes?: number;
  /** At most this many distinct lists are consulted for one verification (a presentation). Default 8. */
  maxListsPerVerification?: number;
  /** All status checks of one verification end by then (ms, real time): fetches are aborted. Default 15 s. */
  deadlineMs?: number;
  /** A list's `exp` may be at most this far after its `iat` (seconds). Default 7 days. */
  maxListValiditySeconds?: number;
  /** Tolerated clock difference for a list's `iat` (seconds). Default 60. */
  clockSkewSeconds?: number;
  clock?: () => number;
}

/**
 * The status-checking budget of one verification: the distinct lists it consulted and its deadline. Make one per
 * verification (StatusListChecker.budget()) and pass it to every check() of that verification.
 */
export interface StatusBudget {
  readonly urls: Set<string>;
  /** Aborted at the deadline (counted from the budget's creation). */
  readonly signal: AbortSignal;
}

/** The deadline's timer is only made when something is fetched (most checks are cache hits). */
class VerificationBudget implements StatusBudget {
  readonly urls = new Set<string>();
  private readonly deadlineAt: number;
  private timeout: AbortSignal | undefined;
  constructor(deadlineMs: number) {
    this.deadlineAt = performance.now() + deadlineMs;
  }
  get signal(): AbortSignal {
    this.timeout ??= AbortSignal.timeout(Math.max(0, Math.ceil(this.deadlineAt - performance.now())));
    return this.timeout;
  }
}

function statusWord(purpose: StatusPurpose): "revoked" | "suspended" {
  return purpose === "revocation" ? "revoked" : "suspended";
}

/** The bytes a verified list holds in memory (the cache's unit). */
function listBytes(list: AnyVerifiedStatusList): number {
  return list.list.bytes.length + 256;
}

export class StatusListChecker {
  private readonly fetcher: StatusListFetcher;
  private readonly verifier: StatusListVerifier;
  private readonly ttlMs: number;
  private readonly failClosed: boolean;
  private readonly urlPolicy: StatusUrlPolicy;
  private readonly clock: () => number;
  private readonly maxListsPerVerification: number;
  private readonly deadlineMs: number;
  private readonly maxValidity: number;
  private readonly skew: number;
  private readonly cache: BoundedCache<string, AnyVerifiedStatusList>;
  /** Per URL the newest `iat` of a list that passed every check: an older version is refused (rollback). */
  private readonly newestSeen: BoundedCache<string, number>;
  /** Fetches under way, by href: concurrent checks of one URL share one fetch. */
  private readonly inflight = new Map<string, Promise<AnyVerifiedStatusList>>();

  constructor(options: StatusListCheckerOptions) {
    objectArgument(options, "options", "{ fetcher, verifier, ttlMs?, failClosed?, urlPolicy?, clock?, … }");
    functionArgument(options.fetcher, "fetcher", "(url) => Promise<status list credential JWT>");
    functionArgument(options.verifier, "verifier", "(jwt, url) => Promise<VerifiedStatusList>");
    this.fetcher = options.fetcher;
    this.verifier = options.verifier;
    this.ttlMs = wholeNumberOrDefault(options.ttlMs, STATUS_DEFAULTS.ttlMs, "ttlMs", 0);
    this.failClosed = options.failClosed ?? true;
    this.urlPolicy = options.urlPolicy ?? {};
    this.clock = options.clock ?? Date.now;
    this.maxListsPerVerification = wholeNumberOrDefault(
      options.maxListsPerVerification,
      STATUS_DEFAULTS.maxListsPerVerification,
      "maxListsPerVerification",
    );
    this.deadlineMs = wholeNumberOrDefault(options.deadlineMs, STATUS_DEFAULTS.deadlineMs, "deadlineMs");
    this.maxValidity = wholeNumberOrDefault(
      options.maxListValiditySeconds,
      STATUS_DEFAULTS.maxListValiditySeconds,
      "maxListValiditySeconds",
    );
    this.skew = wholeNumberOrDefault(options.clockSkewSeconds, STATUS_DEFAULTS.clockSkewSeconds, "clockSkewSeconds", 0);
    this.cache = new BoundedCache({
      maxEntries: wholeNumberOrDefault(options.maxCachedLists, STATUS_DEFAULTS.maxCachedLists, "maxCachedLists"),
      maxBytes: wholeNumberOrDefault(options.cacheBytes, STATUS_DEFAULTS.cacheBytes, "cacheBytes"),
      clock: this.clock,
    });
    this.newestSeen = new BoundedCache({ maxEntries: NEWEST_SEEN_ENTRIES, clock: this.clock });
  }

  /** How many lists are cached (bounded by maxCachedLists). */
  get cacheSize(): number {
    return this.cache.size;
  }

  /** Bytes of the cached lists (bounded by cacheBytes). */
  get cacheBytes(): number {
    return this.cache.bytes;
  }

  /** A fresh budget for one verification: no list consulted yet, the deadline starting now. */
  budget(): StatusBudget {
    return new VerificationBudget(this.deadlineMs);
  }

  /**
   * Checks every status entry of a credential issued by `issuer` (call it once the issuer is trusted). At most one
   * entry per purpose (and one token reference); every URL is vetted before anything is fetched; `budget` bounds
   * the lists and time of the whole verification (default: one for this call alone).
   */
  async check(
    issuer: string,
    entries: readonly StatusReference[],
    budget: StatusBudget = this.budget(),
  ): Promise<StatusCheckResult> {
    if (typeof issuer !== "string")
      throw new InvalidIdentityInputError("issuer", "must be the credential's issuer DID");
    if (!Array.isArray(entries))
      throw new InvalidIdentityInputError("entries", "must be an array of credentialStatus entries");
    const kinds = entries.map((entry) => (entry.type === "TokenStatusList" ? "token" : entry.statusPurpose));
    if (new Set(kinds).size !== kinds.length)
      return {
        pass: false,
        reason: "more than one status entry of one purpose (at most one revocation and one suspension entry)",
        code: "TOO_MANY_STATUS_ENTRIES",
      };
    // Every URL is vetted, on every use, before any is fetched.
    const hrefs: string[] = [];
    for (const entry of entries) {
      const vetted = vetStatusUrl(urlOf(entry), issuer, this.urlPolicy);
      if (vetted.problem !== undefined)
        return {
          pass: false,
          reason: `status list URL not allowed: ${vetted.problem}`,
          code: "STATUS_URL_NOT_ALLOWED",
        };
      hrefs.push(vetted.href);
    }
    const added = new Set(hrefs.filter((href) => !budget.urls.has(href))).size;
    if (budget.urls.size + added > this.maxListsPerVerification)
      return {
        pass: false,
        reason: `more than ${this.maxListsPerVerification} status lists in one verification`,
        code: "TOO_MANY_STATUS_LISTS",
      };
    for (const href of hrefs) budget.urls.add(href);
    const reasons: string[] = [];
    for (const [i, entry] of entries.entries()) {
      const href = hrefs[i]!;
      let list: AnyVerifiedStatusList;
      let cached: boolean;
      try {
        ({ list, cached } = await this.obtain(href, issuer, budget));
      } catch (error) {
        if (error instanceof InvalidStatusListError)
          return { pass: false, reason: error.message, code: "INVALID_STATUS_LIST", cause: error };
        const reason =
          error instanceof StatusListUnavailableError && error.expired
            ? "status list expired"
            : budget.signal.aborted
              ? "status checks ran past their deadline"
              : "status list could not be fetched";
        if (this.failClosed) return { pass: false, reason, code: "STATUS_LIST_UNAVAILABLE", cause: error };
        reasons.push(`${reason} (ignored: fail-open configured)`);
        continue;
      }
      if (list.issuer !== issuer)
        return {
          pass: false,
          reason: "status list not issued by the credential's issuer",
          code: "INVALID_STATUS_LIST",
        };
      // A cached list was the newest when it was cached, and a newer one replaces it in the cache.
      const newest = cached ? undefined : this.newestSeen.get(href);
      if (newest !== undefined && list.issuedAt! < newest)
        return { pass: false, reason: "status list older than one already seen", code: "STALE_STATUS_LIST" };
      const outcome = entry.type === "TokenStatusList" ? tokenOutcome(entry, list) : bitstringOutcome(entry, list);
      if (outcome.code === "INVALID_STATUS_LIST" || outcome.code === "UNSUPPORTED_STATUS") return outcome;
      // Only a list that passed every check is cached and raises the URL's newest version.
      if (!cached) this.remember(href, list);
      if (!outcome.pass) return outcome;
      reasons.push(outcome.reason);
    }
    return { pass: true, reason: reasons.length > 0 ? reasons.join("; ") : "no status entries" };
  }

  invalidate(url?: string): void {
    if (url === undefined) this.cache.clear();
    else {
      this.cache.delete(url);
      try {
        this.cache.delete(new URL(url).href); // lists are cached by normalized href
      } catch {
        // not a URL: nothing else cached under it
      }
    }
  }

  /** The cached list of `href` for this issuer, or one fetched (shared with concurrent checks of the URL). */
  private async obtain(
    href: string,
    issuer: string,
    budget: StatusBudget,
  ): Promise<{ list: AnyVerifiedStatusList; cached: boolean }> {
    const hit = this.cache.get(href);
    if (hit && hit.issuer === issuer) return { list: hit, cached: true };
    const signal = budget.signal;
    let pending = this.inflight.get(href);
    if (!pending) {
      pending = this.load(href, signal).finally(() => this.inflight.delete(href));
      this.inflight.set(href, pending);
    }
    return { list: await withDeadline(pending, signal, href), cached: false };
  }

  /** Fetches and verifies the list of `href`; nothing is cached here (the caller does, once every check passed). */
  private async load(href: string, signal: AbortSignal): Promise<AnyVerifiedStatusList> {
    let jwt: string;
    try {
      jwt = await this.fetcher(href, { signal });
      if (typeof jwt !== "string") throw new TypeError("the fetcher did not return a string");
    } catch (error) {
      throw new StatusListUnavailableError(href, "fetch failed", { cause: error });
    }
    const list = await this.verifier(jwt, href);
    // Again for whatever verifier was injected (verifyStatusListCredential checks them too, with the same bounds).
    checkStatusListTimes(list, href, {
      now: this.clock(),
      clockSkewSeconds: this.skew,
      maxValiditySeconds: this.maxValidity,
    });
    return list;
  }

  private remember(href: string, list: AnyVerifiedStatusList): void {
    const now = this.clock();
    const issuedAt = list.issuedAt!;
    const newest = this.newestSeen.get(href);
    if (newest === undefined || issuedAt > newest)
      // Kept while an older version could still be unexpired: validity is capped at maxValidity after issuance.
      this.newestSeen.set(href, issuedAt, (issuedAt + this.maxValidity + this.skew) * 1000);
    // Reused for the TTL at most, and never past the list's own expiry or its ttl.
    let reuseUntil = now + this.ttlMs;
    if (list.validUntil !== undefined) reuseUntil = Math.min(reuseUntil, list.validUntil * 1000);
    if (list.format === "token" && list.maxReuseSeconds !== undefined)
      reuseUntil = Math.min(reuseUntil, now + list.maxReuseSeconds * 1000);
    this.cache.set(href, list, reuseUntil, listBytes(list));
  }
}

/** The bounds checkStatusListTimes applies. */
export interface StatusListTimeBounds {
  /** Unix ms. */
  now: number;
  /** Tolerated clock difference for `iat`, seconds. */
  clockSkewSeconds: number;
  /** `exp` at most this many seconds after `iat`. */
  maxValiditySeconds: number;
}

/**
 * A list's times, served at `url`: it states when it was issued (`iat`, else `nbf`) and until when it holds
 * (`exp`), was not issued in the future, and that span is bounded, so an old version stops being accepted within
 * maxValiditySeconds of a newer one (see the newest-seen check). InvalidStatusListError (problem `VALIDITY`)
 * otherwise; an expired list is a StatusListUnavailableError with `expired` set (a fail-open verifier may
 * tolerate it, as it tolerates a list it cannot fetch).
 */
export function checkStatusListTimes<T extends { validUntil: number | undefined; issuedAt?: number | undefined }>(
  list: T,
  url: string,
  bounds: StatusListTimeBounds,
): T & { validUntil: number; issuedAt: number } {
  const now = bounds.now / 1000;
  const invalid = (message: string) => new InvalidStatusListError(message, { problem: "VALIDITY" });
  if (list.validUntil === undefined) throw invalid("status list has no expiry (exp)");
  if (list.issuedAt === undefined) throw invalid("status list has no issuance time (iat)");
  if (list.issuedAt > now + bounds.clockSkewSeconds) throw invalid("status list issued in the future");
  if (list.validUntil - list.issuedAt > bounds.maxValiditySeconds)
    throw invalid(
      `status list valid for more than ${bounds.maxValiditySeconds} seconds after issuance (maxListValiditySeconds)`,
    );
  if (list.validUntil <= now)
    throw new StatusListUnavailableError(url, "status list credential expired", { expired: true });
  return list as T & { validUntil: number; issuedAt: number };
}

/** `pending`, or a StatusListUnavailableError once `signal` aborts (the deadline of the verification). */
function withDeadline<T>(pending: Promise<T>, signal: AbortSignal, href: string): Promise<T> {
  if (signal.aborted) return Promise.reject(new StatusListUnavailableError(href, "deadline passed"));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new StatusListUnavailableError(href, "deadline passed", { cause: signal.reason }));
    signal.addEventListener("abort", onAbort, { once: true });
    pending.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

function urlOf(entry: StatusReference): string {
  return entry.type === "TokenStatusList" ? entry.uri : entry.statusListCredential;
}

function bitstringOutcome(entry: BitstringStatusListEntry, list: AnyVerifiedStatusList): StatusCheckResult {
  if (list.format === "token")
    return { pass: false, reason: "status list is not a BitstringStatusListCredential", code: "INVALID_STATUS_LIST" };
  if (list.purpose !== entry.statusPurpose)
    return {
      pass: false,
      reason: `status list purpose is ${list.purpose}, entry says ${entry.statusPurpose}`,
      code: "INVALID_STATUS_LIST",
    };
  const index = Number(entry.statusListIndex);
  if (index >= list.list.length)
    return { pass: false, reason: `status index ${index} outside the list`, code: "INVALID_STATUS_LIST" };
  if (list.list.get(index))
    return {
      pass: false,
      reason: statusWord(entry.statusPurpose),
      code: entry.statusPurpose === "revocation" ? "REVOKED" : "SUSPENDED",
    };
  return { pass: true, reason: `not ${statusWord(entry.statusPurpose)}` };
}

function tokenOutcome(entry: TokenStatusReference, list: AnyVerifiedStatusList): StatusCheckResult {
  if (list.format !== "token")
    return { pass: false, reason: "status list is not a Status List Token", code: "INVALID_STATUS_LIST" };
  if (entry.idx >= list.list.size)
    return { pass: false, reason: `status index ${entry.idx} outside the list`, code: "INVALID_STATUS_LIST" };
  const status = list.list.get(entry.idx);
  if (status === TOKEN_STATUS_INVALID) return { pass: false, reason: "revoked", code: "REVOKED" };
  if (status === TOKEN_STATUS_SUSPENDED) return { pass: false, reason: "suspended", code: "SUSPENDED" };
  // 0 is VALID; anything else (application-specific, reserved) is not understood here: fail closed.
  if (status !== 0) return { pass: false, reason: `status ${status} not understood`, code: "UNSUPPORTED_STATUS" };
  return { pass: true, reason: "valid (token status list)" };
}
