/**
 * A clinic reading its patients' records from a browser (the web clinic page), with nothing but its wallet:
 *
 * - the wallet signs in (SIWE) and its X25519 key is derived from the wallet's fixed EIP-712 signature, exactly as a
 *   patient's is (`deriveEncryptionKey`, key index 0): the same wallet gives the same key on any device, and the page
 *   stores no key;
 * - `publishKey` puts that key in the clinic's DID document (a transaction from the wallet), so patients' wallets wrap
 *   record keys to it. A clinic that published another key elsewhere (the CLI's keystore) replaces it: records
 *   wrapped to the old key are then read where that key lives;
 * - records are listed and decrypted as `ClinicClient` does (record-access.ts): consent is asked at the gateway at
 *   each request, the plaintext exists only in the page.
 *
 * Credentials (accreditation, check-ins) are `ClinicClient`'s, in Node, where the identity agent runs.
 */
import type { X25519KeyPair } from "@hygeia/crypto";
import { HygeiaConnection, type ConnectOptions } from "../connection.ts";
import { signIn, signOut, walletSender, type Session, type WalletSigner } from "../session.ts";
import { deriveEncryptionKey } from "../patient/keys.ts";
import {
  didOf,
  encryptionKeysOf,
  publishEncryptionKey,
  sameKey,
  type EncryptionKey,
  type PublishKeyResult,
} from "../patient/did-key.ts";
import {
  fetchRecord,
  listCoveredRecords,
  type CoveredRecord,
  type FetchRecordOptions,
  type FetchedRecord,
  type ListRecordsOptions,
} from "./record-access.ts";

export interface BrowserClinicConnectOptions {
  /** The clinic's wallet (a browser wallet's ethers `JsonRpcSigner`). */
  signer: WalletSigner;
  /** An open connection to share, or the options to open one (closed by `close()`). */
  connection?: HygeiaConnection | ConnectOptions;
}

export class BrowserClinicClient {
  readonly connection: HygeiaConnection;
  readonly signer: WalletSigner;
  /** EIP-55. */
  readonly address: string;
  readonly did: string;
  readonly session: Session;
  /** Derived from the wallet's signature; never leaves this client. */
  readonly #keys: X25519KeyPair;
  readonly #ownsConnection: boolean;

  private constructor(
    connection: HygeiaConnection,
    signer: WalletSigner,
    session: Session,
    keys: X25519KeyPair,
    owns: boolean,
  ) {
    this.connection = connection;
    this.signer = signer;
    this.session = session;
    this.address = session.address;
    this.did = didOf(session.address, connection.deployment.chainId);
    this.#keys = keys;
    this.#ownsConnection = owns;
  }

  /** Opens (or shares) a connection, signs the wallet in and derives its encryption key (two wallet signatures). */
  static async connect(options: BrowserClinicConnectOptions): Promise<BrowserClinicClient> {
    const given = options.connection;
    const owns = !(given instanceof HygeiaConnection);
    const connection = given instanceof HygeiaConnection ? given : await HygeiaConnection.open(given ?? {});
    try {
      const session = await signIn(connection.transport, options.signer);
      const keys = await deriveEncryptionKey(options.signer, 0);
      return new BrowserClinicClient(connection, options.signer, session, keys, owns);
    } catch (error) {
      if (owns) connection.close();
      throw error;
    }
  }

  /** The clinic's X25519 public key (the one `publishKey` publishes). */
  get publicKey(): Uint8Array {
    return this.#keys.publicKey;
  }

  /** Whether the DID document's current key is this client's. */
  async keyPublished(): Promise<boolean> {
    const keys: EncryptionKey[] = await encryptionKeysOf(this.connection, this.address);
    return keys.some((key) => key.current && sameKey(key.publicKey, this.#keys.publicKey));
  }

  /** Publishes the derived key in the clinic's DID document (nothing is sent when it is already the only key). */
  publishKey(): Promise<PublishKeyResult> {
    return publishEncryptionKey(this.connection, walletSender(this.signer, this.connection), this.#keys.publicKey);
  }

  /** The records of `patient` the clinic's consent covers now, for `purpose` (newest first). */
  records(patient: string, options: ListRecordsOptions): Promise<CoveredRecord[]> {
    return listCoveredRecords(this.connection.transport, patient, options);
  }

  /** Key release (audited), download and decryption of one record, in memory. Refused: RecordAccessRefusedError. */
  fetchRecord(patient: string, cid: string, options: FetchRecordOptions): Promise<FetchedRecord> {
    return fetchRecord(this.connection.transport, [this.#keys], patient, cid, options);
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
