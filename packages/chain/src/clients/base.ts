/** Shared plumbing of the typed contract clients: validated reads and writes with typed errors. */
import {
  Contract,
  getAddress,
  type ContractRunner,
  type InterfaceAbi,
  type Log,
  type Provider,
  type TransactionReceipt,
} from "ethers";
import { ContractNotDeployedError, InvalidInputError, requireAddress, requireSmallUint } from "../errors.ts";
import { toChainError } from "./chain-errors.ts";

/** A block number or tag for reads. Reads default to "latest". */
export type BlockTag = number | "latest" | "pending" | "safe" | "finalized";

/** Optional transaction settings; anything left out is filled in by the signer/provider. */
export interface TxOptions {
  gasLimit?: bigint;
  nonce?: number;
  maxFeePerGas?: bigint;
  maxPriorityFeePerGas?: bigint;
  /** Blocks to wait for (default 1: mined). */
  confirmations?: number;
}

/** A mined transaction and the contract events it emitted. */
export interface TxOutcome<E> {
  readonly hash: string;
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
  /** "ConsentRegistry", used in error messages. */
  protected readonly contractName: string;
  private deployedCheck: Promise<void> | undefined;

  protected constructor(contractName: string, address: string, abi: InterfaceAbi, runner: ContractRunner) {
    this.contractName = contractName;
    this.address = requireAddress(address, `${contractName} address`);
    this.contract = new Contract(this.address, abi, runner);
  }

  /** Parses one log of this contract into a typed event, or undefined for events the client ignores. */
  protected abstract parseEvent(log: Log): E | undefined;

  get provider(): Provider {
    const provider = this.contract.runner?.provider;
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
    const runner = this.contract.runner;
    if (!runner || typeof runner.sendTransaction !== "function") {
      throw new InvalidInputError("runner", `${operation} needs a Signer; this client is read-only`);
    }
    const confirmations = requireSmallUint(options.confirmations ?? 1, 16, "confirmations");
    const { confirmations: _ignored, ...overrides } = options;
    return this.send(operation, method, args, overrides, confirmations);
  }

  private async send(
    operation: string,
    method: string,
    args: readonly unknown[],
    overrides: Omit<TxOptions, "confirmations">,
    confirmations: number,
  ): Promise<TxOutcome<E>> {
    let receipt: TransactionReceipt | null;
    try {
      await this.ensureDeployed();
      const tx = await this.contract.getFunction(method).send(...args, overrides);
      receipt = await tx.wait(confirmations);
    } catch (error) {
      throw toChainError(error, this.contract.interface, operation, this.address);
    }
    if (!receipt)
      throw toChainError(
        new Error("transaction was dropped or replaced"),
        this.contract.interface,
        operation,
        this.address,
      );
    return this.outcome(receipt);
  }

  /** Typed events of this contract in a receipt. */
  protected outcome(receipt: TransactionReceipt): TxOutcome<E> {
    const events: E[] = [];
    for (const log of receipt.logs) {
      if (getAddress(log.address) !== this.address) continue;
      const event = this.parseEvent(log);
      if (event !== undefined) events.push(event);
    }
    return {
      hash: receipt.hash,
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
