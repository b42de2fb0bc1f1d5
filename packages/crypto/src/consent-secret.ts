// The patient's consent secret: the wallet-held root of everything that keeps consent private on chain.
//
//   consentSecret = HKDF-SHA256(ikm, salt = "hygeia/key-derivation/v1", info, L = 32)
//     wallet signature : canonicalSignature(sig over keyDerivationTypedData(0))   info "hygeia/consent-secret/eip712-wallet-signature/v1"
//     keystore secret  : the secret (>= 32 bytes)                                  info "hygeia/consent-secret/keystore-secret/v1"
//   scopeKey           = HKDF-SHA256(consentSecret, salt, "hygeia/scope-key/v1", L = 32)
//   consentAccountSeed = HKDF-SHA256(consentSecret, salt, "hygeia/consent-account-seed/v1", L = 64)
//   studyPseudonymKey  = HKDF-SHA256(consentSecret, salt, "hygeia/study-pseudonym-key/v1\0" + studyId, L = 32)
//
// The input is the same wallet signature (or keystore secret) the X25519 key comes from, under its own HKDF
// label, so one wallet prompt gives both and neither reveals the other. The signature is always the one over
// key index 0: rotating the encryption key (a higher key index) must not change the scope ids already on chain.
// @hygeia/chain turns the scope key into keyed scope ids (PatientScopes) and the seed into pairwise consent
// accounts (BIP-32, hardened); this module only derives bytes.
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { utf8 } from "./bytes.ts";
import { InvalidArgumentError, InvalidKeyError, InvalidSignatureError, describeSecret } from "./errors.ts";
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
export const STUDY_PSEUDONYM_KEY_INFO = "hygeia/study-pseudonym-key/v1";
export const STUDY_PSEUDONYM_KEY_BYTES = 32;
/** Longest study id accepted (UTF-8 bytes); @hygeia/chain's study ids are at most 66 characters. */
const MAX_STUDY_ID_BYTES = 128;
export const CONSENT_SECRET_BYTES = 32;
export const SCOPE_KEY_BYTES = 32;
/** 64 bytes: the BIP-32 seed length BIP-39 produces. */
export const CONSENT_ACCOUNT_SEED_BYTES = 64;

/**
 * Marks on the bytes this module returns (non-enumerable; Symbol.for, so @hygeia/chain sees them without depending
 * on this package). The consent secret and the scope key are both 32 bytes: with the marks, one passed where the
 * other belongs (new PatientScopes(consentSecret, ...), deriveScopeKey(scopeKey)) is refused instead of silently
 * giving ids no other device computes. A copy (Uint8Array.from, a round trip through storage) drops the mark: a
 * guard against the common slip, not a type.
 */
const CONSENT_SECRET_MARK = Symbol.for("hygeia.consentSecret");
const SCOPE_KEY_MARK = Symbol.for("hygeia.scopeKey");
const CONSENT_ACCOUNT_SEED_MARK = Symbol.for("hygeia.consentAccountSeed");
const STUDY_PSEUDONYM_KEY_MARK = Symbol.for("hygeia.studyPseudonymKey");

const DERIVED_NAMES: readonly (readonly [symbol, string])[] = [
  [CONSENT_SECRET_MARK, "consent secret"],
  [SCOPE_KEY_MARK, "scope key"],
  [CONSENT_ACCOUNT_SEED_MARK, "consent-account seed"],
  [STUDY_PSEUDONYM_KEY_MARK, "study pseudonym key"],
];

function marked(bytes: Uint8Array, mark: symbol): Uint8Array {
  Object.defineProperty(bytes, mark, { value: true });
  return bytes;
}

function hasMark(bytes: Uint8Array, mark: symbol): boolean {
  return (bytes as unknown as Record<symbol, unknown>)[mark] === true;
}

function expand(inputKeyMaterial: Uint8Array, info: string, length: number): Uint8Array {
  return hkdf(sha256, inputKeyMaterial, utf8(KEY_DERIVATION_SALT), utf8(info), length);
}

function assertConsentSecret(secret: unknown): asserts secret is Uint8Array {
  if (!(secret instanceof Uint8Array) || secret.length !== CONSENT_SECRET_BYTES) {
    throw new InvalidKeyError(
      `consent secret must be ${CONSENT_SECRET_BYTES} bytes (deriveConsentSecretFrom...), got ${describeSecret(secret)}`,
    );
  }
  if (hasMark(secret, SCOPE_KEY_MARK)) {
    throw new InvalidKeyError(
      "this is the scope key (deriveScopeKey's result), not the consent secret: pass the consent secret itself",
    );
  }
  if (hasMark(secret, STUDY_PSEUDONYM_KEY_MARK)) {
    throw new InvalidKeyError(
      "this is a study pseudonym key (deriveStudyPseudonymKey's result), not the consent secret: pass the consent secret itself",
    );
  }
}

export interface ConsentSecretFromSignatureOptions {
  /**
   * The wallet account that signed (required): the signature must recover to it over the key-index-0 key-derivation
   * message, so a wallet that signed anything else (another key index, a personal_sign, another account) is caught
   * instead of silently yielding scope ids that never match the patient's grants.
   */
  readonly expectedAddress: string;
}

/**
 * The consent secret of `options.expectedAddress`'s wallet signature over `keyDerivationTypedData(0)` (the same
 * signature the patient's first X25519 key comes from). Reproducible on any device because wallets sign
 * deterministically (RFC 6979). Refuses (InvalidArgumentError, field "expectedAddress") a call without the signer.
 */
export function deriveConsentSecretFromWalletSignature(
  signature: WalletSignature,
  options: ConsentSecretFromSignatureOptions,
): Uint8Array {
  const expectedAddress: unknown = (options as Partial<ConsentSecretFromSignatureOptions> | undefined)?.expectedAddress;
  if (expectedAddress === undefined) {
    throw new InvalidArgumentError(
      "deriveConsentSecretFromWalletSignature needs { expectedAddress }: the account that signed " +
        "keyDerivationTypedData(0); without it any 65-byte signature would give a consent secret whose ids never match",
      { field: "expectedAddress" },
    );
  }
  assertAddress(expectedAddress, "expectedAddress");
  assertKeyIndexZeroSignature(signature, expectedAddress);
  const canonical = canonicalSignature(signature);
  const secret = expand(canonical, CONSENT_SECRET_WALLET_SIGNATURE_INFO, CONSENT_SECRET_BYTES);
  canonical.fill(0);
  return marked(secret, CONSENT_SECRET_MARK);
}

/** Key indexes checked to explain a refused signature: the ones a wallet is likely to have signed for. */
const EXPLAINED_KEY_INDEXES = 16;

/**
 * The key-index-0 check, with a refusal that says what was signed when it is the expected account's signature over
 * another key index (a rotated encryption key's): the consent secret never follows key rotation.
 */
function assertKeyIndexZeroSignature(signature: WalletSignature, expectedAddress: string): void {
  try {
    assertKeyDerivationSignature(signature, expectedAddress, 0);
  } catch (error) {
    if (!(error instanceof InvalidSignatureError)) throw error;
    for (let keyIndex = 1; keyIndex <= EXPLAINED_KEY_INDEXES; keyIndex++) {
      try {
        assertKeyDerivationSignature(signature, expectedAddress, keyIndex);
      } catch {
        continue;
      }
      throw new InvalidSignatureError(
        `this is the account's key-derivation signature for key index ${keyIndex}; the consent secret needs the ` +
          "key index 0 signature (keyDerivationTypedData(0)), whatever key index the encryption key uses, so that " +
          "rotating the encryption key never changes the scope ids on chain",
        { cause: error },
      );
    }
    throw error;
  }
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
  const confirmDeterministic: unknown = (options as { confirmDeterministic?: unknown } | null)?.confirmDeterministic;
  if (
    typeof options !== "object" ||
    options === null ||
    !["undefined", "boolean"].includes(typeof confirmDeterministic)
  ) {
    throw new InvalidArgumentError("options must be { confirmDeterministic?: boolean } or left out", {
      field: "options",
    });
  }
  assertAddress(account, "account");
  const signature = await requestKeyDerivationSignature(provider, account, 0);
  if (confirmDeterministic === true) {
    assertDeterministicSigner(signature, await requestKeyDerivationSignature(provider, account, 0));
  }
  return deriveConsentSecretFromWalletSignature(signature, { expectedAddress: account });
}

/** The consent secret of a CLI keystore secret (at least 32 uniformly random bytes). */
export function deriveConsentSecretFromKeystoreSecret(secret: Uint8Array): Uint8Array {
  if (!(secret instanceof Uint8Array) || secret.length < MIN_KEYSTORE_SECRET_BYTES) {
    throw new InvalidKeyError(
      `keystore secret must be at least ${MIN_KEYSTORE_SECRET_BYTES} bytes, got ${describeSecret(secret)}`,
    );
  }
  // Derived bytes are long enough to pass as a keystore secret, and would silently give another patient's ids.
  const derived = DERIVED_NAMES.find(([mark]) => hasMark(secret, mark))?.[1];
  if (derived !== undefined) {
    throw new InvalidKeyError(
      `this is the ${derived} (derived by this package), not a keystore secret: ` +
        "pass the CLI keystore's own secret (the consent secret is already derived from it)",
    );
  }
  return marked(expand(secret, CONSENT_SECRET_KEYSTORE_INFO, CONSENT_SECRET_BYTES), CONSENT_SECRET_MARK);
}

/** The key of the patient's keyed scope ids (HMAC key of @hygeia/chain's PatientScopes). */
export function deriveScopeKey(consentSecret: Uint8Array): Uint8Array {
  assertConsentSecret(consentSecret);
  return marked(expand(consentSecret, SCOPE_KEY_INFO, SCOPE_KEY_BYTES), SCOPE_KEY_MARK);
}

/** Refuses anything but a consent secret (32 bytes, not the scope key): for modules deriving from it. */
export function assertConsentSecretBytes(secret: unknown): asserts secret is Uint8Array {
  assertConsentSecret(secret);
}

/** The BIP-32 seed of the patient's pairwise consent accounts (@hygeia/chain's consentAccount). */
export function deriveConsentAccountSeed(consentSecret: Uint8Array): Uint8Array {
  assertConsentSecret(consentSecret);
  return marked(
    expand(consentSecret, CONSENT_ACCOUNT_SEED_INFO, CONSENT_ACCOUNT_SEED_BYTES),
    CONSENT_ACCOUNT_SEED_MARK,
  );
}

/**
 * The key of the patient's pseudonyms in one study (@hygeia/research's deidentify): the patient's de-identified
 * resources link to each other within the study, and nothing links them across studies, since each study's key
 * is derived under its own label and the consent secret never leaves the wallet.
 */
export function deriveStudyPseudonymKey(consentSecret: Uint8Array, studyId: string): Uint8Array {
  assertConsentSecret(consentSecret);
  const id = typeof studyId === "string" ? utf8(studyId) : undefined;
  if (id === undefined || id.length === 0 || id.length > MAX_STUDY_ID_BYTES || studyId.includes("\0"))
    throw new InvalidArgumentError(
      `studyId must be a non-empty string of at most ${MAX_STUDY_ID_BYTES} bytes without NUL, got ${typeof studyId === "string" ? `${id?.length ?? 0} bytes` : typeof studyId}`,
      { field: "studyId" },
    );
  return marked(
    expand(consentSecret, `${STUDY_PSEUDONYM_KEY_INFO}\0${studyId}`, STUDY_PSEUDONYM_KEY_BYTES),
    STUDY_PSEUDONYM_KEY_MARK,
  );
}
