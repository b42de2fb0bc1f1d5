/**
 * The patient's record-list anchor on chain (promise 6): the latest sealed manifest pointer, written as an ERC-1056
 * attribute of the patient's anchor identity (an address derived from the wallet, @hygeia/crypto's
 * deriveManifestAnchorKeys), signed by that identity's key and relayed by the gateway (`setAttributeSigned`).
 *
 * Why ERC-1056 rather than a contract of our own: the registry is already deployed with every Hygeia chain, its
 * signed writes carry a per-identity nonce (replay protection and compare-and-swap for free), and `changed(identity)`
 * with the event's `previousChange` lets a reader find the latest value with one call and one log query, no index.
 * Why a derived identity rather than the patient's did:ethr: the anchor key signs without a wallet prompt (a browser
 * wallet cannot sign ERC-1056's raw digest anyway), and the identity links to nothing of the patient's on chain.
 *
 * Rules:
 * - The value is opaque here (a sealed pointer: @hygeia/crypto's sealManifestPointer); at most
 *   MAX_ANCHOR_VALUE_BYTES, so a relay never pays for an arbitrary blob.
 * - Browser-safe: ethers only.
 */
import {
  Interface,
  Signature,
  SigningKey,
  computeAddress,
  encodeBytes32String,
  getBytes,
  hexlify,
  isHexString,
  recoverAddress,
  solidityPackedKeccak256,
  zeroPadValue,
  type Provider,
} from "ethers";
import { askNode, type MinedTransaction, type TransactionSender } from "./clients/sender.ts";
import * as node from "./clients/node-reads.ts";
import { DEFAULT_READ_TIMEOUT_MS } from "./clients/base.ts";
import { InvalidInputError, SignatureError, requireAddress, requireTimeoutMs } from "./errors.ts";
import { EthereumDIDRegistryAbi } from "./generated/EthereumDIDRegistry.ts";

/** The ERC-1056 attribute name of the anchor. */
export const MANIFEST_ANCHOR_ATTRIBUTE = "hygeia/manifest/v1";
/** The attribute's validity, seconds (100 years: readers ignore it, the newest write is the head). */
export const MANIFEST_ANCHOR_VALIDITY = 3_153_600_000;
/** The largest value a relay accepts (a sealed pointer is under 170 bytes). */
export const MAX_ANCHOR_VALUE_BYTES = 256;
/** How many earlier change blocks a reader follows before giving up (each holds only this identity's writes). */
const MAX_CHANGE_HOPS = 64;

const registry = new Interface(EthereumDIDRegistryAbi);
const ATTRIBUTE_NAME = encodeBytes32String(MANIFEST_ANCHOR_ATTRIBUTE);
const ATTRIBUTE_CHANGED = registry.getEvent("DIDAttributeChanged")!.topicHash;

/** A signed anchor write, as a wallet sends it to the relay (JSON-safe). */
export interface SignedManifestAnchor {
  /** The anchor identity (EIP-55). */
  identity: string;
  /** The sealed pointer, 0x-hex. */
  value: string;
  /** The registry nonce the signature is for. */
  nonce: number;
  /** 0x-hex, 65 bytes (r ‖ s ‖ v). */
  signature: string;
}

/** The latest anchored value of an identity. */
export interface ManifestAnchorValue {
  value: Uint8Array;
  blockNumber: number;
}

export interface AnchorReadOptions {
  /** Bound on each request to the node, ms (default 30 000): ChainUnavailableError past it. */
  readTimeoutMs?: number;
}

/** ERC-1056's digest for setAttributeSigned (the registry's own encoding, byte for byte). */
export function manifestAnchorDigest(registryAddress: string, identity: string, nonce: number, value: string): string {
  return solidityPackedKeccak256(
    ["bytes1", "bytes1", "address", "uint256", "address", "string", "bytes32", "bytes", "uint256"],
    ["0x19", "0x00", registryAddress, nonce, identity, "setAttribute", ATTRIBUTE_NAME, value, MANIFEST_ANCHOR_VALIDITY],
  );
}

/** The anchor identity (an address) of an anchor key. */
export function manifestAnchorIdentity(accountKey: Uint8Array): string {
  return computeAddress(new SigningKey(accountKey));
}

/** Signs an anchor write of `value` with the anchor key, for the registry's current `nonce` of that identity. */
export function signManifestAnchor(
  accountKey: Uint8Array,
  registryAddress: string,
  nonce: number,
  value: Uint8Array,
): SignedManifestAnchor {
  const key = new SigningKey(accountKey);
  const identity = computeAddress(key);
  const hex = checkValue(value);
  const signature = key.sign(manifestAnchorDigest(requireAddress(registryAddress, "registry"), identity, nonce, hex));
  return { identity, value: hex, nonce, signature: signature.serialized };
}

/**
 * Checks a signed anchor from outside (the relay's input): shapes, size, and that the signature recovers to the
 * identity for `nonce`. SignatureError when it does not; InvalidInputError naming the field otherwise.
 */
export function parseSignedManifestAnchor(registryAddress: string, json: unknown): SignedManifestAnchor {
  if (typeof json !== "object" || json === null) throw new InvalidInputError("anchor", "expected an object");
  const input = json as Record<string, unknown>;
  const identity = requireAddress(input.identity, "identity");
  if (typeof input.value !== "string" || !isHexString(input.value) || input.value.length < 4)
    throw new InvalidInputError("value", "expected 0x-hex bytes");
  if ((input.value.length - 2) / 2 > MAX_ANCHOR_VALUE_BYTES)
    throw new InvalidInputError("value", `at most ${MAX_ANCHOR_VALUE_BYTES} bytes`);
  if (!Number.isSafeInteger(input.nonce) || (input.nonce as number) < 0)
    throw new InvalidInputError("nonce", "expected a whole number from 0");
  if (typeof input.signature !== "string" || !isHexString(input.signature, 65))
    throw new InvalidInputError("signature", "expected 65 bytes of 0x-hex");
  const value = input.value.toLowerCase();
  const nonce = input.nonce as number;
  const digest = manifestAnchorDigest(requireAddress(registryAddress, "registry"), identity, nonce, value);
  let signer: string;
  try {
    signer = recoverAddress(digest, input.signature);
  } catch (cause) {
    throw new SignatureError("the anchor signature is malformed", { cause });
  }
  if (signer !== identity) throw new SignatureError("the anchor signature is not the identity's over this value");
  return { identity, value, nonce, signature: input.signature };
}

/** The registry's current nonce of `identity` (what the next signed write must carry). */
export async function manifestAnchorNonce(
  provider: Provider,
  registryAddress: string,
  identity: string,
  options: AnchorReadOptions = {},
): Promise<number> {
  const ms = requireTimeoutMs(options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS, "readTimeoutMs");
  const data = registry.encodeFunctionData("nonce", [requireAddress(identity, "identity")]);
  const result = await askNode(
    node.call(provider, { to: requireAddress(registryAddress, "registry"), data }),
    ms,
    "manifest anchor: nonce",
  );
  return Number(registry.decodeFunctionResult("nonce", result)[0] as bigint);
}

/** The newest anchored value of `identity`, or undefined when it never anchored. */
export async function readManifestAnchor(
  provider: Provider,
  registryAddress: string,
  identity: string,
  options: AnchorReadOptions = {},
): Promise<ManifestAnchorValue | undefined> {
  const ms = requireTimeoutMs(options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS, "readTimeoutMs");
  const address = requireAddress(registryAddress, "registry");
  const who = requireAddress(identity, "identity");
  const changedData = registry.encodeFunctionData("changed", [who]);
  const changed = await askNode(
    node.call(provider, { to: address, data: changedData }),
    ms,
    "manifest anchor: changed",
  );
  let block = Number(registry.decodeFunctionResult("changed", changed)[0] as bigint);
  for (let hop = 0; block !== 0 && hop < MAX_CHANGE_HOPS; hop++) {
    const logs = await askNode(
      provider.getLogs({
        address,
        topics: [ATTRIBUTE_CHANGED, zeroPadValue(who, 32)],
        fromBlock: block,
        toBlock: block,
      }),
      ms,
      "manifest anchor: logs",
    );
    let previous = 0;
    for (let i = logs.length - 1; i >= 0; i--) {
      const parsed = registry.parseLog(logs[i]!);
      if (!parsed) continue;
      if (i === logs.length - 1) previous = Number(parsed.args.previousChange as bigint);
      if (parsed.args.name === ATTRIBUTE_NAME)
        return { value: getBytes(parsed.args.value as string), blockNumber: logs[i]!.blockNumber };
    }
    if (logs.length === 0) return undefined; // a pruned or reorganized block: nothing to follow
    block = previous;
  }
  return undefined;
}

/** Sends a signed anchor through `sender` (the relayer): simulated first, so a stale nonce costs nothing. */
export function sendManifestAnchor(
  sender: TransactionSender,
  registryAddress: string,
  signed: SignedManifestAnchor,
  options: { confirmations?: number } = {},
): Promise<MinedTransaction> {
  const signature = Signature.from(signed.signature);
  const data = registry.encodeFunctionData("setAttributeSigned", [
    signed.identity,
    signature.v,
    signature.r,
    signature.s,
    ATTRIBUTE_NAME,
    signed.value,
    MANIFEST_ANCHOR_VALIDITY,
  ]);
  return sender.send(
    { to: requireAddress(registryAddress, "registry"), data },
    { operation: "EthereumDIDRegistry.setAttributeSigned", abi: registry, confirmations: options.confirmations ?? 1 },
  );
}

function checkValue(value: Uint8Array): string {
  if (!(value instanceof Uint8Array) || value.length === 0 || value.length > MAX_ANCHOR_VALUE_BYTES)
    throw new InvalidInputError("value", `expected 1 to ${MAX_ANCHOR_VALUE_BYTES} bytes`);
  return hexlify(value);
}
