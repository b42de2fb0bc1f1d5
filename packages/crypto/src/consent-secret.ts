// The patient's consent secret: the wallet-held root of everything that keeps consent private on chain.
//
//   consentSecret = HKDF-SHA256(ikm, salt = "hygeia/key-derivation/v1", info, L = 32)
//     wallet signature : canonicalSignature(sig over keyDerivationTypedData(0))   info "hygeia/consent-secret/eip712-wallet-signature/v1"
//     keystore secret  : the secret (>= 32 bytes)                                  info "hygeia/consent-secret/keystore-secret/v1"
//   scopeKey           = HKDF-SHA256(consentSecret, salt, "hygeia/scope-key/v1", L = 32)
//   consentAccountSeed = HKDF-SHA256(consentSecret, salt, "hygeia/consent-account-seed/v1", L = 64)
//
// The input is the same wallet signature (or keystore secret) the X25519 key comes from, under its own HKDF
// label, so one wallet prompt gives both and neither reveals the other. The signature is always the one over
// key index 0: rotating the encryption key (a higher key index) must not change the scope ids already on chain.
// @hygeia/chain turns the scope key into keyed scope ids (PatientScopes) and the seed into pairwise consent
// accounts (BIP-32, hardened); this module only derives bytes.
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { utf8 } from "./bytes.ts";
import { InvalidKeyError } from "./errors.ts";
import {
  assertDeterministicSigner,
  KEY_DERIVATION_SALT,
  MIN_KEYSTORE_SECRET_BYTES,
  requestKeyDerivationSignature,
  type Eip1193Provider,
} from "./derive.ts";
import { assertAddress, assertKeyDerivationSignature, canonicalSignature } from "./wallet-signature.ts";
import type { WalletSignature } from "./wallet-signature.ts";

export const CONSENT_SECRET_WALLET_SIGNATURE_INFO = "hygeia/consent-secret/eip712-wallet-signature/v1";
export const CONSENT_SECRET_KEYSTORE_INFO = "hygeia/consent-secret/keystore-secret/v1";
export const SCOPE_KEY_INFO = "hygeia/scope-key/v1";
export const CONSENT_ACCOUNT_SEED_INFO = "hygeia/consent-account-seed/v1";
export const CONSENT_SECRET_BYTES = 32;
export const SCOPE_KEY_BYTES = 32;
/** 64 bytes: the BIP-32 seed length BIP-39 produces. */
export const CONSENT_ACCOUNT_SEED_BYTES = 64;

function expand(inputKeyMaterial: Uint8Array, info: string, length: number): Uint8Array {
  return hkdf(sha256, inputKeyMaterial, utf8(KEY_DERIVATION_SALT), utf8(info), length);
}

function assertConsentSecret(secret: unknown): asserts secret is Uint8Array {
  if (!(secret instanceof Uint8Array) || secret.length !== CONSENT_SECRET_BYTES) {
    throw new InvalidKeyError(`consent secret must be ${CONSENT_SECRET_BYTES} bytes (deriveConsentSecretFrom...)`);
  }
}

export interface ConsentSecretFromSignatureOptions {
  /**
   * The wallet account that signed. When given (recommended), the signature must recover to it over the key-index-0
   * key-derivation message, so a wallet that signed anything else is caught instead of yielding wrong scope ids.
   */
  readonly expectedAddress?: string;
}

/**
 * The consent secret of a wallet signature over `keyDerivationTypedData(0)` (the same signature the patient's first
 * X25519 key comes from). Reproducible on any device because wallets sign deterministically (RFC 6979).
 */
export function deriveConsentSecretFromWalletSignature(
  signature: WalletSignature,
  options: ConsentSecretFromSignatureOptions = {},
): Uint8Array {
  if (options.expectedAddress !== undefined) assertKeyDerivationSignature(signature, options.expectedAddress, 0);
  const canonical = canonicalSignature(signature);
  const secret = expand(canonical, CONSENT_SECRET_WALLET_SIGNATURE_INFO, CONSENT_SECRET_BYTES);
  canonical.fill(0);
  return secret;
}

/**
 * Asks an EIP-1193 wallet for `account`'s key-derivation signature (key index 0) and derives the consent secret,
 * checking the signature is that account's. `confirmDeterministic` asks twice and refuses a wallet that signs
 * differently each time (its scope ids could never be computed again). Wallet errors pass through unchanged.
 */
export async function deriveConsentSecretFromEip1193Wallet(
  provider: Eip1193Provider,
  account: string,
  options: { readonly confirmDeterministic?: boolean } = {},
): Promise<Uint8Array> {
  assertAddress(account, "account");
  const signature = await requestKeyDerivationSignature(provider, account, 0);
  if (options.confirmDeterministic === true) {
    assertDeterministicSigner(signature, await requestKeyDerivationSignature(provider, account, 0));
  }
  return deriveConsentSecretFromWalletSignature(signature, { expectedAddress: account });
}

/** The consent secret of a CLI keystore secret (at least 32 uniformly random bytes). */
export function deriveConsentSecretFromKeystoreSecret(secret: Uint8Array): Uint8Array {
  if (!(secret instanceof Uint8Array) || secret.length < MIN_KEYSTORE_SECRET_BYTES) {
    throw new InvalidKeyError(`keystore secret must be at least ${MIN_KEYSTORE_SECRET_BYTES} bytes`);
  }
  return expand(secret, CONSENT_SECRET_KEYSTORE_INFO, CONSENT_SECRET_BYTES);
}

/** The key of the patient's keyed scope ids (HMAC key of @hygeia/chain's PatientScopes). */
export function deriveScopeKey(consentSecret: Uint8Array): Uint8Array {
  assertConsentSecret(consentSecret);
  return expand(consentSecret, SCOPE_KEY_INFO, SCOPE_KEY_BYTES);
}

/** The BIP-32 seed of the patient's pairwise consent accounts (@hygeia/chain's consentAccount). */
export function deriveConsentAccountSeed(consentSecret: Uint8Array): Uint8Array {
  assertConsentSecret(consentSecret);
  return expand(consentSecret, CONSENT_ACCOUNT_SEED_INFO, CONSENT_ACCOUNT_SEED_BYTES);
}
