// Deterministic X25519 key pairs, so a patient can rebuild their encryption key from their wallet alone.
//
//   secretKey = HKDF-SHA256(ikm, salt = "hygeia/key-derivation/v1", info, L = 32)
//   publicKey = X25519(secretKey, 9)
//
// with ikm / info per source:
//   wallet signature : canonicalSignature(sig) (65 bytes)   info "hygeia/x25519/eip712-wallet-signature/v1"
//   keystore secret  : the secret (>= 32 bytes)             info "hygeia/x25519/keystore-secret/v1"
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { sodium } from "./sodium.ts";
import { utf8 } from "./bytes.ts";
import { InvalidArgumentError, InvalidKeyError, InvalidSignatureError, NonDeterministicSignerError } from "./errors.ts";
import {
  assertAddress,
  assertKeyDerivationSignature,
  canonicalSignature,
  keyDerivationSignRequest,
} from "./wallet-signature.ts";
import type { WalletSignature } from "./wallet-signature.ts";
import { X25519_KEY_BYTES, x25519KeyPairFromSecretKey } from "./x25519.ts";
import type { X25519KeyPair } from "./x25519.ts";

export const KEY_DERIVATION_SALT = "hygeia/key-derivation/v1";
export const WALLET_SIGNATURE_INFO = "hygeia/x25519/eip712-wallet-signature/v1";
export const KEYSTORE_SECRET_INFO = "hygeia/x25519/keystore-secret/v1";
export const MIN_KEYSTORE_SECRET_BYTES = 32;

function deriveKeyPair(inputKeyMaterial: Uint8Array, info: string): X25519KeyPair {
  const secretKey = hkdf(sha256, inputKeyMaterial, utf8(KEY_DERIVATION_SALT), utf8(info), X25519_KEY_BYTES);
  const keyPair = x25519KeyPairFromSecretKey(secretKey);
  secretKey.fill(0);
  return keyPair;
}

export interface WalletDerivationOptions {
  /**
   * The wallet account that signed. When given (recommended), the signature must recover to it over the
   * key-derivation message, so a wallet that signed anything else is caught instead of yielding a wrong key.
   */
  readonly expectedAddress?: string;
  /** Which key: 0 (default) is the patient's key; higher indexes are rotations. Must match what was signed. */
  readonly keyIndex?: number;
}

/**
 * The X25519 key pair of a wallet signature over `keyDerivationTypedData(keyIndex)`. Reproducible because
 * mainstream wallets sign deterministically (RFC 6979): the same account signing the same message always
 * yields the same signature and so the same key. The signature IS the key material: never send or store it.
 */
export function deriveKeyPairFromWalletSignature(
  signature: WalletSignature,
  options: WalletDerivationOptions = {},
): X25519KeyPair {
  if (options.expectedAddress !== undefined) {
    assertKeyDerivationSignature(signature, options.expectedAddress, options.keyIndex ?? 0);
  }
  const canonical = canonicalSignature(signature);
  const keyPair = deriveKeyPair(canonical, WALLET_SIGNATURE_INFO);
  canonical.fill(0);
  return keyPair;
}

/**
 * Throws NonDeterministicSignerError unless two signatures of the same key-derivation message are the same
 * signature. Ask the wallet twice at onboarding: a signer with random nonces (some MPC / smart-contract
 * wallets) would derive a different key every time, and the patient could never decrypt again.
 */
export function assertDeterministicSigner(first: WalletSignature, second: WalletSignature): void {
  const a = canonicalSignature(first);
  const b = canonicalSignature(second);
  if (!sodium.memcmp(a, b)) {
    throw new NonDeterministicSignerError(
      "the wallet produced two different signatures for the same message; its derived key would not be reproducible",
    );
  }
}

/** The one method of an EIP-1193 provider this package calls (`window.ethereum`, WalletConnect, a node's RPC). */
export interface Eip1193Provider {
  request(args: { method: string; params?: readonly unknown[] }): Promise<unknown>;
}

export interface Eip1193DerivationOptions {
  /** Which key (see WalletDerivationOptions.keyIndex). Default 0. */
  readonly keyIndex?: number;
  /**
   * Ask for the signature twice and refuse (NonDeterministicSignerError) a wallet that signs differently each
   * time, whose key could never be rebuilt. Do this at onboarding, before publishing the key. Default false.
   */
  readonly confirmDeterministic?: boolean;
}

/** Asks `provider` for `account`'s signature over `keyDerivationTypedData(keyIndex)`; the hex string it returned. */
export async function requestKeyDerivationSignature(
  provider: Eip1193Provider,
  account: string,
  keyIndex: number,
): Promise<string> {
  if (typeof provider?.request !== "function") {
    throw new InvalidArgumentError("provider must be an EIP-1193 provider (an object with request())", {
      field: "provider",
    });
  }
  const signature = await provider.request(keyDerivationSignRequest(account, keyIndex));
  if (typeof signature !== "string") {
    throw new InvalidSignatureError(
      `the wallet answered eth_signTypedData_v4 with a ${typeof signature}, not a hex string`,
    );
  }
  return signature;
}

/**
 * Asks an EIP-1193 wallet for `account`'s signature over the key-derivation message (`eth_signTypedData_v4`) and
 * derives the X25519 key pair from it, checking the signature is that account's over exactly this message. The
 * wallet's own errors (the user declined: code 4001) are passed through unchanged. Same key as
 * deriveKeyPairFromWalletSignature over an ethers `signTypedData` of `keyDerivationTypedDataForEthers()`.
 */
export async function deriveKeyPairFromEip1193Wallet(
  provider: Eip1193Provider,
  account: string,
  options: Eip1193DerivationOptions = {},
): Promise<X25519KeyPair> {
  assertAddress(account, "account");
  const keyIndex = options.keyIndex ?? 0;
  const signature = await requestKeyDerivationSignature(provider, account, keyIndex);
  if (options.confirmDeterministic === true) {
    assertDeterministicSigner(signature, await requestKeyDerivationSignature(provider, account, keyIndex));
  }
  return deriveKeyPairFromWalletSignature(signature, { expectedAddress: account, keyIndex });
}

/** The X25519 key pair of a CLI keystore secret (at least 32 uniformly random bytes, e.g. the wallet key). */
export function deriveKeyPairFromKeystoreSecret(secret: Uint8Array): X25519KeyPair {
  if (!(secret instanceof Uint8Array) || secret.length < MIN_KEYSTORE_SECRET_BYTES) {
    throw new InvalidKeyError(`keystore secret must be at least ${MIN_KEYSTORE_SECRET_BYTES} bytes`);
  }
  return deriveKeyPair(secret, KEYSTORE_SECRET_INFO);
}
