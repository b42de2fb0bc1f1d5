// Veramo stores on node:sqlite (no native addon). Private keys are encrypted at rest with Veramo's SecretBox
// (XSalsa20-Poly1305); public key metadata and identifiers are stored in clear (they are published anyway).
// They implement Veramo's abstract stores structurally (Veramo is loaded lazily, see veramo-runtime.ts).
// Several processes may share one key store (see sqlite.ts): every change is a single statement that is correct
// whatever another process wrote in between, and SQLite failures become typed errors.
import type { IIdentifier, IKey, ManagedKeyInfo, TKeyType } from "@veramo/core-types";
import type { AbstractDIDStore } from "@veramo/did-manager";
import type {
  AbstractKeyStore,
  AbstractPrivateKeyStore,
  AbstractSecretBox,
  ImportablePrivateKey,
  ManagedPrivateKey,
} from "@veramo/key-manager";
import { KeyNotFoundError, UnknownDidError, WrongSecretBoxKeyError } from "../errors.ts";
import { SqliteDatabase } from "./sqlite.ts";

/** Opens (or creates) the identity database; ":memory:" gives a throw-away one for tests. Typed errors only. */
export function openIdentityDatabase(path: string, options: { busyTimeoutMs?: number } = {}): SqliteDatabase {
  return SqliteDatabase.open(path, {
    ...options,
    name: "key store",
    schema: `
    CREATE TABLE IF NOT EXISTS identity_keys (kid TEXT PRIMARY KEY, json TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS identity_private_keys (alias TEXT PRIMARY KEY, type TEXT NOT NULL, sealed TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS identity_dids (did TEXT PRIMARY KEY, alias TEXT, provider TEXT, json TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS identity_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
  `,
  });
}

/** Sealed under the store's SecretBox key when the database is created: the key check value. */
const KEY_CHECK_NAME = "secret_box_check";
const KEY_CHECK_PLAINTEXT = "hygeia identity secret box key check v1";
// Secp256k1 / X25519 keys are 32 bytes, Ed25519 ones 64 (seed and public key).
const PRIVATE_KEY_HEX = /^(?:[0-9a-fA-F]{2}){32,64}$/;

/**
 * Refuses a SecretBox key that is not the one the database's keys are sealed with, at open rather than at the
 * first signature: the check value (sealed when the database was created) must open, and a database from before
 * check values must open its first sealed key. Writes the check value when there is none yet, so an empty
 * database is bound to its key too. The check value read back after writing it is the one verified: when two
 * processes create the database at once, the one whose value lost the race is checked against the winner's.
 */
export async function verifySecretBoxKey(db: SqliteDatabase, secretBox: AbstractSecretBox): Promise<void> {
  const readCheck = () =>
    db.get<{ value: string }>("SELECT value FROM identity_meta WHERE name = ?", KEY_CHECK_NAME)?.value;
  let check = readCheck();
  if (check === undefined) {
    const sealedKey = db.get<{ sealed: string }>("SELECT sealed FROM identity_private_keys LIMIT 1");
    if (sealedKey && !PRIVATE_KEY_HEX.test(await openSealed(secretBox, sealedKey.sealed)))
      throw new WrongSecretBoxKeyError(db.path);
    const sealedCheck = await secretBox.encrypt(KEY_CHECK_PLAINTEXT);
    db.run("INSERT OR IGNORE INTO identity_meta (name, value) VALUES (?, ?)", KEY_CHECK_NAME, sealedCheck);
    check = readCheck();
  }
  if (check === undefined || (await openSealed(secretBox, check)) !== KEY_CHECK_PLAINTEXT)
    throw new WrongSecretBoxKeyError(db.path);
}

/** SecretBox.decrypt returns "" for a box that does not open (and may throw on a malformed one). */
async function openSealed(secretBox: AbstractSecretBox, sealed: string): Promise<string> {
  try {
    return await secretBox.decrypt(sealed);
  } catch {
    return "";
  }
}

interface JsonRow {
  json: string;
}

export class SqliteKeyStore implements AbstractKeyStore {
  private readonly db: SqliteDatabase;
  constructor(db: SqliteDatabase) {
    this.db = db;
  }

  async importKey(args: Partial<IKey>): Promise<boolean> {
    if (!args.kid) throw new KeyNotFoundError("a key needs a kid");
    this.db.run("INSERT OR REPLACE INTO identity_keys (kid, json) VALUES (?, ?)", args.kid, JSON.stringify(args));
    return true;
  }

  async getKey({ kid }: { kid: string }): Promise<IKey> {
    const row = this.db.get<JsonRow>("SELECT json FROM identity_keys WHERE kid = ?", kid);
    if (!row) throw new KeyNotFoundError(`key not found: ${kid}`);
    return JSON.parse(row.json) as IKey;
  }

  async deleteKey({ kid }: { kid: string }): Promise<boolean> {
    return this.db.run("DELETE FROM identity_keys WHERE kid = ?", kid) > 0;
  }

  async listKeys(): Promise<ManagedKeyInfo[]> {
    const rows = this.db.all<JsonRow>("SELECT json FROM identity_keys");
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
  private readonly db: SqliteDatabase;
  private readonly secretBox: AbstractSecretBox;
  constructor(db: SqliteDatabase, secretBox: AbstractSecretBox) {
    this.db = db;
    this.secretBox = secretBox;
  }

  async importKey(args: ImportablePrivateKey): Promise<ManagedPrivateKey> {
    const alias = args.alias ?? crypto.randomUUID();
    // Insert-if-absent in one statement: another process importing the same key at once is not an error.
    const sealed = await this.secretBox.encrypt(args.privateKeyHex);
    const inserted = this.db.run(
      "INSERT INTO identity_private_keys (alias, type, sealed) VALUES (?, ?, ?) ON CONFLICT (alias) DO NOTHING",
      alias,
      args.type,
      sealed,
    );
    if (inserted === 0) {
      const current = await this.getKey({ alias });
      if (current.privateKeyHex !== args.privateKeyHex || current.type !== args.type) {
        throw new KeyNotFoundError(`another key is already stored under alias ${alias}`);
      }
      return current;
    }
    return { alias, type: args.type, privateKeyHex: args.privateKeyHex };
  }

  async getKey({ alias }: { alias: string }): Promise<ManagedPrivateKey> {
    const row = this.db.get<PrivateKeyRow>(
      "SELECT alias, type, sealed FROM identity_private_keys WHERE alias = ?",
      alias,
    );
    if (!row) throw new KeyNotFoundError(`private key not found: ${alias}`);
    const privateKeyHex = await openSealed(this.secretBox, row.sealed);
    // Never hand an empty "key" to the signer (it fails later with an untyped bad_key error).
    if (!PRIVATE_KEY_HEX.test(privateKeyHex)) throw new WrongSecretBoxKeyError(this.db.path);
    return { alias: row.alias, type: row.type as TKeyType, privateKeyHex };
  }

  async deleteKey({ alias }: { alias: string }): Promise<boolean> {
    return this.db.run("DELETE FROM identity_private_keys WHERE alias = ?", alias) > 0;
  }

  async listKeys(): Promise<ManagedPrivateKey[]> {
    const rows = this.db.all<{ alias: string }>("SELECT alias FROM identity_private_keys");
    return Promise.all(rows.map((row) => this.getKey({ alias: row.alias })));
  }
}

export class SqliteDidStore implements AbstractDIDStore {
  private readonly db: SqliteDatabase;
  constructor(db: SqliteDatabase) {
    this.db = db;
  }

  async importDID(args: IIdentifier): Promise<boolean> {
    this.db.run(
      "INSERT OR REPLACE INTO identity_dids (did, alias, provider, json) VALUES (?, ?, ?, ?)",
      args.did,
      args.alias ?? null,
      args.provider,
      JSON.stringify(args),
    );
    return true;
  }

  async getDID(args: { did: string } | { alias: string }): Promise<IIdentifier> {
    const row =
      "did" in args
        ? this.db.get<JsonRow>("SELECT json FROM identity_dids WHERE did = ?", args.did)
        : this.db.get<JsonRow>("SELECT json FROM identity_dids WHERE alias = ?", args.alias);
    if (!row) throw new UnknownDidError("did" in args ? args.did : args.alias, "not managed by this agent");
    return JSON.parse(row.json) as IIdentifier;
  }

  async deleteDID({ did }: { did: string }): Promise<boolean> {
    return this.db.run("DELETE FROM identity_dids WHERE did = ?", did) > 0;
  }

  async listDIDs(args: { alias?: string; provider?: string }): Promise<IIdentifier[]> {
    const rows = this.db.all<JsonRow>("SELECT json FROM identity_dids");
    return rows
      .map((row) => JSON.parse(row.json) as IIdentifier)
      .filter(
        (id) =>
          (args.alias === undefined || id.alias === args.alias) &&
          (args.provider === undefined || id.provider === args.provider),
      );
  }
}
