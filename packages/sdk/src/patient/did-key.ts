/**
 * The patient's X25519 encryption key in its did:ethr document (ERC-1056), and anyone's keys read from theirs.
 *
 * Rules (the same as @hygeia/identity's `publishEncryptionKey`, done here through ethers and the registry contract so
 * the patient's path stays browser-safe):
 * - The key is published as the ERC-1056 attribute `did/pub/X25519/enc/base64` (value: the 32 raw bytes), valid for
 *   `validitySeconds` (default one year). Publishing makes it the DID's current and only key: every other listed
 *   X25519 key is revoked after it, so nobody wraps a record key to a key whose secret half is gone. Publishing the
 *   key that is already current and alone sends nothing.
 * - Decisions are taken on a fresh read of the chain (a new resolution), never on a cached document.
 * - A write costs ETH. A wallet without enough is refused before anything is sent (`INSUFFICIENT_FUNDS`, kind
 *   "refused", naming the address to fund); nothing is half-done by that refusal.
 * - Keys are read with ethr-did-resolver and validated by @hygeia/crypto (`x25519KeysFromDidDocument`): the current
 *   key (published last, the highest `#delegate-N`) first. References the resolver leaves to revoked keys are
 *   dropped first (ethr-did-resolver 11 keeps them in `keyAgreement`), as identity's resolver does.
 */
import { x25519KeysFromDidDocument, HygeiaCryptoError, type RecipientKey } from "@hygeia/crypto";
import { EthereumDIDRegistryAbi } from "@hygeia/chain/browser";
import { Resolver, type DIDDocument } from "did-resolver";
import { getResolver as getEthrResolver } from "ethr-did-resolver";
import {
  Contract,
  getAddress,
  hexlify,
  isAddress,
  isError,
  toUtf8Bytes,
  zeroPadBytes,
  type ContractTransactionResponse,
  type Signer,
} from "ethers";
import { HygeiaSdkError, SdkInputError, ServiceUnreachableError } from "../errors.ts";
import type { HygeiaConnection } from "../connection.ts";

/** The ERC-1056 attribute name of an X25519 key-agreement key (as identity publishes it). */
export const X25519_ATTRIBUTE = "did/pub/X25519/enc/base64";
/** Default on-chain validity of a published key: one year. */
export const DEFAULT_KEY_VALIDITY_SECONDS = 365 * 86_400;

/** One X25519 key of a DID: its verification method id (what wraps are named by) and the key. */
export interface EncryptionKey extends RecipientKey {
  /** The key published last: the one the DID's holder uses now. */
  current: boolean;
}

export interface PublishKeyOptions {
  /** Seconds the attribute stays valid on chain; default one year. */
  validitySeconds?: number;
  /** Publish again even when the key is already current (to extend its validity). */
  renew?: boolean;
}

export interface PublishKeyResult {
  /** Whether any transaction was sent. */
  changed: boolean;
  /** The hashes of the mined transactions, in order. */
  transactions: string[];
  /** The DID's keys after the write (the published one alone, current). */
  keys: EncryptionKey[];
}

/** `did:ethr:0x<chain id hex>:<address, lowercase>` of an address on the connection's chain. */
export function didOf(address: string, chainId: number): string {
  return `did:ethr:0x${chainId.toString(16)}:${getAddress(address).toLowerCase()}`;
}

/**
 * The Ethereum address a did:ethr (with an address, on any network segment) or a bare address names; checksummed.
 * Anything else is an INVALID_INPUT usage error naming `field`.
 */
export function addressOf(didOrAddress: string, field = "did"): string {
  const id =
    typeof didOrAddress === "string" && didOrAddress.startsWith("did:ethr:")
      ? didOrAddress.split(/[#?]/)[0]!.split(":").pop()!
      : didOrAddress;
  if (typeof id !== "string" || !isAddress(id) || !/^0x[0-9a-fA-F]{40}$/.test(id))
    throw new SdkInputError(
      field,
      `"${String(didOrAddress).slice(0, 80)}" is neither an Ethereum address nor a did:ethr naming one`,
      "Give a did:ethr:<chain>:0x… DID or a 0x… address (40 hex digits).",
    );
  return getAddress(id.toLowerCase());
}

const resolvers = new WeakMap<HygeiaConnection, Resolver>();

function resolverOf(connection: HygeiaConnection): Resolver {
  let resolver = resolvers.get(connection);
  if (!resolver) {
    resolver = new Resolver(
      getEthrResolver({
        networks: [
          {
            chainId: connection.deployment.chainId,
            // ethr-did-resolver is typed against its own copy of ethers' Provider; the object is the same.
            provider: connection.provider as never,
            registry: connection.deployment.contracts.EthereumDIDRegistry,
          },
        ],
      }),
      { cache: false },
    );
    resolvers.set(connection, resolver);
  }
  return resolver;
}

/** The current did:ethr document of `didOrAddress` on the connection's chain (always read fresh). */
export async function resolveDid(connection: HygeiaConnection, didOrAddress: string): Promise<DIDDocument> {
  const did = didOf(addressOf(didOrAddress), connection.deployment.chainId);
  const result = await resolverOf(connection).resolve(did);
  if (result.didResolutionMetadata.error || !result.didDocument) {
    const reason = String(result.didResolutionMetadata.message ?? result.didResolutionMetadata.error ?? "no document");
    throw new ServiceUnreachableError("chain", connection.rpcUrl, `resolving ${did} failed: ${reason.split("\n")[0]}`);
  }
  return dropDanglingReferences(result.didDocument);
}

/**
 * The X25519 keys `didOrAddress` publishes, current first (then older ones still listed, newest first); an empty list
 * when it publishes none. A document whose keys are unusable is an `UNUSABLE_DID_KEY` refusal (its holder's problem).
 */
export async function encryptionKeysOf(connection: HygeiaConnection, didOrAddress: string): Promise<EncryptionKey[]> {
  const document = await resolveDid(connection, didOrAddress);
  if ((document.keyAgreement ?? []).length === 0) return [];
  let keys: RecipientKey[];
  try {
    keys = x25519KeysFromDidDocument(document);
  } catch (cause) {
    if (!(cause instanceof HygeiaCryptoError)) throw cause;
    throw new HygeiaSdkError("UNUSABLE_DID_KEY", "refused", `${document.id} publishes an unusable encryption key`, {
      hint: "Ask its holder to publish their X25519 key again (hygeia did publish-key).",
      cause,
    });
  }
  return orderKeys(keys);
}

/**
 * Makes `publicKey` the current and only X25519 key of the signer's did:ethr (see the rules above). `signer` must be
 * able to send transactions on the connection's chain (an ethers Signer with a provider) and own its DID.
 */
export async function publishEncryptionKey(
  connection: HygeiaConnection,
  signer: Signer,
  publicKey: Uint8Array,
  options: PublishKeyOptions = {},
): Promise<PublishKeyResult> {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32)
    throw new SdkInputError("publicKey", "must be a 32-byte X25519 public key");
  const validity = options.validitySeconds ?? DEFAULT_KEY_VALIDITY_SECONDS;
  if (!Number.isSafeInteger(validity) || validity < 1 || validity > 100 * 365 * 86_400)
    throw new SdkInputError("validitySeconds", "must be a whole number of seconds, 1 to 100 years");
  const identity = getAddress(await signer.getAddress());
  const registry = new Contract(connection.deployment.contracts.EthereumDIDRegistry, EthereumDIDRegistryAbi, signer);
  const name = zeroPadBytes(toUtf8Bytes(X25519_ATTRIBUTE), 32);
  const before = await encryptionKeysOf(connection, identity);
  const mine = before.find((key) => sameKey(key.publicKey, publicKey));
  const toRevoke = before.filter((key) => !sameKey(key.publicKey, publicKey));
  const publish = !mine?.current || options.renew === true;
  if (!publish && toRevoke.length === 0) return { changed: false, transactions: [], keys: before };

  const calls = [
    ...(publish ? [() => registry.getFunction("setAttribute")(identity, name, hexlify(publicKey), validity)] : []),
    ...toRevoke.map((key) => () => registry.getFunction("revokeAttribute")(identity, name, hexlify(key.publicKey))),
  ];
  await assertCanPay(connection, identity, calls.length);
  const transactions: string[] = [];
  for (const call of calls) transactions.push(await send(connection, identity, call));
  return { changed: true, transactions, keys: await encryptionKeysOf(connection, identity) };
}

/** Refuses before anything is sent when the wallet cannot pay for `count` registry writes. */
async function assertCanPay(connection: HygeiaConnection, address: string, count: number): Promise<void> {
  const [balance, fees] = await Promise.all([
    connection.provider.getBalance(address),
    connection.provider.getFeeData(),
  ]);
  const gasPrice = fees.maxFeePerGas ?? fees.gasPrice ?? 0n;
  // An attribute write takes ≈ 30–50k gas; 80k each is a safe bound for the check.
  if (balance < gasPrice * 80_000n * BigInt(count)) throw insufficientFunds(address);
}

async function send(
  connection: HygeiaConnection,
  address: string,
  call: () => Promise<ContractTransactionResponse>,
): Promise<string> {
  let response: ContractTransactionResponse;
  try {
    response = await call();
  } catch (cause) {
    if (isError(cause, "INSUFFICIENT_FUNDS")) throw insufficientFunds(address, cause);
    if (isError(cause, "ACTION_REJECTED"))
      throw new HygeiaSdkError("TRANSACTION_DECLINED", "auth", "the wallet declined the DID registry transaction", {
        hint: "Approve the transaction in your wallet to publish your encryption key.",
        cause,
      });
    if (isError(cause, "NETWORK_ERROR") || isError(cause, "SERVER_ERROR") || isError(cause, "TIMEOUT"))
      throw new ServiceUnreachableError("chain", connection.rpcUrl, "the DID registry write could not be sent", {
        cause,
      });
    throw cause;
  }
  const receipt = await response.wait();
  if (!receipt || receipt.status !== 1)
    throw new HygeiaSdkError("TRANSACTION_FAILED", "unavailable", `the DID registry write ${response.hash} failed`, {
      hint: "Check that the deployment's EthereumDIDRegistry is the one on this chain, then try again.",
    });
  return response.hash;
}

function insufficientFunds(address: string, cause?: unknown): HygeiaSdkError {
  return new HygeiaSdkError(
    "INSUFFICIENT_FUNDS",
    "refused",
    `${address} has not enough ETH to pay for publishing its encryption key (a DID registry transaction)`,
    {
      hint: `Send a little ETH to ${address} (on the local stack: npm run fund -- ${address}), then publish again.`,
      field: "signer",
      cause,
    },
  );
}

/** Keeps only keyAgreement references that still point at a verification method in the document. */
function dropDanglingReferences(document: DIDDocument): DIDDocument {
  const ids = new Set((document.verificationMethod ?? []).map((method) => method.id));
  if (!document.keyAgreement) return document;
  return {
    ...document,
    keyAgreement: document.keyAgreement.filter((ref) => (typeof ref === "string" ? ids.has(ref) : true)),
  };
}

/** Current first: ethr-did-resolver numbers keys `#delegate-N` in event order, so the highest N was published last. */
function orderKeys(keys: readonly RecipientKey[]): EncryptionKey[] {
  const ranked = keys.map((key, index) => {
    const published = /#delegate-(\d+)$/.exec(key.id)?.[1];
    return { key, rank: published === undefined ? -1 - index / keys.length : Number(published) };
  });
  ranked.sort((a, b) => b.rank - a.rank);
  return ranked.map(({ key }, index) => ({ id: key.id, publicKey: key.publicKey, current: index === 0 }));
}

export function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, index) => byte === b[index]);
}
