// Status list credentials: issuers build and re-sign them (the gateway serves them later); verifiers check a
// credential's entries through an injected fetcher, with a TTL cache, failing closed when a list is unavailable.
import { InvalidIdentityInputError, StatusListUnavailableError, errorMessage } from "../errors.ts";
import type { Bitstring } from "./bitstring.ts";
import { functionArgument, objectArgument } from "../arguments.ts";
import { type StatusPurpose } from "./bitstring.ts";

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

/** What the checker needs from a verified status list credential. */
export interface VerifiedStatusList {
  issuer: string;
  purpose: StatusPurpose;
  list: Bitstring;
  /** Unix seconds; the list must not be used after this. */
  validUntil: number | undefined;
}

export type StatusListFetcher = (url: string) => Promise<string>;
/** Verifies a fetched status list credential (signature, type); throws when invalid. */
export type StatusListVerifier = (jwt: string, url: string) => Promise<VerifiedStatusList>;

export interface StatusCheckResult {
  readonly pass: boolean;
  readonly reason: string;
}

export interface StatusListCheckerOptions {
  fetcher: StatusListFetcher;
  verifier: StatusListVerifier;
  /** How long a fetched list is reused. Default 60 s. */
  ttlMs?: number;
  /** When a list cannot be fetched or verified: fail the check (default) or pass it with a warning reason. */
  failClosed?: boolean;
  clock?: () => number;
}

export class StatusListChecker {
  private readonly options: Required<Omit<StatusListCheckerOptions, "clock">> & { clock: () => number };
  private readonly cache = new Map<string, { list: VerifiedStatusList; expiresAt: number }>();

  constructor(options: StatusListCheckerOptions) {
    objectArgument(options, "options", "{ fetcher, verifier, ttlMs?, failClosed?, clock? }");
    functionArgument(options.fetcher, "fetcher", "(url) => Promise<status list credential JWT>");
    functionArgument(options.verifier, "verifier", "(jwt, url) => Promise<VerifiedStatusList>");
    this.options = { ttlMs: 60_000, failClosed: true, clock: Date.now, ...options };
  }

  /** Checks every status entry of a credential issued by `issuer`. */
  async check(issuer: string, entries: readonly BitstringStatusListEntry[]): Promise<StatusCheckResult> {
    if (typeof issuer !== "string")
      throw new InvalidIdentityInputError("issuer", "must be the credential's issuer DID");
    if (!Array.isArray(entries))
      throw new InvalidIdentityInputError("entries", "must be an array of credentialStatus entries");
    const reasons: string[] = [];
    for (const entry of entries) {
      let list: VerifiedStatusList;
      try {
        list = await this.load(entry.statusListCredential);
      } catch (error) {
        const reason = `status list unavailable: ${errorMessage(error).slice(0, 200)}`;
        if (this.options.failClosed) return { pass: false, reason };
        reasons.push(`${reason} (ignored: fail-open configured)`);
        continue;
      }
      if (list.issuer !== issuer) return { pass: false, reason: "status list not issued by the credential's issuer" };
      if (list.purpose !== entry.statusPurpose)
        return { pass: false, reason: `status list purpose is ${list.purpose}, entry says ${entry.statusPurpose}` };
      const index = Number(entry.statusListIndex);
      if (index >= list.list.length) return { pass: false, reason: `status index ${index} outside the list` };
      if (list.list.get(index))
        return { pass: false, reason: entry.statusPurpose === "revocation" ? "revoked" : "suspended" };
      reasons.push(`not ${entry.statusPurpose === "revocation" ? "revoked" : "suspended"}`);
    }
    return { pass: true, reason: reasons.length > 0 ? reasons.join("; ") : "no status entries" };
  }

  invalidate(url?: string): void {
    if (url === undefined) this.cache.clear();
    else this.cache.delete(url);
  }

  private async load(url: string): Promise<VerifiedStatusList> {
    const now = this.options.clock();
    const hit = this.cache.get(url);
    if (hit && hit.expiresAt > now) return hit.list;
    let jwt: string;
    try {
      jwt = await this.options.fetcher(url);
    } catch (error) {
      throw new StatusListUnavailableError(url, errorMessage(error), { cause: error });
    }
    const list = await this.options.verifier(jwt, url);
    if (list.validUntil !== undefined && list.validUntil * 1000 <= now)
      throw new StatusListUnavailableError(url, "status list credential expired");
    this.cache.set(url, { list, expiresAt: now + this.options.ttlMs });
    return list;
  }
}
