/** Typed client of the ConsentRegistry contract. */
import type { Log } from "ethers";
import {
  buildGrantTypedData,
  buildRevokeTypedData,
  consentDomain,
  toGrantMessage,
  toRevokeMessage,
  type ConsentDomain,
  type GrantMessage,
  type GrantTypedData,
  type RevokeMessage,
  type RevokeTypedData,
  type SignedGrant,
  type SignedRevoke,
} from "../eip712.ts";
import { InvalidInputError, requireAddress, requireNonZeroAddress, requireSmallUint } from "../errors.ts";
import { toChainError } from "./chain-errors.ts";
import { ConsentRegistryAbi } from "../generated/ConsentRegistry.ts";
import { parseGrantablePurpose, parsePurpose, type GrantablePurpose, type Purpose } from "../purposes.ts";
import { checkRecordQuery, recordAccessFrom, type RecordAccess, type RecordAccessQuery } from "../record-access.ts";
import { toScopeId } from "../scopes.ts";
import {
  ContractClient,
  requireBlockTag,
  type BlockTag,
  type ClientOptions,
  type ClientRunner,
  type TxOptions,
  type TxOutcome,
} from "./base.ts";
import * as node from "./node-reads.ts";
import { parseConsentLog, type ConsentEvent } from "./consent-events.ts";
import { requireFutureTime, timeBounds, type TimeBounds } from "./time-bounds.ts";

/** Identifies one consent slot. `scope` is a canonical scope string or a bytes32 id. */
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
  /** Bumped by every grant, revoke and break-glass; 0 = never written. */
  readonly version: number;
}

export type ConsentTx = TxOutcome<ConsentEvent>;

/** Break-glass windows are capped by the contract at 7 days. */
export const MAX_EMERGENCY_DURATION_SECONDS = 7 * 24 * 60 * 60;

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

  /** The patient may remove (maxDurationSeconds = 0) or register a break-glass grantee. */
  setEmergencyGrantee(grantee: string, maxDurationSeconds: number, options?: TxOptions): Promise<ConsentTx> {
    const duration = requireSmallUint(maxDurationSeconds, 32, "maxDurationSeconds");
    if (duration > MAX_EMERGENCY_DURATION_SECONDS) {
      const hint =
        duration % 1000 === 0 && duration / 1000 <= MAX_EMERGENCY_DURATION_SECONDS
          ? `; ${duration} looks like milliseconds: divide by 1000`
          : "";
      throw new InvalidInputError(
        "maxDurationSeconds",
        `at most ${MAX_EMERGENCY_DURATION_SECONDS} seconds (7 days), got ${duration}${hint}`,
      );
    }
    return this.write("setEmergencyGrantee", [requireNonZeroAddress(grantee, "grantee"), duration], options);
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

  revokeBySig(signed: SignedRevoke, options?: TxOptions): Promise<ConsentTx> {
    const m = toRevokeMessage(signed);
    requireFutureTime(m.deadline, 256, "deadline", this.bounds);
    const { v, r, s } = checkSignatureParts(signed);
    const patient = requireNonZeroAddress(signed.patient, "patient");
    return this.write("revokeBySig", [patient, m.grantee, m.scope, m.purpose, m.version, m.deadline, v, r, s], options);
  }

  // --- break-glass: msg.sender is the pre-registered grantee ----------------------------------

  breakGlass(patient: string, scope: string, options?: TxOptions): Promise<ConsentTx> {
    return this.write("breakGlass", [requireNonZeroAddress(patient, "patient"), toScopeId(scope)], options);
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
   * Whether `grantee` may read `record` for `purpose`: consent for any one of the record's scopes
   * (record, FHIR type, categories) allows it. All scopes are read at the same block (`blockTag`
   * resolved to a number first); the answer names the scope that allowed the access.
   */
  async checkRecordAccess(query: RecordAccessQuery, blockTag: BlockTag = "latest"): Promise<RecordAccess> {
    const q = checkRecordQuery(query);
    const operation = "ConsentRegistry.checkRecordAccess";
    let at = requireBlockTag(blockTag);
    if (typeof at === "string" && at !== "pending") {
      const number = await this.ask(node.blockNumberOf(this.provider, at), operation).catch((error: unknown) => {
        throw toChainError(error, this.contract.interface, operation, this.address);
      });
      if (number === null) throw new InvalidInputError("blockTag", `the node has no ${at} block`);
      at = number;
    }
    const answers = await Promise.all(
      q.scopes.map((scope) => this.read<boolean>("isAllowed", [q.patient, q.grantee, toScopeId(scope), q.purpose], at)),
    );
    return recordAccessFrom(q.scopes, answers);
  }

  async emergencyGranteeOf(patient: string, grantee: string, blockTag?: BlockTag): Promise<number> {
    const duration = await this.read<bigint>(
      "emergencyGranteeOf",
      [requireAddress(patient, "patient"), requireAddress(grantee, "grantee")],
      blockTag,
    );
    return Number(duration);
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

function checkSignatureParts(parts: { v: unknown; r: unknown; s: unknown }): { v: number; r: string; s: string } {
  const v = requireSmallUint(parts.v, 8, "v");
  if (v !== 27 && v !== 28) throw new InvalidInputError("v", `expected 27 or 28, got ${v}`);
  const hex32 = /^0x[0-9a-fA-F]{64}$/;
  if (typeof parts.r !== "string" || !hex32.test(parts.r)) throw new InvalidInputError("r", "expected 32-byte hex");
  if (typeof parts.s !== "string" || !hex32.test(parts.s)) throw new InvalidInputError("s", "expected 32-byte hex");
  return { v, r: parts.r, s: parts.s };
}
