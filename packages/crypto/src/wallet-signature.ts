// The fixed EIP-712 message a browser wallet signs to derive its Hygeia X25519 key, its digest, and
// validation / canonicalisation of the 65-byte secp256k1 signature a wallet returns for it.
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import { concatBytes, utf8 } from "./bytes.ts";
import { InvalidArgumentError, InvalidSignatureError } from "./errors.ts";

export const KEY_DERIVATION_STATEMENT = "Derive my Hygeia encryption key. Only sign this on a Hygeia page.";
const MAX_KEY_INDEX = 0xffffffff;

// The message comes in the shapes signers take (README "From a wallet signature"). Plain mutable types, so
// they are assignable to ethers' and viem's parameter types without casts; this package does not import either.

/** One member of an EIP-712 struct type (ethers' and viem's TypedDataField have the same shape). */
export type TypedDataField = { name: string; type: string };

export type KeyDerivationDomain = { name: "Hygeia"; version: "1" };
export type KeyDerivationMessage = { statement: string; keyIndex: number };

/**
 * The typed data for ethers' `Signer.signTypedData(domain, types, message)` (and viem's `signTypedData`): `types`
 * without `EIP712Domain`, which ethers derives from `domain` itself and refuses to be given ("ambiguous primary
 * types or unused types").
 */
export type KeyDerivationTypedDataForEthers = {
  domain: KeyDerivationDomain;
  types: { DeriveEncryptionKey: TypedDataField[] };
  primaryType: "DeriveEncryptionKey";
  message: KeyDerivationMessage;
};

/**
 * The full `eth_signTypedData_v4` payload for EIP-1193 wallets (`window.ethereum`, a node's JSON-RPC): `types`
 * including `EIP712Domain`, and `primaryType`. JSON-serialise it as the request's second parameter
 * (`keyDerivationSignRequest` does). No chainId / verifyingContract: the key must not depend on the chain.
 */
export type KeyDerivationTypedData = {
  types: { EIP712Domain: TypedDataField[]; DeriveEncryptionKey: TypedDataField[] };
  primaryType: "DeriveEncryptionKey";
  domain: KeyDerivationDomain;
  message: KeyDerivationMessage;
};

/** An EIP-1193 request for the key-derivation signature: pass it to `provider.request(...)`. */
export type KeyDerivationSignRequest = {
  method: "eth_signTypedData_v4";
  params: [account: string, typedDataJson: string];
};

function assertKeyIndex(keyIndex: number): void {
  if (!Number.isInteger(keyIndex) || keyIndex < 0 || keyIndex > MAX_KEY_INDEX) {
    throw new InvalidArgumentError(`keyIndex must be a uint32 (0 to ${MAX_KEY_INDEX}), got ${String(keyIndex)}`, {
      field: "keyIndex",
    });
  }
}

export function assertAddress(address: unknown, field: string): asserts address is string {
  if (typeof address !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(address)) {
    throw new InvalidArgumentError(`${field} must be a 0x-prefixed 20-byte hex address`, { field });
  }
}

/**
 * The key-derivation message for ethers: `const { domain, types, message } = keyDerivationTypedDataForEthers();
 * await wallet.signTypedData(domain, types, message)`. `keyIndex` 0 is the patient's key; a higher index derives
 * an independent replacement key (rotation) from the same wallet.
 */
export function keyDerivationTypedDataForEthers(keyIndex = 0): KeyDerivationTypedDataForEthers {
  assertKeyIndex(keyIndex);
  return {
    domain: { name: "Hygeia", version: "1" },
    types: {
      DeriveEncryptionKey: [
        { name: "statement", type: "string" },
        { name: "keyIndex", type: "uint32" },
      ],
    },
    primaryType: "DeriveEncryptionKey",
    message: { statement: KEY_DERIVATION_STATEMENT, keyIndex },
  };
}

/** The `eth_signTypedData_v4` payload (EIP-1193 wallets; JSON.stringify it, or use keyDerivationSignRequest). */
export function keyDerivationTypedData(keyIndex = 0): KeyDerivationTypedData {
  const { domain, types, primaryType, message } = keyDerivationTypedDataForEthers(keyIndex);
  return {
    types: {
      EIP712Domain: [
        { name: "name", type: "string" },
        { name: "version", type: "string" },
      ],
      ...types,
    },
    primaryType,
    domain,
    message,
  };
}

/**
 * The EIP-1193 request that asks `account` for the key-derivation signature:
 * `const signature = await provider.request(keyDerivationSignRequest(account))`.
 */
export function keyDerivationSignRequest(account: string, keyIndex = 0): KeyDerivationSignRequest {
  assertAddress(account, "account");
  return { method: "eth_signTypedData_v4", params: [account, JSON.stringify(keyDerivationTypedData(keyIndex))] };
}

const DOMAIN_TYPE_HASH = keccak_256(utf8("EIP712Domain(string name,string version)"));
const MESSAGE_TYPE_HASH = keccak_256(utf8("DeriveEncryptionKey(string statement,uint32 keyIndex)"));

function uint256(value: number): Uint8Array {
  const word = new Uint8Array(32);
  new DataView(word.buffer).setUint32(28, value, false);
  return word;
}

/** The EIP-712 digest a wallet signs for `keyDerivationTypedData(keyIndex)`. */
export function keyDerivationDigest(keyIndex = 0): Uint8Array {
  assertKeyIndex(keyIndex);
  const domainSeparator = keccak_256(concatBytes(DOMAIN_TYPE_HASH, keccak_256(utf8("Hygeia")), keccak_256(utf8("1"))));
  const structHash = keccak_256(
    concatBytes(MESSAGE_TYPE_HASH, keccak_256(utf8(KEY_DERIVATION_STATEMENT)), uint256(keyIndex)),
  );
  return keccak_256(concatBytes(Uint8Array.of(0x19, 0x01), domainSeparator, structHash));
}

/** A 65-byte `r ‖ s ‖ v` signature as wallets return it: bytes, or a 0x-prefixed hex string. */
export type WalletSignature = Uint8Array | string;

interface ParsedSignature {
  readonly r: bigint;
  readonly s: bigint;
  /** 0 or 1 */
  readonly recovery: number;
}

const CURVE_ORDER = secp256k1.Point.CURVE().n;

function signatureBytes(signature: WalletSignature): Uint8Array {
  if (typeof signature === "string") {
    if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) {
      throw new InvalidSignatureError("signature must be 0x followed by 130 hex digits (65 bytes r ‖ s ‖ v)");
    }
    return hexToBytes(signature.slice(2));
  }
  if (!(signature instanceof Uint8Array) || signature.length !== 65) {
    throw new InvalidSignatureError(
      "signature must be 65 bytes (r ‖ s ‖ v); contract-wallet signatures are not usable",
    );
  }
  return signature;
}

function toBigInt(bytes: Uint8Array): bigint {
  return BigInt("0x" + bytesToHex(bytes));
}

function toWord(value: bigint): Uint8Array {
  return hexToBytes(value.toString(16).padStart(64, "0"));
}

function parseSignature(signature: WalletSignature): ParsedSignature {
  const bytes = signatureBytes(signature);
  const r = toBigInt(bytes.subarray(0, 32));
  const s = toBigInt(bytes.subarray(32, 64));
  const v = bytes[64] ?? -1;
  if (r <= 0n || r >= CURVE_ORDER || s <= 0n || s >= CURVE_ORDER) {
    throw new InvalidSignatureError("signature r or s is out of range");
  }
  // Wallets report the recovery id as 27/28 (most) or 0/1 (some hardware wallets): the same signature.
  let recovery: number;
  if (v === 27 || v === 28) recovery = v - 27;
  else if (v === 0 || v === 1) recovery = v;
  else throw new InvalidSignatureError(`signature v must be 27, 28, 0 or 1, got ${v}`);
  return { r, s, recovery };
}

/**
 * The canonical 65-byte form of a signature: low-s (EIP-2) with v in {27, 28}. Both encodings of the same
 * ECDSA signature (high/low s, v as 0/1 or 27/28) map to one byte string, so derivation does not depend on
 * how a wallet happens to serialise it.
 */
export function canonicalSignature(signature: WalletSignature): Uint8Array {
  const parsed = parseSignature(signature);
  const highS = parsed.s > CURVE_ORDER >> 1n;
  const s = highS ? CURVE_ORDER - parsed.s : parsed.s;
  const recovery = highS ? parsed.recovery ^ 1 : parsed.recovery;
  const out = new Uint8Array(65);
  out.set(toWord(parsed.r), 0);
  out.set(toWord(s), 32);
  out[64] = 27 + recovery;
  return out;
}

/** The lower-case 0x address that produced `signature` over `digest`. */
export function recoverSignerAddress(signature: WalletSignature, digest: Uint8Array): string {
  const { r, s, recovery } = parseSignature(signature);
  let publicKey: Uint8Array;
  try {
    publicKey = new secp256k1.Signature(r, s, recovery).recoverPublicKey(digest).toBytes(false);
  } catch (cause) {
    throw new InvalidSignatureError("no public key can be recovered from this signature", { cause });
  }
  return "0x" + bytesToHex(keccak_256(publicKey.subarray(1)).subarray(12));
}

/**
 * Throws InvalidSignatureError unless `signature` is `expectedAddress`'s signature over the key-derivation
 * message with `keyIndex`. Catches wallets that sign something else (their derived key would differ between
 * wallet apps) and signatures from another account.
 */
export function assertKeyDerivationSignature(signature: WalletSignature, expectedAddress: string, keyIndex = 0): void {
  assertAddress(expectedAddress, "expectedAddress");
  const signer = recoverSignerAddress(signature, keyDerivationDigest(keyIndex));
  if (signer !== expectedAddress.toLowerCase()) {
    throw new InvalidSignatureError(
      `signature is not the expected account's signature over the Hygeia key-derivation message for key index ${keyIndex}`,
    );
  }
}
