/**
 * Pairwise consent accounts: a separate address per grantee, so an observer cannot link one patient's grants
 * across clinics (each clinic sees grants from a different address, none of them the patient's did:ethr).
 *
 *   account(index) = BIP-32 node m/7424'/index' of seed = consentAccountSeed (@hygeia/crypto
 *                    deriveConsentAccountSeed, from the wallet's consent secret)
 *
 * What this module guarantees:
 * - Hardened steps only: one leaked account key reveals neither its siblings nor the seed. BIP-32 through ethers
 *   (HDNodeWallet.fromSeed), the field's library for it.
 * - Its scope ids are keyed with the same scope key and its own address (consentAccountFor,
 *   PatientScopes.forAddress), so the ids under two accounts of one patient link nothing.
 *
 * What the wallet must do for the accounts to stay unlinked on chain (nothing here can enforce it): never fund a
 * consent account (the payer would be linked to it), and have its grants and revokes signed (signGrant /
 * signRevoke) and relayed rather than sent from it.
 * - A bad seed or key is refused by type and length only: its bytes never reach an error message.
 *
 * The link for the gateway is consent-address-link.ts; recovery from the seed is consent-account-recovery.ts.
 */
import { HDNodeWallet } from "ethers";
import { InvalidInputError, describe, describeSecret } from "./errors.ts";
import { PatientScopes } from "./private-scopes.ts";

/** The BIP-32 purpose level of consent accounts ("hy" = 0x1d00 = 7424), hardened. */
export const CONSENT_ACCOUNT_PURPOSE = 7424;
/** Highest account index (BIP-32 hardened indexes are 31-bit). */
export const MAX_CONSENT_ACCOUNT_INDEX = 0x7fffffff;
const SEED_BYTES = 64;

/** The BIP-32 path of consent account `index`. */
export function consentAccountPath(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > MAX_CONSENT_ACCOUNT_INDEX) {
    throw new InvalidInputError("index", `expected an integer 0..${MAX_CONSENT_ACCOUNT_INDEX}, got ${describe(index)}`);
  }
  return `m/${CONSENT_ACCOUNT_PURPOSE}'/${index}'`;
}

/** Consent account `index` of a patient: an ethers wallet (connect it to a provider only to sign typed data). */
export function consentAccount(consentAccountSeed: Uint8Array, index: number): HDNodeWallet {
  if (!(consentAccountSeed instanceof Uint8Array) || consentAccountSeed.length !== SEED_BYTES) {
    throw new InvalidInputError(
      "consentAccountSeed",
      `expected ${SEED_BYTES} bytes (deriveConsentAccountSeed(consentSecret) from @hygeia/crypto), got ${describeSecret(consentAccountSeed)}` +
        (consentAccountSeed instanceof Uint8Array && consentAccountSeed.length === 32
          ? ": the consent secret or the scope key? the seed is deriveConsentAccountSeed(consentSecret)"
          : ""),
    );
  }
  // The bytes themselves (fromSeed takes BytesLike): a hex copy would be one more immutable string of the seed.
  return HDNodeWallet.fromSeed(consentAccountSeed).derivePath(consentAccountPath(index));
}

// ---------------------------------------------------------------------------------------------
// An account and its keyed scope ids
// ---------------------------------------------------------------------------------------------

/** A consent account with the scope ids its grants must use. */
export interface PairwiseConsentAccount {
  readonly index: number;
  /** Signs the account's grants and revokes (signGrant / signRevoke) and its side of a ConsentAddressLink. */
  readonly account: HDNodeWallet;
  readonly address: string;
  /** Keyed under this account's address: ids under the patient's main address would not match its grants. */
  readonly scopes: PatientScopes;
}

/**
 * Consent account `index` with its PatientScopes (same scope key, the account's address). Use these ids for
 * everything the account grants, and attach them to records for this grantee: an id depends on the consent
 * address, so the main address's ids are not the pairwise account's.
 */
export function consentAccountFor(
  consentAccountSeed: Uint8Array,
  index: number,
  scopeKey: Uint8Array,
): PairwiseConsentAccount {
  const account = consentAccount(consentAccountSeed, index);
  return { index, account, address: account.address, scopes: new PatientScopes(scopeKey, account.address) };
}
