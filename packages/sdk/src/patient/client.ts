/**
 * The patient's client: one wallet, signed in at one gateway, with the keys derived from the wallet and every part of
 * the patient's job (records, consent, emergency access, audit, research studies) over one shared context.
 *
 * Rules:
 * - Keys come from the wallet only (keys.ts): the same wallet on a new device has the same keys. After a rotation the
 *   wallet's current key index is found again from the DID document (the published key is matched against the keys
 *   of index 0, 1, …), so a new device needs nothing but the wallet.
 * - Publishing a key costs ETH (an ERC-1056 transaction): a wallet without ETH gets `INSUFFICIENT_FUNDS` before
 *   anything is sent. Everything else the patient does is gasless through the gateway.
 */
import type { X25519KeyPair } from "@hygeia/crypto";
import { HygeiaConnection, type ConnectOptions } from "../connection.ts";
import { HygeiaSdkError } from "../errors.ts";
import { signIn, signOut, type Session, type WalletSigner, walletSender } from "../session.ts";
import type { PatientContext, PatientKeys } from "./context.ts";
import {
  didOf,
  encryptionKeysOf,
  publishEncryptionKey,
  sameKey,
  type EncryptionKey,
  type PublishKeyOptions,
  type PublishKeyResult,
} from "./did-key.ts";
import { MAX_KEY_INDEX, deriveEncryptionKey, derivePatientKeys } from "./keys.ts";
import { PatientRecords } from "./records.ts";
import { PatientConsent } from "./consent.ts";
import { PatientEmergency } from "./emergency.ts";
import { PatientAudit } from "./audit.ts";
import { PatientStudies } from "./studies.ts";

/** How many key indexes `connect` tries when the published key is not the wallet's first (rotations so far). */
export const KEY_INDEX_SEARCH = 16;

export interface PatientConnectOptions {
  /** The wallet: an ethers Signer (a keystore `Wallet`, a `BrowserProvider` signer) or the web wallet's adapter. */
  signer: WalletSigner;
  /** An open connection to share, or the options to open one (closed by `close()`). */
  connection?: HygeiaConnection | ConnectOptions;
  /**
   * The key index in use, when known. Default: found from the DID document (index 0 when no key is published yet).
   * Each index other than 0 asks the wallet for one more signature.
   */
  keyIndex?: number;
  /** Ask the wallet to sign the key-derivation message twice and refuse a non-deterministic one (onboarding). */
  confirmDeterministic?: boolean;
}

export interface RotateKeyResult {
  keyIndex: number;
  publish: PublishKeyResult;
  /** Records whose self-wraps were moved to the new key. */
  rewrapped: number;
}

export class PatientClient {
  readonly connection: HygeiaConnection;
  readonly signer: WalletSigner;
  /** EIP-55 checksummed. */
  readonly address: string;
  /** did:ethr:0x<chain id>:<address> */
  readonly did: string;
  readonly keys: PatientKeys;
  readonly session: Session;
  readonly records: PatientRecords;
  readonly consent: PatientConsent;
  readonly emergency: PatientEmergency;
  readonly audit: PatientAudit;
  /** Research studies: list, check, opt in with a de-identified extract, opt out (studies.ts). */
  readonly studies: PatientStudies;
  readonly #context: PatientContext;
  readonly #ownsConnection: boolean;
  #keyIndex: number;

  private constructor(
    context: PatientContext,
    session: Session,
    keyIndex: number,
    previousKeys: X25519KeyPair[],
    ownsConnection: boolean,
  ) {
    this.#context = context;
    this.connection = context.connection;
    this.signer = context.signer;
    this.address = context.address;
    this.did = didOf(context.address, context.connection.deployment.chainId);
    this.keys = context.keys;
    this.session = session;
    this.#keyIndex = keyIndex;
    this.#ownsConnection = ownsConnection;
    this.records = new PatientRecords(context, { previousKeys });
    this.consent = new PatientConsent(context, this.records);
    this.emergency = new PatientEmergency(context, this.records);
    this.audit = new PatientAudit(context, this.records);
    this.studies = new PatientStudies(context);
  }

  /** Opens (or shares) a connection, signs the wallet in (SIWE) and derives its keys. */
  static async connect(options: PatientConnectOptions): Promise<PatientClient> {
    const given = options.connection;
    const owns = !(given instanceof HygeiaConnection);
    const connection = given instanceof HygeiaConnection ? given : await HygeiaConnection.open(given ?? {});
    try {
      const session = await signIn(connection.transport, options.signer);
      const derived = await derivePatientKeys(options.signer, {
        keyIndex: 0,
        ...(options.confirmDeterministic ? { confirmDeterministic: true } : {}),
      });
      const address = derived.scopes.consentAddress;
      const previousKeys: X25519KeyPair[] = [];
      let keyIndex = 0;
      let encryption = derived.encryption;
      const wanted = options.keyIndex ?? (await publishedKeyIndex(connection, options.signer, address, encryption));
      for (let index = 1; index <= wanted; index++) {
        previousKeys.unshift(encryption);
        encryption = await deriveEncryptionKey(options.signer, index);
        keyIndex = index;
      }
      const keys: PatientKeys = {
        encryption,
        scopes: derived.scopes,
        anchor: derived.anchor,
        studyPseudonymKey: derived.studyPseudonymKey,
      };
      const context: PatientContext = { connection, signer: options.signer, address, keys };
      return new PatientClient(context, session, keyIndex, previousKeys, owns);
    } catch (error) {
      if (owns) connection.close();
      throw error;
    }
  }

  /** The key index of the current encryption key (0 until the first rotation). */
  get keyIndex(): number {
    return this.#keyIndex;
  }

  /**
   * Publishes the patient's current X25519 key in its DID document (and revokes any other), so grantees' wallets and
   * clinics can find it. Sends nothing when it is already the only key. Costs ETH: INSUFFICIENT_FUNDS otherwise.
   */
  async publishKey(options: PublishKeyOptions = {}): Promise<PublishKeyResult> {
    return publishEncryptionKey(
      this.connection,
      walletSender(this.signer, this.connection),
      this.keys.encryption.publicKey,
      options,
    );
  }

  /** The patient's own published keys (current first). */
  async publishedKeys(): Promise<EncryptionKey[]> {
    return encryptionKeysOf(this.connection, this.address);
  }

  /** Anyone's published X25519 keys, current first (empty when they publish none). */
  async encryptionKeysOf(didOrAddress: string): Promise<EncryptionKey[]> {
    return encryptionKeysOf(this.connection, didOrAddress);
  }

  /**
   * Moves to the next key index (after a suspected compromise of the current X25519 key): publishes the new key,
   * revoking the old one, then re-wraps every record's self-wrap and re-seals the record list to the new key. Records
   * already shared with grantees stay shared (their wraps are theirs).
   */
  async rotateKey(options: PublishKeyOptions = {}): Promise<RotateKeyResult> {
    const next = this.#keyIndex + 1;
    if (next > MAX_KEY_INDEX)
      throw new HygeiaSdkError("KEY_INDEX_EXHAUSTED", "refused", `no key index after ${MAX_KEY_INDEX}`, {
        hint: "Move your records to a new wallet.",
      });
    const previous = this.keys.encryption;
    const nextKeys = await deriveEncryptionKey(this.signer, next);
    const publish = await publishEncryptionKey(
      this.connection,
      walletSender(this.signer, this.connection),
      nextKeys.publicKey,
      options,
    );
    this.#keyIndex = next;
    const rewrapped = await this.records.rewrapToKey(previous, nextKeys);
    return { keyIndex: next, publish, rewrapped };
  }

  /** Ends the session at the gateway, and closes the connection if `connect` opened it. */
  async close(): Promise<void> {
    try {
      await signOut(this.connection.transport).catch(() => undefined);
    } finally {
      if (this.#ownsConnection) this.connection.close();
    }
  }
}

/** The key index whose public key the DID publishes as current (0 when none is published or none matches). */
async function publishedKeyIndex(
  connection: HygeiaConnection,
  signer: WalletSigner,
  address: string,
  first: X25519KeyPair,
): Promise<number> {
  const [current] = await encryptionKeysOf(connection, address);
  if (!current || sameKey(current.publicKey, first.publicKey)) return 0;
  for (let index = 1; index <= KEY_INDEX_SEARCH; index++) {
    const candidate = await deriveEncryptionKey(signer, index);
    if (sameKey(current.publicKey, candidate.publicKey)) return index;
  }
  return 0;
}
