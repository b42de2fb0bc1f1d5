/**
 * ClinicClient: a clinic (or a virtual clinic) over the gateway, the chain and its own identity agent. Node-only
 * (the identity agent keeps the clinic's DID keys in node:sqlite).
 *
 * Rules:
 * - The clinic proves its role with its ClinicAccreditationCredential (issued by a medical board) on its own
 *   session; the gateway re-checks it while the role is used, and a refusal names the failed checks.
 * - Records are decrypted here, with the clinic's X25519 key pairs; the clinic publishes the current one in its DID
 *   document (`publishKey`) so patients can wrap record keys and seal check-in answers to it.
 * - Every refusal is typed (`RoleRefusedError`, `RecordAccessRefusedError`, `CheckInError`) and says what to do.
 * - Credentials the clinic issues (a health-record credential after a visit) are signed by the clinic's DID;
 *   verifiers accept them only while the clinic is accredited as `clinic` on the TrustRegistry.
 */
import {
  CredentialType,
  MemoryChallengeStore,
  createAgentVerifier,
  issueCredential,
  issueSdJwtCredential,
  type BitstringStatusListEntry,
  type ChallengeStore,
  type CredentialSubjects,
  type CredentialTime,
  type CredentialTypeName,
  type CredentialVerifier,
  type SdJwtCredentialType,
  type StatusListFetcher,
} from "@hygeia/identity";
import { getAddress } from "ethers";
import type { X25519KeyPair } from "@hygeia/crypto";
import { SdkInputError } from "../errors.ts";
import { ClinicCheckIns } from "./checkins.ts";
import { identityCall } from "./errors.ts";
import {
  fetchRecord,
  listCoveredRecords,
  patientAddress,
  type CoveredRecord,
  type FetchRecordOptions,
  type FetchedRecord,
  type FetchedRecordFile,
  type ListRecordsOptions,
  type RefusedRecord,
} from "./records.ts";
import { fetchRecordToFile } from "./records-file.node.ts";
import { RecordAccessRefusedError } from "./errors.ts";
import { openRoleIdentity, RoleClient, type RoleClientOptions, type RoleGranted, type RoleIdentity } from "./role.ts";
import type { ProgressCallback } from "../progress.ts";
import { defaultStatusListFetcher, httpHostsOf } from "./status-lists.ts";

export interface ClinicClientOptions extends RoleClientOptions {
  /**
   * The clinic's X25519 key pairs, the current one first (the one `publishKey` publishes); older ones after it,
   * so records and answers sealed to a previous key still open during a key change.
   */
  encryptionKeys: X25519KeyPair[];
  /** The accreditation to prove the clinic with (also set by `presentAccreditation`). */
  accreditation?: string;
  /** The desk's single-use challenges for check-ins (default in memory; an `SqliteChallengeStore` to share). */
  challenges?: ChallengeStore;
  /** How status lists of the patients' credentials are fetched (default: fetch, no redirects). */
  statusListFetcher?: StatusListFetcher;
  /**
   * Hosts whose status lists may be fetched over plain http (default: the gateway's host when it is served over
   * http, as the local stack is).
   */
  statusListHttpHosts?: string[];
}

export interface FetchAllOptions extends Omit<FetchRecordOptions, "onProgress"> {
  /** Only records covered through this scope id. */
  scope?: string;
  /** These records instead of the ones `records()` lists (a refusal for each one not covered). */
  cids?: string[];
  onProgress?: (cid: string, progress: Parameters<ProgressCallback>[0]) => void;
}

export interface FetchAllResult {
  /** The records the clinic could read and decrypt. */
  readable: FetchedRecord[];
  /** The records it may not read now, each with its typed refusal (CONSENT_REQUIRED, KEY_NOT_SHARED). */
  refused: RefusedRecord[];
}

export type IssueCredentialInput<T extends CredentialTypeName = CredentialTypeName> =
  | {
      format?: "jwt";
      type: T;
      subject: CredentialSubjects[T];
      validFrom?: CredentialTime;
      validUntil?: CredentialTime;
      status?: readonly BitstringStatusListEntry[];
    }
  | {
      format: "sd-jwt";
      type: T & SdJwtCredentialType;
      subject: CredentialSubjects[T & SdJwtCredentialType];
      /** The holder's public signing JWK (its wallet gives it): only that key can present the credential. */
      holderPublicJwk: Record<string, unknown>;
      validFrom?: CredentialTime;
      validUntil?: CredentialTime;
      status?: readonly BitstringStatusListEntry[];
    };

export interface HealthRecordInput {
  /** The patient's did:ethr (or address, on this deployment's chain). */
  patient: string;
  /** A FHIR R4 Bundle (`{ resourceType: "Bundle", type: "collection" | "document" | "searchset", entry }`). */
  bundle: CredentialSubjects["HealthRecordCredential"]["fhirBundle"];
  validUntil?: CredentialTime;
  status?: readonly BitstringStatusListEntry[];
}

export class ClinicClient extends RoleClient {
  readonly #keyPairs: readonly X25519KeyPair[];
  /** The clinic's side of check-ins (open, wait, verified result, mutual proof). */
  readonly checkIns: ClinicCheckIns;

  private constructor(identity: RoleIdentity, keyPairs: readonly X25519KeyPair[], options: ClinicClientOptions) {
    super(identity, "clinic", options.accreditation);
    this.#keyPairs = keyPairs;
    const challenges = options.challenges ?? new MemoryChallengeStore();
    const desk = createDesk(identity, challenges, options);
    this.checkIns = new ClinicCheckIns({
      identity,
      keyPairs,
      desk,
      challenges,
      accreditation: () => this.roleCredential,
    });
  }

  /** Connects, signs the clinic in (SIWE) and finds (or imports) its DID key in the identity agent. */
  static async connect(options: ClinicClientOptions): Promise<ClinicClient> {
    const keyPairs = checkedKeyPairs(options?.encryptionKeys);
    const identity = await openRoleIdentity(options);
    try {
      return new ClinicClient(identity, keyPairs, options);
    } catch (error) {
      await identity.close();
      throw error;
    }
  }

  /** The accreditation this client proves the clinic with, once presented. */
  get accreditation(): string | undefined {
    return this.roleCredential;
  }

  /**
   * Proves the clinic role on this session with its ClinicAccreditationCredential (a JWT VC a medical board
   * issued to the clinic's DID). Refused: `RoleRefusedError` (ROLE_CREDENTIAL_REJECTED with the failed checks,
   * or ROLE_HOLDER_MISMATCH).
   */
  async presentAccreditation(accreditation: string): Promise<RoleGranted> {
    return this.presentRole(accreditation);
  }

  /**
   * Publishes the clinic's current X25519 key (the first of `encryptionKeys`) in its DID document, unless it is
   * already the current one (then nothing is sent). Costs gas, paid by the clinic's address.
   */
  async publishKey(
    options: { renew?: boolean } = {},
  ): Promise<{ changed: boolean; transactions: readonly string[]; publicKey: Uint8Array }> {
    const publicKey = this.#keyPairs[0]!.publicKey;
    const result = await identityCall("publishing the clinic's encryption key", () =>
      this.identity.agent.publishEncryptionKey(this.identity.did, publicKey, options),
    );
    return { changed: result.changed, transactions: result.transactions, publicKey };
  }

  /** The records of `patient` the clinic's consent covers now, for `purpose` (CIDs and scope ids, newest first). */
  records(patient: string, options: ListRecordsOptions): Promise<CoveredRecord[]> {
    return listCoveredRecords(this.identity.connection.transport, patient, options);
  }

  /**
   * Key release (audited), ciphertext download and decryption of one record, in memory. A refusal is a
   * `RecordAccessRefusedError` (CONSENT_REQUIRED / KEY_NOT_SHARED).
   */
  fetchRecord(patient: string, cid: string, options: FetchRecordOptions): Promise<FetchedRecord> {
    return fetchRecord(this.identity.connection.transport, this.#keyPairs, patient, cid, options);
  }

  /** Like `fetchRecord`, streaming the plaintext to `path` (a large file never sits in memory). */
  fetchRecordToFile(
    patient: string,
    cid: string,
    path: string,
    options: Omit<FetchRecordOptions, "maxBytes">,
  ): Promise<FetchedRecordFile> {
    return fetchRecordToFile(this.identity.connection.transport, this.#keyPairs, patient, cid, path, options);
  }

  /**
   * Every record the clinic may read (or those of `cids`): the readable ones decrypted, the refused ones each with
   * its typed refusal. Other failures (a service down, a record that fails integrity) are thrown.
   */
  async fetchAll(patient: string, options: FetchAllOptions): Promise<FetchAllResult> {
    const address = patientAddress(patient);
    const cids =
      options.cids ??
      (
        await this.records(address, {
          purpose: options.purpose,
          ...(options.scope === undefined ? {} : { scope: options.scope }),
          ...(options.signal ? { signal: options.signal } : {}),
        })
      ).map((r) => r.cid);
    const result: FetchAllResult = { readable: [], refused: [] };
    for (const cid of cids) {
      try {
        const onProgress = options.onProgress;
        result.readable.push(
          await this.fetchRecord(address, cid, {
            purpose: options.purpose,
            ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
            ...(options.signal ? { signal: options.signal } : {}),
            ...(onProgress ? { onProgress: (p) => onProgress(cid, p) } : {}),
          }),
        );
      } catch (error) {
        if (error instanceof RecordAccessRefusedError) result.refused.push({ cid, error });
        else throw error;
      }
    }
    return result;
  }

  /**
   * Issues a credential signed by the clinic's DID: a JWT VC (any type) or an SD-JWT VC (PatientIdentity,
   * HealthInsurance; needs the holder's public JWK). Verifiers accept a type only from the issuer role it needs
   * (a clinic: HealthRecordCredential).
   */
  async issueCredential<T extends CredentialTypeName>(input: IssueCredentialInput<T>): Promise<string> {
    if (typeof input !== "object" || input === null)
      throw new SdkInputError("input", "missing", "Pass { type, subject, … }.");
    const issuer = this.identity.did;
    const agent = this.identity.agent;
    const period = {
      ...(input.validFrom === undefined ? {} : { validFrom: input.validFrom }),
      ...(input.validUntil === undefined ? {} : { validUntil: input.validUntil }),
      ...(input.status === undefined ? {} : { status: input.status }),
    };
    if (input.format === "sd-jwt")
      return identityCall("issuing the SD-JWT credential", () =>
        issueSdJwtCredential(agent, {
          issuer,
          type: input.type,
          subject: input.subject,
          holderPublicJwk: input.holderPublicJwk,
          ...period,
        }),
      );
    return identityCall("issuing the credential", () =>
      issueCredential(agent, { issuer, type: input.type, subject: input.subject, ...period }),
    );
  }

  /** A HealthRecordCredential for `patient` wrapping a FHIR R4 Bundle (for example after a visit). */
  issueHealthRecord(input: HealthRecordInput): Promise<string> {
    const subject = input?.patient?.startsWith("did:")
      ? input.patient
      : `did:ethr:0x${this.identity.connection.deployment.chainId.toString(16)}:${getAddress(patientAddress(input?.patient))}`;
    return this.issueCredential({
      type: CredentialType.HealthRecord,
      subject: { id: subject, fhirVersion: "4.0.1", fhirBundle: input.bundle },
      ...(input.validUntil === undefined ? {} : { validUntil: input.validUntil }),
      ...(input.status === undefined ? {} : { status: input.status }),
    });
  }

  /** Closes what `connect` opened (the connection and an in-memory agent); a passed-in agent stays open. */
}

function checkedKeyPairs(keyPairs: unknown): readonly X25519KeyPair[] {
  if (
    !Array.isArray(keyPairs) ||
    keyPairs.length === 0 ||
    !keyPairs.every(
      (k) =>
        typeof k === "object" &&
        k !== null &&
        (k as X25519KeyPair).publicKey instanceof Uint8Array &&
        (k as X25519KeyPair).secretKey instanceof Uint8Array,
    )
  )
    throw new SdkInputError(
      "encryptionKeys",
      "expected at least one X25519 key pair ({ publicKey, secretKey })",
      "Pass the clinic's X25519 key pairs, the current one first (generateX25519KeyPair() once, kept safe).",
    );
  return [...(keyPairs as X25519KeyPair[])];
}

/** The clinic desk's verifier: DIDs through the clinic's agent, trust from the deployment's TrustRegistry. */
function createDesk(
  identity: RoleIdentity,
  challenges: ChallengeStore,
  options: ClinicClientOptions,
): CredentialVerifier {
  return createAgentVerifier(identity.agent, {
    trustRegistry: identity.connection.deployment.contracts.TrustRegistry,
    challenges,
    statusListFetcher: options.statusListFetcher ?? defaultStatusListFetcher,
    statusListHttpHosts: options.statusListHttpHosts ?? httpHostsOf(identity.connection.transport.url),
  });
}
