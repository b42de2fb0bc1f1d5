/** Typed client of the ConsentRegistry contract. */
import type { ContractRunner, Log } from "ethers";
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
import { InvalidInputError, requireAddress, requireNonZeroAddress, requireSmallUint, requireUint } from "../errors.ts";
import { ConsentRegistryAbi } from "../generated/ConsentRegistry.ts";
import { parseGrantablePurpose, parsePurpose, type GrantablePurpose, type Purpose } from "../purposes.ts";
import { toScopeId } from "../scopes.ts";
import { ContractClient, type BlockTag, type TxOptions, type TxOutcome } from "./base.ts";
import { parseConsentLog, type ConsentEvent } from "./consent-events.ts";

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
  /** Unix seconds; must be in the future when mined. */
  expiry: bigint | number;
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
  private domainPromise: Promise<ConsentDomain> | undefined;

  /** `runner`: a Signer to send transactions, or a Provider for reads only. */
  constructor(address: string, runner: ContractRunner) {
    super("ConsentRegistry", address, ConsentRegistryAbi, runner);
  }

  connect(runner: ContractRunner): ConsentRegistryClient {
    return new ConsentRegistryClient(this.address, runner);
  }

  protected parseEvent(log: Log): ConsentEvent | undefined {
    return parseConsentLog(log);
  }

  // --- patient operations (msg.sender is the patient) ------------------------------------------

  grant(params: GrantParams, options?: TxOptions): Promise<ConsentTx> {
    const g = checkGrant(params);
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
        return checkGrant(item);
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
      throw new InvalidInputError(
        "maxDurationSeconds",
        `at most ${MAX_EMERGENCY_DURATION_SECONDS} (7 days), got ${duration}`,
      );
    }
    return this.write("setEmergencyGrantee", [requireNonZeroAddress(grantee, "grantee"), duration], options);
  }

  // --- relayed (signed) operations: msg.sender is anyone, the signer is the patient -------------

  grantBySig(signed: SignedGrant, options?: TxOptions): Promise<ConsentTx> {
    const m = toGrantMessage(signed);
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

  async emergencyGranteeOf(patient: string, grantee: string, blockTag?: BlockTag): Promise<number> {
    const duration = await this.read<bigint>(
      "emergencyGranteeOf",
      [requireAddress(patient, "patient"), requireAddress(grantee, "grantee")],
      blockTag,
    );
    return Number(duration);
  }

  /** The EIP-712 domain of this deployment (chain id from the provider). */
  domain(): Promise<ConsentDomain> {
    this.domainPromise ??= this.provider.getNetwork().then(({ chainId }) => consentDomain(chainId, this.address));
    this.domainPromise.catch(() => (this.domainPromise = undefined));
    return this.domainPromise;
  }

  /**
   * The typed data a patient signs to grant, with `version` read from the chain now. If anything
   * writes the slot before the relay, the contract refuses the signature (StaleVersion).
   */
  async nextGrantTypedData(params: GrantParams & { patient: string; deadline: bigint | number }): Promise<{
    domain: ConsentDomain;
    message: GrantMessage;
    typedData: GrantTypedData;
  }> {
    const { version } = await this.consentOf({ ...params });
    const domain = await this.domain();
    const message = toGrantMessage({ ...params, version });
    return { domain, message, typedData: buildGrantTypedData(domain, message) };
  }

  async nextRevokeTypedData(params: RevokeParams & { patient: string; deadline: bigint | number }): Promise<{
    domain: ConsentDomain;
    message: RevokeMessage;
    typedData: RevokeTypedData;
  }> {
    const { version } = await this.consentOf({ ...params });
    const domain = await this.domain();
    const message = toRevokeMessage({ ...params, version });
    return { domain, message, typedData: buildRevokeTypedData(domain, message) };
  }
}

function checkGrant(params: GrantParams): {
  grantee: string;
  scope: string;
  purpose: GrantablePurpose;
  expiry: bigint;
} {
  return {
    grantee: requireNonZeroAddress(params.grantee, "grantee"),
    scope: toScopeId(params.scope),
    purpose: parseGrantablePurpose(params.purpose),
    expiry: requireUint(params.expiry, 64, "expiry"),
  };
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
