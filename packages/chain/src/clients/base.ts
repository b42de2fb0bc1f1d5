/**
 * Shared plumbing of the typed contract clients: validated reads, and writes through a
 * TransactionSender (serialized nonces, simulation first, bounded waits) with typed errors.
 */
import { Contract, getAddress, type ContractRunner, type InterfaceAbi, type Log, type Provider } from "ethers";
import {
  ContractNotDeployedError,
  InvalidInputError,
  requireAddress,
  requireSmallUint,
  requireUint,
} from "../errors.ts";
import { toChainError } from "./chain-errors.ts";
import { senderFor, type MinedTransaction, type SendRequest, type TransactionSender } from "./sender.ts";

/**
 * What a client is built on: a TransactionSender or a Signer (wrapped in one; an ethers
 * NonceManager too) to write, a Provider to read only.
 */
export type ClientRunner = TransactionSender | ContractRunner;

/** A block number or tag for reads. Reads default to "latest". */
export type BlockTag = number | "latest" | "pending" | "safe" | "finalized";

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
  /** "ConsentRegistry", used in error messages. */
  protected readonly contractName: string;
  private deployedCheck: Promise<void> | undefined;

  protected constructor(contractName: string, address: string, abi: InterfaceAbi, runner: ClientRunner) {
    this.contractName = contractName;
    this.address = requireAddress(address, `${contractName} address`);
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

  protected async read<T>(method: string, args: readonly unknown[], blockTag: BlockTag = "latest"): Promise<T> {
    const operation = `${this.contractName}.${method}`;
    try {
      await this.ensureDeployed();
      return (await this.contract.getFunction(method).staticCall(...args, { blockTag })) as T;
    } catch (error) {
      throw toChainError(error, this.contract.interface, operation, this.address);
    }
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
   * Checked once per client: a transaction to an address without code "succeeds" with no effect,
   * which for a consent grant or revoke would be a silent failure.
   */
  protected ensureDeployed(): Promise<void> {
    this.deployedCheck ??= (async () => {
      const code = await this.provider.getCode(this.address);
      if (code === "0x") {
        const { chainId } = await this.provider.getNetwork();
        throw new ContractNotDeployedError(`no ${this.contractName} code at ${this.address} on chain ${chainId}`);
      }
    })();
    // A failed check (node down, nothing deployed yet) is retried next time.
    this.deployedCheck.catch(() => (this.deployedCheck = undefined));
    return this.deployedCheck;
  }
}
