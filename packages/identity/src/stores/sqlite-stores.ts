// Veramo stores on node:sqlite (no native addon). Private keys are encrypted at rest with Veramo's SecretBox
// (XSalsa20-Poly1305); public key metadata and identifiers are stored in clear (they are published anyway).
// They implement Veramo's abstract stores structurally (Veramo is loaded lazily, see veramo-runtime.ts).
import { DatabaseSync } from "node:sqlite";
import type { IIdentifier, IKey, ManagedKeyInfo, TKeyType } from "@veramo/core-types";
import type { AbstractDIDStore } from "@veramo/did-manager";
import type {
  AbstractKeyStore,
  AbstractPrivateKeyStore,
  AbstractSecretBox,
  ImportablePrivateKey,
  ManagedPrivateKey,
} from "@veramo/key-manager";
import { KeyNotFoundError, UnknownDidError } from "../errors.ts";

/** Opens (or creates) the identity database; ":memory:" gives a throw-away one for tests. */
export function openIdentityDatabase(path: string): DatabaseSync {
  const db = new DatabaseSync(path);
  db.exec(`
    PRAGMA journal_mode = WAL;
    CREATE TABLE IF NOT EXISTS identity_keys (kid TEXT PRIMARY KEY, json TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS identity_private_keys (alias TEXT PRIMARY KEY, type TEXT NOT NULL, sealed TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS identity_dids (did TEXT PRIMARY KEY, alias TEXT, provider TEXT, json TEXT NOT NULL);
  `);
  return db;
}

interface JsonRow {
  json: string;
}

export class SqliteKeyStore implements AbstractKeyStore {
  private readonly db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.db = db;
  }

  async importKey(args: Partial<IKey>): Promise<boolean> {
    if (!args.kid) throw new KeyNotFoundError("a key needs a kid");
    this.db
      .prepare("INSERT OR REPLACE INTO identity_keys (kid, json) VALUES (?, ?)")
      .run(args.kid, JSON.stringify(args));
    return true;
  }

  async getKey({ kid }: { kid: string }): Promise<IKey> {
    const row = this.db.prepare("SELECT json FROM identity_keys WHERE kid = ?").get(kid) as JsonRow | undefined;
    if (!row) throw new KeyNotFoundError(`key not found: ${kid}`);
    return JSON.parse(row.json) as IKey;
  }

  async deleteKey({ kid }: { kid: string }): Promise<boolean> {
    return this.db.prepare("DELETE FROM identity_keys WHERE kid = ?").run(kid).changes > 0;
  }

  async listKeys(): Promise<ManagedKeyInfo[]> {
    const rows = this.db.prepare("SELECT json FROM identity_keys").all() as unknown as JsonRow[];
    return rows.map((row) => {
      const key = JSON.parse(row.json) as IKey;
      return { kid: key.kid, kms: key.kms, type: key.type, publicKeyHex: key.publicKeyHex, meta: key.meta };
    });
  }
}

interface PrivateKeyRow {
  alias: string;
  type: string;
  sealed: string;
}

/** Private keys sealed with a SecretBox; the box's secret never touches the database. */
export class SqliteEncryptedPrivateKeyStore implements AbstractPrivateKeyStore {
  private readonly db: DatabaseSync;
  private readonly secretBox: AbstractSecretBox;
  constructor(db: DatabaseSync, secretBox: AbstractSecretBox) {
    this.db = db;
    this.secretBox = secretBox;
  }

  async importKey(args: ImportablePrivateKey): Promise<ManagedPrivateKey> {
    const alias = args.alias ?? crypto.randomUUID();
    const existing = this.db.prepare("SELECT alias FROM identity_private_keys WHERE alias = ?").get(alias);
    if (existing) {
      const current = await this.getKey({ alias });
      if (current.privateKeyHex !== args.privateKeyHex || current.type !== args.type) {
        throw new KeyNotFoundError(`another key is already stored under alias ${alias}`);
      }
      return current;
    }
    const sealed = await this.secretBox.encrypt(args.privateKeyHex);
    this.db
      .prepare("INSERT INTO identity_private_keys (alias, type, sealed) VALUES (?, ?, ?)")
      .run(alias, args.type, sealed);
    return { alias, type: args.type, privateKeyHex: args.privateKeyHex };
  }

  async getKey({ alias }: { alias: string }): Promise<ManagedPrivateKey> {
    const row = this.db.prepare("SELECT alias, type, sealed FROM identity_private_keys WHERE alias = ?").get(alias) as
      PrivateKeyRow | undefined;
    if (!row) throw new KeyNotFoundError(`private key not found: ${alias}`);
    return { alias: row.alias, type: row.type as TKeyType, privateKeyHex: await this.secretBox.decrypt(row.sealed) };
  }

  async deleteKey({ alias }: { alias: string }): Promise<boolean> {
    return this.db.prepare("DELETE FROM identity_private_keys WHERE alias = ?").run(alias).changes > 0;
  }

  async listKeys(): Promise<ManagedPrivateKey[]> {
    const rows = this.db.prepare("SELECT alias FROM identity_private_keys").all() as unknown as { alias: string }[];
    return Promise.all(rows.map((row) => this.getKey({ alias: row.alias })));
  }
}

export class SqliteDidStore implements AbstractDIDStore {
  private readonly db: DatabaseSync;
  constructor(db: DatabaseSync) {
    this.db = db;
  }

  async importDID(args: IIdentifier): Promise<boolean> {
    this.db
      .prepare("INSERT OR REPLACE INTO identity_dids (did, alias, provider, json) VALUES (?, ?, ?, ?)")
      .run(args.did, args.alias ?? null, args.provider, JSON.stringify(args));
    return true;
  }

  async getDID(args: { did: string } | { alias: string }): Promise<IIdentifier> {
    const row = (
      "did" in args
        ? this.db.prepare("SELECT json FROM identity_dids WHERE did = ?").get(args.did)
        : this.db.prepare("SELECT json FROM identity_dids WHERE alias = ?").get(args.alias)
    ) as JsonRow | undefined;
    if (!row) throw new UnknownDidError("did" in args ? args.did : args.alias, "not managed by this agent");
    return JSON.parse(row.json) as IIdentifier;
  }

  async deleteDID({ did }: { did: string }): Promise<boolean> {
    return this.db.prepare("DELETE FROM identity_dids WHERE did = ?").run(did).changes > 0;
  }

  async listDIDs(args: { alias?: string; provider?: string }): Promise<IIdentifier[]> {
    const rows = this.db.prepare("SELECT json FROM identity_dids").all() as unknown as JsonRow[];
    return rows
      .map((row) => JSON.parse(row.json) as IIdentifier)
      .filter(
        (id) =>
          (args.alias === undefined || id.alias === args.alias) &&
          (args.provider === undefined || id.provider === args.provider),
      );
  }
}
