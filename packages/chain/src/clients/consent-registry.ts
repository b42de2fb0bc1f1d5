/** Typed client of the ConsentRegistry contract. */
import { getAddress, zeroPadValue, type Log } from "ethers";
import {
  buildConsentBatchTypedData,
  buildEmergencyGranteeTypedData,
  buildGrantTypedData,
  buildRevokeTypedData,
  MAX_EMERGENCY_EPOCH,
  consentDomain,
  toConsentBatchMessage,
  toEmergencyGranteeMessage,
  toGrantMessage,
  toRevokeMessage,
  type ConsentBatchMessage,
  type ConsentBatchTypedData,
  type ConsentDomain,
  type EmergencyGranteeMessage,
  type EmergencyGranteeTypedData,
  type GrantMessage,
  type GrantTypedData,
  type RevokeMessage,
  type RevokeTypedData,
  type SignedConsentBatch,
  type SignedEmergencyGrantee,
  type SignedGrant,
  type SignedRevoke,
} from "../eip712.ts";
import { ZERO_SCOPES_ROOT, emergencyScopes, requireEmergencyDuration, type EmergencyScopes } from "../emergency.ts";
import {
  EmergencyScopesMismatchError,
  InvalidInputError,
  ScanLimitError,
  describe,
  requireSignal,
  throwIfAborted,
  requireAddress,
  requireBytes32,
  requireNonZeroAddress,
  requireSmallUint,
} from "../errors.ts";
import { untilAborted } from "./abortable.ts";
import { toChainError } from "./chain-errors.ts";
import { ConsentRegistryAbi } from "../generated/ConsentRegistry.ts";
import { parseGrantablePurpose, parsePurpose, type GrantablePurpose, type Purpose } from "../purposes.ts";
import { checkRecordQuery, recordAccessFrom, type RecordAccess, type RecordAccessQuery } from "../record-access.ts";
import { toScopeId } from "../scopes.ts";
import {
  ContractClient,
  type BlockTag,
  type ClientOptions,
  type ClientRunner,
  type TxOptions,
  type TxOutcome,
} from "./base.ts";
import { CONSENT_STATE_TOPICS, parseConsentLog, type ConsentEvent } from "./consent-events.ts";
import * as node from "./node-reads.ts";
import { requireFutureTime, requireNotPast, timeBounds, type TimeBounds } from "./time-bounds.ts";

/** Identifies one consent slot. `scope` is a bytes32 scope id (the patient's keyed id: PatientScopes.id). */
export interface ConsentKeyInput {
  patient: string;
  grantee: string;
  scope: string;
  purpose: Purpose | string;
}

export interface GrantParams {
  grantee: string;
  scope: string;
  purpose: GrantablePurpose | string;
  /** Unix seconds (not milliseconds); in the future, at most maxExpiryAheadSeconds (10 years) ahead. */
  expiry: bigint | number;
}

export interface ConsentRegistryClientOptions extends ClientOptions {
  /** Latest expiry or signature deadline accepted, in seconds from now. Default 10 years (315,576,000). */
  maxExpiryAheadSeconds?: number;
  /** Wall clock in milliseconds for the expiry checks (tests). Default Date.now. */
  clock?: () => number;
}

export interface RevokeParams {
  grantee: string;
  scope: string;
  purpose: Purpose | string;
}

export interface ConsentSlot {
  /** Unix seconds; 0 = never granted or revoked. */
  readonly expiry: bigint;
  /** Bumped by every grant, revoke and break-glass that opens a scope (not one on a scope already open); 0 = never written. */
  readonly version: number;
}

export type ConsentTx = TxOutcome<ConsentEvent>;

/** An emergency registration: how long its single window may last, and the scopes it may open. */
export interface EmergencyRegistrationParams {
  /** Seconds (not milliseconds), 1 .. 7 days: the length of the one window the first breakGlass opens. */
  maxDurationSeconds: number;
  /**
   * The scope ids the grantee may open (the patient's keyed ids, PatientScopes.ids), at least one, at most
   * MAX_EMERGENCY_SCOPES distinct (repeats are merged). The chain stores only their Merkle root; give
   * the list to the grantee (it needs it to break the glass).
   */
  scopes: readonly string[];
}

/** A grantee's emergency registration as the contract holds it. */
export interface EmergencyRegistration {
  /** Seconds; 0 = not registered (never, or removed). */
  readonly maxDurationSeconds: number;
  /** Unix seconds at which the registration's single window ends; 0 = not opened yet. */
  readonly windowEnd: bigint;
  /** Merkle root of the registered scopes (emergencyScopes); the zero bytes32 when not registered. */
  readonly scopesRoot: string;
  /**
   * The pair's epoch: the lowest epoch the patient's next relayed EmergencyGrantee message for this
   * grantee may carry. Every change of the registration (direct, relayed, a purpose-3 revoke) moves it.
   */
  readonly epoch: number;
}

/**
 * Most epochs nextEmergencyGranteeTypedData skips (skipEpochs): the contract refuses a message signed
 * for more than 1000 epochs above the pair's current one (EpochTooFarAhead).
 */
export const MAX_SKIP_EPOCHS = 1000;

/** How breakGlass proves that `scope` is registered: from the full scope list, or a ready proof. */
export type BreakGlassProof = { readonly scopes: readonly string[] } | { readonly proof: readonly string[] };

/** Most consent addresses one consentEventsOf call takes: each is a topic of one eth_getLogs filter, which nodes bound. */
export const MAX_CONSENT_EVENT_PATIENTS = 100;

/** Default eth_getLogs block range of consentEventsOf; public RPC providers often cap it. */
export const DEFAULT_CONSENT_EVENT_BLOCK_RANGE = 10_000;

export interface ConsentEventsOptions {
  /** First block to read: the registry's deployment block (HygeiaDeployment.deployedAt.block), or 0. Required. */
  fromBlock: number;
  /** Last block to read, at most the head. Default: the head when the call starts. */
  toBlock?: number;
  /** Largest block range of one eth_getLogs; lower it when the node refuses a range. Default 10,000. */
  maxBlockRange?: number;
  /**
   * Most eth_getLogs calls (block windows of maxBlockRange) one scan may need; more is refused up front with
   * ScanLimitError (pass fromBlock: the deployment block). Default DEFAULT_MAX_BLOCK_WINDOWS.
   */
  maxBlockWindows?: number;
  /** Stops the scan at once, a request in flight included (ScanAbortedError), e.g. AbortSignal.timeout(60_000). */
  signal?: AbortSignal;
}

/** Default maxBlockWindows: 1,000 windows (10 million blocks at the default range). */
export const DEFAULT_MAX_BLOCK_WINDOWS = 1000;

/** Longest proof accepted (a tree of 2^32 scopes); a registration of MAX_EMERGENCY_SCOPES needs 8. */
const MAX_PROOF_LENGTH = 32;

export class ConsentRegistryClient extends ContractClient<ConsentEvent> {
  private readonly options: ConsentRegistryClientOptions;
  private readonly bounds: TimeBounds;

  /**
   * `runner`: a TransactionSender, or a Signer (wrapped in one) to send transactions; a Provider
   * for reads only.
   */
  constructor(address: string, runner: ClientRunner, options: ConsentRegistryClientOptions = {}) {
    super("ConsentRegistry", address, ConsentRegistryAbi, runner, options);
    this.options = { ...options };
    this.bounds = timeBounds(options);
  }

  connect(runner: ClientRunner): ConsentRegistryClient {
    return new ConsentRegistryClient(this.address, runner, this.options);
  }

  protected parseEvent(log: Log): ConsentEvent | undefined {
    return parseConsentLog(log);
  }

  // --- patient operations (msg.sender is the patient) ------------------------------------------

  grant(params: GrantParams, options?: TxOptions): Promise<ConsentTx> {
    const g = this.checkGrant(params);
    return this.write("grant", [g.grantee, g.scope, g.purpose, g.expiry], options);
  }

  /**
   * Always writes: the slot becomes a tombstone with a bumped version whether or not a grant was
   * active, so it also cancels every outstanding Grant signature for the slot (a signature made for
   * the old version is refused). Revoking an Emergency slot (purpose 3) also removes the grantee's
   * emergency registration, closing all its windows.
   */
  revoke(params: RevokeParams, options?: TxOptions): Promise<ConsentTx> {
    const grantee = requireNonZeroAddress(params.grantee, "grantee");
    return this.write("revoke", [grantee, toScopeId(params.scope), parsePurpose(params.purpose)], options);
  }

  /** Many grants in one transaction (one event each). */
  grantBatch(items: readonly GrantParams[], options?: TxOptions): Promise<ConsentTx> {
    if (!Array.isArray(items) || items.length === 0)
      throw new InvalidInputError("items", "grantBatch needs at least one grant");
    const checked = items.map((item, index) => {
      try {
        return this.checkGrant(item);
      } catch (error) {
        throw error instanceof InvalidInputError ? error.within(`items[${index}]`) : error;
      }
    });
    return this.write(
      "grantBatch",
      [
        checked.map((g) => g.grantee),
        checked.map((g) => g.scope),
        checked.map((g) => g.purpose),
        checked.map((g) => g.expiry),
      ],
      options,
    );
  }

  /**
   * Starts a new emergency registration of `grantee`: it may break the glass ONCE, for a window of
   * at most `maxDurationSeconds` (<= 7 days) that its first breakGlass opens, on the named `scopes`
   * only. Any change (this, removeEmergencyGrantee, a revoke of an Emergency slot, or the relayed
   * forms) closes every window the grantee had open on the patient's records.
   */
  setEmergencyGrantee(
    grantee: string,
    registration: EmergencyRegistrationParams,
    options?: TxOptions,
  ): Promise<ConsentTx> {
    const checked = checkRegistration(registration);
    return this.write(
      "setEmergencyGrantee",
      [requireNonZeroAddress(grantee, "grantee"), checked.maxDuration, checked.scopes.root],
      options,
    );
  }

  /** Removes the grantee's registration and closes its open windows at once. */
  removeEmergencyGrantee(grantee: string, options?: TxOptions): Promise<ConsentTx> {
    return this.write("setEmergencyGrantee", [requireNonZeroAddress(grantee, "grantee"), 0, ZERO_SCOPES_ROOT], options);
  }

  // --- relayed (signed) operations: msg.sender is anyone, the signer is the patient -------------

  grantBySig(signed: SignedGrant, options?: TxOptions): Promise<ConsentTx> {
    const m = toGrantMessage(signed);
    requireFutureTime(m.expiry, 64, "expiry", this.bounds);
    requireFutureTime(m.deadline, 256, "deadline", this.bounds);
    const { v, r, s } = checkSignatureParts(signed);
    const patient = requireNonZeroAddress(signed.patient, "patient");
    return this.write(
      "grantBySig",
      [patient, m.grantee, m.scope, m.purpose, m.expiry, m.version, m.deadline, v, r, s],
      options,
    );
  }

  /**
   * Relayed setEmergencyGrantee / removal (signEmergencyGrantee). Valid while the signed epoch is at
   * least the pair's current one (else StaleEpoch); relaying it moves the pair to epoch + 1. Only the
   * patient moves a pair's epoch, so no grantee can make a removal stale: a patient without ETH can
   * always end emergency access with a signed removal.
   *
   * A registration's deadline must lie in the future and within maxExpiryAheadSeconds; a removal's
   * deadline only must not be in the past (any later deadline, 2^256 - 1 too, is relayed): the
   * client never stands in the way of the patient's way out.
   */
  setEmergencyGranteeBySig(signed: SignedEmergencyGrantee, options?: TxOptions): Promise<ConsentTx> {
    const m = toEmergencyGranteeMessage(signed);
    this.checkEmergencyDeadline(m.maxDuration, m.deadline);
    const { v, r, s } = checkSignatureParts(signed);
    const patient = requireNonZeroAddress(signed.patient, "patient");
    return this.write(
      "setEmergencyGranteeBySig",
      [patient, m.grantee, m.maxDuration, m.scopesRoot, m.epoch, m.deadline, v, r, s],
      options,
    );
  }

  revokeBySig(signed: SignedRevoke, options?: TxOptions): Promise<ConsentTx> {
    const m = toRevokeMessage(signed);
    requireFutureTime(m.deadline, 256, "deadline", this.bounds);
    const { v, r, s } = checkSignatureParts(signed);
    const patient = requireNonZeroAddress(signed.patient, "patient");
    return this.write("revokeBySig", [patient, m.grantee, m.scope, m.purpose, m.version, m.deadline, v, r, s], options);
  }

  /**
   * Relays a ConsentBatch (signConsentBatch): the patient's grants and revokes under ONE signature, in one
   * transaction. Checked first like grantBySig / revokeBySig: every grant's expiry and the deadline in the future.
   * The contract applies the grants, then the revokes, in order; the first bad item reverts the whole batch.
   */
  consentBatchBySig(signed: SignedConsentBatch, options?: TxOptions): Promise<ConsentTx> {
    const m = toConsentBatchMessage(signed);
    m.grants.forEach((g, index) => requireFutureTime(g.expiry, 64, `grants[${index}].expiry`, this.bounds));
    requireFutureTime(m.deadline, 256, "deadline", this.bounds);
    const { v, r, s } = checkSignatureParts(signed);
    const patient = requireNonZeroAddress(signed.patient, "patient");
    return this.write(
      "consentBatchBySig",
      [
        patient,
        m.grants.map((g) => [g.grantee, g.scope, g.purpose, g.expiry, g.version]),
        m.revokes.map((x) => [x.grantee, x.scope, x.purpose, x.version]),
        m.deadline,
        v,
        r,
        s,
      ],
      options,
    );
  }

  // --- break-glass: msg.sender is the pre-registered grantee ----------------------------------

  /**
   * Emergency (purpose 3) access to `scope` of `patient`'s records, by a grantee the patient
   * registered (this client's account). The first call opens the registration's single window
   * (now + maxDuration); later calls add scopes to it but never extend it; once it has ended the
   * contract refuses (EmergencyWindowUsed) until the patient registers the grantee again.
   *
   * `{ scopes }`: the registration's full scope list (from the patient); the proof for `scope` is
   * computed from it, and its root is compared with the registered one before anything is sent
   * (EmergencyScopesMismatchError). `{ proof }`: a proof computed elsewhere (emergencyScopes).
   */
  breakGlass(patient: string, scope: string, how: BreakGlassProof, options?: TxOptions): Promise<ConsentTx> {
    const p = requireNonZeroAddress(patient, "patient");
    const id = toScopeId(scope);
    if (typeof how !== "object" || how === null)
      throw new InvalidInputError("how", "expected { scopes } (the registration's scope list) or { proof }");
    if ("proof" in how) return this.write("breakGlass", [p, id, checkProof(how.proof)], options);
    const tree = emergencyScopes(how.scopes);
    const proof = tree.proof(id);
    return this.breakGlassWithList(p, id, tree, proof, options);
  }

  private async breakGlassWithList(
    patient: string,
    scope: string,
    tree: EmergencyScopes,
    proof: string[],
    options: TxOptions | undefined,
  ): Promise<ConsentTx> {
    const sender = this.sender;
    if (!sender)
      throw new InvalidInputError("runner", "ConsentRegistry.breakGlass needs a Signer; this client is read-only");
    const registration = await this.emergencyGranteeOf(patient, await sender.getAddress());
    // Not registered: the contract's NotEmergencyGrantee says so better than a root mismatch would.
    if (registration.maxDurationSeconds !== 0 && registration.scopesRoot !== tree.root)
      throw new EmergencyScopesMismatchError(registration.scopesRoot, tree.root);
    return this.write("breakGlass", [patient, scope, proof], options);
  }

  // --- views ----------------------------------------------------------------------------------

  isAllowed(key: ConsentKeyInput, blockTag?: BlockTag): Promise<boolean> {
    const k = checkKey(key);
    return this.read<boolean>("isAllowed", [k.patient, k.grantee, k.scope, k.purpose], blockTag);
  }

  async consentOf(key: ConsentKeyInput, blockTag?: BlockTag): Promise<ConsentSlot> {
    const k = checkKey(key);
    const [expiry, version] = await this.read<[bigint, bigint]>(
      "consentOf",
      [k.patient, k.grantee, k.scope, k.purpose],
      blockTag,
    );
    return { expiry, version: Number(version) };
  }

  /**
   * Whether `grantee` may read `record` for `purpose`: consent for any one of the record's scope ids
   * (as the patient's wallet attached them: PatientScopes.forRecord) allows it. All ids are read at the
   * same block (`blockTag` resolved to a number first); the answer names the id that allowed the access.
   */
  async checkRecordAccess(query: RecordAccessQuery, blockTag: BlockTag = "latest"): Promise<RecordAccess> {
    const q = checkRecordQuery(query);
    const at = await this.pinBlock(blockTag, "ConsentRegistry.checkRecordAccess");
    const answers = await Promise.all(
      q.scopes.map((scope) => this.read<boolean>("isAllowed", [q.patient, q.grantee, scope, q.purpose], at)),
    );
    return recordAccessFrom(q.scopes, answers);
  }

  /**
   * Every ConsentGranted, ConsentRevoked, EmergencyAccess and EmergencyGranteeSet event that names `patient` (a
   * consent address, or a list of up to MAX_CONSENT_EVENT_PATIENTS), in chain order: eth_getLogs by the
   * patient topic, in pages of at most `maxBlockRange` blocks from `fromBlock` to `toBlock` (default the head).
   * How a wallet lists or recovers a consent address's grants; their scope ids read back with PatientScopes.label.
   * Fails loudly rather than answer "none": ContractNotDeployedError for an address without registry code,
   * ChainUnavailableError for a node that does not answer within readTimeoutMs, ChainRequestError for one that
   * refuses (a range too large: lower maxBlockRange), InvalidInputError for bad options.
   */
  async consentEventsOf(patient: string | readonly string[], options: ConsentEventsOptions): Promise<ConsentEvent[]> {
    return this.#consentEvents(patientTopics(patient), options, "ConsentRegistry.consentEventsOf");
  }

  /**
   * Every consent event of the registry in the range, whoever it names: what findConsentAccounts reads by default,
   * so the node is not told which consent addresses belong together. Same options, order and errors as
   * consentEventsOf; it downloads every patient's events of the range, so name a short one (fromBlock).
   */
  async allConsentEvents(options: ConsentEventsOptions): Promise<ConsentEvent[]> {
    return this.#consentEvents(undefined, options, "ConsentRegistry.allConsentEvents");
  }

  async #consentEvents(
    topics: string[] | undefined,
    options: ConsentEventsOptions,
    operation: string,
  ): Promise<ConsentEvent[]> {
    const range = checkEventRange(options);
    try {
      throwIfAborted(range.signal, operation);
      await untilAborted(this.ensureDeployed(), range.signal, operation);
      const head = await untilAborted(this.ask(node.blockNumber(this.provider), operation), range.signal, operation);
      const toBlock = range.toBlock ?? head;
      if (range.fromBlock > head)
        throw new InvalidInputError("fromBlock", `${range.fromBlock} is above the chain head ${head}: wrong chain?`);
      if (toBlock > head) throw new InvalidInputError("toBlock", `${toBlock} is above the chain head ${head}`);
      const windows = Math.ceil((toBlock - range.fromBlock + 1) / range.maxBlockRange);
      if (windows > range.maxBlockWindows) {
        throw new ScanLimitError(
          "maxBlockWindows",
          `blocks ${range.fromBlock}..${toBlock} need ${windows} eth_getLogs calls of ${range.maxBlockRange} blocks, ` +
            `more than ${range.maxBlockWindows}: pass fromBlock (the registry's deployment block, ` +
            "deployment.deployedAt.block), or raise maxBlockRange or maxBlockWindows if the node allows",
        );
      }
      const events: ConsentEvent[] = [];
      for (let from = range.fromBlock; from <= toBlock; from += range.maxBlockRange) {
        throwIfAborted(range.signal, operation);
        const to = Math.min(toBlock, from + range.maxBlockRange - 1);
        const logs = await untilAborted(
          this.ask(
            this.provider.getLogs({
              address: this.address,
              topics: topics === undefined ? [[...CONSENT_STATE_TOPICS]] : [[...CONSENT_STATE_TOPICS], topics],
              fromBlock: from,
              toBlock: to,
            }),
            operation,
          ),
          range.signal,
          operation,
        );
        for (const log of logs) {
          // The node's filter is trusted for nothing: another contract's, another patient's or another window's
          // log is dropped (forged logs outside the window asked could otherwise stretch a scan).
          const inWindow = log.blockNumber >= from && log.blockNumber <= to;
          const event = inWindow && getAddress(log.address) === this.address ? parseConsentLog(log) : undefined;
          if (event === undefined) continue;
          if (topics === undefined || topics.includes(zeroPadValue(event.patient, 32).toLowerCase()))
            events.push(event);
        }
      }
      throwIfAborted(range.signal, operation);
      return events.sort(
        (a, b) => a.position.blockNumber - b.position.blockNumber || a.position.logIndex - b.position.logIndex,
      );
    } catch (error) {
      throw toChainError(error, this.contract.interface, operation, this.address);
    }
  }

  /** The grantee's current emergency registration (maxDurationSeconds 0: not registered) and the pair's epoch. */
  async emergencyGranteeOf(patient: string, grantee: string, blockTag?: BlockTag): Promise<EmergencyRegistration> {
    const [maxDuration, windowEnd, scopesRoot, epoch] = await this.read<[bigint, bigint, string, bigint]>(
      "emergencyGranteeOf",
      [requireAddress(patient, "patient"), requireAddress(grantee, "grantee")],
      blockTag,
    );
    return {
      maxDurationSeconds: Number(maxDuration),
      windowEnd,
      scopesRoot: scopesRoot.toLowerCase(),
      epoch: Number(epoch),
    };
  }

  /** The EIP-712 domain of this deployment (chain id from the provider, asked bounded, remembered once known). */
  async domain(): Promise<ConsentDomain> {
    try {
      return consentDomain(await this.chainId(), this.address);
    } catch (error) {
      throw toChainError(error, this.contract.interface, "ConsentRegistry.domain", this.address);
    }
  }

  /**
   * The typed data `patient` signs to grant, with `version` read from the chain now. If anything
   * writes the slot before the relay, the contract refuses the signature (StaleVersion). Pass the
   * result to signGrant as `signGrant(wallet, domain, { ...message, patient })`: it refuses a
   * wallet that is not the patient's.
   */
  async nextGrantTypedData(params: GrantParams & { patient: string; deadline: bigint | number }): Promise<{
    patient: string;
    domain: ConsentDomain;
    message: GrantMessage;
    typedData: GrantTypedData;
  }> {
    const patient = requireNonZeroAddress(params.patient, "patient");
    const expiry = requireFutureTime(params.expiry, 64, "expiry", this.bounds);
    const deadline = requireFutureTime(params.deadline, 256, "deadline", this.bounds);
    const checked = toGrantMessage({ ...params, expiry, deadline, version: 0 });
    const { version } = await this.consentOf({ ...params, patient });
    const domain = await this.domain();
    const message = { ...checked, version };
    return { patient, domain, message, typedData: buildGrantTypedData(domain, message) };
  }

  async nextRevokeTypedData(params: RevokeParams & { patient: string; deadline: bigint | number }): Promise<{
    patient: string;
    domain: ConsentDomain;
    message: RevokeMessage;
    typedData: RevokeTypedData;
  }> {
    const patient = requireNonZeroAddress(params.patient, "patient");
    const deadline = requireFutureTime(params.deadline, 256, "deadline", this.bounds);
    const checked = toRevokeMessage({ ...params, deadline, version: 0 });
    const { version } = await this.consentOf({ ...params, patient });
    const domain = await this.domain();
    const message = { ...checked, version };
    return { patient, domain, message, typedData: buildRevokeTypedData(domain, message) };
  }

  /**
   * The ConsentBatch `patient` signs ONCE for several grants and revokes, with every item's version read from the
   * chain now. Items apply in the contract's order (the grants, then the revokes), and a slot the batch writes more
   * than once carries the version it will have when that item applies (one more per earlier item on the slot). If
   * anything writes one of the slots before the relay, the contract refuses the whole batch (StaleVersion). Sign with
   * signConsentBatch(wallet, domain, { ...message, patient }); relay with consentBatchBySig.
   */
  async nextConsentBatchTypedData(params: {
    patient: string;
    grants?: readonly GrantParams[];
    revokes?: readonly RevokeParams[];
    deadline: bigint | number;
  }): Promise<{
    patient: string;
    domain: ConsentDomain;
    message: ConsentBatchMessage;
    typedData: ConsentBatchTypedData;
  }> {
    if (typeof params !== "object" || params === null)
      throw new InvalidInputError("params", "expected { patient, grants, revokes, deadline }");
    const patient = requireNonZeroAddress(params.patient, "patient");
    const deadline = requireFutureTime(params.deadline, 256, "deadline", this.bounds);
    const grants = (params.grants ?? []).map((g, index) => {
      try {
        return { ...this.checkGrant(g), version: 0 };
      } catch (error) {
        throw error instanceof InvalidInputError ? error.within(`grants[${index}]`) : error;
      }
    });
    // Validates the revokes and that the batch is not empty, before the chain is read.
    const checked = toConsentBatchMessage({
      grants,
      revokes: (params.revokes ?? []).map((x) => ({ ...x, version: 0 })),
      deadline,
    });
    const items = [...checked.grants, ...checked.revokes];
    const read = new Map<string, Promise<ConsentSlot>>();
    const slotOf = (item: { grantee: string; scope: string; purpose: Purpose }) => {
      const key = `${item.grantee}:${item.scope}:${item.purpose}`;
      let slot = read.get(key);
      if (slot === undefined) {
        slot = this.consentOf({ patient, grantee: item.grantee, scope: item.scope, purpose: item.purpose });
        read.set(key, slot);
      }
      return { key, slot };
    };
    const slots = items.map(slotOf);
    const current = await Promise.all(slots.map((s) => s.slot));
    const writes = new Map<string, number>();
    const versions = slots.map(({ key }, index) => {
      const earlier = writes.get(key) ?? 0;
      writes.set(key, earlier + 1);
      return current[index]!.version + earlier;
    });
    const domain = await this.domain();
    const n = checked.grants.length;
    const message: ConsentBatchMessage = {
      grants: checked.grants.map((g, index) => ({ ...g, version: versions[index]! })),
      revokes: checked.revokes.map((x, index) => ({ ...x, version: versions[n + index]! })),
      deadline,
    };
    return { patient, domain, message, typedData: buildConsentBatchTypedData(domain, message) };
  }

  /**
   * The typed data `patient` signs to register `grantee` (maxDurationSeconds > 0 and its scopes) or
   * to remove it (maxDurationSeconds 0, no scopes), for the pair's epoch read from the chain now
   * (plus `skipEpochs`). Sign with signEmergencyGrantee(wallet, domain, { ...message, patient });
   * relay with setEmergencyGranteeBySig. `scopes` is the deduplicated, sorted id list of the
   * registration (empty for a removal): what the grantee needs to break the glass.
   *
   * `skipEpochs` (0 .. MAX_SKIP_EPOCHS, default 0): messages you signed for this grantee before and
   * that may be held unrelayed: a removal signed with skipEpochs: k cannot be made stale by k of
   * them. (The message carries current + k. Relaying a message for epoch e moves the pair to e + 1;
   * one signed earlier without skipEpochs carries an epoch no later than the current one, so it moves
   * the pair by one at most.) A registration's deadline lies within maxExpiryAheadSeconds; a
   * removal's only must not be in the past.
   */
  async nextEmergencyGranteeTypedData(params: {
    patient: string;
    grantee: string;
    maxDurationSeconds: number;
    scopes?: readonly string[];
    deadline: bigint | number;
    skipEpochs?: number;
  }): Promise<{
    patient: string;
    domain: ConsentDomain;
    message: EmergencyGranteeMessage;
    typedData: EmergencyGranteeTypedData;
    scopes: readonly string[];
  }> {
    if (typeof params !== "object" || params === null)
      throw new InvalidInputError("params", "expected { patient, grantee, maxDurationSeconds, scopes, deadline }");
    const patient = requireNonZeroAddress(params.patient, "patient");
    const maxDuration = requireEmergencyDuration(params.maxDurationSeconds, "maxDurationSeconds", true);
    let tree: EmergencyScopes | undefined;
    if (maxDuration > 0) {
      tree = checkRegistration({ maxDurationSeconds: maxDuration, scopes: params.scopes ?? [] }).scopes;
    } else if (params.scopes !== undefined && (!Array.isArray(params.scopes) || params.scopes.length > 0)) {
      throw new InvalidInputError("scopes", "a removal (maxDurationSeconds 0) names no scopes");
    }
    const deadline = this.checkEmergencyDeadline(maxDuration, params.deadline);
    const skip = params.skipEpochs ?? 0;
    if (typeof skip !== "number" || !Number.isSafeInteger(skip) || skip < 0 || skip > MAX_SKIP_EPOCHS) {
      throw new InvalidInputError(
        "skipEpochs",
        `expected a whole number from 0 to ${MAX_SKIP_EPOCHS} (how many earlier messages for this grantee may be held unrelayed), got ${describe(skip as unknown)}`,
      );
    }
    const checked = toEmergencyGranteeMessage({
      grantee: params.grantee,
      maxDuration,
      scopesRoot: tree?.root ?? ZERO_SCOPES_ROOT,
      epoch: 0,
      deadline,
    });
    const { epoch: current } = await this.emergencyGranteeOf(patient, checked.grantee);
    if (current + skip > MAX_EMERGENCY_EPOCH) {
      throw new InvalidInputError(
        "skipEpochs",
        `the pair is at epoch ${current}: ${current} + ${skip} passes ${MAX_EMERGENCY_EPOCH}, the last epoch a message can carry`,
      );
    }
    const domain = await this.domain();
    const message = { ...checked, epoch: current + skip };
    return {
      patient,
      domain,
      message,
      typedData: buildEmergencyGranteeTypedData(domain, message),
      scopes: tree?.scopeIds ?? [],
    };
  }

  /**
   * A registration's deadline: future and within maxExpiryAheadSeconds. A removal's: not in the past
   * (the contract's only rule); never refused for lying far ahead, so the way out always relays.
   */
  private checkEmergencyDeadline(maxDuration: number, deadline: unknown): bigint {
    return maxDuration > 0
      ? requireFutureTime(deadline, 256, "deadline", this.bounds)
      : requireNotPast(deadline, 256, "deadline", this.bounds);
  }

  private checkGrant(params: GrantParams): {
    grantee: string;
    scope: string;
    purpose: GrantablePurpose;
    expiry: bigint;
  } {
    return {
      grantee: requireNonZeroAddress(params.grantee, "grantee"),
      scope: toScopeId(params.scope),
      purpose: parseGrantablePurpose(params.purpose),
      expiry: requireFutureTime(params.expiry, 64, "expiry", this.bounds),
    };
  }
}

function checkKey(key: ConsentKeyInput): { patient: string; grantee: string; scope: string; purpose: Purpose } {
  return {
    patient: requireAddress(key.patient, "patient"),
    grantee: requireAddress(key.grantee, "grantee"),
    scope: toScopeId(key.scope),
    purpose: parsePurpose(key.purpose),
  };
}

/** The patient topic(s) of consentEventsOf: one address or a list of 1..MAX_CONSENT_EVENT_PATIENTS, deduplicated. */
function patientTopics(patient: unknown): string[] {
  const list: unknown[] = Array.isArray(patient) ? patient : [patient];
  if (list.length === 0 || list.length > MAX_CONSENT_EVENT_PATIENTS) {
    throw new InvalidInputError(
      "patient",
      `expected a consent address or a list of 1 to ${MAX_CONSENT_EVENT_PATIENTS}, got ${list.length}`,
    );
  }
  const field = (index: number) => (Array.isArray(patient) ? `patient[${index}]` : "patient");
  const addresses = list.map((address, index) => requireAddress(address, field(index)));
  return [...new Set(addresses.map((address) => zeroPadValue(address, 32).toLowerCase()))];
}

/** consentEventsOf's options, checked (findConsentAccounts checks its own with it, before asking the node). */
export function checkEventRange(options: ConsentEventsOptions): {
  fromBlock: number;
  toBlock?: number;
  maxBlockRange: number;
  maxBlockWindows: number;
  signal: AbortSignal | undefined;
} {
  if (typeof options !== "object" || options === null || options.fromBlock === undefined) {
    throw new InvalidInputError(
      "fromBlock",
      "name the first block to read: the registry's deployment block (deployment.deployedAt.block), or 0",
    );
  }
  const fromBlock = requireSmallUint(options.fromBlock, 48, "fromBlock");
  const maxBlockRange = requireSmallUint(
    options.maxBlockRange ?? DEFAULT_CONSENT_EVENT_BLOCK_RANGE,
    32,
    "maxBlockRange",
  );
  if (maxBlockRange === 0) throw new InvalidInputError("maxBlockRange", "must be at least 1");
  const maxBlockWindows = requireSmallUint(options.maxBlockWindows ?? DEFAULT_MAX_BLOCK_WINDOWS, 32, "maxBlockWindows");
  if (maxBlockWindows === 0) throw new InvalidInputError("maxBlockWindows", "must be at least 1");
  const signal = requireSignal(options.signal, "signal");
  if (options.toBlock === undefined) return { fromBlock, maxBlockRange, maxBlockWindows, signal };
  const toBlock = requireSmallUint(options.toBlock, 48, "toBlock");
  if (toBlock < fromBlock) throw new InvalidInputError("toBlock", `${toBlock} is below fromBlock ${fromBlock}`);
  return { fromBlock, toBlock, maxBlockRange, maxBlockWindows, signal };
}

function checkRegistration(registration: EmergencyRegistrationParams): {
  maxDuration: number;
  scopes: EmergencyScopes;
} {
  if (typeof registration !== "object" || registration === null) {
    throw new InvalidInputError(
      "registration",
      `expected { maxDurationSeconds, scopes }, got ${describe(registration as unknown)}; to remove a grantee use removeEmergencyGrantee`,
    );
  }
  return {
    maxDuration: requireEmergencyDuration(registration.maxDurationSeconds, "maxDurationSeconds", false),
    scopes: emergencyScopes(registration.scopes),
  };
}

function checkProof(proof: unknown): string[] {
  if (!Array.isArray(proof)) throw new InvalidInputError("proof", `expected a list of bytes32, got ${describe(proof)}`);
  if (proof.length > MAX_PROOF_LENGTH)
    throw new InvalidInputError("proof", `at most ${MAX_PROOF_LENGTH} hashes, got ${proof.length}`);
  return proof.map((node, index) => requireBytes32(node, `proof[${index}]`));
}

function checkSignatureParts(parts: { v: unknown; r: unknown; s: unknown }): { v: number; r: string; s: string } {
  const v = requireSmallUint(parts.v, 8, "v");
  if (v !== 27 && v !== 28) throw new InvalidInputError("v", `expected 27 or 28, got ${v}`);
  const hex32 = /^0x[0-9a-fA-F]{64}$/;
  if (typeof parts.r !== "string" || !hex32.test(parts.r)) throw new InvalidInputError("r", "expected 32-byte hex");
  if (typeof parts.s !== "string" || !hex32.test(parts.s)) throw new InvalidInputError("s", "expected 32-byte hex");
  return { v, r: parts.r, s: parts.s };
}
