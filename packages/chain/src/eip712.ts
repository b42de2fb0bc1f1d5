/**
 * EIP-712 consent messages: the patient signs Grant / Revoke, anyone relays them to the
 * ConsentRegistry (grantBySig / revokeBySig), so a patient needs no ETH.
 *
 * Wallets show the payload field by field, so the names below are what a patient reads:
 *   grantee   who receives access (a clinic, researcher, ... address)
 *   scope     keccak256 of the canonical scope string (see scopes.ts); the wallet UI should show
 *             the string itself next to it, since the hash alone means nothing to a person
 *   purpose   1 Treatment, 2 Research, 4 Payment, 5 PublicHealth (3 Emergency is break-glass only)
 *   expiry    unix seconds after which the grant no longer allows access
 *   version   the consent slot's current version; a signature is valid for one version only,
 *             so it cannot be replayed after any later grant or revoke
 *   deadline  unix seconds after which the signature can no longer be submitted
 */
import { Signature, TypedDataEncoder, getAddress, recoverAddress, type Signer, type TypedDataField } from "ethers";
import {
  InvalidInputError,
  SignatureError,
  WrongSignerError,
  describe,
  requireAddress,
  requireNonZeroAddress,
  requireUint,
  requireSmallUint,
} from "./errors.ts";
import { parseGrantablePurpose, parsePurpose, type GrantablePurpose, type Purpose } from "./purposes.ts";
import { toScopeId } from "./scopes.ts";

export const CONSENT_DOMAIN_NAME = "Hygeia ConsentRegistry";
export const CONSENT_DOMAIN_VERSION = "1";

export interface ConsentDomain {
  readonly name: typeof CONSENT_DOMAIN_NAME;
  readonly version: typeof CONSENT_DOMAIN_VERSION;
  readonly chainId: number;
  readonly verifyingContract: string;
}

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

/** Loosely typed input: scope as canonical string or bytes32, purpose as number or name, uints as number/bigint/decimal string. */
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

/** The JSON payload of eth_signTypedData_v4. Integers that may exceed 2^53 are decimal strings. */
export interface TypedDataPayload<P extends "Grant" | "Revoke"> {
  readonly types: { readonly EIP712Domain: typeof EIP712_DOMAIN_TYPE } & (P extends "Grant"
    ? typeof GRANT_TYPES
    : typeof REVOKE_TYPES);
  readonly primaryType: P;
  readonly domain: ConsentDomain;
  readonly message: P extends "Grant"
    ? { grantee: string; scope: string; purpose: number; expiry: string; version: number; deadline: string }
    : { grantee: string; scope: string; purpose: number; version: number; deadline: string };
}
export type GrantTypedData = TypedDataPayload<"Grant">;
export type RevokeTypedData = TypedDataPayload<"Revoke">;

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

/** Minimal EIP-1193 provider (a browser wallet's window.ethereum, WalletConnect, ...). */
export interface Eip1193Provider {
  request(args: { method: string; params?: readonly unknown[] }): Promise<unknown>;
}

/** Sign with an ethers Signer, or through an EIP-1193 provider on behalf of `account`. */
export type ConsentSigner = Signer | { readonly eip1193: Eip1193Provider; readonly account: string };

export function consentDomain(chainId: number | bigint, verifyingContract: string): ConsentDomain {
  const id = requireUint(chainId, 64, "chainId");
  if (id === 0n) throw new InvalidInputError("chainId", "must not be 0");
  return {
    name: CONSENT_DOMAIN_NAME,
    version: CONSENT_DOMAIN_VERSION,
    chainId: Number(id),
    verifyingContract: requireNonZeroAddress(verifyingContract, "verifyingContract"),
  };
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

export function buildGrantTypedData(domain: ConsentDomain, input: GrantInput | GrantMessage): GrantTypedData {
  const m = toGrantMessage(input);
  return {
    types: { EIP712Domain: EIP712_DOMAIN_TYPE, ...GRANT_TYPES },
    primaryType: "Grant",
    domain: checkDomain(domain),
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

export function buildRevokeTypedData(domain: ConsentDomain, input: RevokeInput | RevokeMessage): RevokeTypedData {
  const m = toRevokeMessage(input);
  return {
    types: { EIP712Domain: EIP712_DOMAIN_TYPE, ...REVOKE_TYPES },
    primaryType: "Revoke",
    domain: checkDomain(domain),
    message: {
      grantee: m.grantee,
      scope: m.scope,
      purpose: m.purpose,
      version: m.version,
      deadline: m.deadline.toString(),
    },
  };
}

/** The digest the contract's _hashTypedDataV4 computes for a Grant. */
export function grantDigest(domain: ConsentDomain, input: GrantInput | GrantMessage): string {
  return TypedDataEncoder.hash(checkDomain(domain), GRANT_FIELDS, toGrantMessage(input));
}

export function revokeDigest(domain: ConsentDomain, input: RevokeInput | RevokeMessage): string {
  return TypedDataEncoder.hash(checkDomain(domain), REVOKE_FIELDS, toRevokeMessage(input));
}

/** What signGrant / signRevoke take: the message and the patient it is meant for. */
export type GrantToSign = (GrantInput | GrantMessage) & { readonly patient: string };
export type RevokeToSign = (RevokeInput | RevokeMessage) & { readonly patient: string };

/**
 * Asks the patient's wallet to sign a Grant. Refuses (WrongSignerError, before any prompt) a
 * wallet whose account is not `input.patient` (e.g. a clinic's wallet signing a patient's grant),
 * and checks that the signature recovers to the patient (a wallet may sign with another account
 * than the one asked for).
 */
export async function signGrant(
  signer: ConsentSigner,
  domain: ConsentDomain,
  input: GrantToSign,
): Promise<SignedGrant> {
  const patient = requireIntendedPatient(input);
  const message = toGrantMessage(input);
  const payload = buildGrantTypedData(domain, message);
  const signature = await signPayload(signer, payload, patient);
  const parts = splitSignature(signature);
  const recovered = recoverGrantSigner(domain, message, parts.signature);
  if (recovered !== patient) throw new WrongSignerError(patient, recovered);
  return { ...message, ...parts, patient };
}

export async function signRevoke(
  signer: ConsentSigner,
  domain: ConsentDomain,
  input: RevokeToSign,
): Promise<SignedRevoke> {
  const patient = requireIntendedPatient(input);
  const message = toRevokeMessage(input);
  const payload = buildRevokeTypedData(domain, message);
  const signature = await signPayload(signer, payload, patient);
  const parts = splitSignature(signature);
  const recovered = recoverRevokeSigner(domain, message, parts.signature);
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
  domain: ConsentDomain,
  input: GrantInput | GrantMessage,
  signature: unknown,
): string {
  return recover(grantDigest(domain, input), signature);
}

export function recoverRevokeSigner(
  domain: ConsentDomain,
  input: RevokeInput | RevokeMessage,
  signature: unknown,
): string {
  return recover(revokeDigest(domain, input), signature);
}

/** True when `signature` is a valid Grant signature by `patient`; false on any mismatch or malformed signature. */
export function verifyGrantSignature(
  domain: ConsentDomain,
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
  domain: ConsentDomain,
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

/**
 * Validates a signed grant received as JSON (e.g. from a web wallet, before relaying it):
 * all fields are checked and the signature must recover to `patient`.
 */
export function parseSignedGrant(domain: ConsentDomain, value: unknown): SignedGrant {
  const record = requireRecord(value, "signedGrant");
  const message = toGrantMessage(record as unknown as GrantInput);
  const patient = requireNonZeroAddress(record["patient"], "patient");
  const parts = splitSignature(record["signature"] ?? { r: record["r"], s: record["s"], v: record["v"] });
  if (recoverGrantSigner(domain, message, parts.signature) !== patient)
    throw new SignatureError(`grant signature was not made by patient ${patient}`);
  return { ...message, ...parts, patient };
}

export function parseSignedRevoke(domain: ConsentDomain, value: unknown): SignedRevoke {
  const record = requireRecord(value, "signedRevoke");
  const message = toRevokeMessage(record as unknown as RevokeInput);
  const patient = requireNonZeroAddress(record["patient"], "patient");
  const parts = splitSignature(record["signature"] ?? { r: record["r"], s: record["s"], v: record["v"] });
  if (recoverRevokeSigner(domain, message, parts.signature) !== patient)
    throw new SignatureError(`revoke signature was not made by patient ${patient}`);
  return { ...message, ...parts, patient };
}

/** JSON form of a signed grant / revoke (bigints as decimal strings), the inverse of parseSigned*. */
export function signedConsentToJson(signed: SignedGrant | SignedRevoke): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(signed))
    out[key] = typeof value === "bigint" ? value.toString() : (value as string | number);
  return out;
}

// ---------------------------------------------------------------------------------------------

function checkDomain(domain: ConsentDomain): ConsentDomain {
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

/** Signs as `patient`, refusing first a signer whose account is someone else. */
async function signPayload(
  signer: ConsentSigner,
  payload: GrantTypedData | RevokeTypedData,
  patient: string,
): Promise<string> {
  if ("eip1193" in signer) {
    const account = requireAddress(signer.account, "account");
    if (account !== patient) throw new WrongSignerError(patient, account);
    // Lowercase address: some wallets compare the requested account case-sensitively against theirs.
    const signature = await signer.eip1193.request({
      method: "eth_signTypedData_v4",
      params: [account.toLowerCase(), JSON.stringify(payload)],
    });
    if (typeof signature !== "string")
      throw new SignatureError(`wallet returned ${describe(signature)} instead of a signature`);
    return signature;
  }
  const account = getAddress(await signer.getAddress());
  if (account !== patient) throw new WrongSignerError(patient, account);
  return signer.signTypedData(payload.domain, fieldsOf(payload.types), payload.message);
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
