/**
 * Requests asked of the node itself, past ethers' request cache.
 *
 * Why: an ethers provider shares identical requests made within its `cacheTimeout` (250 ms by
 * default), so through `getTransactionCount`, `call`, `estimateGas`, `getBlockNumber` or
 * `getTransactionReceipt` an answer can predate a write the caller has just seen mined: a nonce
 * already used (NONCE_EXPIRED), a consent just revoked still "allowed", a simulation that no
 * longer holds, a receipt "not there" while the account's count says it was mined. A JSON-RPC
 * provider's `send` caches nothing (and skips ethers' per-call network check), so every read of the
 * sender, the clients and the indexer goes through it. Other providers (FallbackProvider, custom ones) have no
 * `send` and are asked through their methods, with their own caching.
 *
 * Nothing here is bounded: callers bound each request (see `bounded` in sender.ts).
 */
import { getNumber, toQuantity, type JsonRpcTransactionRequest, type Provider, type TransactionRequest } from "ethers";

/** A block number or tag, as the clients' reads take it. */
export type ReadTag = number | "latest" | "pending" | "safe" | "finalized";

interface JsonRpcLike {
  send(method: string, params: unknown[]): Promise<unknown>;
  getRpcTransaction(tx: TransactionRequest): JsonRpcTransactionRequest;
}

/** The provider when it speaks JSON-RPC (JsonRpcProvider, WebSocketProvider, BrowserProvider). */
function jsonRpc(provider: Provider): JsonRpcLike | undefined {
  const candidate = provider as Partial<JsonRpcLike>;
  return typeof candidate.send === "function" && typeof candidate.getRpcTransaction === "function"
    ? (provider as unknown as JsonRpcLike)
    : undefined;
}

function rpcTag(tag: ReadTag): string {
  return typeof tag === "number" ? toQuantity(tag) : tag;
}

/** The account's transaction count at `tag` ("pending": including the node's pool). */
export async function transactionCount(
  provider: Provider,
  address: string,
  tag: "latest" | "pending",
): Promise<number> {
  const rpc = jsonRpc(provider);
  if (!rpc) return provider.getTransactionCount(address, tag);
  return getNumber((await rpc.send("eth_getTransactionCount", [address, tag])) as string, "eth_getTransactionCount");
}

/** The head's number. */
export async function blockNumber(provider: Provider): Promise<number> {
  const rpc = jsonRpc(provider);
  if (!rpc) return provider.getBlockNumber();
  return getNumber((await rpc.send("eth_blockNumber", [])) as string, "eth_blockNumber");
}

/** The number of the block `tag` names, or null when the node has no such block. */
export async function blockNumberOf(provider: Provider, tag: ReadTag): Promise<number | null> {
  if (typeof tag === "number") return tag;
  const rpc = jsonRpc(provider);
  if (!rpc) return (await provider.getBlock(tag))?.number ?? null;
  if (tag === "latest") return blockNumber(provider);
  const block = (await rpc.send("eth_getBlockByNumber", [tag, false])) as { number?: string } | null;
  return block?.number ? getNumber(block.number, "eth_getBlockByNumber") : null;
}

/** What the indexer needs of a block header. */
export interface BlockHeader {
  readonly number: number;
  readonly hash: string;
  readonly parentHash: string;
  readonly timestamp: number;
}

/**
 * The header of block `tag`, or null when the node has no such block (or, for "pending", no hash
 * yet). Past the cache matters for the indexer: a "latest" from before a revoke just mined, or a
 * block by number from before a reorg, would make sync() miss what the caller has just seen.
 */
export async function header(provider: Provider, tag: ReadTag): Promise<BlockHeader | null> {
  const rpc = jsonRpc(provider);
  if (!rpc) {
    const block = await provider.getBlock(tag);
    if (!block || block.hash === null) return null;
    return { number: block.number, hash: block.hash, parentHash: block.parentHash, timestamp: block.timestamp };
  }
  const raw = (await rpc.send("eth_getBlockByNumber", [rpcTag(tag), false])) as {
    number?: string | null;
    hash?: string | null;
    parentHash?: string;
    timestamp?: string;
  } | null;
  if (!raw?.number || !raw.hash || typeof raw.parentHash !== "string" || typeof raw.timestamp !== "string") return null;
  return {
    number: getNumber(raw.number, "block.number"),
    hash: raw.hash,
    parentHash: raw.parentHash,
    timestamp: getNumber(raw.timestamp, "block.timestamp"),
  };
}

/** The code at `address` ("0x" when none). */
export async function code(provider: Provider, address: string): Promise<string> {
  const rpc = jsonRpc(provider);
  if (!rpc) return provider.getCode(address);
  return (await rpc.send("eth_getCode", [address, "latest"])) as string;
}

/** eth_call at `tag`; a revert rejects with ethers' CALL_EXCEPTION (revert data in `.data`). */
export async function call(provider: Provider, tx: TransactionRequest, tag: ReadTag = "latest"): Promise<string> {
  const rpc = jsonRpc(provider);
  if (!rpc) return provider.call({ ...tx, blockTag: tag });
  return (await rpc.send("eth_call", [rpc.getRpcTransaction(tx), rpcTag(tag)])) as string;
}

/** eth_estimateGas; a revert rejects with ethers' CALL_EXCEPTION. */
export async function estimateGas(provider: Provider, tx: TransactionRequest): Promise<bigint> {
  const rpc = jsonRpc(provider);
  if (!rpc) return provider.estimateGas(tx);
  return BigInt((await rpc.send("eth_estimateGas", [rpc.getRpcTransaction(tx)])) as string);
}

/** Broadcasts a signed transaction; the node's refusal rejects with ethers' coded error (NONCE_EXPIRED, ...). */
export async function broadcast(provider: Provider, signed: string): Promise<void> {
  const rpc = jsonRpc(provider);
  if (!rpc) await provider.broadcastTransaction(signed);
  else await rpc.send("eth_sendRawTransaction", [signed]);
}

/** Where a transaction was mined and how it ended; null while it is not mined. */
export interface MinedAt {
  readonly blockNumber: number;
  readonly blockHash: string;
  /** 1 success, 0 reverted; null on pre-Byzantium chains. */
  readonly status: number | null;
}

export async function minedAt(provider: Provider, hash: string): Promise<MinedAt | null> {
  const rpc = jsonRpc(provider);
  if (!rpc) {
    const receipt = await provider.getTransactionReceipt(hash);
    return receipt && { blockNumber: receipt.blockNumber, blockHash: receipt.blockHash, status: receipt.status };
  }
  const raw = (await rpc.send("eth_getTransactionReceipt", [hash])) as {
    blockNumber?: string | null;
    blockHash?: string | null;
    status?: string | null;
  } | null;
  if (!raw?.blockNumber || !raw.blockHash) return null; // some nodes answer a pending transaction without a block
  return {
    blockNumber: getNumber(raw.blockNumber, "receipt.blockNumber"),
    blockHash: raw.blockHash,
    status: raw.status == null ? null : getNumber(raw.status, "receipt.status"),
  };
}
