/**
 * The patient's (or any role's) wallet key: create one, import one, and keep it in an encrypted keystore.
 *
 * Rules:
 * - The keystore is ethers' JSON keystore (Web3 Secret Storage v3, scrypt + AES-128-CTR): any Ethereum tool opens
 *   it, and a wrong password is caught by its MAC before any key is used.
 * - A secret is never put in an error message, and errors say what to do (`hint`): a wrong password is kind
 *   "auth" (`WRONG_PASSWORD`), a file that is not a keystore or a secret that is neither a mnemonic nor a private
 *   key is kind "usage".
 * - An HD wallet keeps its mnemonic in the keystore (as `ethers` does), so `export` / recovery can show it again.
 * - Browser-safe (ethers only). Reading and writing keystore files is the CLI's job.
 */
import {
  HDNodeWallet,
  Mnemonic,
  Wallet,
  decryptKeystoreJson,
  encryptKeystoreJson,
  isKeystoreJson,
  type KeystoreAccount,
} from "ethers";
import { HygeiaSdkError, SdkInputError } from "./errors.ts";

/** A wallet as this module returns it: a plain key (`Wallet`) or one derived from a mnemonic (`HDNodeWallet`). */
export type SdkWallet = Wallet | HDNodeWallet;

/** Scrypt cost of the keystores written here: ethers' default (N = 2^17), about a second on a laptop. */
export const DEFAULT_SCRYPT_N = 131_072;

/** The wallet module's errors (wrong password, not a keystore, unusable secret). */
export class WalletError extends HygeiaSdkError {}

export interface KeystoreOptions {
  /** Called with the fraction done (0 … 1) while scrypt runs: a keystore takes seconds to open or write. */
  onProgress?: (fraction: number) => void;
}

export interface EncryptKeystoreOptions extends KeystoreOptions {
  /** Scrypt's N (a power of two); default DEFAULT_SCRYPT_N. Lower only in tests. */
  scryptN?: number;
}

/** A new random wallet with a 12-word BIP-39 mnemonic (path m/44'/60'/0'/0/0). Show the mnemonic to its owner once. */
export function createWallet(): HDNodeWallet {
  return Wallet.createRandom();
}

/**
 * A wallet from a secret the user typed or pasted: a BIP-39 mnemonic (12 to 24 words, spaces and case forgiven) or a
 * private key (64 hex digits, with or without 0x). Anything else is an `INVALID_SECRET` usage error that does not
 * repeat the secret.
 */
export function importWallet(secret: string): SdkWallet {
  if (typeof secret !== "string" || secret.trim() === "")
    throw new WalletError("INVALID_SECRET", "usage", "the wallet secret is empty", {
      hint: "Give the wallet's recovery phrase (12 to 24 words) or its private key (64 hex digits).",
      field: "secret",
    });
  const text = secret.trim();
  if (/^(0x)?[0-9a-fA-F]{64}$/.test(text)) {
    try {
      return new Wallet(text.startsWith("0x") ? text : `0x${text}`);
    } catch (cause) {
      throw new WalletError("INVALID_SECRET", "usage", "the private key is not a valid secp256k1 key", {
        hint: "Check that you copied the whole private key (64 hex digits); it must be below the curve order.",
        field: "secret",
        cause,
      });
    }
  }
  const words = text.toLowerCase().split(/\s+/);
  if (words.length < 12 || words.length > 24 || words.length % 3 !== 0)
    throw new WalletError(
      "INVALID_SECRET",
      "usage",
      `the wallet secret is neither a private key (64 hex digits) nor a recovery phrase (it has ${words.length} word${words.length === 1 ? "" : "s"}; a phrase has 12, 15, 18, 21 or 24)`,
      { hint: "Give the wallet's recovery phrase or its private key, exactly as written down.", field: "secret" },
    );
  const phrase = words.join(" ");
  if (!Mnemonic.isValidMnemonic(phrase))
    throw new WalletError(
      "INVALID_SECRET",
      "usage",
      "the recovery phrase is not a valid BIP-39 phrase (a word is misspelled, or the words are out of order)",
      { hint: "Check each word against the list you wrote down; the last word includes a checksum.", field: "secret" },
    );
  return HDNodeWallet.fromPhrase(phrase);
}

/** Encrypts `wallet` into an ethers JSON keystore (scrypt) under `password`; resolves to the keystore's JSON text. */
export async function encryptKeystore(
  wallet: SdkWallet,
  password: string,
  options: EncryptKeystoreOptions = {},
): Promise<string> {
  if (typeof password !== "string" || password.length === 0)
    throw new SdkInputError("password", "is empty", "Choose a password to protect the keystore (it cannot be empty).");
  const scryptN = options.scryptN ?? DEFAULT_SCRYPT_N;
  if (!Number.isSafeInteger(scryptN) || scryptN < 2 || (scryptN & (scryptN - 1)) !== 0)
    throw new SdkInputError("scryptN", `${String(scryptN)} is not a power of two`);
  const account: KeystoreAccount = { address: wallet.address, privateKey: wallet.privateKey };
  if (wallet instanceof HDNodeWallet && wallet.mnemonic && wallet.path !== null)
    account.mnemonic = { entropy: wallet.mnemonic.entropy, path: wallet.path, locale: "en" };
  return encryptKeystoreJson(account, password, {
    scrypt: { N: scryptN },
    ...(options.onProgress ? { progressCallback: options.onProgress } : {}),
  });
}

/** Whether `json` looks like a JSON keystore (without trying a password). */
export function isKeystore(json: string): boolean {
  return typeof json === "string" && isKeystoreJson(json);
}

/**
 * Opens a keystore with `password`. A wrong password is `WRONG_PASSWORD` (kind "auth"); a text that is not a
 * keystore (or a damaged one) is `NOT_A_KEYSTORE` (kind "usage").
 */
export async function decryptKeystore(
  json: string,
  password: string,
  options: KeystoreOptions = {},
): Promise<SdkWallet> {
  if (!isKeystore(json))
    throw new WalletError("NOT_A_KEYSTORE", "usage", "this is not an encrypted wallet keystore (JSON keystore v3)", {
      hint: "Pick the keystore file the wallet was saved to (a JSON file with a crypto section), not another file.",
      field: "keystore",
    });
  let account: KeystoreAccount;
  try {
    account = await decryptKeystoreJson(json, password, options.onProgress);
  } catch (cause) {
    if (isEthersArgumentError(cause, "password"))
      throw new WalletError("WRONG_PASSWORD", "auth", "the password does not open this keystore", {
        hint: "Type the password again (it is case-sensitive); HYGEIA_PASSWORD must hold exactly that password.",
        field: "password",
        cause,
      });
    throw new WalletError("NOT_A_KEYSTORE", "usage", "the keystore is damaged or uses an unsupported format", {
      hint: "Restore the keystore file from a backup, or import the wallet again from its recovery phrase.",
      field: "keystore",
      cause,
    });
  }
  if (account.mnemonic && (account.mnemonic.locale ?? "en") === "en") {
    const hd = HDNodeWallet.fromMnemonic(Mnemonic.fromEntropy(account.mnemonic.entropy), account.mnemonic.path);
    if (hd.address === account.address && hd.privateKey === account.privateKey) return hd;
  }
  return new Wallet(account.privateKey);
}

/** ethers' own error shape for a bad argument (its stable `code` and `argument`, not its message). */
function isEthersArgumentError(error: unknown, argument: string): boolean {
  const fields = error as { code?: unknown; argument?: unknown } | null;
  return fields?.code === "INVALID_ARGUMENT" && fields.argument === argument;
}
