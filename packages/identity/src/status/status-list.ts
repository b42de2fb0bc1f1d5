// Status lists on the verifier's side: a credential's entries are checked against lists fetched through an
// injected fetcher.
//
// Rules:
// - A URL is fetched only when the policy allows it (https, plain http only to loopback or listed hosts, and
//   the configured origins when there are any) and only for a credential whose issuer was already found
//   trusted (the verifier's job: it calls check() after the trust check).
// - A list counts only for the URL it was fetched from (its id / jti / sub must be that URL), signed by the
//   credential's issuer, of the entry's purpose and format, and not expired.
// - A list is reused for at most the TTL, never past its own expiry (or its `ttl`).
// - Fetch errors are never copied into a reason: their text is the status host's (or the network's), and the
//   verifier's caller may show reasons to the presenter. The reason is fixed, with a code; the error is `cause`.
// - When a list cannot be fetched the check fails (failClosed, the default); a list that was fetched but is not
//   valid always fails.
import {
  InvalidIdentityInputError,
  InvalidStatusListError,
  StatusListUnavailableError,
  errorMessage,
} from "../errors.ts";
import type { Bitstring } from "./bitstring.ts";
import { functionArgument, objectArgument } from "../arguments.ts";
import { type StatusPurpose } from "./bitstring.ts";
import { TOKEN_STATUS_INVALID, TOKEN_STATUS_SUSPENDED, type TokenStatusList } from "./token-status-list.ts";
import { BoundedCache } from "../verify/bounded-cache.ts";

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
  if (typeof listUrl !== "string" || !/^https?:\/\/\S+$/.test(listUrl) || listUrl.length > 2048)
    throw new InvalidIdentityInputError("listUrl", "must be the http(s) URL the status list credential is served at");
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
  if (typeof uri !== "string" || !/^https?:\/\/\S+$/.test(uri) || uri.length > 2048)
    throw new InvalidIdentityInputError("uri", "must be the http(s) URL the status list token is served at");
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
  /** Unix seconds; the list must not be used after this. */
  validUntil: number | undefined;
}

/** What the checker needs from a verified Status List Token (`typ` statuslist+jwt). */
export interface VerifiedTokenStatusList {
  format: "token";
  issuer: string;
  list: TokenStatusList;
  /** Unix seconds (`exp`); the list must not be used after this. */
  validUntil: number | undefined;
  /** The token's `ttl`: reuse it for at most this many seconds after fetching. */
  maxReuseSeconds: number | undefined;
}

export type AnyVerifiedStatusList = VerifiedStatusList | VerifiedTokenStatusList;

export type StatusListFetcher = (url: string) => Promise<string>;
/**
 * Verifies a status list fetched from `url` (signature, type, and that it is the list of that URL); throws
 * (InvalidStatusListError) when it is not valid.
 */
export type StatusListVerifier = (jwt: string, url: string) => Promise<AnyVerifiedStatusList>;

/** Stable codes of a failed status check (VerificationCheck.code). */
export type StatusCheckCode =
  | "STATUS_LIST_UNAVAILABLE"
  | "INVALID_STATUS_LIST"
  | "STATUS_URL_NOT_ALLOWED"
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

/** Which status list URLs may be fetched. */
export interface StatusUrlPolicy {
  /**
   * Origins lists may be fetched from (`"https://status.example"`), or a function giving them for an issuer (for
   * example the issuer's own origin). Unset: any origin the scheme rule allows.
   */
  origins?: readonly string[] | ((issuer: string) => readonly string[] | undefined);
  /** Hosts that may be fetched over plain http. Default loopback only (localhost, 127.0.0.0/8, [::1]). */
  httpHosts?: readonly string[];
}

const LOOPBACK = /^(localhost|127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\])$/;

/** Why `url` may not be fetched for `issuer` under `policy`; undefined when it may. */
export function statusUrlProblem(url: string, issuer: string, policy: StatusUrlPolicy = {}): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "not a URL";
  }
  if (parsed.username !== "" || parsed.password !== "") return "URL carries credentials";
  const host = parsed.hostname.toLowerCase();
  if (parsed.protocol === "http:") {
    const allowed = policy.httpHosts
      ? policy.httpHosts.map((h) => h.toLowerCase()).includes(host)
      : LOOPBACK.test(host);
    if (!allowed) return "plain http to a host that is not loopback or listed (statusListHttpHosts)";
  } else if (parsed.protocol !== "https:") return `scheme ${parsed.protocol.slice(0, 20)} (https only)`;
  const origins = typeof policy.origins === "function" ? policy.origins(issuer) : policy.origins;
  if (origins !== undefined && !origins.some((origin) => sameOrigin(origin, parsed.origin)))
    return "origin not allowed for this issuer (statusListOrigins)";
  return undefined;
}

function sameOrigin(configured: string, origin: string): boolean {
  try {
    return new URL(configured).origin === origin;
  } catch {
    return false;
  }
}

export interface StatusListCheckerOptions {
  fetcher: StatusListFetcher;
  verifier: StatusListVerifier;
  /** How long a fetched list is reused (never past its own expiry). Default 60 s. */
  ttlMs?: number;
  /** When a list cannot be fetched (or has expired): fail the check (default) or pass it with a warning reason. */
  failClosed?: boolean;
  /** Which URLs may be fetched. Default: https, or plain http to loopback. */
  urlPolicy?: StatusUrlPolicy;
  /** At most this many lists are cached. Default 256. */
  maxCachedLists?: number;
  clock?: () => number;
}

function statusWord(purpose: StatusPurpose): "revoked" | "suspended" {
  return purpose === "revocation" ? "revoked" : "suspended";
}

export class StatusListChecker {
  private readonly fetcher: StatusListFetcher;
  private readonly verifier: StatusListVerifier;
  private readonly ttlMs: number;
  private readonly failClosed: boolean;
  private readonly urlPolicy: StatusUrlPolicy;
  private readonly clock: () => number;
  private readonly cache: BoundedCache<string, AnyVerifiedStatusList>;

  constructor(options: StatusListCheckerOptions) {
    objectArgument(options, "options", "{ fetcher, verifier, ttlMs?, failClosed?, urlPolicy?, clock? }");
    functionArgument(options.fetcher, "fetcher", "(url) => Promise<status list credential JWT>");
    functionArgument(options.verifier, "verifier", "(jwt, url) => Promise<VerifiedStatusList>");
    this.fetcher = options.fetcher;
    this.verifier = options.verifier;
    this.ttlMs = options.ttlMs ?? 60_000;
    this.failClosed = options.failClosed ?? true;
    this.urlPolicy = options.urlPolicy ?? {};
    this.clock = options.clock ?? Date.now;
    const maxEntries = options.maxCachedLists ?? 256;
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1)
      throw new InvalidIdentityInputError("maxCachedLists", "must be a whole number >= 1");
    this.cache = new BoundedCache({ maxEntries, clock: this.clock });
  }

  /** How many lists are cached (bounded by maxCachedLists). */
  get cacheSize(): number {
    return this.cache.size;
  }

  /** Checks every status entry of a credential issued by `issuer` (call it once the issuer is trusted). */
  async check(issuer: string, entries: readonly StatusReference[]): Promise<StatusCheckResult> {
    if (typeof issuer !== "string")
      throw new InvalidIdentityInputError("issuer", "must be the credential's issuer DID");
    if (!Array.isArray(entries))
      throw new InvalidIdentityInputError("entries", "must be an array of credentialStatus entries");
    // Every URL is vetted before any is fetched (a list cached for this issuer was, when it was fetched).
    for (const entry of entries) {
      if (this.cache.get(urlOf(entry))?.issuer === issuer) continue;
      const problem = statusUrlProblem(urlOf(entry), issuer, this.urlPolicy);
      if (problem)
        return { pass: false, reason: `status list URL not allowed: ${problem}`, code: "STATUS_URL_NOT_ALLOWED" };
    }
    const reasons: string[] = [];
    for (const entry of entries) {
      let list: AnyVerifiedStatusList;
      try {
        list = await this.load(urlOf(entry));
      } catch (error) {
        if (error instanceof InvalidStatusListError)
          return { pass: false, reason: error.message, code: "INVALID_STATUS_LIST", cause: error };
        const reason =
          error instanceof StatusListUnavailableError && error.expired
            ? "status list expired"
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
      const outcome = entry.type === "TokenStatusList" ? tokenOutcome(entry, list) : bitstringOutcome(entry, list);
      if (!outcome.pass) return outcome;
      reasons.push(outcome.reason);
    }
    return { pass: true, reason: reasons.length > 0 ? reasons.join("; ") : "no status entries" };
  }

  invalidate(url?: string): void {
    if (url === undefined) this.cache.clear();
    else this.cache.delete(url);
  }

  private async load(url: string): Promise<AnyVerifiedStatusList> {
    const hit = this.cache.get(url);
    if (hit) return hit;
    let jwt: string;
    try {
      jwt = await this.fetcher(url);
      if (typeof jwt !== "string") throw new TypeError("the fetcher did not return a string");
    } catch (error) {
      throw new StatusListUnavailableError(url, errorMessage(error), { cause: error });
    }
    const list = await this.verifier(jwt, url);
    const now = this.clock();
    if (list.validUntil !== undefined && list.validUntil * 1000 <= now)
      throw new StatusListUnavailableError(url, "status list credential expired", { expired: true });
    // Reused for the TTL at most, and never past the list's own expiry or its ttl.
    let reuseUntil = now + this.ttlMs;
    if (list.validUntil !== undefined) reuseUntil = Math.min(reuseUntil, list.validUntil * 1000);
    if (list.format === "token" && list.maxReuseSeconds !== undefined)
      reuseUntil = Math.min(reuseUntil, now + list.maxReuseSeconds * 1000);
    this.cache.set(url, list, reuseUntil);
    return list;
  }
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
