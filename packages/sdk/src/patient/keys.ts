/**
 * The patient's keys, derived from the wallet alone (one rule everywhere, see context.ts).
 *
 * Rules:
 * - The wallet signs @hygeia/crypto's fixed EIP-712 message (`keyDerivationTypedDataForEthers(keyIndex)`); the X25519
 *   key comes from that signature, the consent secret (and so the scope key and the record list's anchor keys) from
 *   the key-index-0 signature only, so rotating the encryption key (a higher index) changes no scope id or anchor.
 * - The signer is checked: the signature must be the wallet's own over exactly this message (`expectedAddress`),
 *   else the key would silently differ on another device.
 * - The signatures are secrets (anyone holding one has the key): never logged, stored or put in an error.
 * - The consent secret is wiped once the scope and anchor keys are derived; only a closure keeps a copy, for the
 *   per-study pseudonym keys (`studyPseudonymKey`, see `studyPseudonymKeys`).
 * - Browser-safe: @hygeia/crypto's platform-neutral entry and ethers.
 */
import {
  HygeiaCryptoError,
  assertDeterministicSigner,
  deriveConsentSecretFromWalletSignature,
  deriveKeyPairFromWalletSignature,
  deriveManifestAnchorKeys,
  deriveScopeKey,
  deriveStudyPseudonymKey,
  keyDerivationTypedDataForEthers,
  wipe,
} from "@hygeia/crypto";
import { PatientScopes } from "@hygeia/chain/browser";
import { getAddress } from "ethers";
import { HygeiaSdkError, SdkInputError } from "../errors.ts";
import type { WalletSigner } from "../session.ts";
import type { PatientKeys } from "./context.ts";

/** Key indexes a wallet may use (rotation after a compromise moves to the next one). */
export const MAX_KEY_INDEX = 255;

export interface DeriveKeysOptions {
  /** Which encryption key: 0 (default) is the patient's first; each rotation takes the next index. */
  keyIndex?: number;
  /**
   * Ask the wallet for the key-index-0 signature twice and refuse a wallet whose signatures differ (a wallet with
   * random nonces would give another key on every device). Do it at onboarding. Default false.
   */
  confirmDeterministic?: boolean;
}

/** The patient's keys and the key index they were derived for. */
export interface DerivedPatientKeys extends PatientKeys {
  keyIndex: number;
}

/** Derives the patient's X25519 key pair (for `keyIndex`) and keyed scope ids from the wallet's signature(s). */
export async function derivePatientKeys(
  signer: WalletSigner,
  options: DeriveKeysOptions = {},
): Promise<DerivedPatientKeys> {
  const keyIndex = options.keyIndex ?? 0;
  if (!Number.isSafeInteger(keyIndex) || keyIndex < 0 || keyIndex > MAX_KEY_INDEX)
    throw new SdkInputError("keyIndex", `must be a whole number from 0 to ${MAX_KEY_INDEX}`);
  const address = getAddress(await signer.getAddress());
  const first = await signDerivation(signer, 0);
  if (options.confirmDeterministic) {
    const second = await signDerivation(signer, 0);
    guard(() => assertDeterministicSigner(first, second));
  }
  const consentSecret = guard(() => deriveConsentSecretFromWalletSignature(first, { expectedAddress: address }));
  const scopeKey = deriveScopeKey(consentSecret);
  const anchor = deriveManifestAnchorKeys(consentSecret);
  const studyPseudonymKey = studyPseudonymKeys(consentSecret);
  wipe(consentSecret);
  const scopes = new PatientScopes(scopeKey, address);
  const signature = keyIndex === 0 ? first : await signDerivation(signer, keyIndex);
  const encryption = guard(() => deriveKeyPairFromWalletSignature(signature, { expectedAddress: address, keyIndex }));
  return { encryption, scopes, anchor, studyPseudonymKey, keyIndex };
}

const STUDY_ID = /^0x[0-9a-fA-F]{64}$/;

/**
 * `studyPseudonymKey(studyId)` over a private copy of the consent secret. Why a copy survives the wipe above: a
 * study's pseudonym key is HKDF-expand of the consent secret itself with the study id, for any study the patient
 * joins later, and nothing else derived here can stand in for it (asking the wallet to sign again at each opt-in
 * would be a second prompt). The copy lives only in this closure, never on a property, so it is not serialized,
 * logged or reachable from the keys object; it is as sensitive as the scope key the client already holds.
 */
function studyPseudonymKeys(consentSecret: Uint8Array): (studyId: string) => Uint8Array {
  const secret = Uint8Array.from(consentSecret);
  return (studyId: string) => {
    if (typeof studyId !== "string" || !STUDY_ID.test(studyId))
      throw new SdkInputError("studyId", "expected the study's id (0x + 64 hex digits)");
    // Lowercase: the id as the gateway and the chain spell it, so every device derives the same key.
    return deriveStudyPseudonymKey(secret, studyId.toLowerCase());
  };
}

/** The X25519 key pair of one key index (for reading what was wrapped to a key before a rotation). */
export async function deriveEncryptionKey(signer: WalletSigner, keyIndex: number) {
  if (!Number.isSafeInteger(keyIndex) || keyIndex < 0 || keyIndex > MAX_KEY_INDEX)
    throw new SdkInputError("keyIndex", `must be a whole number from 0 to ${MAX_KEY_INDEX}`);
  const address = getAddress(await signer.getAddress());
  const signature = await signDerivation(signer, keyIndex);
  return guard(() => deriveKeyPairFromWalletSignature(signature, { expectedAddress: address, keyIndex }));
}

async function signDerivation(signer: WalletSigner, keyIndex: number): Promise<string> {
  const { domain, types, message } = keyDerivationTypedDataForEthers(keyIndex);
  try {
    return await signer.signTypedData(domain, types, message as unknown as Record<string, unknown>);
  } catch (cause) {
    throw new HygeiaSdkError("KEY_DERIVATION_DECLINED", "auth", "the wallet did not sign the key-derivation message", {
      hint: "Approve the 'Derive my Hygeia encryption key' request in your wallet (it costs nothing and sends nothing).",
      cause,
    });
  }
}

/** Runs a derivation step, turning @hygeia/crypto's refusals into SDK errors with a hint. */
function guard<T>(run: () => T): T {
  try {
    return run();
  } catch (cause) {
    if (cause instanceof HygeiaCryptoError) {
      if (cause.code === "NON_DETERMINISTIC_SIGNER")
        throw new HygeiaSdkError(
          "NON_DETERMINISTIC_WALLET",
          "refused",
          "this wallet signs the same message differently each time, so it cannot rebuild the same keys later",
          { hint: "Use a wallet with deterministic (RFC 6979) signatures, or a Hygeia keystore wallet.", cause },
        );
      if (cause.code === "INVALID_SIGNATURE")
        throw new HygeiaSdkError(
          "WRONG_KEY_SIGNATURE",
          "integrity",
          "the wallet's key-derivation signature is not this account's signature over the Hygeia message",
          {
            hint: "Check that the wallet signs with the connected account; contract (ERC-1271) wallets cannot derive keys.",
            cause,
          },
        );
    }
    throw cause;
  }
}
