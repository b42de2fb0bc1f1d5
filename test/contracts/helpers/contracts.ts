// Shared helpers for the contract tests: typed contract shapes, named signers, deployment,
// EIP-712 typed data of ConsentRegistry, signing, signature mangling, emergency scope trees,
// raw storage slots, constants. The typed data is written out here rather than imported from @hygeia/chain: the
// contract tests state the encoding on their own, so a mistake in the client's types cannot pass by agreeing with
// itself (packages/chain's tests check the client against the contract).
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import type { BaseContractMethod, Contract, Signer, TypedDataDomain } from "ethers";
import type { network } from "hardhat";

export type Connection = Awaited<ReturnType<typeof network.create>>;
export type Ethers = Connection["ethers"];
export type Account = Awaited<ReturnType<Ethers["getSigners"]>>[number];

export const PURPOSE = { Treatment: 1, Research: 2, Emergency: 3, Payment: 4, PublicHealth: 5 } as const;
export const GRANTABLE = [PURPOSE.Treatment, PURPOSE.Research, PURPOSE.Payment, PURPOSE.PublicHealth] as const;

export const DAY = 24 * 3600;
export const SEVEN_DAYS = 7 * DAY;

/** secp256k1 group order. */
export const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

export const GRANT_TYPES = {
  Grant: [
    { name: "grantee", type: "address" },
    { name: "scope", type: "bytes32" },
    { name: "purpose", type: "uint8" },
    { name: "expiry", type: "uint64" },
    { name: "version", type: "uint32" },
    { name: "deadline", type: "uint256" },
  ],
};

export const REVOKE_TYPES = {
  Revoke: [
    { name: "grantee", type: "address" },
    { name: "scope", type: "bytes32" },
    { name: "purpose", type: "uint8" },
    { name: "version", type: "uint32" },
    { name: "deadline", type: "uint256" },
  ],
};

export const EMERGENCY_GRANTEE_TYPES = {
  EmergencyGrantee: [
    { name: "grantee", type: "address" },
    { name: "maxDuration", type: "uint32" },
    { name: "scopesRoot", type: "bytes32" },
    { name: "epoch", type: "uint32" },
    { name: "deadline", type: "uint256" },
  ],
};

/** ConsentBatch: one signature over grants and revokes (consentBatchBySig). */
export const BATCH_TYPES = {
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
};

export interface GrantMessage {
  grantee: string;
  scope: string;
  purpose: number;
  expiry: bigint | number;
  version: number;
  deadline: bigint | number;
}

export type RevokeMessage = Omit<GrantMessage, "expiry">;

export type GrantItem = Omit<GrantMessage, "deadline">;
export type RevokeItem = Omit<RevokeMessage, "deadline">;

export interface BatchMessage {
  grants: GrantItem[];
  revokes: RevokeItem[];
  deadline: bigint | number;
}

export interface EmergencyGranteeMessage {
  grantee: string;
  maxDuration: number;
  scopesRoot: string;
  /** The pair's epoch the message is signed for (valid while >= emergencyGranteeOf(...).epoch). */
  epoch: bigint | number;
  deadline: bigint | number;
}

export interface Sig {
  v: number;
  r: string;
  s: string;
}

/** The EIP-712 domain of a ConsentRegistry deployment. */
export async function consentDomain(consent: Contract, ethers: Ethers): Promise<TypedDataDomain> {
  const { chainId } = await ethers.provider.getNetwork();
  return { name: "Hygeia ConsentRegistry", version: "1", chainId, verifyingContract: await consent.getAddress() };
}

function split(ethers: Ethers, signature: string): Sig {
  const sig = ethers.Signature.from(signature);
  return { v: sig.v, r: sig.r, s: sig.s };
}

export async function signGrant(
  ethers: Ethers,
  signer: Signer,
  domain: TypedDataDomain,
  message: GrantMessage,
): Promise<Sig> {
  return split(ethers, await signer.signTypedData(domain, GRANT_TYPES, message));
}

export async function signRevoke(
  ethers: Ethers,
  signer: Signer,
  domain: TypedDataDomain,
  message: RevokeMessage,
): Promise<Sig> {
  return split(ethers, await signer.signTypedData(domain, REVOKE_TYPES, message));
}

export async function signBatch(
  ethers: Ethers,
  signer: Signer,
  domain: TypedDataDomain,
  message: BatchMessage,
): Promise<Sig> {
  return split(ethers, await signer.signTypedData(domain, BATCH_TYPES, message));
}

export async function signEmergencyGrantee(
  ethers: Ethers,
  signer: Signer,
  domain: TypedDataDomain,
  message: EmergencyGranteeMessage,
): Promise<Sig> {
  return split(ethers, await signer.signTypedData(domain, EMERGENCY_GRANTEE_TYPES, message));
}

/** The other valid-for-ecrecover form of a signature: s' = n - s (high s), v flipped. */
export function malleate(sig: Sig): Sig {
  const s = SECP256K1_N - BigInt(sig.s);
  return { v: sig.v === 27 ? 28 : 27, r: sig.r, s: "0x" + s.toString(16).padStart(64, "0") };
}

/** A Contract whose listed methods are known to exist (ethers types them as possibly undefined). */
export type Typed<K extends string> = Contract & { [P in K]: BaseContractMethod };

export type ConsentRegistry = Typed<
  | "grant"
  | "revoke"
  | "grantBatch"
  | "grantBySig"
  | "revokeBySig"
  | "consentBatchBySig"
  | "setEmergencyGrantee"
  | "setEmergencyGranteeBySig"
  | "breakGlass"
  | "isAllowed"
  | "consentOf"
  | "emergencyGranteeOf"
  | "eip712Domain"
  | "DOMAIN_SEPARATOR"
  | "GRANT_TYPEHASH"
  | "REVOKE_TYPEHASH"
  | "EMERGENCY_GRANTEE_TYPEHASH"
>;
export type TrustRegistry = Typed<
  | "accredit"
  | "revokeAccreditation"
  | "isTrusted"
  | "isTrustedAt"
  | "accreditationOf"
  | "accreditationCount"
  | "accreditationAt"
  | "owner"
  | "pendingOwner"
  | "transferOwnership"
  | "acceptOwnership"
  | "renounceOwnership"
  | "MEDICAL_BOARD"
  | "CLINIC"
  | "IRB"
  | "INSURER"
  | "IDENTITY_ISSUER"
>;
export type StudyRegistry = Typed<
  | "register"
  | "close"
  | "studyOf"
  | "isOpen"
  | "studyIdOf"
  | "detailsHashOf"
  | "trustRegistry"
  | "IRB_ROLE"
  | "MAX_SCOPES"
  | "MAX_DURATION"
>;
export type AuditAnchor = Typed<
  | "setGateway"
  | "anchor"
  | "gatewayOf"
  | "owner"
  | "pendingOwner"
  | "transferOwnership"
  | "acceptOwnership"
  | "renounceOwnership"
>;

/** Deploys `name` and returns it with the method shape `T`. */
export async function deploy<T extends Contract>(ethers: Ethers, name: string, args: unknown[] = []): Promise<T> {
  const c = await ethers.deployContract(name, args);
  await c.waitForDeployment();
  return c as T;
}

/** `contract` connected to `signer`, keeping its type (ethers types connect() loosely). */
export function as<T extends Contract>(contract: T, signer: Signer): T {
  return contract.connect(signer) as T;
}

/** The first signers of the node, by name. */
export async function namedSigners<const K extends readonly string[]>(
  ethers: Ethers,
  names: K,
): Promise<{ [P in K[number]]: Account }> {
  const all = await ethers.getSigners();
  const out: Partial<Record<string, Account>> = {};
  names.forEach((name, i) => {
    const account = all[i];
    if (account === undefined) throw new Error(`only ${all.length} signers`);
    out[name] = account;
  });
  return out as { [P in K[number]]: Account };
}

/** A scope hash as the clients compute it: keccak256 of a canonical scope string. */
export function scopeOf(ethers: Ethers, name: string): string {
  return ethers.id(`hygeia:scope:${name}`);
}

/**
 * The emergency scope list of a registration, as the patient's client builds it: an OpenZeppelin
 * StandardMerkleTree of `[bytes32 scope]` leaves. `proof(scope)` is the proof breakGlass takes;
 * for a scope outside the tree it returns the proof of the first leaf (which must then fail).
 */
export function scopesTree(scopes: readonly string[]): { root: string; proof: (scope: string) => string[] } {
  const tree = StandardMerkleTree.of(
    scopes.map((s) => [s]),
    ["bytes32"],
  );
  return {
    root: tree.root,
    proof: (scope) => {
      for (const [i, [leaf]] of tree.entries()) if (leaf === scope) return tree.getProof(i);
      return tree.getProof(0);
    },
  };
}

/**
 * Storage slot of ConsentRegistry's `_consents[keccak256(abi.encode(patient, grantee, scope, purpose))]`.
 * `_consents` is state slot 2: OpenZeppelin EIP712 declares two string fallbacks (slots 0 and 1)
 * before it (the storage layout test checks this against real writes).
 */
export function consentSlot(ethers: Ethers, patient: string, grantee: string, scope: string, purpose: number): string {
  const coder = ethers.AbiCoder.defaultAbiCoder();
  const key = ethers.keccak256(
    coder.encode(["address", "address", "bytes32", "uint8"], [patient, grantee, scope, purpose]),
  );
  return ethers.keccak256(coder.encode(["bytes32", "uint256"], [key, 2]));
}
