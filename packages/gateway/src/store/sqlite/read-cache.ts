// Rows of the store's hot keyed reads (a key release reads a session, its roles, a record, a consent link, a wrap
// and the patient's webhook), kept in memory so a request does not open six SQLite read transactions (each takes
// and drops the WAL index's locks: about 6-35 µs under load, a fifth of a release's CPU in the bench's profile).
//
// Safety rules:
// - Every write of this store drops, before the statement runs, the cached rows of the table it writes (and of the
//   tables its foreign keys cascade into): the store passes each statement to beforeStatement(). This process is
//   the only gateway on the database (the data-dir lock), so its own writes are seen at once.
// - A write from outside the store (an operator's sqlite3 shell) is seen within ttlMs: a table's cached rows are
//   dropped ttlMs after the first of them was read. The store turns the cache off for good (disable()) once it
//   finds its data-dir lock or its file lost, when another gateway may be writing.
// - Rows are cached only outside a transaction (never a row a ROLLBACK could take back), and the whole cache is
//   dropped when a transaction rolls back.
// - Cached values are frozen, so no caller can change what the next caller reads.
// - Bounded: a table's cache is emptied when it reaches MAX_ROWS_PER_TABLE keys (misses are cached too, and their
//   keys come from requests).

const MAX_ROWS_PER_TABLE = 50_000;
/** How long a cached row may be served without reading the file again (writes from outside the store). */
export const DEFAULT_READ_CACHE_TTL_MS = 1_000;

/** Tables whose rows a foreign key with ON DELETE CASCADE removes when a row of the key's table goes. */
const CASCADES: Readonly<Record<string, readonly string[]>> = { sessions: ["session_roles"] };

/**
 * The table a writing statement changes: INSERT INTO t, UPDATE t, DELETE FROM t (a REPLACE is an INSERT), the
 * table name optionally schema-qualified and quoted (main.t, "main"."t").
 */
const WRITE =
  /^\s*(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)\s+(?:["`[]?\w+["`\]]?\s*\.\s*)?["`[]?(\w+)["`\]]?(?=[\s(]|$)/i;

export type Cached<T> = { hit: true; value: T } | { hit: false };

const MISS: Cached<never> = { hit: false };

interface TableRows {
  readonly rows: Map<string, unknown>;
  /** When the oldest of these rows was read (ms). */
  readonly since: number;
}

export interface ReadCacheOptions {
  /** See DEFAULT_READ_CACHE_TTL_MS; 0 keeps nothing. */
  ttlMs?: number;
  now?: () => number;
}

export class ReadCache {
  readonly #tables = new Map<string, TableRows>();
  /** SQL text -> the table it writes (null: a read; "*": cannot tell, so everything). */
  readonly #writes = new Map<string, string | null>();
  readonly #ttlMs: number;
  readonly #now: () => number;
  #disabled = false;

  constructor(options: ReadCacheOptions = {}) {
    this.#ttlMs = options.ttlMs ?? DEFAULT_READ_CACHE_TTL_MS;
    this.#now = options.now ?? Date.now;
  }

  get<T>(table: string, key: string): Cached<T> {
    const cached = this.#tables.get(table);
    if (cached === undefined || !cached.rows.has(key)) return MISS;
    if (this.#now() - cached.since >= this.#ttlMs) {
      this.#tables.delete(table);
      return MISS;
    }
    return { hit: true, value: cached.rows.get(key) as T };
  }

  set<T>(table: string, key: string, value: T): T {
    if (this.#disabled || this.#ttlMs === 0) return value;
    let cached = this.#tables.get(table);
    if (cached === undefined || cached.rows.size >= MAX_ROWS_PER_TABLE) {
      cached = { rows: new Map(), since: this.#now() };
      this.#tables.set(table, cached);
    }
    cached.rows.set(key, deepFreeze(value));
    return value;
  }

  /**
   * Called with every statement before it runs: a statement that writes a table drops that table's cached rows
   * (and those of the tables it cascades into). A statement that is not a plain read and whose table cannot be
   * told drops everything.
   */
  beforeStatement(sql: string): void {
    let table = this.#writes.get(sql);
    if (table === undefined) {
      table = writtenTable(sql);
      this.#writes.set(sql, table);
    }
    if (table === null) return;
    if (table === "*") {
      this.clear();
      return;
    }
    this.#tables.delete(table);
    for (const dependent of CASCADES[table] ?? []) this.#tables.delete(dependent);
  }

  clear(): void {
    this.#tables.clear();
  }

  /** Drops everything and keeps nothing from now on. */
  disable(): void {
    this.#disabled = true;
    this.clear();
  }
}

/** One cache key for several parts, unambiguous whatever they hold ("a b"+"c" never meets "a"+"b c"). */
export function cacheKey(...parts: string[]): string {
  return parts.map((part) => `${part.length}:${part}`).join("");
}

/** null for a read (SELECT, or a PRAGMA read); the table name for a write; "*" for anything else. */
export function writtenTable(sql: string): string | null {
  const match = WRITE.exec(sql);
  if (match) return match[1]!.toLowerCase();
  if (/^\s*PRAGMA\s+\w+\s*$/i.test(sql)) return null; // reading a setting
  if (/^\s*(SELECT|WITH\s[\s\S]*\)\s*SELECT)\b/i.test(sql) && !/\b(INSERT|UPDATE|DELETE|REPLACE)\b/i.test(sql))
    return null;
  return "*";
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !ArrayBuffer.isView(value) && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value as object)) deepFreeze(member);
  }
  return value;
}
