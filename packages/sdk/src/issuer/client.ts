/**
 * IssuerClient: governance accredits and de-accredits issuers in the TrustRegistry; an accredited issuer (a
 * medical board, an IRB, an insurer, a clinic) issues credentials with status entries and revokes, suspends or
 * reinstates them by publishing its status lists at the gateway. Node only (it signs with an @hygeia/identity
 * agent).
 *
 * Rules:
 * - Only the TrustRegistry's governance (its owner) may accredit: another signer is refused with
 *   `NotGovernanceError` after reading the owner, before anything is signed or sent. Every chain write is simulated
 *   by @hygeia/chain's sender before it takes a nonce, so a write the contract would refuse costs nothing.
 * - The TrustRegistry's history rule holds: an open window is renewed from its end, a revoked issuer is accredited
 *   again only from now on, so no moment at which it was revoked ever becomes trusted again.
 * - A status index is handed out once, ever (status-state.ts), and recorded in the state before the credential
 *   carrying it exists. The lists a new credential points at are published before the credential is returned, so a
 *   verifier never meets an entry whose list it cannot fetch.
 * - Revocation is final: `reinstate` lifts a suspension only, and a revoked credential cannot be suspended or
 *   reinstated.
 * - A status change is published at once, as a version strictly newer (`iat`) than the last one, so the gateway
 *   stores it and verifiers take it within their status-list TTL. A change whose publication failed stays in the
 *   state (marked dirty) and is published by the next call, or by `refreshStatusLists()`.
 * - Credentials are issued only by an issuer accredited now for a role its type counts from (DEFAULT_TRUSTED_ROLES):
 *   any other would fail every verifier's issuer-trust check.
 */
import { Contract, SigningKey, computeAddress, getAddress, type Signer } from "ethers";
import {
  TransactionSender,
  TrustRegistryAbi,
  TrustRegistryClient,
  TrustRole,
  type Accreditation,
  type TrustRoleName,
} from "@hygeia/chain";
import {
  CredentialType,
  DEFAULT_TRUSTED_ROLES,
  IdentityAgent,
  SD_JWT_VC_TYPES,
  decodeJwt,
  disclosableClaims,
  ethrDidPrefix,
  ethrNetworkFromDeployment,
  isCredentialType,
  issueCredential,
  issueSdJwtCredential,
  issueStatusListCredential,
  issueTokenStatusList,
  statusEntry,
  subjectViolations,
  type Bitstring,
  type CredentialSubjects,
  type CredentialTypeName,
  type TokenStatusList,
} from "@hygeia/identity";
import { HygeiaConnection, type ConnectOptions } from "../connection.ts";
import {
  AccessRefusedError,
  GatewayProblemError,
  HygeiaSdkError,
  SdkInputError,
  ServiceUnreachableError,
  UnexpectedResponseError,
  type GatewayProblem,
} from "../errors.ts";
import type { FetchLike } from "../transport.ts";
import { NotGovernanceError, StatusChangeRefusedError, fromChainError, fromIdentityError } from "./errors.ts";
import {
  allocateStatus,
  copyState,
  findStatus,
  listContent,
  newIssuerState,
  setStatus,
  statusIn,
  type CredentialStatus,
  type IssuerState,
  type StatusGroupState,
  type StatusListState,
  type StatusPointer,
} from "./status-state.ts";
import { sleep } from "../sleep.ts";

export type { CredentialStatus, IssuerState, StatusPointer } from "./status-state.ts";

/** Where the issuer keeps its status-list state between calls (a file for the CLI: `IssuerStateFile`). */
export interface IssuerStateStore {
  /** The saved state, or undefined before the first save. */
  load(): Promise<IssuerState | undefined>;
  /** Saves the whole state; called before a credential that depends on it is returned. */
  save(state: IssuerState): Promise<void>;
}

/** A state kept in memory (the default); `state` is a copy of the last save, for the caller to persist. */
export class MemoryIssuerStateStore implements IssuerStateStore {
  #state: IssuerState | undefined;
  constructor(initial?: IssuerState) {
    this.#state = initial === undefined ? undefined : copyState(initial);
  }
  get state(): IssuerState | undefined {
    return this.#state === undefined ? undefined : copyState(this.#state);
  }
  load(): Promise<IssuerState | undefined> {
    return Promise.resolve(this.state);
  }
  save(state: IssuerState): Promise<void> {
    this.#state = copyState(state);
    return Promise.resolve();
  }
}

export interface IssuerConnectOptions {
  /** An open connection, or the options to open one (closed again by `close()`). */
  connection?: HygeiaConnection | ConnectOptions;
  /**
   * The issuer's wallet (governance for accredit / deaccredit): an ethers Signer. Without a provider it is
   * connected to the connection's. Without an `agent`, it must hold its private key (an ethers Wallet) so that an
   * in-memory identity agent can sign credentials as its did:ethr.
   */
  signer: Signer;
  /** An identity agent holding the signer's did:ethr (its owner key), for signing credentials and status lists. */
  agent?: IdentityAgent;
  /** The status-list state: a store (`IssuerStateFile`), or a state to start from in memory. Default: a new one. */
  state?: IssuerStateStore | IssuerState;
  /**
   * The gateway's public URL, under which new status lists are served (default: the connection's gateway URL).
   * Give it when the gateway is reached through another address than the one verifiers use.
   */
  statusListBaseUrl?: string;
  /** Lifetime of each published status-list version, seconds (default 1 day, at most 7 days). */
  statusListValiditySeconds?: number;
  /** The fetch used to publish status lists (default the global one). */
  fetch?: FetchLike;
}

/** Unix seconds, or a Date. */
export type TimeInput = Date | number | bigint;

export interface AccreditOptions {
  /** The issuer: its did:ethr or its address. */
  issuer: string;
  role: TrustRoleName;
  /**
   * Start of the new window (default: at once; the end of the current window when one is open, so it is renewed;
   * a few seconds from now when the issuer was revoked before, as the history rule requires).
   */
  validFrom?: TimeInput;
  /** End of the window, exclusive (default one year from now). */
  validUntil?: TimeInput;
}

export interface RoleStanding {
  role: TrustRoleName;
  /** Trusted now, as the TrustRegistry answers. */
  trusted: boolean;
  /** The latest window: active, not started yet, over, or revoked; "none" without any. */
  state: "active" | "pending" | "expired" | "revoked" | "none";
  /** The latest window, unix seconds (absent for "none"). */
  validFrom?: number;
  validUntil?: number;
  /** When it was revoked (unix seconds), for "revoked". */
  revokedAt?: number;
  /** How many windows the history holds. */
  windows: number;
}

export interface AccreditationStanding {
  /** The issuer's address, EIP-55. */
  issuer: string;
  /** Its did:ethr on this chain. */
  did: string;
  /** The block the standing was read at. */
  block: number;
  /** The chain's time at that block (unix seconds). */
  chainTime: number;
  /** The roles the issuer ever held, one entry each. */
  roles: RoleStanding[];
  /** The roles it is trusted for now. */
  trustedRoles: TrustRoleName[];
}

export interface AccreditationChange {
  issuer: string;
  did: string;
  role: TrustRoleName;
  /** False when the chain already said so (nothing was sent). */
  changed: boolean;
  /** The mined transaction, when one was sent. */
  transaction: string | undefined;
  /** The role's standing after the call. */
  standing: RoleStanding;
}

export type CredentialFormat = "jwt" | "sd-jwt";

/** A public key to bind an SD-JWT to: a secp256k1 JWK, or the public key as hex (0x04… or compressed 0x02/0x03…). */
export type HolderKey = { kty: "EC"; crv: "secp256k1"; x: string; y: string } | string;

export interface IssueOptions<T extends CredentialTypeName> {
  type: T;
  /** The holder: a DID, or an address (its did:ethr on this chain). */
  subject: string;
  /** The subject's claims, without `id` (the subject). */
  claims: Omit<CredentialSubjects[T], "id">;
  /** "jwt" (default, every type) or "sd-jwt" (PatientIdentityCredential, HealthInsuranceCredential). */
  format?: CredentialFormat;
  /** SD-JWT only, required: the holder's public key, bound as `cnf` (only its owner can present the credential). */
  holderKey?: HolderKey;
  /** Start of validity (Date or ISO 8601); default now. */
  validFrom?: Date | string;
  /** End of validity (Date or ISO 8601); default none. A ClinicAccreditationCredential needs one. */
  expires?: Date | string;
  /** Give the credential a status entry (revocation and suspension). Default true. */
  status?: boolean;
}

export interface IssuedCredential {
  /** The credential: a JWT VC, or an SD-JWT VC (issuer-signed JWT and every disclosure) for the holder. */
  credential: string;
  format: CredentialFormat;
  type: CredentialTypeName;
  issuer: string;
  subject: string;
  /** Where its status lives; undefined when issued without status. */
  status: StatusPointer | undefined;
  /** SD-JWT: the claims the holder may disclose one by one (every claim but the subject id); JWT: []. */
  disclosable: string[];
}

export interface PublishedList {
  url: string;
  /** The published version's `iat` and `exp`, unix seconds. */
  issuedAt: number;
  expiresAt: number;
}

export interface StatusChange {
  /** The credential's status now. */
  status: CredentialStatus;
  previous: CredentialStatus;
  /** False when it already had that status. */
  changed: boolean;
  pointer: StatusPointer;
  /** The list versions this call published (the changed lists, and any left unpublished before). */
  published: PublishedList[];
}

const YEAR_SECONDS = 365 * 86_400;
/** A revoked issuer's new window starts this long after the chain's next block time (the history rule). */
const REACCREDIT_MARGIN_SECONDS = 5;
const DEFAULT_LIST_VALIDITY_SECONDS = 86_400;
const MAX_LIST_VALIDITY_SECONDS = 7 * 86_400;
const PUBLISH_TIMEOUT_MS = 30_000;
const ROLE_NAMES = Object.values(TrustRole) as TrustRoleName[];

export class IssuerClient {
  readonly connection: HygeiaConnection;
  /** The signer's address, EIP-55. */
  readonly address: string;
  readonly #signer: Signer;
  readonly #ownsConnection: boolean;
  readonly #trust: TrustRegistryClient;
  readonly #owner: Contract;
  readonly #store: IssuerStateStore;
  readonly #baseUrl: string;
  readonly #validity: number;
  readonly #fetch: FetchLike;
  #agent: Promise<{ agent: IdentityAgent; did: string; owned: boolean }> | undefined;
  readonly #givenAgent: IdentityAgent | undefined;
  #state: IssuerState | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(parts: {
    connection: HygeiaConnection;
    ownsConnection: boolean;
    signer: Signer;
    address: string;
    agent: IdentityAgent | undefined;
    store: IssuerStateStore;
    baseUrl: string;
    validity: number;
    fetch: FetchLike;
  }) {
    this.connection = parts.connection;
    this.#ownsConnection = parts.ownsConnection;
    this.#signer = parts.signer;
    this.address = parts.address;
    this.#givenAgent = parts.agent;
    this.#store = parts.store;
    this.#baseUrl = parts.baseUrl;
    this.#validity = parts.validity;
    this.#fetch = parts.fetch;
    const trustAddress = parts.connection.deployment.contracts.TrustRegistry;
    this.#trust = new TrustRegistryClient(trustAddress, new TransactionSender(parts.signer));
    this.#owner = new Contract(trustAddress, TrustRegistryAbi, parts.connection.provider);
  }

  static async connect(options: IssuerConnectOptions): Promise<IssuerClient> {
    if (typeof options !== "object" || options === null)
      throw new SdkInputError("options", "expected { connection, signer, agent?, state? }");
    const { signer } = options;
    if (typeof signer !== "object" || signer === null || typeof signer.getAddress !== "function")
      throw new SdkInputError("signer", "must be an ethers Signer (a Wallet, or a browser wallet's signer)");
    const validity = options.statusListValiditySeconds ?? DEFAULT_LIST_VALIDITY_SECONDS;
    if (!Number.isSafeInteger(validity) || validity < 60 || validity > MAX_LIST_VALIDITY_SECONDS)
      throw new SdkInputError(
        "statusListValiditySeconds",
        `must be whole seconds from 60 to ${MAX_LIST_VALIDITY_SECONDS} (verifiers refuse longer)`,
      );
    const ownsConnection = !(options.connection instanceof HygeiaConnection);
    const connection =
      options.connection instanceof HygeiaConnection
        ? options.connection
        : await HygeiaConnection.open(options.connection ?? {});
    try {
      const wallet = signer.provider ? signer : signer.connect(connection.provider);
      const address = getAddress(await wallet.getAddress());
      const baseUrl = (options.statusListBaseUrl ?? connection.transport.url).replace(/\/+$/, "");
      if (!/^https?:\/\/[^/]/.test(baseUrl))
        throw new SdkInputError("statusListBaseUrl", `"${baseUrl}" is not an http(s) URL`);
      const store =
        options.state === undefined
          ? new MemoryIssuerStateStore()
          : isStore(options.state)
            ? options.state
            : new MemoryIssuerStateStore(options.state);
      return new IssuerClient({
        connection,
        ownsConnection,
        signer: wallet,
        address,
        agent: options.agent,
        store,
        baseUrl,
        validity,
        fetch: options.fetch ?? ((input, init) => fetch(input, init)),
      });
    } catch (error) {
      if (ownsConnection) connection.close();
      throw error;
    }
  }

  /** The did:ethr a credential's issuer is: the signer's, on the deployment's chain. */
  get did(): string {
    return `${this.#didPrefix()}:${this.address}`;
  }

  /** A copy of the status-list state as it is now (persist it when the client was given a plain state). */
  async state(): Promise<IssuerState> {
    return this.#exclusive(async () => copyState(await this.#loadState()));
  }

  // ------------------------------------------------------------------------------------------------ governance

  /** Governance only: accredits `issuer` for `role` (a new window of its history, or a renewal of the open one). */
  async accredit(options: AccreditOptions): Promise<AccreditationChange> {
    this.#open();
    if (typeof options !== "object" || options === null)
      throw new SdkInputError("options", "expected { issuer, role, validFrom?, validUntil? }");
    const issuer = this.#ethrAddress(options.issuer, "issuer");
    const role = requireRole(options.role);
    const validUntilGiven = optionalSeconds(options.validUntil, "validUntil");
    const validFromGiven = optionalSeconds(options.validFrom, "validFrom");
    return this.#exclusive(async () => {
      await this.#requireGovernance("accredit");
      const head = await this.#head("accredit");
      const history = await this.#chain(() => this.#trust.accreditationHistory(issuer, role, head.number), "accredit");
      const wallNow = Math.floor(Date.now() / 1000);
      const validUntil = validUntilGiven ?? Math.max(head.timestamp, wallNow) + YEAR_SECONDS;
      const latest = history.at(-1);
      let validFrom = validFromGiven;
      if (validFrom === undefined) {
        if (latest && latest.revokedAt === 0n && Number(latest.validUntil) > head.timestamp) {
          // An open window: already accredited unless a later end is asked for, which renews it from its end.
          if (validUntilGiven === undefined || validUntil <= Number(latest.validUntil))
            return this.#change(issuer, role, false, undefined, head.number);
          validFrom = Number(latest.validUntil);
        } else if (history.some((window) => window.revokedAt !== 0n)) {
          // Revoked before: the new window may not start before the block that mines it.
          validFrom = Math.max(head.timestamp + 1, wallNow) + REACCREDIT_MARGIN_SECONDS;
        } else {
          validFrom = Math.min(head.timestamp, wallNow);
        }
      }
      const tx = await this.#chain(() => this.#trust.accredit({ issuer, role, validFrom, validUntil }), "accredit");
      return this.#change(issuer, role, true, tx.hash, tx.blockNumber);
    });
  }

  /** Governance only: revokes every window of `issuer` for `role` that has not ended (at the block's time). */
  async deaccredit(options: { issuer: string; role: TrustRoleName }): Promise<AccreditationChange> {
    this.#open();
    if (typeof options !== "object" || options === null)
      throw new SdkInputError("options", "expected { issuer, role }");
    const issuer = this.#ethrAddress(options.issuer, "issuer");
    const role = requireRole(options.role);
    return this.#exclusive(async () => {
      await this.#requireGovernance("deaccredit");
      const head = await this.#head("deaccredit");
      const history = await this.#chain(
        () => this.#trust.accreditationHistory(issuer, role, head.number),
        "deaccredit",
      );
      const open = history.some((window) => window.revokedAt === 0n && Number(window.validUntil) > head.timestamp);
      if (!open) return this.#change(issuer, role, false, undefined, head.number);
      const tx = await this.#chain(() => this.#trust.revokeAccreditation(issuer, role), "deaccredit");
      return this.#change(issuer, role, true, tx.hash, tx.blockNumber);
    });
  }

  /** The issuer's standing in the TrustRegistry now: every role it ever held, read at one block. */
  async accreditation(didOrAddress: string): Promise<AccreditationStanding> {
    this.#open();
    const issuer = this.#ethrAddress(didOrAddress, "issuer");
    const head = await this.#head("accreditation");
    const roles = await Promise.all(ROLE_NAMES.map((role) => this.#roleStanding(issuer, role, head)));
    const held = roles.filter((standing) => standing.windows > 0);
    return {
      issuer,
      did: `${this.#didPrefix()}:${issuer}`,
      block: head.number,
      chainTime: head.timestamp,
      roles: held,
      trustedRoles: held.filter((standing) => standing.trusted).map((standing) => standing.role),
    };
  }

  // ------------------------------------------------------------------------------------------------ issuing

  /**
   * Issues a credential as this issuer (the signer's did:ethr), with a status entry unless `status: false`. The
   * status lists it points at are published before it is returned.
   */
  async issue<T extends CredentialTypeName>(options: IssueOptions<T>): Promise<IssuedCredential> {
    this.#open();
    if (typeof options !== "object" || options === null)
      throw new SdkInputError("options", "expected { type, subject, claims, format?, expires?, status? }");
    const { type } = options;
    if (!isCredentialType(type))
      throw new SdkInputError(
        "type",
        `unknown credential type ${JSON.stringify(type)}`,
        `Use one of ${Object.values(CredentialType).join(", ")}.`,
      );
    const format = options.format ?? "jwt";
    if (format !== "jwt" && format !== "sd-jwt") throw new SdkInputError("format", 'must be "jwt" or "sd-jwt"');
    if (format === "sd-jwt" && !(SD_JWT_VC_TYPES as readonly string[]).includes(type))
      throw new SdkInputError(
        "format",
        `${type} is issued as a JWT only; SD-JWT is for ${SD_JWT_VC_TYPES.join(" and ")}`,
        'Use format "jwt" for this type.',
      );
    const subject = this.#subjectDid(options.subject);
    if (typeof options.claims !== "object" || options.claims === null || Array.isArray(options.claims))
      throw new SdkInputError("claims", "must be an object of the type's claims");
    if ("id" in options.claims)
      throw new SdkInputError("claims", "must not carry `id`: the subject is given as `subject`");
    const fullSubject = { ...options.claims, id: subject } as unknown as CredentialSubjects[T];
    const violations = subjectViolations(type, fullSubject);
    if (violations.length > 0)
      throw new SdkInputError(
        "claims",
        violations.join("; "),
        "Give exactly the claims the credential type's schema lists (see @hygeia/identity's credential types).",
      );
    const holderPublicJwk = format === "sd-jwt" ? holderJwk(options.holderKey, subject) : undefined;
    const withStatus = options.status ?? true;
    if (typeof withStatus !== "boolean") throw new SdkInputError("status", "must be true or false");

    await this.#requireTrustedFor(type);
    const { agent, did } = await this.#identity();
    const period = {
      ...(options.validFrom === undefined ? {} : { validFrom: options.validFrom }),
      ...(options.expires === undefined ? {} : { validUntil: options.expires }),
    };

    const pointer = withStatus
      ? await this.#exclusive(async () => {
          const state = await this.#loadState();
          const { pointer: allocated } = allocateStatus(state, format === "jwt" ? "bitstring" : "token");
          // Saved before the credential exists: an index is never handed out twice, even after a crash.
          await this.#store.save(state);
          await this.#publishDue(state);
          return allocated;
        })
      : undefined;

    const credential = await identityCall(async () => {
      if (format === "jwt")
        return issueCredential(agent, {
          issuer: did,
          type,
          subject: fullSubject,
          ...period,
          ...(pointer?.format === "bitstring"
            ? {
                status: [
                  statusEntry(pointer.revocation, "revocation", pointer.index),
                  statusEntry(pointer.suspension, "suspension", pointer.index),
                ],
              }
            : {}),
        });
      return issueSdJwtCredential(agent, {
        issuer: did,
        type: type as (typeof SD_JWT_VC_TYPES)[number],
        subject: fullSubject as CredentialSubjects[(typeof SD_JWT_VC_TYPES)[number]],
        holderPublicJwk: holderPublicJwk!,
        ...period,
        ...(pointer?.format === "token" ? { tokenStatus: { uri: pointer.url, idx: pointer.index } } : {}),
      });
    }, "issue");
    return {
      credential,
      format,
      type,
      issuer: did,
      subject,
      status: pointer,
      disclosable: format === "sd-jwt" ? await disclosableClaims(credential) : [],
    };
  }

  // ------------------------------------------------------------------------------------------------ status

  /** Revokes the credential (final) and publishes its list. */
  revoke(credential: string | IssuedCredential): Promise<StatusChange> {
    return this.#setStatus(credential, "revoked", "revoke");
  }

  /** Suspends the credential (until `reinstate`) and publishes its list. A revoked one is refused. */
  suspend(credential: string | IssuedCredential): Promise<StatusChange> {
    return this.#setStatus(credential, "suspended", "suspend");
  }

  /** Lifts a suspension and publishes the list. A revoked credential is refused: revocation is final. */
  reinstate(credential: string | IssuedCredential): Promise<StatusChange> {
    return this.#setStatus(credential, "valid", "reinstate");
  }

  /** The credential's status in this issuer's state (what its lists say once published). */
  async statusOf(credential: string | IssuedCredential): Promise<{ status: CredentialStatus; pointer: StatusPointer }> {
    this.#open();
    const reference = this.#statusReference(credential);
    return this.#exclusive(async () => {
      const { group, pointer } = this.#find(await this.#loadState(), reference);
      return { status: statusIn(group, pointer.index), pointer };
    });
  }

  /**
   * Publishes every list that has unpublished changes, was never published, or whose published version has less
   * than half its lifetime left (all of them with `force`). Run it at least once per `statusListValiditySeconds`
   * / 2 (the CLI: `hygeia issuer refresh` from cron): an expired list makes verifiers refuse every credential on it.
   */
  async refreshStatusLists(options: { force?: boolean } = {}): Promise<PublishedList[]> {
    this.#open();
    return this.#exclusive(async () => this.#publishDue(await this.#loadState(), options.force === true));
  }

  /** Closes what the client opened (the identity agent it created, the connection it opened). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#queue.catch(() => undefined);
    const identity = await this.#agent?.catch(() => undefined);
    if (identity?.owned) await identity.agent.close().catch(() => undefined);
    if (this.#ownsConnection) this.connection.close();
  }

  // ------------------------------------------------------------------------------------------------ internals

  #open(): void {
    if (this.#closed)
      throw new HygeiaSdkError("CLIENT_CLOSED", "usage", "the issuer client was closed", { hint: "Connect again." });
  }

  /** Runs `task` after every earlier state-changing call of this client (one state, one writer). */
  #exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #didPrefix(): string {
    const { deployment, rpcUrl } = this.connection;
    return ethrDidPrefix(ethrNetworkFromDeployment(deployment, rpcUrl));
  }

  /** An Ethereum address from an address or a did:ethr of this chain (address or public-key form). */
  #ethrAddress(value: unknown, field: string): string {
    const hint = "The TrustRegistry accredits Ethereum accounts: give the issuer's did:ethr or its 0x address.";
    if (typeof value !== "string") throw new SdkInputError(field, "must be a did:ethr or an address", hint);
    let id = value;
    if (value.startsWith("did:")) {
      const parts = value.split(":");
      if (parts[1] !== "ethr" || parts.length < 3 || parts.length > 4)
        throw new SdkInputError(field, `${value} is not a did:ethr`, hint);
      const network = parts.length === 4 ? parts[2]!.toLowerCase() : "mainnet";
      const chainId = this.connection.deployment.chainId;
      const here = [`0x${chainId.toString(16)}`, String(chainId), ...(chainId === 1 ? ["mainnet"] : [])];
      if (!here.includes(network))
        throw new SdkInputError(
          field,
          `${value} is a DID on another chain (network ${network}); this deployment is on chain ${chainId}`,
          `Give the did:ethr on this chain (${this.#didPrefix()}:0x…).`,
        );
      id = parts.at(-1)!;
    }
    try {
      if (/^0x[0-9a-fA-F]{40}$/.test(id)) return getAddress(id);
      if (/^0x0[23][0-9a-fA-F]{64}$/.test(id)) return computeAddress(id);
    } catch {
      // a mixed-case address with a wrong checksum, a point not on the curve: below
    }
    throw new SdkInputError(field, `${value} is not a valid address or did:ethr`, hint);
  }

  /** The subject as a DID: a DID as given, an address as its did:ethr on this chain. */
  #subjectDid(value: unknown): string {
    if (typeof value === "string" && value.startsWith("did:") && value.length <= 256) {
      if (value.startsWith("did:ethr:")) this.#ethrAddress(value, "subject");
      return value;
    }
    if (typeof value === "string" && /^0x[0-9a-fA-F]{40}$/.test(value))
      return `${this.#didPrefix()}:${this.#ethrAddress(value, "subject")}`;
    throw new SdkInputError(
      "subject",
      "must be the holder's DID or address",
      "Give the holder's did:ethr or 0x address.",
    );
  }

  async #head(action: string): Promise<{ number: number; timestamp: number }> {
    try {
      const block = await this.connection.provider.getBlock("latest");
      if (!block) throw new Error("no latest block");
      return { number: block.number, timestamp: block.timestamp };
    } catch (error) {
      throw new ServiceUnreachableError("chain", this.connection.rpcUrl, `${action}: ${firstLine(error)}`, {
        cause: error,
      });
    }
  }

  async #chain<T>(call: () => Promise<T>, action: string): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw fromChainError(error, action, this.connection.rpcUrl);
    }
  }

  async #requireGovernance(action: string): Promise<void> {
    let owner: string;
    try {
      owner = getAddress((await this.#owner.getFunction("owner").staticCall()) as string);
    } catch (error) {
      throw new ServiceUnreachableError(
        "chain",
        this.connection.rpcUrl,
        `${action}: the TrustRegistry's governance could not be read: ${firstLine(error)}`,
        { cause: error },
      );
    }
    if (owner !== this.address) throw new NotGovernanceError(this.address, owner);
  }

  async #roleStanding(
    issuer: string,
    role: TrustRoleName,
    head: { number: number; timestamp: number },
  ): Promise<RoleStanding> {
    const [history, trusted] = await Promise.all([
      this.#chain(() => this.#trust.accreditationHistory(issuer, role, head.number), "accreditation"),
      this.#chain(() => this.#trust.isTrusted(issuer, role, head.number), "accreditation"),
    ]);
    return standingOf(role, history, trusted, head.timestamp);
  }

  async #change(
    issuer: string,
    role: TrustRoleName,
    changed: boolean,
    transaction: string | undefined,
    block: number,
  ): Promise<AccreditationChange> {
    const at = await this.connection.provider.getBlock(block).catch(() => null);
    const head = at ? { number: at.number, timestamp: at.timestamp } : await this.#head("accreditation");
    return {
      issuer,
      did: `${this.#didPrefix()}:${issuer}`,
      role,
      changed,
      transaction,
      standing: await this.#roleStanding(issuer, role, head),
    };
  }

  /** Refuses to issue a type no verifier would trust from this issuer now. */
  async #requireTrustedFor(type: CredentialTypeName): Promise<void> {
    const roles = DEFAULT_TRUSTED_ROLES[type];
    const trusted = await Promise.all(
      roles.map((role) => this.#chain(() => this.#trust.isTrusted(this.address, role), "issue")),
    );
    if (!trusted.some(Boolean))
      throw new AccessRefusedError(
        "ISSUER_NOT_ACCREDITED",
        `${this.did} is not accredited as ${roles.join(" or ")} now: verifiers would refuse its ${type}`,
        `Ask governance to accredit ${this.address} as ${roles[0]} (hygeia issuer accredit), then issue again.`,
      );
  }

  /** The identity agent and the issuer's DID in it (an in-memory agent over the signer's key when none was given). */
  #identity(): Promise<{ agent: IdentityAgent; did: string; owned: boolean }> {
    this.#agent ??= (async () => {
      const given = this.#givenAgent;
      if (given) {
        const dids = await identityCall(() => given.listDids(), "connect");
        const held = dids.find(
          (managed) =>
            managed.method === "ethr" &&
            managed.did.startsWith(`${this.#didPrefix()}:`) &&
            managed.ownerAddress?.toLowerCase() === this.address.toLowerCase(),
        );
        if (!held)
          throw new SdkInputError(
            "agent",
            `the identity agent holds no did:ethr owned by the signer ${this.address} on this chain`,
            "Import the signer's key into the agent (agent.importEthrDid), or leave `agent` out.",
          );
        return { agent: given, did: held.did, owned: false };
      }
      const privateKey = (this.#signer as { privateKey?: unknown }).privateKey;
      if (typeof privateKey !== "string")
        throw new SdkInputError(
          "agent",
          "the signer does not expose its private key, so credentials cannot be signed as its did:ethr",
          "Pass an identity agent holding the issuer's did:ethr (agent: …), or an ethers Wallet as signer.",
        );
      const { deployment, rpcUrl } = this.connection;
      const agent = await identityCall(
        () => IdentityAgent.create({ network: ethrNetworkFromDeployment(deployment, rpcUrl), watchRegistry: false }),
        "connect",
      );
      try {
        const managed = await identityCall(() => agent.importEthrDid(privateKey), "connect");
        return { agent, did: managed.did, owned: true };
      } catch (error) {
        await agent.close().catch(() => undefined);
        throw error;
      }
    })();
    // A failed start (a bad agent, a closed one) is not remembered: the next call tries again.
    this.#agent.catch(() => (this.#agent = undefined)).catch(() => undefined);
    return this.#agent;
  }

  async #loadState(): Promise<IssuerState> {
    if (this.#state) return this.#state;
    const { did } = await this.#identity();
    const loaded = await this.#store.load();
    if (loaded && loaded.issuer.toLowerCase() !== did.toLowerCase())
      throw new SdkInputError(
        "state",
        `the status-list state belongs to ${loaded.issuer}, not to this issuer (${did})`,
        "Use this issuer's own state file (each issuer keeps one).",
      );
    this.#state = loaded ?? newIssuerState(did, this.#baseUrl);
    return this.#state;
  }

  /** The status list and index a credential (JWT VC or SD-JWT VC of this issuer) points at. */
  #statusReference(credential: string | IssuedCredential): { url: string; index: number } {
    if (typeof credential === "object" && credential !== null && typeof credential.credential === "string")
      return this.#statusReference(credential.credential);
    if (typeof credential !== "string" || credential.length === 0)
      throw new SdkInputError("credential", "must be a credential (JWT or SD-JWT) or what issue() returned");
    const jwt = credential.split("~")[0]!;
    let payload: Record<string, unknown>;
    try {
      payload = decodeJwt(jwt).payload;
    } catch {
      throw new SdkInputError("credential", "is not a JWT VC or an SD-JWT VC");
    }
    const issuer = typeof payload.iss === "string" ? payload.iss : undefined;
    if (!issuer || issuer.toLowerCase() !== this.did.toLowerCase())
      throw new SdkInputError(
        "credential",
        `was issued by ${issuer ?? "an unknown issuer"}, not by this issuer (${this.did})`,
        "Only its issuer can change a credential's status: use the issuer's wallet.",
      );
    const status = payload.status as { status_list?: { idx?: unknown; uri?: unknown } } | undefined;
    if (status?.status_list && typeof status.status_list.uri === "string" && typeof status.status_list.idx === "number")
      return { url: status.status_list.uri, index: status.status_list.idx };
    const vc = payload.vc as { credentialStatus?: unknown } | undefined;
    const entries = [vc?.credentialStatus ?? payload.credentialStatus].flat();
    for (const entry of entries) {
      const { statusListCredential, statusListIndex } = (entry ?? {}) as Record<string, unknown>;
      if (
        typeof statusListCredential === "string" &&
        typeof statusListIndex === "string" &&
        /^\d{1,9}$/.test(statusListIndex)
      )
        return { url: statusListCredential, index: Number(statusListIndex) };
    }
    throw new SdkInputError(
      "credential",
      "carries no status entry, so it cannot be revoked or suspended",
      "Issue credentials with status (the default) when they may need revoking.",
    );
  }

  #find(
    state: IssuerState,
    reference: { url: string; index: number },
  ): { group: StatusGroupState; pointer: StatusPointer } {
    const found = findStatus(state, reference.url, reference.index);
    if (!found)
      throw new SdkInputError(
        "credential",
        `its status entry (${reference.url} #${reference.index}) is not one this issuer state handed out`,
        "Use the issuer state (file) the credential was issued with.",
      );
    return found;
  }

  async #setStatus(
    credential: string | IssuedCredential,
    target: CredentialStatus,
    action: "revoke" | "suspend" | "reinstate",
  ): Promise<StatusChange> {
    this.#open();
    const reference = this.#statusReference(credential);
    return this.#exclusive(async () => {
      const state = await this.#loadState();
      const { group, pointer } = this.#find(state, reference);
      const previous = statusIn(group, pointer.index);
      if (previous === "revoked" && target !== "revoked")
        throw new StatusChangeRefusedError(
          "CREDENTIAL_REVOKED",
          `${action}: the credential is revoked, and revocation is final`,
          "Issue a new credential if the holder should have one again.",
        );
      const changed = setStatus(group, pointer.index, target).length > 0;
      if (changed) await this.#store.save(state);
      const published = await this.#publishDue(state);
      return { status: statusIn(group, pointer.index), previous, changed, pointer, published };
    });
  }

  /** Publishes the lists that are due (see refreshStatusLists), one after the other. Call inside #exclusive. */
  async #publishDue(state: IssuerState, force = false): Promise<PublishedList[]> {
    const now = Math.floor(Date.now() / 1000);
    const published: PublishedList[] = [];
    for (const group of state.groups)
      for (const list of group.lists) {
        const due =
          force ||
          list.dirty ||
          list.publishedIat === 0 ||
          list.publishedExp - now < (list.publishedExp - list.publishedIat) / 2;
        if (due) published.push(await this.#publish(state, group, list));
      }
    return published;
  }

  /** Signs the list as it is now and publishes it at the gateway, as a version newer than the last one. */
  async #publish(state: IssuerState, group: StatusGroupState, list: StatusListState): Promise<PublishedList> {
    const { agent, did } = await this.#identity();
    for (let attempt = 0; ; attempt++) {
      // The gateway keeps a version only when its iat is later than the stored one's, and verifiers refuse an
      // older one: never sign two versions within one second.
      while (Math.floor(Date.now() / 1000) <= list.publishedIat) await sleep(50);
      const content = listContent(group, list);
      const jwt = await identityCall(
        () =>
          group.format === "bitstring"
            ? issueStatusListCredential(agent, {
                issuer: did,
                url: list.url,
                purpose: list.purpose as "revocation" | "suspension",
                list: content as Bitstring,
                validForSeconds: this.#validity,
              })
            : issueTokenStatusList(agent, {
                issuer: did,
                url: list.url,
                list: content as TokenStatusList,
                validForSeconds: this.#validity,
              }),
        "publish status list",
      );
      const { iat, exp } = decodeJwt(jwt).payload as { iat: number; exp: number };
      try {
        await this.#put(
          list.url,
          jwt,
          group.format === "bitstring" ? "application/vc+jwt" : "application/statuslist+jwt",
        );
      } catch (error) {
        // Another writer published a version of this list with the same or a later iat: sign again, newer.
        if (attempt === 0 && error instanceof GatewayProblemError && error.code === "STALE_STATUS_LIST") {
          const current = error.problem.currentIssuedAt;
          list.publishedIat = Math.max(list.publishedIat, typeof current === "number" ? current : iat);
          continue;
        }
        throw error;
      }
      list.publishedIat = iat;
      list.publishedExp = exp;
      list.dirty = false;
      await this.#store.save(state);
      return { url: list.url, issuedAt: iat, expiresAt: exp };
    }
  }

  /** PUT a signed list at its URL on the gateway (no session: the list authenticates itself). */
  async #put(url: string, jwt: string, mediaType: string): Promise<void> {
    const gateway = this.connection.transport.url;
    const path = new URL(url).pathname;
    const request = `PUT ${path}`;
    let res: Response;
    try {
      res = await this.#fetch(gateway + path, {
        method: "PUT",
        headers: { "content-type": mediaType, accept: "application/json" },
        body: jwt,
        signal: AbortSignal.timeout(PUBLISH_TIMEOUT_MS),
      });
    } catch (error) {
      throw new ServiceUnreachableError("gateway", gateway, `publishing a status list: ${firstLine(error)}`, {
        cause: error,
      });
    }
    const text = await res.text().catch(() => "");
    if (res.ok) return;
    let problem: GatewayProblem | undefined;
    try {
      const body = JSON.parse(text) as GatewayProblem;
      if (typeof body.code === "string" && typeof body.status === "number" && typeof body.detail === "string")
        problem = body;
    } catch {
      problem = undefined;
    }
    if (!problem)
      throw new UnexpectedResponseError(request, `answered ${res.status} ${res.statusText} without a problem document`);
    if (problem.code === "ISSUER_NOT_ACCREDITED")
      throw new AccessRefusedError(
        "ISSUER_NOT_ACCREDITED",
        `${request}: the gateway hosts only accredited issuers' status lists, and ${this.did} is not accredited now`,
        `Ask governance to accredit ${this.address} (hygeia issuer accredit), then try again; the change is kept and published then.`,
        { cause: new GatewayProblemError(problem, request) },
      );
    if (problem.code === "STATUS_LIST_URL_MISMATCH")
      throw new SdkInputError(
        "statusListBaseUrl",
        `the gateway serves this list at ${String(problem.expectedUrl ?? "another URL")}, not ${url}`,
        "Pass the gateway's public URL as statusListBaseUrl (with a new state: list URLs are fixed once published).",
      );
    throw new GatewayProblemError(problem, request);
  }
}

function isStore(value: IssuerStateStore | IssuerState): value is IssuerStateStore {
  return (
    typeof (value as IssuerStateStore).load === "function" && typeof (value as IssuerStateStore).save === "function"
  );
}

function requireRole(role: unknown): TrustRoleName {
  if (typeof role !== "string" || !(ROLE_NAMES as string[]).includes(role))
    throw new SdkInputError("role", `unknown role ${JSON.stringify(role)}`, `Use one of ${ROLE_NAMES.join(", ")}.`);
  return role as TrustRoleName;
}

function optionalSeconds(value: TimeInput | undefined, field: string): number | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Date) {
    const ms = value.getTime();
    if (Number.isNaN(ms)) throw new SdkInputError(field, "is an invalid Date");
    return Math.floor(ms / 1000);
  }
  if (typeof value === "bigint") value = Number(value);
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0)
    throw new SdkInputError(field, "must be a Date or whole unix seconds");
  return value; // milliseconds are refused by @hygeia/chain ("divide by 1000")
}

function standingOf(role: TrustRoleName, history: Accreditation[], trusted: boolean, now: number): RoleStanding {
  const latest = history.at(-1);
  if (!latest) return { role, trusted, state: "none", windows: 0 };
  const validFrom = Number(latest.validFrom);
  const validUntil = Number(latest.validUntil);
  const revokedAt = Number(latest.revokedAt);
  const state: RoleStanding["state"] = trusted
    ? "active"
    : revokedAt !== 0
      ? "revoked"
      : validFrom > now
        ? "pending"
        : "expired";
  return {
    role,
    trusted,
    state,
    validFrom,
    validUntil,
    ...(revokedAt === 0 ? {} : { revokedAt }),
    windows: history.length,
  };
}

/** The holder's key as a JWK, checked against a did:ethr subject's address. */
function holderJwk(key: HolderKey | undefined, subject: string): { kty: "EC"; crv: "secp256k1"; x: string; y: string } {
  const hint = "Give the holder wallet's public key (the key that owns its did:ethr) as holderKey.";
  if (key === undefined) throw new SdkInputError("holderKey", "an SD-JWT is bound to its holder's key: give it", hint);
  let uncompressed: string;
  try {
    if (typeof key === "string") uncompressed = SigningKey.computePublicKey(key, false);
    else {
      if (key.kty !== "EC" || key.crv !== "secp256k1" || "d" in key) throw new Error("not a public secp256k1 JWK");
      const x = Buffer.from(key.x, "base64url");
      const y = Buffer.from(key.y, "base64url");
      if (x.length !== 32 || y.length !== 32) throw new Error("bad coordinates");
      uncompressed = SigningKey.computePublicKey(`0x04${x.toString("hex")}${y.toString("hex")}`, false);
    }
  } catch {
    throw new SdkInputError("holderKey", "is not a secp256k1 public key (JWK or hex)", hint);
  }
  const match = /^did:ethr:(?:[^:]+:)?(0x[0-9a-fA-F]{40})$/.exec(subject);
  if (match && computeAddress(uncompressed).toLowerCase() !== match[1]!.toLowerCase())
    throw new SdkInputError(
      "holderKey",
      `is not the key of ${subject} (its address is ${computeAddress(uncompressed)})`,
      hint,
    );
  const bytes = Buffer.from(uncompressed.slice(2), "hex");
  return {
    kty: "EC",
    crv: "secp256k1",
    x: bytes.subarray(1, 33).toString("base64url"),
    y: bytes.subarray(33, 65).toString("base64url"),
  };
}

async function identityCall<T>(call: () => Promise<T>, action: string): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw fromIdentityError(error, action);
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
}
