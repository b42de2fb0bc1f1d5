/**
 * Named wallets on disk: ethers JSON keystores (scrypt) in `<home>/wallets/<name>.json`, and the default wallet's
 * name in `<home>/config.json`.
 *
 * Rules:
 * - A keystore is written 0600 in a 0700 directory, atomically (a temporary file in the same directory, fsync,
 *   rename), so a crash never leaves half a keystore, and an existing one is replaced only with `force`.
 * - Names match `^[a-z0-9][a-z0-9_-]{0,31}$` (they become file names).
 * - The address is read from the keystore's clear `address` field without the password; anything that needs the
 *   key (signing, the derived X25519 key) unlocks the keystore, and a wrong password is an `auth` error.
 * - The keystore format and its errors are the SDK's (`encryptKeystore`, `decryptKeystore`: a wrong password is
 *   `WRONG_PASSWORD`, kind auth); this file only keeps the files.
 * - A damaged keystore (truncated, not JSON, no address or encrypted key) concerns its own wallet only: `list` shows
 *   it as damaged beside the others, and only a command that uses that wallet fails (KEYSTORE_INVALID, integrity,
 *   exit 7, naming the file).
 */
import { mkdir, open, readFile, readdir, rename, rm, stat, chmod, link } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { getAddress } from "ethers";
import { HygeiaSdkError, decryptKeystore, encryptKeystore, isKeystore, type SdkWallet } from "./sdk.ts";
import { CliError, CliUsageError } from "./errors.ts";

export const WALLET_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;

export type UnlockedWallet = SdkWallet;

export interface WalletEntry {
  name: string;
  /** EIP-55. */
  address: string;
  default: boolean;
  path: string;
  /** Whether the keystore holds a recovery phrase (created here or imported from one). */
  hasMnemonic: boolean;
  /** The keystore file's last change (ISO 8601). */
  savedAt: string;
}

/** A wallet whose keystore cannot be used: listed so it can be repaired, never unlocked. */
export interface DamagedWalletEntry {
  name: string;
  default: boolean;
  path: string;
  /** Why it cannot be used ("not JSON (…)", "no address", …). */
  damaged: string;
}

interface Config {
  defaultWallet?: string;
}

export class WalletStore {
  readonly home: string;

  constructor(home: string) {
    this.home = home;
  }

  get dir(): string {
    return join(this.home, "wallets");
  }

  pathOf(name: string): string {
    return join(this.dir, `${checkName(name)}.json`);
  }

  /** Every wallet in the folder, by name; a damaged keystore is listed as such instead of failing the listing. */
  async list(): Promise<(WalletEntry | DamagedWalletEntry)[]> {
    let files: string[];
    try {
      files = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw error;
    }
    const names = files
      .filter((file) => file.endsWith(".json"))
      .map((file) => file.slice(0, -".json".length))
      .filter((name) => WALLET_NAME.test(name))
      .sort();
    const fallback = await this.defaultName();
    const entries = await Promise.all(
      names.map((name) => this.entry(name, fallback).catch((error: unknown) => this.#damaged(name, fallback, error))),
    );
    return entries.filter((entry) => entry !== undefined);
  }

  /** The listing's row for a keystore that did not read; undefined when it was removed meanwhile. */
  #damaged(name: string, defaultName: string | undefined, error: unknown): DamagedWalletEntry | undefined {
    if (error instanceof CliError && error.code === "WALLET_NOT_FOUND") return undefined;
    const { code, syscall } = error as NodeJS.ErrnoException;
    const reason =
      error instanceof KeystoreDamagedError
        ? error.reason
        : typeof syscall === "string" // the system refused the file: a folder in its place, no permission, …
          ? `cannot be read (${code})`
          : undefined;
    if (reason === undefined) throw error;
    return { name, default: name === defaultName, path: this.pathOf(name), damaged: reason };
  }

  async entry(name: string, defaultName?: string): Promise<WalletEntry> {
    const path = this.pathOf(name);
    const keystore = await this.#readKeystore(name);
    const info = await stat(path);
    return {
      name,
      address: keystore.address,
      default: name === (defaultName ?? (await this.defaultName())),
      path,
      hasMnemonic: keystore.hasMnemonic,
      savedAt: info.mtime.toISOString(),
    };
  }

  async exists(name: string): Promise<boolean> {
    try {
      await stat(this.pathOf(name));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw error;
    }
  }

  /** The wallet marked default; when none is marked and exactly one exists, that one. */
  async defaultName(): Promise<string | undefined> {
    const config = await this.#readConfig();
    if (config.defaultWallet !== undefined && WALLET_NAME.test(config.defaultWallet)) return config.defaultWallet;
    return undefined;
  }

  /** Marks `name` the default; a missing or damaged keystore is refused and nothing changes. */
  async setDefault(name: string): Promise<void> {
    await this.#readKeystore(name);
    await this.#writeConfig({ ...(await this.#readConfig()), defaultWallet: name });
  }

  /** The wallet a command uses: the one asked for (`--wallet`), else the default. */
  async resolve(requested: string | undefined): Promise<string> {
    if (requested !== undefined) {
      checkName(requested);
      if (!(await this.exists(requested))) throw walletNotFound(requested);
      return requested;
    }
    const name = await this.defaultName();
    if (name !== undefined && (await this.exists(name))) return name;
    const all = await this.list();
    if (all.length === 1) return all[0]!.name;
    throw new CliError(
      "NO_WALLET",
      "not-found",
      all.length === 0 ? `no wallet in ${this.dir}` : `${all.length} wallets and none is the default`,
      all.length === 0
        ? "Create one with `hygeia wallet create` or import one with `hygeia wallet import`."
        : "Pick one with --wallet <name> (or HYGEIA_WALLET), or mark one with `hygeia wallet default <name>`.",
    );
  }

  /**
   * Encrypts `wallet` under `password` and saves it as `name` (never over an existing one without `force`). The
   * first wallet saved becomes the default. `onProgress` follows scrypt (0..1), which takes seconds.
   */
  async save(
    name: string,
    wallet: UnlockedWallet,
    password: string,
    options: { force?: boolean; onProgress?: (fraction: number) => void } = {},
  ): Promise<WalletEntry> {
    const path = this.pathOf(name);
    await this.assertAvailable(name, options.force === true);
    const json = await encryptKeystore(wallet, password, options.onProgress ? { onProgress: options.onProgress } : {});
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    try {
      await writeAtomic(path, json, { replace: options.force === true });
    } catch (error) {
      // Another process saved the same name while scrypt ran (the check above was passed by both).
      if ((error as NodeJS.ErrnoException).code === "EEXIST") await this.assertAvailable(name, false);
      throw error;
    }
    if ((await this.defaultName()) === undefined) await this.setDefault(name);
    return this.entry(name);
  }

  /** Refuses a name already taken (unless `force`): call it before asking for a password. */
  async assertAvailable(name: string, force: boolean): Promise<void> {
    const path = this.pathOf(name);
    if (!force && (await this.exists(name)))
      throw new CliError(
        "WALLET_EXISTS",
        "conflict",
        `a wallet named "${name}" already exists (${path})`,
        "Choose another name, or pass --force to replace it (its key is lost unless you have its secret).",
      );
  }

  /** Decrypts `name`'s keystore. A wrong password is `WRONG_PASSWORD` (auth, exit 4). */
  async unlock(name: string, password: string, onProgress?: (fraction: number) => void): Promise<UnlockedWallet> {
    const keystore = await this.#readKeystore(name);
    try {
      return await decryptKeystore(keystore.json, password, onProgress ? { onProgress } : {});
    } catch (error) {
      // Name the wallet (the SDK does not know it); keep its code, kind and hint.
      if (error instanceof HygeiaSdkError && error.code === "WRONG_PASSWORD")
        throw new CliError(error.code, error.kind, `wrong password for wallet "${name}"`, error.hint, {
          cause: error,
        });
      // Its cipher parameters do not decode: damaged like a keystore that is not JSON.
      if (error instanceof HygeiaSdkError && error.code === "NOT_A_KEYSTORE")
        throw new KeystoreDamagedError(name, this.pathOf(name), "its encrypted key does not decode", error);
      throw error;
    }
  }

  async #readKeystore(name: string): Promise<{ json: string; address: string; hasMnemonic: boolean }> {
    const path = this.pathOf(name);
    let json: string;
    try {
      json = await readFile(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") throw walletNotFound(name);
      throw error;
    }
    const damaged = (reason: string, cause?: unknown) => new KeystoreDamagedError(name, path, reason, cause);
    if (json.trim() === "") throw damaged("the file is empty");
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (error) {
      throw damaged(`not JSON (${(error as Error).message})`, error);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw damaged("not a JSON object");
    const keystore = parsed as KeystoreFields;
    if (typeof keystore.address !== "string") throw damaged("no address");
    let address: string;
    try {
      address = getAddress(keystore.address.startsWith("0x") ? keystore.address : `0x${keystore.address}`);
    } catch (error) {
      throw damaged("its address is not an Ethereum address", error);
    }
    if (!hasCiphertext(keystore)) throw damaged("no encrypted key (crypto.ciphertext)");
    if (!isKeystore(json)) throw damaged("not a version 3 keystore");
    return { json, address, hasMnemonic: typeof keystore["x-ethers"]?.mnemonicCiphertext === "string" };
  }

  async #readConfig(): Promise<Config> {
    try {
      const parsed = JSON.parse(await readFile(join(this.home, "config.json"), "utf8")) as unknown;
      return typeof parsed === "object" && parsed !== null ? (parsed as Config) : {};
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
      if (error instanceof SyntaxError) return {};
      throw error;
    }
  }

  async #writeConfig(config: Config): Promise<void> {
    await mkdir(this.home, { recursive: true, mode: 0o700 });
    await writeAtomic(join(this.home, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
  }
}

/**
 * Writes `text` to `path` with mode 0600 via a temporary file in the same directory, then a rename (`replace`, the
 * default) or a hard link, which fails with EEXIST when `path` exists: two processes creating one name cannot both
 * succeed and silently lose one file.
 */
export async function writeAtomic(path: string, text: string, options: { replace?: boolean } = {}): Promise<void> {
  const temp = `${path}.${randomBytes(6).toString("hex")}.tmp`;
  const handle = await open(temp, "wx", 0o600);
  try {
    await handle.writeFile(text, "utf8");
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await chmod(temp, 0o600); // the umask cannot widen it, but be explicit
    if (options.replace === false) {
      await link(temp, path);
      await rm(temp, { force: true });
      await syncDir(dirname(path));
    } else await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

export function checkName(name: string): string {
  if (!WALLET_NAME.test(name))
    throw new CliUsageError(
      "wallet name",
      `"${name}" is not a valid name`,
      "Use 1 to 32 characters: lowercase letters, digits, - and _, starting with a letter or digit.",
    );
  return name;
}

function walletNotFound(name: string): CliError {
  return new CliError(
    "WALLET_NOT_FOUND",
    "not-found",
    `no wallet named "${name}"`,
    "See your wallets with `hygeia wallet list`, or create one with `hygeia wallet create`.",
  );
}

/** A keystore that cannot be used: exit 7 (integrity, like damaged local state), naming the file and why. */
export class KeystoreDamagedError extends CliError {
  readonly reason: string;
  readonly path: string;

  constructor(name: string, path: string, reason: string, cause?: unknown) {
    super(
      "KEYSTORE_INVALID",
      "integrity",
      `the keystore of wallet "${name}" (${path}) is damaged: ${reason}`,
      `Restore the file from a backup, or import the wallet again from its secret (hygeia wallet import ${name} --force).`,
      { cause },
    );
    this.reason = reason;
    this.path = path;
  }
}

/** The fields of a keystore this file reads without the password. */
interface KeystoreFields {
  address?: unknown;
  crypto?: unknown;
  Crypto?: unknown;
  "x-ethers"?: { mnemonicCiphertext?: unknown };
}

/** Whether a keystore holds an encrypted key (ethers writes the section as "Crypto", other tools "crypto"). */
function hasCiphertext(keystore: KeystoreFields): boolean {
  const section = (keystore.crypto ?? keystore.Crypto) as { ciphertext?: unknown } | null | undefined;
  return typeof section?.ciphertext === "string";
}

/** fsync of a directory, so a link or rename in it is durable. */
async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
