// Helia's datastore (pin records, the node's peer key, libp2p's peer store) in one node:sqlite file instead of
// one file per key (datastore-fs). Pinning a 1 GiB record writes ≈ 1,000 pin records: as files that is
// ≈ 1,000 inode allocations and renames, ≈ 1 s of kernel time on these VMs and ≈ 20 % of an `add`; here it is
// one transaction of ≈ 1,000 row writes (tens of ms), and a `batch()` is atomic, so a pin is recorded whole
// or not at all.
//
// Durability: WAL journal, synchronous=FULL: a commit is on stable storage when it returns (the WAL is fsynced
// at every commit), so a pin that was acknowledged survives a power loss. A write barrier (setWriteBarrier) runs
// before every asynchronous write: HeliaContentStore makes it flush the blockstore, so no pin record can reach
// the disk before the blocks it names (transaction() is synchronous: its callers flush first themselves).
import { DatabaseSync } from "node:sqlite";
import type { StatementSync } from "node:sqlite";
import { BaseDatastore } from "datastore-core";
import { Key } from "interface-datastore";
import type { AbortOptions } from "@libp2p/interface";
import type { Batch, KeyQuery, Pair, Query } from "interface-datastore";
import { notFoundError, notStartedError } from "./store-errors.ts";

/** Synchronous access inside `SqliteDatastore.transaction`. */
export interface DatastoreTransaction {
  get(key: Key): Uint8Array | undefined;
  put(key: Key, value: Uint8Array): void;
  delete(key: Key): void;
}

/** Rows fetched per page when iterating a query, so a large result never sits in memory whole. */
const QUERY_PAGE = 256;

interface Statements {
  put: StatementSync;
  get: StatementSync;
  has: StatementSync;
  delete: StatementSync;
  page: StatementSync;
  keyPage: StatementSync;
}

export class SqliteDatastore extends BaseDatastore {
  readonly path: string;
  #db: DatabaseSync | undefined;
  #statements: Statements | undefined;
  #barrier: (() => Promise<void>) | undefined;

  constructor(path: string) {
    super();
    this.path = path;
  }

  open(): Promise<void> {
    if (this.#db !== undefined) return Promise.resolve();
    const db = new DatabaseSync(this.path);
    try {
      db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;");
      db.exec("CREATE TABLE IF NOT EXISTS datastore (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID");
      this.#statements = {
        put: db.prepare(
          "INSERT INTO datastore (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        ),
        get: db.prepare("SELECT value FROM datastore WHERE key = ?"),
        has: db.prepare("SELECT 1 FROM datastore WHERE key = ?"),
        delete: db.prepare("DELETE FROM datastore WHERE key = ?"),
        // Keyset pagination in key order; the prefix bounds use the index (BINARY collation compares UTF-8 bytes).
        page: db.prepare(
          "SELECT key, value FROM datastore WHERE key > ? AND key >= ? AND key < ? ORDER BY key LIMIT ?",
        ),
        keyPage: db.prepare("SELECT key FROM datastore WHERE key > ? AND key >= ? AND key < ? ORDER BY key LIMIT ?"),
      };
    } catch (error) {
      db.close();
      throw error;
    }
    this.#db = db;
    return Promise.resolve();
  }

  /** `barrier` is awaited before every put and batch commit (not transaction(), which is synchronous). */
  setWriteBarrier(barrier: (() => Promise<void>) | undefined): void {
    this.#barrier = barrier;
  }

  close(): Promise<void> {
    this.#statements = undefined;
    this.#db?.close();
    this.#db = undefined;
    return Promise.resolve();
  }

  // async: every failure (closed store, SQLite error) is a rejection, as callers of a Datastore expect.
  override async put(key: Key, value: Uint8Array, options: AbortOptions = {}): Promise<Key> {
    options.signal?.throwIfAborted();
    await this.#barrier?.();
    this.#sql().put.run(key.toString(), value);
    return key;
  }

  override async get(key: Key, options: AbortOptions = {}): Promise<Uint8Array> {
    options.signal?.throwIfAborted();
    const row = this.#sql().get.get(key.toString()) as { value: Uint8Array } | undefined;
    if (row === undefined) throw notFound(key);
    return row.value;
  }

  override async has(key: Key, options: AbortOptions = {}): Promise<boolean> {
    options.signal?.throwIfAborted();
    return this.#sql().has.get(key.toString()) !== undefined;
  }

  override async delete(key: Key, options: AbortOptions = {}): Promise<void> {
    options.signal?.throwIfAborted();
    this.#sql().delete.run(key.toString());
  }

  /** All puts and deletes of the batch in one transaction: every one of them lands, or none does. */
  override batch(): Batch {
    const operations: Array<{ key: Key; value?: Uint8Array }> = [];
    return {
      put: (key: Key, value: Uint8Array) => void operations.push({ key, value }),
      delete: (key: Key) => void operations.push({ key }),
      commit: async (options: AbortOptions = {}) => {
        options.signal?.throwIfAborted();
        const pending = operations.splice(0);
        await this.#barrier?.();
        this.transaction((tx) => {
          for (const { key, value } of pending) {
            if (value === undefined) tx.delete(key);
            else tx.put(key, value);
          }
        });
      },
    };
  }

  /**
   * Runs `work` synchronously inside one transaction: a read-modify-write that no other operation can interleave
   * with (nothing awaits in between), committed whole or, if `work` throws, not at all.
   */
  transaction<T>(work: (tx: DatastoreTransaction) => T): T {
    const db = this.#open();
    const sql = this.#sql();
    const tx: DatastoreTransaction = {
      get: (key) => (sql.get.get(key.toString()) as { value: Uint8Array } | undefined)?.value,
      put: (key, value) => void sql.put.run(key.toString(), value),
      delete: (key) => void sql.delete.run(key.toString()),
    };
    db.exec("BEGIN IMMEDIATE");
    let result: T;
    try {
      result = work(tx);
      db.exec("COMMIT");
    } catch (error) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw error;
    }
    return result;
  }

  override async *_all(query: Query, options: AbortOptions = {}): AsyncGenerator<Pair> {
    for (const rows of this.#pages("page", query.prefix, options)) {
      for (const row of rows as Array<{ key: string; value: Uint8Array }>) {
        yield { key: new Key(row.key), value: row.value };
      }
    }
  }

  override async *_allKeys(query: KeyQuery, options: AbortOptions = {}): AsyncGenerator<Key> {
    for (const rows of this.#pages("keyPage", query.prefix, options)) {
      for (const row of rows as Array<{ key: string }>) yield new Key(row.key);
    }
  }

  /** Pages of rows whose key starts with `prefix`, in key order; each page read when the previous is consumed. */
  *#pages(statement: "page" | "keyPage", prefix: string | undefined, options: AbortOptions): Generator<unknown[]> {
    const low = prefix ?? "";
    // Every key with this prefix sorts below prefix + U+10FFFF (its UTF-8 is 0xF4 0x8F 0xBF 0xBF, above ASCII).
    const high = `${low}\u{10FFFF}`;
    let after = "";
    for (;;) {
      options.signal?.throwIfAborted();
      const rows = this.#sql()[statement].all(after, low, high, QUERY_PAGE) as Array<{ key: string }>;
      if (rows.length === 0) return;
      yield rows;
      if (rows.length < QUERY_PAGE) return;
      after = rows.at(-1)!.key;
    }
  }

  #open(): DatabaseSync {
    if (this.#db === undefined) throw notOpen();
    return this.#db;
  }

  #sql(): Statements {
    if (this.#statements === undefined) throw notOpen();
    return this.#statements;
  }
}

const notFound = (key: Key): Error => notFoundError(`${key.toString()} not found`);

const notOpen = (): Error => notStartedError("sqlite datastore is not open");
