/**
 * Shared plumbing of the typed contract clients: validated reads, and writes through a
 * TransactionSender (serialized nonces, simulation first, bounded waits) with typed errors.
 *
 * Safety rules:
 * - Every read is bounded by `readTimeoutMs` (a node that does not answer gives
 *   ChainUnavailableError) and asked of the node itself (node-reads.ts), past ethers' request
 *   cache: a check pinned to "latest" right after a mined revoke is pinned to a block that has it.
 * - Only a successful deployment check is remembered; a failed or stalled one is asked again.
 * - Only typed errors (HygeiaChainError subclasses) come out.
 */
import { Contract, getAddress, type ContractRunner, type InterfaceAbi, type Log, type Provider } from "ethers";
import {
  ContractNotDeployedError,
  InvalidInputError,
  requireAddress,
  requireSmallUint,
  requireTimeoutMs,
  requireUint,
} from "../errors.ts";
import { toChainError } from "./chain-errors.ts";
import * as node from "./node-reads.ts";
import { askNode, senderFor, type MinedTransaction, type SendRequest, type TransactionSender } from "./sender.ts";

/**
 * What a client is built on: a TransactionSender or a Signer (wrapped in one; an ethers
 * NonceManager too) to write, a Provider to read only.
 */
export type ClientRunner = TransactionSender | ContractRunner;

/** A block number or tag for reads. Reads default to "latest". */
export type BlockTag = number | "latest" | "pending" | "safe" | "finalized";

/** Options every client takes. */
export interface ClientOptions {
  /**
   * Bound on each read of the chain (a view call, the deployment check, the chain id, a block or
   * log lookup). A node that does not answer within it gives ChainUnavailableError. Default 30 s.
   * Writes are bounded by their TransactionSender's options.
   */
  readTimeoutMs?: number;
}

export const DEFAULT_READ_TIMEOUT_MS = 30_000;

const BLOCK_TAGS: readonly string[] = ["latest", "pending", "safe", "finalized"];

/** A block number (a non-negative integer) or one of the tags; anything else is refused. */
export function requireBlockTag(value: unknown, field = "blockTag"): BlockTag {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
  if (typeof value === "string" && BLOCK_TAGS.includes(value)) return value as BlockTag;
  throw new InvalidInputError(
    field,
    `expected a block number or one of ${BLOCK_TAGS.join(", ")}, got ${typeof value === "string" ? JSON.stringify(value) : String(value)}`,
  );
}

/** Optional transaction settings; anything left out is filled in by the sender. */
export interface TxOptions {
  /** Skips gas estimation (the call is still simulated with eth_call first). */
  gasLimit?: bigint;
  /** Pins the nonce, e.g. to replace a stuck transaction; normally left to the sender. */
  nonce?: number;
  maxFeePerGas?: bigint;
  maxPriorityFeePerGas?: bigint;
  /** Blocks to wait for (default 1: mined). */
  confirmations?: number;
}

/** A mined transaction and the contract events it emitted. */
export interface TxOutcome<E> {
  readonly hash: string;
  readonly nonce: number;
  readonly blockNumber: number;
  readonly blockHash: string;
  readonly gasUsed: bigint;
  readonly events: readonly E[];
}

/** Where an event was found on chain. */
export interface LogPosition {
  readonly blockNumber: number;
  readonly blockHash: string;
  readonly transactionHash: string;
  readonly logIndex: number;
}

export function logPosition(log: Log): LogPosition {
  return {
    blockNumber: log.blockNumber,
    blockHash: log.blockHash,
    transactionHash: log.transactionHash,
    logIndex: log.index,
  };
}

export abstract class ContractClient<E> {
  readonly address: string;
  readonly contract: Contract;
  /** Sends this client's writes; undefined for a read-only client. */
  readonly sender: TransactionSender | undefined;
  /** Bound on each read, in milliseconds. */
  readonly readTimeoutMs: number;
  /** "ConsentRegistry", used in error messages. */
  protected readonly contractName: string;
  private deployed = false;
  private knownChainId: bigint | undefined;

  protected constructor(
    contractName: string,
    address: string,
    abi: InterfaceAbi,
    runner: ClientRunner,
    options: ClientOptions = {},
  ) {
    this.contractName = contractName;
    this.address = requireAddress(address, `${contractName} address`);
    this.readTimeoutMs = requireTimeoutMs(options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS, "readTimeoutMs");
    this.sender = senderFor(runner);
    // Reads go through the provider: a Signer or NonceManager is never used to send directly.
    const reader = this.sender ? this.sender.provider : (runner as ContractRunner);
    this.contract = new Contract(this.address, abi, reader);
  }

  /** Parses one log of this contract into a typed event, or undefined for events the client ignores. */
  protected abstract parseEvent(log: Log): E | undefined;

  get provider(): Provider {
    const provider = this.sender?.provider ?? this.contract.runner?.provider;
    if (!provider)
      throw new InvalidInputError("runner", `${this.contractName} client needs a runner connected to a provider`);
    return provider;
  }

  /** A view call at `blockTag`, bounded and past ethers' cache; the result decoded like ethers' staticCall. */
  protected async read<T>(method: string, args: readonly unknown[], blockTag: BlockTag = "latest"): Promise<T> {
    const operation = `${this.contractName}.${method}`;
    const tag = requireBlockTag(blockTag);
    const iface = this.contract.interface;
    try {
      await this.ensureDeployed();
      const data = iface.encodeFunctionData(method, args);
      const result = await this.ask(node.call(this.provider, { to: this.address, data }, tag), operation);
      const decoded = iface.decodeFunctionResult(method, result);
      return (decoded.length === 1 ? decoded[0] : decoded) as T;
    } catch (error) {
      throw toChainError(error, iface, operation, this.address);
    }
  }

  /**
   * `blockTag` as a block number (a named tag resolved once), so that several reads answer for one
   * block; "pending" stays as it is.
   */
  protected async pinBlock(blockTag: BlockTag, operation: string): Promise<number | "pending"> {
    const at = requireBlockTag(blockTag);
    if (typeof at === "number" || at === "pending") return at;
    const number = await this.ask(node.blockNumberOf(this.provider, at), operation).catch((error: unknown) => {
      throw toChainError(error, this.contract.interface, operation, this.address);
    });
    if (number === null) throw new InvalidInputError("blockTag", `the node has no ${at} block`);
    return number;
  }

  /** `request` bounded by readTimeoutMs: a node that does not answer gives ChainUnavailableError. */
  protected ask<T>(request: Promise<T>, operation: string): Promise<T> {
    return askNode(request, this.readTimeoutMs, operation);
  }

  /** The chain id (bounded), remembered once known. */
  protected async chainId(): Promise<bigint> {
    this.knownChainId ??= (await this.ask(this.provider.getNetwork(), `${this.contractName}: chain id`)).chainId;
    return this.knownChainId;
  }

  /** Validates synchronously (like the argument checks of every write), then sends and waits. */
  protected write(method: string, args: readonly unknown[], options: TxOptions = {}): Promise<TxOutcome<E>> {
    const operation = `${this.contractName}.${method}`;
    const sender = this.sender;
    if (!sender) throw new InvalidInputError("runner", `${operation} needs a Signer; this client is read-only`);
    const confirmations = requireSmallUint(options.confirmations ?? 1, 16, "confirmations");
    if (confirmations === 0) throw new InvalidInputError("confirmations", "must be at least 1 (mined)");
    const request: SendRequest = { to: this.address, data: this.contract.interface.encodeFunctionData(method, args) };
    if (options.gasLimit !== undefined) request.gasLimit = requireUint(options.gasLimit, 64, "gasLimit");
    if (options.nonce !== undefined) request.nonce = requireSmallUint(options.nonce, 48, "nonce");
    if (options.maxFeePerGas !== undefined)
      request.maxFeePerGas = requireUint(options.maxFeePerGas, 256, "maxFeePerGas");
    if (options.maxPriorityFeePerGas !== undefined)
      request.maxPriorityFeePerGas = requireUint(options.maxPriorityFeePerGas, 256, "maxPriorityFeePerGas");
    return sender
      .send(request, {
        confirmations,
        operation,
        abi: this.contract.interface,
        precheck: () => this.ensureDeployed(),
      })
      .then((mined) => this.outcome(mined));
  }

  /** Typed events of this contract in a receipt. */
  protected outcome({ receipt, nonce }: MinedTransaction): TxOutcome<E> {
    const events: E[] = [];
    for (const log of receipt.logs) {
      if (getAddress(log.address) !== this.address) continue;
      const event = this.parseEvent(log);
      if (event !== undefined) events.push(event);
    }
    return {
      hash: receipt.hash,
      nonce,
      blockNumber: receipt.blockNumber,
      blockHash: receipt.blockHash,
      gasUsed: receipt.gasUsed,
      events,
    };
  }

  /**
   * Until it succeeds once per client: a transaction to an address without code "succeeds" with
   * no effect, which for a consent grant or revoke would be a silent failure. Each call asks on its
   * own (bounded): one stalled request does not hold up the next call.
   */
  protected async ensureDeployed(): Promise<void> {
    if (this.deployed) return;
    const code = await this.ask(node.code(this.provider, this.address), `${this.contractName} deployment check`);
    if (code === "0x") {
      const chainId = await this.chainId();
      throw new ContractNotDeployedError(`no ${this.contractName} code at ${this.address} on chain ${chainId}`);
    }
    this.deployed = true;
  }
}
