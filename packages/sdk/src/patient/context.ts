/**
 * What every part of the patient's client shares: the connection, the wallet (a signer, never a raw key), the
 * patient's address and the keys derived from the wallet's one key-derivation signature.
 *
 * One derivation everywhere: the CLI's keystore wallet and a browser wallet both sign the fixed EIP-712 message of
 * @hygeia/crypto (`keyDerivationTypedDataForEthers`) and derive the X25519 key and the consent secret from that
 * signature, so the same account has the same keys on every device, and recovery needs only the wallet.
 */
import type { ManifestAnchorKeys, X25519KeyPair } from "@hygeia/crypto";
import type { PatientScopes } from "@hygeia/chain";
import type { HygeiaConnection } from "../connection.ts";
import type { WalletSigner } from "../session.ts";

export interface PatientKeys {
  /** The patient's X25519 key pair (its public half is published in the DID document). */
  encryption: X25519KeyPair;
  /** The patient's keyed scope ids under its main address (private scopes, docs/private-scopes.md). */
  scopes: PatientScopes;
  /** The keys of the record list's on-chain anchor (its ERC-1056 identity and the pointer seal): anchor.ts. */
  anchor: ManifestAnchorKeys;
  /**
   * The patient's research pseudonym key of one study (`deriveStudyPseudonymKey(consentSecret, studyId)` of
   * @hygeia/crypto; `studyId` the study's bytes32 id): a fresh 32-byte array each call, to wipe after use. One key per
   * study: two studies cannot match their extracts on the patient's pseudonyms.
   */
  studyPseudonymKey(studyId: string): Uint8Array;
}

export interface PatientContext {
  connection: HygeiaConnection;
  signer: WalletSigner;
  /** EIP-55 checksummed. */
  address: string;
  keys: PatientKeys;
}

/**
 * Sharing existing records with a new grantee: the records part implements it, the consent part calls it after a
 * grant so the grantee can read what the grant covers without a second step.
 */
export interface RecordSharing {
  /**
   * Wraps the DEK of every record of the patient that carries one of `scopeIds` to `grantee` (its X25519 keys read
   * from its DID document) and registers the wraps at the gateway. Resolves to the number of records shared.
   */
  shareScopesWith(grantee: string, scopeIds: readonly string[]): Promise<number>;
}
