/**
 * EIP-712 consent messages: the patient signs Grant / Revoke, anyone relays them to the
 * ConsentRegistry (grantBySig / revokeBySig), so a patient needs no ETH.
 *
 * Wallets show the payload field by field, so the names below are what a patient reads:
 *   grantee   who receives access (a clinic, researcher, ... address)
 *   scope     the patient's keyed scope id (PatientScopes.id); the wallet UI should show the
 *             scope itself next to it (PatientScopes.label), since the id means nothing to a person
 *   purpose   1 Treatment, 2 Research, 4 Payment, 5 PublicHealth (3 Emergency is break-glass only)
 *   expiry    unix seconds after which the grant no longer allows access
 *   version   the consent slot's current version; a signature is valid for one version only,
 *             so it cannot be replayed after any later grant or revoke
 *   deadline  unix seconds after which the signature can no longer be submitted
 *
 * ConsentBatch (consentBatchBySig): ONE signature over several grants and revokes of the patient:
 *   grants    GrantItem[]: grantee, scope, purpose, expiry, version, as in Grant (no deadline of their own)
 *   revokes   RevokeItem[]: grantee, scope, purpose, version, as in Revoke
 *   deadline  as above, for the whole batch
 * The contract applies the grants in order, then the revokes in order; each item's version is the slot's
 * version when that item applies (a slot named twice carries version + 1 the second time:
 * nextConsentBatchTypedData counts that in). The first bad item reverts the whole batch; a signature binds
 * every item, their order and both lists. Either list may be empty, not both.
 *
 * EmergencyGrantee (setEmergencyGranteeBySig) registers a break-glass grantee or removes it:
 *   grantee      who may break the glass
 *   maxDuration  seconds of the registration's single window (0 = remove the grantee)
 *   scopesRoot   Merkle root of the scopes it may open (emergency-scopes.ts; 0x00…00 for a removal)
 *   epoch        the pair's epoch (emergencyGranteeOf(patient, grantee).epoch) or above: valid while
 *                epoch >= the pair's current epoch; relaying it moves the pair to epoch + 1. Every
 *                change of the pair's registration (direct, relayed, a purpose-3 revoke) moves the
 *                epoch, so a message signed before it is dead; only the patient can move it, so no
 *                grantee can make a removal stale
 *   deadline     as above
 *
 * Chain ids stay exact: a bigint in ConsentDomain, a decimal string in the JSON payload (a chain id
 * above 2^53 would be rounded by a JS number, and the wallet asked to sign for another chain).
 */
import { Signature, TypedDataEncoder, getAddress, recoverAddress, type Signer, type TypedDataField } from "ethers";
import {
  InvalidInputError,
  SignatureError,
  WrongSignerError,
  describe,
  requireAddress,
  requireBytes32,
  requireNonZeroAddress,
  requireUint,
  requireSmallUint,
} from "./errors.ts";
import { ZERO_SCOPES_ROOT, requireEmergencyDuration } from "./emergency.ts";
import { parseGrantablePurpose, parsePurpose, type GrantablePurpose, type Purpose } from "./purposes.ts";
import { toScopeId } from "./scopes.ts";
import { describeSigner, isConsentSigner } from "./signer-check.ts";

export const CONSENT_DOMAIN_NAME = "Hygeia ConsentRegistry";
export const CONSENT_DOMAIN_VERSION = "1";

export interface ConsentDomain {
  readonly name: typeof CONSENT_DOMAIN_NAME;
  readonly version: typeof CONSENT_DOMAIN_VERSION;
  /** Exact (uint64 range); never a JS number, which rounds above 2^53. */
  readonly chainId: bigint;
  readonly verifyingContract: string;
}

/** The domain as the eth_signTypedData_v4 JSON carries it: the chain id as a decimal string. */
export interface ConsentDomainJson {
  readonly name: typeof CONSENT_DOMAIN_NAME;
  readonly version: typeof CONSENT_DOMAIN_VERSION;
  readonly chainId: string;
  readonly verifyingContract: string;
}

/** A ConsentDomain, or its JSON form (chain id as a number or decimal string), e.g. read back from a payload. */
export type ConsentDomainInput = Omit<ConsentDomain, "chainId"> & { readonly chainId: bigint | number | string };

export const EIP712_DOMAIN_TYPE = [
  { name: "name", type: "string" },
  { name: "version", type: "string" },
  { name: "chainId", type: "uint256" },
  { name: "verifyingContract", type: "address" },
] as const;

export const GRANT_TYPES = {
  Grant: [
    { name: "grantee", type: "address" },
    { name: "scope", type: "bytes32" },
    { name: "purpose", type: "uint8" },
    { name: "expiry", type: "uint64" },
    { name: "version", type: "uint32" },
    { name: "deadline", type: "uint256" },
  ],
} as const;

export const REVOKE_TYPES = {
  Revoke: [
    { name: "grantee", type: "address" },
    { name: "scope", type: "bytes32" },
    { name: "purpose", type: "uint8" },
    { name: "version", type: "uint32" },
    { name: "deadline", type: "uint256" },
  ],
} as const;

export const EMERGENCY_GRANTEE_TYPES = {
  EmergencyGrantee: [
    { name: "grantee", type: "address" },
    { name: "maxDuration", type: "uint32" },
    { name: "scopesRoot", type: "bytes32" },
    { name: "epoch", type: "uint32" },
    { name: "deadline", type: "uint256" },
  ],
} as const;

/**
 * The ConsentBatch types. Wallets and ethers sort the referenced types (GrantItem, RevokeItem) after the primary
 * one, as EIP-712 requires: the contract hashes
 * `ConsentBatch(GrantItem[] grants,RevokeItem[] revokes,uint256 deadline)GrantItem(...)RevokeItem(...)`.
 */
export const CONSENT_BATCH_TYPES = {
  ConsentBatch: [
    { name: "grants", type: "GrantItem[]" },
    { name: "revokes", type: "RevokeItem[]" },
    { name: "deadline", type: "uint256" },
  ],
  GrantItem: [
    { name: "grantee", type: "address" },
    { name: "scope", type: "bytes32" },
    { name: "purpose", type: "uint8" },
    { name: "expiry", type: "uint64" },
    { name: "version", type: "uint32" },
  ],
  RevokeItem: [
    { name: "grantee", type: "address" },
    { name: "scope", type: "bytes32" },
    { name: "purpose", type: "uint8" },
    { name: "version", type: "uint32" },
  ],
} as const;

/** A validated Grant message, in the types the contract takes. */
export interface GrantMessage {
  readonly grantee: string;
  /** bytes32 scope id. */
  readonly scope: string;
  readonly purpose: GrantablePurpose;
  readonly expiry: bigint;
  readonly version: number;
  readonly deadline: bigint;
}

export interface RevokeMessage {
  readonly grantee: string;
  readonly scope: string;
  /** Any purpose, Emergency included: a patient may close a break-glass window early. */
  readonly purpose: Purpose;
  readonly version: number;
  readonly deadline: bigint;
}

/** One grant of a ConsentBatch: a Grant without a deadline of its own. */
export type GrantItemMessage = Omit<GrantMessage, "deadline">;
/** One revoke of a ConsentBatch: a Revoke without a deadline of its own. */
export type RevokeItemMessage = Omit<RevokeMessage, "deadline">;

/** A validated ConsentBatch: at least one item in all, each as the contract checks it. */
export interface ConsentBatchMessage {
  readonly grants: readonly GrantItemMessage[];
  readonly revokes: readonly RevokeItemMessage[];
  readonly deadline: bigint;
}

/**
 * A validated EmergencyGrantee message: a registration (maxDuration 1..7 days, a non-zero
 * scopesRoot) or a removal (maxDuration 0, scopesRoot zero), as the contract requires.
 */
export interface EmergencyGranteeMessage {
  readonly grantee: string;
  /** Seconds, at most 7 days; 0 removes the grantee. */
  readonly maxDuration: number;
  /** Merkle root of the scopes (emergencyScopesRoot); the zero bytes32 for a removal. */
  readonly scopesRoot: string;
  /** uint32: at least the pair's current epoch (emergencyGranteeOf(...).epoch); relaying moves it to epoch + 1. */
  readonly epoch: number;
  readonly deadline: bigint;
}

/** Loosely typed input: scope as a bytes32 scope id (PatientScopes.id), purpose as number or name, uints as number/bigint/decimal string. */
export interface GrantInput {
  grantee: string;
  scope: string;
  purpose: GrantablePurpose | Purpose | string;
  expiry: bigint | number | string;
  version: number | bigint | string;
  deadline: bigint | number | string;
}

export interface RevokeInput {
  grantee: string;
  scope: string;
  purpose: Purpose | string;
  version: number | bigint | string;
  deadline: bigint | number | string;
}

export type GrantItemInput = Omit<GrantInput, "deadline">;
export type RevokeItemInput = Omit<RevokeInput, "deadline">;

/** Loosely typed ConsentBatch input; an absent list is empty. */
export interface ConsentBatchInput {
  grants?: readonly (GrantItemInput | GrantItemMessage)[];
  revokes?: readonly (RevokeItemInput | RevokeItemMessage)[];
  deadline: bigint | number | string;
}

export interface EmergencyGranteeInput {
  grantee: string;
  maxDuration: number | bigint | string;
  scopesRoot: string;
  epoch: number | bigint | string;
  deadline: bigint | number | string;
}

type PrimaryType = "Grant" | "Revoke" | "EmergencyGrantee";

/**
 * The JSON payload of eth_signTypedData_v4. Integers that may exceed 2^53 (the chain id, uint64 and
 * uint256 fields) are decimal strings.
 */
export interface TypedDataPayload<P extends PrimaryType> {
  readonly types: { readonly EIP712Domain: typeof EIP712_DOMAIN_TYPE } & (P extends "Grant"
    ? typeof GRANT_TYPES
    : P extends "Revoke"
      ? typeof REVOKE_TYPES
      : typeof EMERGENCY_GRANTEE_TYPES);
  readonly primaryType: P;
  readonly domain: ConsentDomainJson;
  readonly message: P extends "Grant"
    ? { grantee: string; scope: string; purpose: number; expiry: string; version: number; deadline: string }
    : P extends "Revoke"
      ? { grantee: string; scope: string; purpose: number; version: number; deadline: string }
      : { grantee: string; maxDuration: number; scopesRoot: string; epoch: number; deadline: string };
}
export type GrantTypedData = TypedDataPayload<"Grant">;

/** The eth_signTypedData_v4 payload of a ConsentBatch (uint64 / uint256 fields as decimal strings). */
export interface ConsentBatchTypedData {
  readonly types: { readonly EIP712Domain: typeof EIP712_DOMAIN_TYPE } & typeof CONSENT_BATCH_TYPES;
  readonly primaryType: "ConsentBatch";
  readonly domain: ConsentDomainJson;
  readonly message: {
    grants: { grantee: string; scope: string; purpose: number; expiry: string; version: number }[];
    revokes: { grantee: string; scope: string; purpose: number; version: number }[];
    deadline: string;
  };
}
export type RevokeTypedData = TypedDataPayload<"Revoke">;
export type EmergencyGranteeTypedData = TypedDataPayload<"EmergencyGrantee">;

export interface SignatureParts {
  readonly v: 27 | 28;
  readonly r: string;
  readonly s: string;
}

/** Everything grantBySig needs. */
export interface SignedGrant extends GrantMessage, SignatureParts {
  /** The signer, i.e. the patient. */
  readonly patient: string;
  /** 65-byte r‖s‖v hex. */
  readonly signature: string;
}

export interface SignedRevoke extends RevokeMessage, SignatureParts {
  readonly patient: string;
  readonly signature: string;
}

/** Everything consentBatchBySig needs. */
export interface SignedConsentBatch extends ConsentBatchMessage, SignatureParts {
  readonly patient: string;
  readonly signature: string;
}

/** Everything setEmergencyGranteeBySig needs. */
export interface SignedEmergencyGrantee extends EmergencyGranteeMessage, SignatureParts {
  readonly patient: string;
  readonly signature: string;
}

/** Minimal EIP-1193 provider (a browser wallet's window.ethereum, WalletConnect, ...). */
export interface Eip1193Provider {
  request(args: { method: string; params?: readonly unknown[] }): Promise<unknown>;
}

/** Sign with an ethers Signer, or through an EIP-1193 provider on behalf of `account`. */
export type ConsentSigner = Signer | { readonly eip1193: Eip1193Provider; readonly account: string };

/**
 * The registry's EIP-712 domain. `chainId`: a bigint (as ethers' getNetwork() gives it), a safe-integer
 * number or a decimal string; kept as an exact bigint (1..2^64-1).
 */
export function consentDomain(chainId: number | bigint | string, verifyingContract: string): ConsentDomain {
  const id = requireUint(chainId, 64, "chainId");
  if (id === 0n) throw new InvalidInputError("chainId", "must not be 0");
  return {
    name: CONSENT_DOMAIN_NAME,
    version: CONSENT_DOMAIN_VERSION,
    chainId: id,
    verifyingContract: requireNonZeroAddress(verifyingContract, "verifyingContract"),
  };
}

/** The domain as the JSON payload carries it (chain id as an exact decimal string). */
export function consentDomainJson(domain: ConsentDomainInput): ConsentDomainJson {
  const d = checkDomain(domain);
  return { ...d, chainId: d.chainId.toString() };
}

export function toGrantMessage(input: GrantInput): GrantMessage {
  return {
    grantee: requireNonZeroAddress(input.grantee, "grantee"),
    scope: toScopeId(input.scope),
    purpose: parseGrantablePurpose(input.purpose),
    expiry: requireUint(input.expiry, 64, "expiry"),
    version: requireSmallUint(input.version, 32, "version"),
    deadline: requireUint(input.deadline, 256, "deadline"),
  };
}

export function toRevokeMessage(input: RevokeInput): RevokeMessage {
  return {
    grantee: requireNonZeroAddress(input.grantee, "grantee"),
    scope: toScopeId(input.scope),
    purpose: parsePurpose(input.purpose),
    version: requireSmallUint(input.version, 32, "version"),
    deadline: requireUint(input.deadline, 256, "deadline"),
  };
}

/**
 * Validates a ConsentBatch: every item as toGrantMessage / toRevokeMessage would (errors name `grants[i]` /
 * `revokes[i]`), at least one item in all (the contract's EmptyBatch).
 */
export function toConsentBatchMessage(input: ConsentBatchInput): ConsentBatchMessage {
  if (typeof input !== "object" || input === null)
    throw new InvalidInputError("batch", `expected { grants, revokes, deadline }, got ${describe(input)}`);
  const deadline = requireUint(input.deadline, 256, "deadline");
  const grants = itemsOf(input.grants, "grants").map((item, index) =>
    within(`grants[${index}]`, (): GrantItemMessage => {
      const g = toGrantMessage({ ...(item as GrantItemInput), deadline: 0 });
      return { grantee: g.grantee, scope: g.scope, purpose: g.purpose, expiry: g.expiry, version: g.version };
    }),
  );
  const revokes = itemsOf(input.revokes, "revokes").map((item, index) =>
    within(`revokes[${index}]`, (): RevokeItemMessage => {
      const r = toRevokeMessage({ ...(item as RevokeItemInput), deadline: 0 });
      return { grantee: r.grantee, scope: r.scope, purpose: r.purpose, version: r.version };
    }),
  );
  if (grants.length === 0 && revokes.length === 0)
    throw new InvalidInputError("grants", "a consent batch needs at least one grant or revoke");
  return { grants, revokes, deadline };
}

function itemsOf(value: unknown, field: string): readonly unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new InvalidInputError(field, `expected a list, got ${describe(value)}`);
  return value;
}

function within<T>(prefix: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    throw error instanceof InvalidInputError ? error.within(prefix) : error;
  }
}

/**
 * Checks the contract's registration rules too (before anything is signed): maxDuration at most 7
 * days; a registration (maxDuration > 0) names a non-zero scopesRoot; a removal (0) names the zero root.
 */
export function toEmergencyGranteeMessage(input: EmergencyGranteeInput): EmergencyGranteeMessage {
  const maxDuration = requireEmergencyDuration(input.maxDuration, "maxDuration", true);
  const scopesRoot = requireBytes32(input.scopesRoot, "scopesRoot");
  if (maxDuration > 0 && scopesRoot === ZERO_SCOPES_ROOT)
    throw new InvalidInputError("scopesRoot", "a registration must name its scopes: use emergencyScopesRoot(scopes)");
  if (maxDuration === 0 && scopesRoot !== ZERO_SCOPES_ROOT) {
    throw new InvalidInputError(
      "scopesRoot",
      "a removal (maxDuration 0) names no scopes: pass ZERO_SCOPES_ROOT (the contract refuses a root)",
    );
  }
  return {
    grantee: requireNonZeroAddress(input.grantee, "grantee"),
    maxDuration,
    scopesRoot,
    epoch: requireEpoch(input),
    deadline: requireUint(input.deadline, 256, "deadline"),
  };
}

/**
 * The highest epoch a message can carry: relaying epoch e moves the pair to e + 1 (checked uint32
 * arithmetic in the contract), so 2^32 - 1 would only ever revert. (The contract also refuses an
 * epoch more than MAX_SKIP_EPOCHS above the pair's current one: EpochTooFarAhead.)
 */
export const MAX_EMERGENCY_EPOCH = 0xffff_fffe;

function requireEpoch(input: EmergencyGranteeInput): number {
  if (input.epoch === undefined && (input as { nonce?: unknown }).nonce !== undefined) {
    throw new InvalidInputError(
      "epoch",
      "EmergencyGrantee messages carry the (patient, grantee) pair's epoch now, not a nonce: use " +
        "nextEmergencyGranteeTypedData, or emergencyGranteeOf(patient, grantee).epoch",
    );
  }
  const epoch = requireSmallUint(input.epoch, 32, "epoch");
  if (epoch > MAX_EMERGENCY_EPOCH)
    throw new InvalidInputError(
      "epoch",
      `at most ${MAX_EMERGENCY_EPOCH}: the contract cannot move a pair past 2^32 - 1`,
    );
  return epoch;
}

export function buildGrantTypedData(domain: ConsentDomainInput, input: GrantInput | GrantMessage): GrantTypedData {
  const m = toGrantMessage(input);
  return {
    types: { EIP712Domain: EIP712_DOMAIN_TYPE, ...GRANT_TYPES },
    primaryType: "Grant",
    domain: consentDomainJson(domain),
    message: {
      grantee: m.grantee,
      scope: m.scope,
      purpose: m.purpose,
      expiry: m.expiry.toString(),
      version: m.version,
      deadline: m.deadline.toString(),
    },
  };
}

export function buildRevokeTypedData(domain: ConsentDomainInput, input: RevokeInput | RevokeMessage): RevokeTypedData {
  const m = toRevokeMessage(input);
  return {
    types: { EIP712Domain: EIP712_DOMAIN_TYPE, ...REVOKE_TYPES },
    primaryType: "Revoke",
    domain: consentDomainJson(domain),
    message: {
      grantee: m.grantee,
      scope: m.scope,
      purpose: m.purpose,
      version: m.version,
      deadline: m.deadline.toString(),
    },
  };
}

export function buildConsentBatchTypedData(
  domain: ConsentDomainInput,
  input: ConsentBatchInput | ConsentBatchMessage,
): ConsentBatchTypedData {
  const m = toConsentBatchMessage(input);
  return {
    types: { EIP712Domain: EIP712_DOMAIN_TYPE, ...CONSENT_BATCH_TYPES },
    primaryType: "ConsentBatch",
    domain: consentDomainJson(domain),
    message: {
      grants: m.grants.map((g) => ({
        grantee: g.grantee,
        scope: g.scope,
        purpose: g.purpose,
        expiry: g.expiry.toString(),
        version: g.version,
      })),
      revokes: m.revokes.map((r) => ({ grantee: r.grantee, scope: r.scope, purpose: r.purpose, version: r.version })),
      deadline: m.deadline.toString(),
    },
  };
}

export function buildEmergencyGranteeTypedData(
  domain: ConsentDomainInput,
  input: EmergencyGranteeInput | EmergencyGranteeMessage,
): EmergencyGranteeTypedData {
  const m = toEmergencyGranteeMessage(input);
  return {
    types: { EIP712Domain: EIP712_DOMAIN_TYPE, ...EMERGENCY_GRANTEE_TYPES },
    primaryType: "EmergencyGrantee",
    domain: consentDomainJson(domain),
    message: {
      grantee: m.grantee,
      maxDuration: m.maxDuration,
      scopesRoot: m.scopesRoot,
      epoch: m.epoch,
      deadline: m.deadline.toString(),
    },
  };
}

/** The digest the contract's _hashTypedDataV4 computes for a Grant. */
export function grantDigest(domain: ConsentDomainInput, input: GrantInput | GrantMessage): string {
  return TypedDataEncoder.hash(checkDomain(domain), GRANT_FIELDS, toGrantMessage(input));
}

export function revokeDigest(domain: ConsentDomainInput, input: RevokeInput | RevokeMessage): string {
  return TypedDataEncoder.hash(checkDomain(domain), REVOKE_FIELDS, toRevokeMessage(input));
}

/** The digest the contract's consentBatchBySig recovers the patient from. */
export function consentBatchDigest(domain: ConsentDomainInput, input: ConsentBatchInput | ConsentBatchMessage): string {
  return TypedDataEncoder.hash(checkDomain(domain), CONSENT_BATCH_FIELDS, toConsentBatchMessage(input));
}

export function emergencyGranteeDigest(
  domain: ConsentDomainInput,
  input: EmergencyGranteeInput | EmergencyGranteeMessage,
): string {
  return TypedDataEncoder.hash(checkDomain(domain), EMERGENCY_GRANTEE_FIELDS, toEmergencyGranteeMessage(input));
}

/** What signGrant / signRevoke / signEmergencyGrantee take: the message and the patient it is meant for. */
export type GrantToSign = (GrantInput | GrantMessage) & { readonly patient: string };
export type RevokeToSign = (RevokeInput | RevokeMessage) & { readonly patient: string };
export type EmergencyGranteeToSign = (EmergencyGranteeInput | EmergencyGranteeMessage) & { readonly patient: string };
export type ConsentBatchToSign = (ConsentBatchInput | ConsentBatchMessage) & { readonly patient: string };

/**
 * Asks the patient's wallet to sign a Grant. Refuses (WrongSignerError, before any prompt) a
 * wallet whose account is not `input.patient` (e.g. a clinic's wallet signing a patient's grant),
 * and checks that the signature recovers to the patient (a wallet may sign with another account
 * than the one asked for).
 */
export async function signGrant(
  signer: ConsentSigner,
  domain: ConsentDomainInput,
  input: GrantToSign,
): Promise<SignedGrant> {
  const patient = requireIntendedPatient(input);
  const message = toGrantMessage(input);
  const payload = buildGrantTypedData(domain, message);
  const signature = await signTypedDataAs(signer, payload, patient);
  const parts = splitSignature(signature);
  const recovered = recoverGrantSigner(domain, message, parts.signature);
  if (recovered !== patient) throw new WrongSignerError(patient, recovered);
  return { ...message, ...parts, patient };
}

export async function signRevoke(
  signer: ConsentSigner,
  domain: ConsentDomainInput,
  input: RevokeToSign,
): Promise<SignedRevoke> {
  const patient = requireIntendedPatient(input);
  const message = toRevokeMessage(input);
  const payload = buildRevokeTypedData(domain, message);
  const signature = await signTypedDataAs(signer, payload, patient);
  const parts = splitSignature(signature);
  const recovered = recoverRevokeSigner(domain, message, parts.signature);
  if (recovered !== patient) throw new WrongSignerError(patient, recovered);
  return { ...message, ...parts, patient };
}

/**
 * Asks the patient's wallet for ONE signature over a ConsentBatch (several grants and revokes); refuses another
 * account's wallet like signGrant (WrongSignerError, before any prompt, and after recovery).
 */
export async function signConsentBatch(
  signer: ConsentSigner,
  domain: ConsentDomainInput,
  input: ConsentBatchToSign,
): Promise<SignedConsentBatch> {
  const patient = requireIntendedPatient(input);
  const message = toConsentBatchMessage(input);
  const payload = buildConsentBatchTypedData(domain, message);
  const signature = await signTypedDataAs(signer, payload, patient);
  const parts = splitSignature(signature);
  const recovered = recoverConsentBatchSigner(domain, message, parts.signature);
  if (recovered !== patient) throw new WrongSignerError(patient, recovered);
  return { ...message, ...parts, patient };
}

/**
 * Asks the patient's wallet to sign an EmergencyGrantee registration or removal; refuses another
 * account's wallet like signGrant (WrongSignerError, before any prompt, and after recovery).
 */
export async function signEmergencyGrantee(
  signer: ConsentSigner,
  domain: ConsentDomainInput,
  input: EmergencyGranteeToSign,
): Promise<SignedEmergencyGrantee> {
  const patient = requireIntendedPatient(input);
  const message = toEmergencyGranteeMessage(input);
  const payload = buildEmergencyGranteeTypedData(domain, message);
  const signature = await signTypedDataAs(signer, payload, patient);
  const parts = splitSignature(signature);
  const recovered = recoverEmergencyGranteeSigner(domain, message, parts.signature);
  if (recovered !== patient) throw new WrongSignerError(patient, recovered);
  return { ...message, ...parts, patient };
}

/**
 * Splits a 65-byte signature (or an {r, s, v} / {r, yParityAndS} object) into the v, r, s the
 * contract takes. v is normalized to 27/28; high-s (malleable) signatures are refused, as the
 * contract's ECDSA.tryRecover would refuse them.
 */
export function splitSignature(signature: unknown): SignatureParts & { signature: string } {
  const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
  let sig: Signature;
  try {
    sig = Signature.from(signature as Parameters<typeof Signature.from>[0]);
  } catch (error) {
    throw new SignatureError(`malformed signature ${describe(signature)}`, { cause: error });
  }
  // ethers keeps a high s readable only through `_s` (the `s` getter throws on it).
  if (BigInt(sig._s) > SECP256K1_HALF_N) throw new SignatureError("signature has a high s value (malleable form)");
  return { v: sig.v, r: sig.r, s: sig.s, signature: sig.serialized };
}

export function recoverGrantSigner(
  domain: ConsentDomainInput,
  input: GrantInput | GrantMessage,
  signature: unknown,
): string {
  return recover(grantDigest(domain, input), signature);
}

export function recoverRevokeSigner(
  domain: ConsentDomainInput,
  input: RevokeInput | RevokeMessage,
  signature: unknown,
): string {
  return recover(revokeDigest(domain, input), signature);
}

export function recoverConsentBatchSigner(
  domain: ConsentDomainInput,
  input: ConsentBatchInput | ConsentBatchMessage,
  signature: unknown,
): string {
  return recover(consentBatchDigest(domain, input), signature);
}

export function recoverEmergencyGranteeSigner(
  domain: ConsentDomainInput,
  input: EmergencyGranteeInput | EmergencyGranteeMessage,
  signature: unknown,
): string {
  return recover(emergencyGranteeDigest(domain, input), signature);
}

/** True when `signature` is a valid Grant signature by `patient`; false on any mismatch or malformed signature. */
export function verifyGrantSignature(
  domain: ConsentDomainInput,
  input: GrantInput | GrantMessage,
  signature: unknown,
  patient: string,
): boolean {
  const expected = requireAddress(patient, "patient");
  try {
    return recoverGrantSigner(domain, input, signature) === expected;
  } catch (error) {
    if (error instanceof SignatureError) return false;
    throw error;
  }
}

export function verifyRevokeSignature(
  domain: ConsentDomainInput,
  input: RevokeInput | RevokeMessage,
  signature: unknown,
  patient: string,
): boolean {
  const expected = requireAddress(patient, "patient");
  try {
    return recoverRevokeSigner(domain, input, signature) === expected;
  } catch (error) {
    if (error instanceof SignatureError) return false;
    throw error;
  }
}

export function verifyConsentBatchSignature(
  domain: ConsentDomainInput,
  input: ConsentBatchInput | ConsentBatchMessage,
  signature: unknown,
  patient: string,
): boolean {
  const expected = requireAddress(patient, "patient");
  try {
    return recoverConsentBatchSigner(domain, input, signature) === expected;
  } catch (error) {
    if (error instanceof SignatureError) return false;
    throw error;
  }
}

export function verifyEmergencyGranteeSignature(
  domain: ConsentDomainInput,
  input: EmergencyGranteeInput | EmergencyGranteeMessage,
  signature: unknown,
  patient: string,
): boolean {
  const expected = requireAddress(patient, "patient");
  try {
    return recoverEmergencyGranteeSigner(domain, input, signature) === expected;
  } catch (error) {
    if (error instanceof SignatureError) return false;
    throw error;
  }
}

/**
 * Validates a signed grant received as JSON (e.g. from a web wallet, before relaying it):
 * all fields are checked and the signature must recover to `patient`.
 */
export function parseSignedGrant(domain: ConsentDomainInput, value: unknown): SignedGrant {
  const record = requireRecord(value, "signedGrant");
  const message = toGrantMessage(record as unknown as GrantInput);
  const patient = requireNonZeroAddress(record["patient"], "patient");
  const parts = splitSignature(record["signature"] ?? { r: record["r"], s: record["s"], v: record["v"] });
  if (recoverGrantSigner(domain, message, parts.signature) !== patient)
    throw new SignatureError(`grant signature was not made by patient ${patient}`);
  return { ...message, ...parts, patient };
}

export function parseSignedRevoke(domain: ConsentDomainInput, value: unknown): SignedRevoke {
  const record = requireRecord(value, "signedRevoke");
  const message = toRevokeMessage(record as unknown as RevokeInput);
  const patient = requireNonZeroAddress(record["patient"], "patient");
  const parts = splitSignature(record["signature"] ?? { r: record["r"], s: record["s"], v: record["v"] });
  if (recoverRevokeSigner(domain, message, parts.signature) !== patient)
    throw new SignatureError(`revoke signature was not made by patient ${patient}`);
  return { ...message, ...parts, patient };
}

export function parseSignedEmergencyGrantee(domain: ConsentDomainInput, value: unknown): SignedEmergencyGrantee {
  const record = requireRecord(value, "signedEmergencyGrantee");
  const message = toEmergencyGranteeMessage(record as unknown as EmergencyGranteeInput);
  const patient = requireNonZeroAddress(record["patient"], "patient");
  const parts = splitSignature(record["signature"] ?? { r: record["r"], s: record["s"], v: record["v"] });
  if (recoverEmergencyGranteeSigner(domain, message, parts.signature) !== patient)
    throw new SignatureError(`emergency grantee signature was not made by patient ${patient}`);
  return { ...message, ...parts, patient };
}

/** Validates a signed ConsentBatch received as JSON (signedConsentBatchToJson): every item, and the signer. */
export function parseSignedConsentBatch(domain: ConsentDomainInput, value: unknown): SignedConsentBatch {
  const record = requireRecord(value, "signedBatch");
  const message = toConsentBatchMessage(record as unknown as ConsentBatchInput);
  const patient = requireNonZeroAddress(record["patient"], "patient");
  const parts = splitSignature(record["signature"] ?? { r: record["r"], s: record["s"], v: record["v"] });
  if (recoverConsentBatchSigner(domain, message, parts.signature) !== patient)
    throw new SignatureError(`consent batch signature was not made by patient ${patient}`);
  return { ...message, ...parts, patient };
}

/** JSON form of a signed ConsentBatch (bigints as decimal strings), the inverse of parseSignedConsentBatch. */
export function signedConsentBatchToJson(signed: SignedConsentBatch): {
  patient: string;
  grants: { grantee: string; scope: string; purpose: number; expiry: string; version: number }[];
  revokes: { grantee: string; scope: string; purpose: number; version: number }[];
  deadline: string;
  signature: string;
} {
  return {
    patient: signed.patient,
    grants: signed.grants.map((g) => ({
      grantee: g.grantee,
      scope: g.scope,
      purpose: g.purpose,
      expiry: g.expiry.toString(),
      version: g.version,
    })),
    revokes: signed.revokes.map((r) => ({
      grantee: r.grantee,
      scope: r.scope,
      purpose: r.purpose,
      version: r.version,
    })),
    deadline: signed.deadline.toString(),
    signature: signed.signature,
  };
}

/**
 * JSON form of a signed grant / revoke / emergency registration (bigints as decimal strings), the
 * inverse of parseSigned*.
 */
export function signedConsentToJson(
  signed: SignedGrant | SignedRevoke | SignedEmergencyGrantee,
): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(signed))
    out[key] = typeof value === "bigint" ? value.toString() : (value as string | number);
  return out;
}

// ---------------------------------------------------------------------------------------------

function checkDomain(domain: ConsentDomainInput): ConsentDomain {
  if (typeof domain !== "object" || domain === null)
    throw new InvalidInputError("domain", `expected a ConsentDomain, got ${describe(domain)}`);
  if (domain.name !== CONSENT_DOMAIN_NAME || domain.version !== CONSENT_DOMAIN_VERSION) {
    throw new InvalidInputError(
      "domain",
      `expected name "${CONSENT_DOMAIN_NAME}" and version "${CONSENT_DOMAIN_VERSION}"`,
    );
  }
  return consentDomain(domain.chainId, domain.verifyingContract);
}

function recover(digest: string, signature: unknown): string {
  const { signature: serialized } = splitSignature(signature);
  try {
    return recoverAddress(digest, serialized);
  } catch (error) {
    throw new SignatureError("signature does not recover to any address", { cause: error });
  }
}

/** ethers wants mutable field arrays and no EIP712Domain entry (it derives the domain type itself). */
function fieldsOf(
  types: Readonly<Record<string, readonly { readonly name: string; readonly type: string }[]>>,
): Record<string, TypedDataField[]> {
  const out: Record<string, TypedDataField[]> = {};
  for (const [name, fields] of Object.entries(types)) {
    if (name !== "EIP712Domain") out[name] = fields.map((field) => ({ name: field.name, type: field.type }));
  }
  return out;
}

const GRANT_FIELDS = fieldsOf(GRANT_TYPES);
const REVOKE_FIELDS = fieldsOf(REVOKE_TYPES);
const EMERGENCY_GRANTEE_FIELDS = fieldsOf(EMERGENCY_GRANTEE_TYPES);
const CONSENT_BATCH_FIELDS = fieldsOf(CONSENT_BATCH_TYPES);

/** Any eth_signTypedData_v4 payload this package builds (consent messages, ConsentAddressLink). */
export interface ConsentTypedDataPayload {
  readonly types: Readonly<Record<string, readonly { readonly name: string; readonly type: string }[]>>;
  readonly primaryType: string;
  readonly domain: ConsentDomainJson;
  readonly message: object;
}

/**
 * Signs `payload` as `account`, refusing first (WrongSignerError, before any prompt) a signer whose account is
 * someone else: through eth_signTypedData_v4 for an EIP-1193 wallet, signTypedData for an ethers signer. Returns
 * the signature as the wallet gave it; callers split it and check what it recovers to.
 */
export async function signTypedDataAs(
  signer: ConsentSigner,
  payload: ConsentTypedDataPayload,
  account: string,
): Promise<string> {
  if (!isConsentSigner(signer))
    throw new InvalidInputError(
      "signer",
      `expected an ethers Signer or { eip1193, account }, got ${describeSigner(signer)}`,
    );
  if ("eip1193" in signer) {
    const wallet = requireAddress(signer.account, "account");
    if (wallet !== account) throw new WrongSignerError(account, wallet);
    // Lowercase address: some wallets compare the requested account case-sensitively against theirs.
    const signature = await signer.eip1193.request({
      method: "eth_signTypedData_v4",
      params: [wallet.toLowerCase(), JSON.stringify(payload)],
    });
    if (typeof signature !== "string")
      throw new SignatureError(`wallet returned ${describe(signature)} instead of a signature`);
    return signature;
  }
  const wallet = getAddress(await signer.getAddress());
  if (wallet !== account) throw new WrongSignerError(account, wallet);
  return signer.signTypedData(payload.domain, fieldsOf(payload.types), payload.message as Record<string, unknown>);
}

function requireIntendedPatient(input: { readonly patient?: unknown }): string {
  if (typeof input !== "object" || input === null || input.patient === undefined) {
    throw new InvalidInputError(
      "patient",
      "name the patient the consent is for (e.g. { ...message, patient }), so another account's wallet is refused",
    );
  }
  return requireNonZeroAddress(input.patient, "patient");
}

function requireRecord(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidInputError(field, `expected an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}
