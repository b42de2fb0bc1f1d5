// Rows of the PostgreSQL store's hot keyed reads (a key release reads a session, its roles, a record, a consent link,
// a wrap and the patient's webhook, and notes the grantee), kept in memory so a release does not make six round
// trips to the database. Several gateways write the same database, so unlike the SQLite store's cache (one process
// owns its file) this one is kept right across processes by invalidations on the gateways' bus.
//
// Safety rules:
// - Every write method of the store that changes a cached table drops the keys it wrote here before it returns (in
//   a `finally`: a write whose outcome is unknown drops them too) and publishes them on the bus; every store listens
//   on the bus from open and drops the keys the other gateways publish. A write at one gateway is thus seen at the
//   others within the bus latency (a revoked session included).
// - A read that was under way when any key was dropped (or the cache cleared) does not store what it read: it may
//   have been read before the write it raced committed (the generation check in set()).
// - The bus is best effort: an invalidation published while a listener's connection is down is lost to it. So:
//   while this store's bus listener is not connected, nothing is cached or served (the whole cache is dropped when
//   the connection goes and again when it comes back), and every cached row is served at most ttlMs after it was
//   read. A lost invalidation (a NOTIFY dropped on the way, a gateway that died between its COMMIT and its NOTIFY)
//   can therefore only leave a row stale for ttlMs at worst.
// - Misses are cached under the same rules: a write that inserts a row publishes its key like any other write.
// - The grantees cache only remembers pairs known to exist (a grantee, once noted, never stops being one): it needs
//   no invalidation, and is bounded like the rest.
// - Concurrent misses of one key share one read (read()): when a row expires under load, every request for it would
//   otherwise go to the database at once. A drop makes later callers start a read of their own (they may come after
//   the write that dropped it, and the shared read may have been answered before it).
// - Cached values are frozen, so no caller can change what the next caller reads.
// - Bounded: a table's cache is emptied when it reaches MAX_ROWS_PER_TABLE keys (misses are cached too, and their
//   keys come from requests).
import { cacheKey, type Cached } from "../sqlite/read-cache.ts";

export { cacheKey, type Cached };

const MAX_ROWS_PER_TABLE = 50_000;
/** How long a cached row may be served without asking the database again (a lost invalidation). */
export const DEFAULT_POSTGRES_READ_CACHE_TTL_MS = 1_000;

/** The tables whose rows are cached, and how many key parts each one's key has. */
export const CACHED_TABLES = {
  sessions: 1,
  session_roles: 1,
  records: 2,
  wraps: 2,
  consent_links: 2,
  webhooks: 1,
} as const;

export type CachedTable = keyof typeof CACHED_TABLES;

/** A key to drop: the table and its key parts; the table alone drops all of its rows. */
export type Invalidation = readonly [CachedTable, ...string[]];

const MISS: Cached<never> = { hit: false };

interface Entry {
  readonly value: unknown;
  /** When the row was read (ms): served until readAt + ttlMs. */
  readonly readAt: number;
}

export interface PostgresReadCacheOptions {
  /** See DEFAULT_POSTGRES_READ_CACHE_TTL_MS; 0 keeps nothing. */
  ttlMs?: number;
  now?: () => number;
}

export class PostgresReadCache {
  readonly #tables = new Map<string, Map<string, Entry>>();
  readonly #grantees = new Set<string>();
  readonly #ttlMs: number;
  readonly #now: () => number;
  /** Reads under way, by table and key (see read()); emptied by every drop. */
  readonly #reading = new Map<string, Promise<unknown>>();
  /** Bumped by every drop: a read started before a drop does not store its result. */
  #generation = 0;
  /** Whether the bus listener is connected (nothing is cached or served otherwise). */
  #listening = false;

  constructor(options: PostgresReadCacheOptions = {}) {
    this.#ttlMs = options.ttlMs ?? DEFAULT_POSTGRES_READ_CACHE_TTL_MS;
    this.#now = options.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.#ttlMs > 0;
  }

  /** Whether rows are served and stored (the bus listener is connected and the cache is on). */
  get active(): boolean {
    return this.#listening && this.#ttlMs > 0;
  }

  get<T>(table: CachedTable, key: string): Cached<T> {
    if (!this.active) return MISS;
    const rows = this.#tables.get(table);
    const entry = rows?.get(key);
    if (entry === undefined) return MISS;
    if (this.#now() - entry.readAt >= this.#ttlMs) {
      rows!.delete(key);
      return MISS;
    }
    return { hit: true, value: entry.value as T };
  }

  /**
   * Stores what a read returned, unless anything was dropped since the read started (`generation`, taken before it)
   * or the listener is not connected. Returns the value, frozen when stored.
   */
  set<T>(table: CachedTable, key: string, value: T, generation: number, readAt: number): T {
    if (!this.active || generation !== this.#generation) return value;
    let rows = this.#tables.get(table);
    if (rows === undefined || rows.size >= MAX_ROWS_PER_TABLE) {
      rows = new Map();
      this.#tables.set(table, rows);
    }
    rows.set(key, { value: deepFreeze(value), readAt });
    return value;
  }

  now(): number {
    return this.#now();
  }

  /**
   * The row of `key`: from the cache, else from the read of it already under way (started since the last drop),
   * else from `load`, kept for the next callers when nothing was dropped meanwhile. The value is frozen (callers
   * share it).
   */
  read<T>(table: CachedTable, key: string, load: () => Promise<T>): Promise<T> {
    if (!this.active) return load();
    const cached = this.get<T>(table, key);
    if (cached.hit) return Promise.resolve(cached.value);
    const readingKey = `${table}\u0000${key}`;
    const under = this.#reading.get(readingKey);
    if (under !== undefined) return under as Promise<T>;
    // Taken before the read: a drop meanwhile keeps the result out, and the TTL counts from before the read.
    const generation = this.#generation;
    const readAt = this.#now();
    const reading = load()
      .then((value) => this.set(table, key, deepFreeze(value), generation, readAt))
      .finally(() => {
        if (this.#reading.get(readingKey) === reading) this.#reading.delete(readingKey);
      });
    this.#reading.set(readingKey, reading);
    return reading;
  }

  /** Whether (patient, grantee) is known to be noted already. */
  knowsGrantee(key: string): boolean {
    return this.active && this.#grantees.has(key);
  }

  /** (patient, grantee) is noted in the database: it stays noted for good. */
  noteGrantee(key: string): void {
    if (!this.active) return;
    if (this.#grantees.size >= MAX_ROWS_PER_TABLE) this.#grantees.clear();
    this.#grantees.add(key);
  }

  /** Drops these keys (or whole tables) here. */
  drop(invalidations: readonly Invalidation[]): void {
    this.#generation++;
    this.#reading.clear();
    for (const [table, ...parts] of invalidations) {
      if (parts.length === 0) this.#tables.delete(table);
      else this.#tables.get(table)?.delete(cacheKey(...parts));
    }
  }

  /** Drops everything (and makes reads under way not store theirs). */
  clear(): void {
    this.#generation++;
    this.#reading.clear();
    this.#tables.clear();
    this.#grantees.clear();
  }

  /** The bus listener connected (true) or lost its connection (false): the cache is dropped either way. */
  setListening(listening: boolean): void {
    this.clear();
    this.#listening = listening;
  }
}

/** Marks the cache's messages on the bus apart from the notifier's (which carry `v: 1` and `from`). */
const MESSAGE_KEY = "inv";

/** The bus message for `invalidations` from the store named `from`, within maxBytes (whole tables when too long). */
export function invalidationMessage(from: string, invalidations: readonly Invalidation[], maxBytes: number): string {
  const message = JSON.stringify({ [MESSAGE_KEY]: invalidations, by: from });
  if (Buffer.byteLength(message) <= maxBytes) return message;
  // Too many keys for one NOTIFY: drop the tables they belong to instead.
  const tables = [...new Set(invalidations.map(([table]) => table))].map((table): Invalidation => [table]);
  return JSON.stringify({ [MESSAGE_KEY]: tables, by: from });
}

/**
 * The invalidations of a bus message and the store that sent it; undefined for any other message (the notifier's,
 * or anything malformed). Strict: an unknown table or a wrong number of key parts rejects the whole message.
 */
export function parseInvalidationMessage(message: string): { from: string; invalidations: Invalidation[] } | undefined {
  if (!message.startsWith(`{"${MESSAGE_KEY}":`)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return undefined;
  }
  if (typeof parsed !== "object" || parsed === null) return undefined;
  const { [MESSAGE_KEY]: list, by } = parsed as Record<string, unknown>;
  if (typeof by !== "string" || !Array.isArray(list)) return undefined;
  const invalidations: Invalidation[] = [];
  for (const item of list as unknown[]) {
    if (!Array.isArray(item) || !item.every((part) => typeof part === "string")) return undefined;
    const [table, ...parts] = item as string[];
    if (table === undefined || !Object.hasOwn(CACHED_TABLES, table)) return undefined;
    const arity = CACHED_TABLES[table as CachedTable];
    if (parts.length !== 0 && parts.length !== arity) return undefined;
    invalidations.push([table as CachedTable, ...parts]);
  }
  return { from: by, invalidations };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value as object)) deepFreeze(member);
  }
  return value;
}
