/**
 * TransactionSender: how every write of this package reaches the chain, fit for a relayer that
 * sends thousands of transactions from one account.
 *
 * Safety rules:
 * - One lane per account (per provider and address; a user's ethers NonceManager is its own lane):
 *   nonces are taken one at a time, in call order, so concurrent writes get consecutive nonces.
 * - Simulate before taking a nonce: a call that would revert (eth_estimateGas, or eth_call when an
 *   explicit gasLimit skips estimation) fails with its decoded reason and never consumes a nonce,
 *   so it cannot leave a gap that stalls every later write.
 * - The nonce comes from the chain (`pending` count) whenever none of the account's transactions
 *   is in flight (so a transaction sent elsewhere, a dropped one or a rewound chain is noticed
 *   before the next write), and again after any failure whose effect on it is unknown: a failed
 *   or timed-out broadcast, a timed-out wait, a replacement. While transactions are in flight the
 *   lane counts locally, so a burst is pipelined. A node answering "nonce too low" / "replacement
 *   underpriced" (the account moved under us) is retried with a fresh nonce: that transaction was
 *   certainly not accepted.
 * - Every wait is bounded: preparing (deployment check, simulation, fees) and broadcasting by
 *   `sendTimeoutMs`, mining by `inclusionTimeoutMs`, further confirmations by
 *   `confirmationTimeoutMs`. Nothing sent yet → ChainUnavailableError; sent → TransactionTimeoutError
 *   with the hash and nonce (the transaction may still be mined: check the hash).
 */
import {
  Interface,
  JsonRpcSigner,
  NonceManager,
  Transaction,
  getAddress,
  isError,
  type Provider,
  type Signer,
  type TransactionReceipt,
  type TransactionRequest,
} from "ethers";
import {
  ChainUnavailableError,
  ContractRevertError,
  InvalidInputError,
  TransactionReplacedError,
  TransactionTimeoutError,
  requireSmallUint,
  type TransactionPhase,
} from "../errors.ts";
import { networkFailureReason, toChainError } from "./chain-errors.ts";

export interface SenderOptions {
  /** Bound on preparing a transaction (deployment check, simulation, fees) and, separately, on its broadcast. Default 30 s. */
  sendTimeoutMs?: number;
  /** Bound from broadcast until the transaction is mined. Default 3 minutes. */
  inclusionTimeoutMs?: number;
  /** Bound from mined until `confirmations` blocks deep. Default 10 minutes. */
  confirmationTimeoutMs?: number;
  /** How often to ask the node for the receipt / the head while waiting. Default 1 s. */
  pollIntervalMs?: number;
}

/** A transaction to send. `nonce` pins the nonce (e.g. to replace a stuck transaction); leave it out otherwise. */
export interface SendRequest {
  /** Target; left out (or null) for a contract creation. */
  to?: string | null;
  data?: string;
  value?: bigint;
  gasLimit?: bigint;
  nonce?: number;
  gasPrice?: bigint;
  maxFeePerGas?: bigint;
  maxPriorityFeePerGas?: bigint;
}

export interface SendOptions {
  /** Blocks deep before the promise resolves; 1 = mined (default). */
  confirmations?: number;
  /** Names the write in errors ("ConsentRegistry.grant"). */
  operation?: string;
  /** ABI whose custom errors decode reverts. */
  abi?: Interface;
  /** Awaited before simulating (e.g. "is there code at the address?"); bounded like the preparation. */
  precheck?: () => Promise<void>;
}

/** A transaction mined and at least `confirmations` deep. */
export interface MinedTransaction {
  readonly hash: string;
  readonly nonce: number;
  readonly receipt: TransactionReceipt;
}

const DEFAULTS: Required<SenderOptions> = {
  sendTimeoutMs: 30_000,
  inclusionTimeoutMs: 180_000,
  confirmationTimeoutMs: 600_000,
  pollIntervalMs: 1_000,
};
/** Fresh-nonce retries after "nonce too low" / "replacement underpriced" before giving up. */
const NONCE_RETRIES = 3;
const NO_ERRORS = new Interface([]);

export class TransactionSender {
  /** The signer given (a NonceManager stays one: its counter is kept in step). */
  readonly signer: Signer;
  readonly provider: Provider;
  private readonly signing: Signer;
  private readonly manager: NonceManager | undefined;
  private readonly options: Required<SenderOptions>;

  /** `signer` must be connected to a provider. A TransactionSender given here is returned by `from`. */
  constructor(signer: Signer, options: SenderOptions = {}) {
    if (!isSigner(signer)) throw new InvalidInputError("signer", "expected an ethers Signer");
    if (!signer.provider) throw new InvalidInputError("signer", "the signer must be connected to a provider");
    this.signer = signer;
    this.provider = signer.provider;
    this.manager = asNonceManager(signer);
    this.signing = this.manager?.signer ?? signer;
    this.options = { ...DEFAULTS };
    for (const key of Object.keys(DEFAULTS) as (keyof SenderOptions)[]) {
      const value = options[key];
      if (value === undefined) continue;
      if (!Number.isSafeInteger(value) || value <= 0)
        throw new InvalidInputError(key, `expected a positive number of milliseconds, got ${String(value)}`);
      this.options[key] = value;
    }
  }

  /** The sender itself, or a new sender with default options around a Signer. */
  static from(runner: TransactionSender | Signer, options?: SenderOptions): TransactionSender {
    return runner instanceof TransactionSender ? runner : new TransactionSender(runner, options);
  }

  async getAddress(): Promise<string> {
    return (await AccountLane.of(this.signing, this.provider, this.manager)).address;
  }

  /** Forgets the local nonce: the next transaction reads it from the chain again. */
  async resync(): Promise<void> {
    (await AccountLane.of(this.signing, this.provider, this.manager)).resync();
  }

  /**
   * Simulates, takes the next nonce, signs, broadcasts and waits for `confirmations`. Resolves
   * with the receipt; rejects with the package's typed errors (ContractRevertError,
   * ChainUnavailableError, TransactionTimeoutError, TransactionReplacedError, ...).
   */
  send(request: SendRequest, options: SendOptions = {}): Promise<MinedTransaction> {
    const operation = options.operation ?? "transaction";
    const confirmations = requireSmallUint(options.confirmations ?? 1, 16, "confirmations");
    if (confirmations === 0) throw new InvalidInputError("confirmations", "must be at least 1 (mined)");
    if (request.nonce !== undefined) requireSmallUint(request.nonce, 48, "nonce");
    const abi = options.abi ?? NO_ERRORS;
    const target = request.to ?? "(contract creation)";
    const run = async (lane: AccountLane): Promise<MinedTransaction> => {
      // Preparation starts now, concurrently with earlier writes; only nonce + broadcast are serialized.
      const prepared = this.prepare(lane, request, options.precheck, operation);
      prepared.catch(() => undefined); // awaited in the lane; keep Node from flagging it meanwhile
      const sent = await lane.serialize(() => this.broadcast(lane, prepared, request.nonce, operation));
      try {
        return { ...sent, receipt: await this.waitMined(lane, sent, confirmations, operation) };
      } finally {
        lane.settled();
      }
    };
    // A lane known synchronously takes its place in line now, so call order is nonce order.
    const lane = AccountLane.of(this.signing, this.provider, this.manager);
    const outcome = lane instanceof AccountLane ? run(lane) : lane.then(run);
    return outcome.catch((error: unknown) => {
      throw toChainError(error, abi, operation, target);
    });
  }

  /** Everything that needs no nonce: precheck, simulation / gas estimate, fees and chain id. */
  private async prepare(
    lane: AccountLane,
    request: SendRequest,
    precheck: (() => Promise<void>) | undefined,
    operation: string,
  ): Promise<TransactionRequest> {
    const { nonce: _nonce, ...fields } = request;
    const run = async (): Promise<TransactionRequest> => {
      if (precheck) await precheck();
      const tx: TransactionRequest = { ...fields, from: lane.address };
      if (tx.gasLimit === undefined) tx.gasLimit = await this.provider.estimateGas(tx);
      else await this.provider.call(tx); // an explicit gasLimit skips estimation; still refuse a revert here
      if (this.signing instanceof JsonRpcSigner) return tx; // the node's wallet fills in fees
      // Placeholder nonce: the real one is set in the lane, where nothing else needs the network.
      return await this.signing.populateTransaction({ ...tx, nonce: 0 });
    };
    return bounded(run(), this.options.sendTimeoutMs, () => {
      return new ChainUnavailableError(
        `${operation}: the chain node did not answer within ${this.options.sendTimeoutMs} ms; nothing was sent`,
      );
    });
  }

  /** In the lane: take a nonce, sign, broadcast. Retries with a fresh nonce when the account moved under us. */
  private async broadcast(
    lane: AccountLane,
    prepared: Promise<TransactionRequest>,
    pinnedNonce: number | undefined,
    operation: string,
  ): Promise<{ hash: string; nonce: number }> {
    const tx = await prepared; // a simulation failure ends here, before any nonce is taken
    for (let attempt = 0; ; attempt++) {
      const nonce = await lane.take(pinnedNonce);
      let hash: string | undefined;
      try {
        const sending = (async () => {
          if (this.signing instanceof JsonRpcSigner) {
            return (hash = await this.signing.sendUncheckedTransaction({ ...tx, nonce }));
          }
          const raw = await this.signing.signTransaction({ ...tx, nonce });
          hash = Transaction.from(raw).hash!;
          await this.provider.broadcastTransaction(raw);
          return hash;
        })();
        const sentHash = await bounded(sending, this.options.sendTimeoutMs, () =>
          timeout(operation, "send", this.options.sendTimeoutMs, hash, nonce),
        );
        if (pinnedNonce !== undefined) lane.resync(); // the counter does not know about a pinned nonce
        return { hash: sentHash, nonce };
      } catch (error) {
        lane.settled();
        const nonceTaken = isError(error, "NONCE_EXPIRED") || isError(error, "REPLACEMENT_UNDERPRICED");
        lane.resync();
        if (nonceTaken && pinnedNonce === undefined && attempt < NONCE_RETRIES) continue;
        throw error;
      }
    }
  }

  /** Polls for the receipt (bounded), watches for a replacement, then for the confirmations. */
  private async waitMined(
    lane: AccountLane,
    sent: { hash: string; nonce: number },
    confirmations: number,
    operation: string,
  ): Promise<TransactionReceipt> {
    const { hash, nonce } = sent;
    const { inclusionTimeoutMs, confirmationTimeoutMs, pollIntervalMs } = this.options;
    const fail = (phase: TransactionPhase, limit: number): never => {
      throw timeout(operation, phase, limit, hash, nonce);
    };
    const ask = <T>(call: Promise<T>, deadline: number, phase: TransactionPhase, limit: number) =>
      bounded(call, Math.max(1, deadline - Date.now()), () => timeout(operation, phase, limit, hash, nonce));

    let deadline = Date.now() + inclusionTimeoutMs;
    let receipt: TransactionReceipt | null = null;
    try {
      for (;;) {
        receipt = await ask(this.provider.getTransactionReceipt(hash), deadline, "inclusion", inclusionTimeoutMs);
        if (receipt) break;
        const used = await ask(
          this.provider.getTransactionCount(lane.address, "latest"),
          deadline,
          "inclusion",
          inclusionTimeoutMs,
        );
        if (used > nonce) {
          receipt = await ask(this.provider.getTransactionReceipt(hash), deadline, "inclusion", inclusionTimeoutMs);
          if (receipt) break;
          lane.resync();
          throw new TransactionReplacedError(operation, hash, nonce);
        }
        if (Date.now() + pollIntervalMs > deadline) fail("inclusion", inclusionTimeoutMs);
        await sleep(pollIntervalMs);
      }
      deadline = Date.now() + confirmationTimeoutMs;
      while (confirmations > 1) {
        const head = await ask(this.provider.getBlockNumber(), deadline, "confirmations", confirmationTimeoutMs);
        if (head - receipt.blockNumber + 1 >= confirmations) {
          // Re-read: a reorg may have moved the transaction to another block, or out.
          const again = await ask(
            this.provider.getTransactionReceipt(hash),
            deadline,
            "confirmations",
            confirmationTimeoutMs,
          );
          if (again && head - again.blockNumber + 1 >= confirmations) {
            receipt = again;
            break;
          }
          if (again) receipt = again;
        }
        if (Date.now() + pollIntervalMs > deadline) fail("confirmations", confirmationTimeoutMs);
        await sleep(pollIntervalMs);
      }
    } catch (error) {
      // Stuck, dropped or unobservable: whatever the next write does, it must ask the chain.
      lane.resync();
      const unreachable = networkFailureReason(error);
      if (unreachable === undefined) throw error;
      throw new ChainUnavailableError(
        `${operation}: transaction ${hash} (nonce ${nonce}) was sent, then the chain node became unavailable ` +
          `(${unreachable}); it may still be mined: check ${hash} before sending it again`,
        { cause: error },
      );
    }
    if (receipt.status !== 1) {
      // Mined but reverted (state changed between simulation and inclusion); receipts carry no reason.
      throw new ContractRevertError(operation, "unknown", { transactionHash: hash }, "0x");
    }
    return receipt;
  }
}

/** The nonce state of one account: a queue that hands out nonces one at a time. */
class AccountLane {
  readonly address: string;
  private readonly provider: Provider;
  private readonly manager: NonceManager | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private next: number | undefined;
  /** Transactions that took a nonce and are not yet mined or failed. */
  private inFlight = 0;

  private constructor(address: string, provider: Provider, manager: NonceManager | undefined) {
    this.address = address;
    this.provider = provider;
    this.manager = manager;
  }

  private static readonly byProvider = new WeakMap<Provider, Map<string, AccountLane>>();
  private static readonly byManager = new WeakMap<NonceManager, AccountLane>();

  /**
   * The one lane of this account on this provider (or of this NonceManager). Synchronous when the
   * signer knows its address synchronously (Wallet, HDNodeWallet, JsonRpcSigner).
   */
  static of(signer: Signer, provider: Provider, manager: NonceManager | undefined): AccountLane | Promise<AccountLane> {
    const known = (signer as { address?: unknown }).address;
    if (typeof known === "string") return AccountLane.lookup(getAddress(known), provider, manager);
    return signer.getAddress().then((address) => AccountLane.lookup(getAddress(address), provider, manager));
  }

  private static lookup(address: string, provider: Provider, manager: NonceManager | undefined): AccountLane {
    if (manager) {
      let lane = AccountLane.byManager.get(manager);
      if (!lane) AccountLane.byManager.set(manager, (lane = new AccountLane(address, provider, manager)));
      return lane;
    }
    let lanes = AccountLane.byProvider.get(provider);
    if (!lanes) AccountLane.byProvider.set(provider, (lanes = new Map()));
    let lane = lanes.get(address);
    if (!lane) lanes.set(address, (lane = new AccountLane(address, provider, undefined)));
    return lane;
  }

  /** Runs `job` after every job queued before it; the lane is free again when it settles. */
  serialize<T>(job: () => Promise<T>): Promise<T> {
    const run = this.tail.then(job);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** The next nonce, or `pinned` (only called inside `serialize`); pair with one `settled()`. */
  async take(pinned?: number): Promise<number> {
    // Idle: nothing of ours is pending, so the chain's count is the truth (and cheap to ask).
    if (this.inFlight === 0) this.resync();
    let nonce: number;
    if (pinned !== undefined) {
      nonce = pinned;
    } else if (this.manager) {
      // Reserve at once, as NonceManager.sendTransaction does, so direct uses of it stay in step.
      const reserved = this.manager.getNonce("pending");
      this.manager.increment();
      nonce = await reserved;
    } else {
      this.next ??= await this.pendingCount();
      nonce = this.next++;
    }
    this.inFlight++;
    return nonce;
  }

  /** A transaction of this lane was mined or failed. */
  settled(): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
  }

  /** Forget the local nonce: the next one is read from the chain. */
  resync(): void {
    this.next = undefined;
    this.manager?.reset();
  }

  /** The account's pending count, asked of the node itself: ethers caches getTransactionCount for a moment. */
  private async pendingCount(): Promise<number> {
    const rpc = this.provider as Provider & { send?: (method: string, params: unknown[]) => Promise<unknown> };
    if (typeof rpc.send !== "function") return this.provider.getTransactionCount(this.address, "pending");
    const count = await rpc.send("eth_getTransactionCount", [this.address, "pending"]);
    return Number(BigInt(count as string));
  }
}

function isSigner(value: unknown): value is Signer {
  const candidate = value as Partial<Signer> | null;
  return (
    typeof candidate === "object" &&
    candidate !== null &&
    typeof candidate.getAddress === "function" &&
    typeof candidate.sendTransaction === "function" &&
    typeof candidate.signTransaction === "function"
  );
}

/** ethers' NonceManager (also from another copy of ethers): the signer it wraps, and its counter. */
function asNonceManager(signer: Signer): NonceManager | undefined {
  if (signer instanceof NonceManager) return signer;
  const candidate = signer as Partial<NonceManager>;
  return isSigner(candidate.signer) &&
    typeof candidate.increment === "function" &&
    typeof candidate.reset === "function"
    ? (signer as NonceManager)
    : undefined;
}

function timeout(
  operation: string,
  phase: TransactionPhase,
  limit: number,
  hash: string | undefined,
  nonce: number,
): TransactionTimeoutError {
  return new TransactionTimeoutError(operation, phase, limit, { hash, nonce });
}

/** Settles like `promise`, or rejects with `onTimeout()` after `ms`; the timer never outlives it. */
export function bounded<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  promise.catch(() => undefined); // a late rejection after the timeout is not "unhandled"
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Anything the clients accept to send with: a TransactionSender, or a Signer to wrap in one. */
export type SenderLike = TransactionSender | Signer;

/** A sender for `runner` when it can sign, undefined for a read-only runner (a Provider). */
export function senderFor(runner: unknown): TransactionSender | undefined {
  if (runner instanceof TransactionSender) return runner;
  return isSigner(runner) ? new TransactionSender(runner) : undefined;
}
