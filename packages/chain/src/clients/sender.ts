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
 * - The nonce comes from the chain (`pending` count, asked of the node itself: never from ethers'
 *   request cache) whenever none of the account's transactions is in flight (so a transaction sent
 *   elsewhere, a dropped one or a rewound chain is noticed before the next write), and again after
 *   any failure whose effect on it is unknown: a failed or timed-out broadcast, a timed-out wait, a
 *   replacement. While transactions are in flight the lane counts locally, so a burst is
 *   pipelined. A user's NonceManager is kept at the lane's count (its own count may come from the
 *   cache). A node answering "nonce too low" / "replacement underpriced" (another sender of the
 *   account took the nonce) is retried with a fresh nonce and a random pause, up to NONCE_RETRIES
 *   times within `sendTimeoutMs`, then NonceConflictError: that transaction was certainly not
 *   accepted.
 * - Every network request is bounded: preparing (deployment check, simulation, fees), reading the
 *   nonce and broadcasting each by `sendTimeoutMs`, mining by `inclusionTimeoutMs`, further
 *   confirmations by `confirmationTimeoutMs`. Nothing sent yet → ChainUnavailableError; sent →
 *   TransactionTimeoutError with the hash and nonce (the transaction may still be mined: check the hash).
 * - Reads that decide something (simulation, nonce, receipt, head, the account's mined count) go past
 *   ethers' request cache (node-reads.ts), so they are true on a default-options JsonRpcProvider.
 * - Only the package's typed errors (HygeiaChainError subclasses) come out, the original as `cause`.
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
  NonceConflictError,
  TransactionReplacedError,
  TransactionTimeoutError,
  requireSmallUint,
  requireTimeoutMs,
  type TransactionPhase,
} from "../errors.ts";
import { networkFailureReason, toChainError } from "./chain-errors.ts";
import * as node from "./node-reads.ts";

export interface SenderOptions {
  /**
   * Bound on preparing a transaction (deployment check, simulation, fees), on reading its nonce and
   * on its broadcast, each; also on all the retries after nonce conflicts together. Default 30 s.
   */
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
/** Fresh-nonce retries after "nonce too low" / "replacement underpriced" (within sendTimeoutMs) before NonceConflictError. */
const NONCE_RETRIES = 10;
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
      this.options[key] = requireTimeoutMs(value, key);
    }
  }

  /** The sender itself, or a new sender with default options around a Signer. */
  static from(runner: TransactionSender | Signer, options?: SenderOptions): TransactionSender {
    return runner instanceof TransactionSender ? runner : new TransactionSender(runner, options);
  }

  async getAddress(): Promise<string> {
    return (await this.lane("getAddress")).address;
  }

  /** Forgets the local nonce: the next transaction reads it from the chain again. */
  async resync(): Promise<void> {
    (await this.lane("resync")).resync();
  }

  /**
   * Simulates, takes the next nonce, signs, broadcasts and waits for `confirmations`. Resolves
   * with the receipt; rejects with the package's typed errors only (ContractRevertError,
   * ChainUnavailableError, TransactionTimeoutError, TransactionReplacedError,
   * InsufficientFundsError, NonceConflictError, ChainRequestError for anything unrecognized).
   */
  send(request: SendRequest, options: SendOptions = {}): Promise<MinedTransaction> {
    const operation = options.operation ?? "transaction";
    const confirmations = requireSmallUint(options.confirmations ?? 1, 16, "confirmations");
    if (confirmations === 0) throw new InvalidInputError("confirmations", "must be at least 1 (mined)");
    if (request.nonce !== undefined) requireSmallUint(request.nonce, 48, "nonce");
    const abi = options.abi ?? NO_ERRORS;
    const target = request.to ?? "(contract creation)";
    let account: string | undefined;
    const run = async (lane: AccountLane): Promise<MinedTransaction> => {
      account = lane.address;
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
    const lane = this.lane(operation);
    const outcome = lane instanceof AccountLane ? run(lane) : lane.then(run);
    return outcome.catch((error: unknown) => {
      throw toChainError(error, abi, operation, target, account);
    });
  }

  /** The account's lane; the signer's address is asked for (bounded) when not known synchronously. */
  private lane(operation: string): AccountLane | Promise<AccountLane> {
    const lane = AccountLane.of(this.signing, this.provider, this.manager);
    if (lane instanceof AccountLane) return lane;
    const { sendTimeoutMs } = this.options;
    return bounded(lane, sendTimeoutMs, () => {
      return new ChainUnavailableError(`${operation}: the signer did not tell its address within ${sendTimeoutMs} ms`);
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
      // Asked of the node itself: a cached simulation may predate the caller's last mined write.
      if (tx.gasLimit === undefined) tx.gasLimit = await node.estimateGas(this.provider, tx);
      else await node.call(this.provider, tx); // an explicit gasLimit skips estimation; still refuse a revert here
      if (this.signing instanceof JsonRpcSigner) return tx; // the node's wallet fills in fees
      // Placeholder nonce: the real one is set in the lane. Fees may come from ethers' cache: harmless.
      return await this.signing.populateTransaction({ ...tx, nonce: 0 });
    };
    return bounded(run(), this.options.sendTimeoutMs, () => {
      return new ChainUnavailableError(
        `${operation}: the chain node did not answer within ${this.options.sendTimeoutMs} ms; nothing was sent`,
      );
    });
  }

  /**
   * In the lane: take a nonce, sign, broadcast. A nonce another sender of the account took is
   * retried with a fresh one after a random pause (senders that collided must not collide again).
   */
  private async broadcast(
    lane: AccountLane,
    prepared: Promise<TransactionRequest>,
    pinnedNonce: number | undefined,
    operation: string,
  ): Promise<{ hash: string; nonce: number }> {
    const tx = await prepared; // a simulation failure ends here, before any nonce is taken
    const { sendTimeoutMs } = this.options;
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      const nonce = await lane.take(pinnedNonce, sendTimeoutMs, operation); // bounded; resyncs on failure
      let hash: string | undefined;
      try {
        const sending = (async () => {
          if (this.signing instanceof JsonRpcSigner) {
            return (hash = await this.signing.sendUncheckedTransaction({ ...tx, nonce }));
          }
          const raw = await this.signing.signTransaction({ ...tx, nonce });
          hash = Transaction.from(raw).hash!;
          await node.broadcast(this.provider, raw);
          return hash;
        })();
        const sentHash = await bounded(sending, sendTimeoutMs, () =>
          timeout(operation, "send", sendTimeoutMs, hash, nonce),
        );
        if (pinnedNonce !== undefined) lane.resync(); // the counter does not know about a pinned nonce
        return { hash: sentHash, nonce };
      } catch (error) {
        lane.settled();
        lane.resync();
        if (!isError(error, "NONCE_EXPIRED") && !isError(error, "REPLACEMENT_UNDERPRICED")) throw error;
        const pause = attempt === 1 ? 0 : Math.random() * Math.min(1_000, 25 * 2 ** attempt);
        if (pinnedNonce !== undefined || attempt > NONCE_RETRIES || Date.now() + pause - started > sendTimeoutMs) {
          const pinned = pinnedNonce !== undefined;
          throw new NonceConflictError(
            operation,
            { address: lane.address, nonce, attempts: attempt, pinned },
            { cause: error },
          );
        }
        await sleep(pause);
      }
    }
  }

  /**
   * Polls (bounded) until the transaction is mined and `confirmations` deep, watching for a
   * replacement. Presence, head and the account's count are asked of the node itself (a cached
   * "no receipt" next to a fresh count would look like a replacement); the full receipt is then
   * read once through the provider.
   */
  private async waitMined(
    lane: AccountLane,
    sent: { hash: string; nonce: number },
    confirmations: number,
    operation: string,
  ): Promise<TransactionReceipt> {
    const { hash, nonce } = sent;
    const { inclusionTimeoutMs, confirmationTimeoutMs, pollIntervalMs } = this.options;
    let phase: TransactionPhase = "inclusion";
    let limit = inclusionTimeoutMs;
    let deadline = Date.now() + limit;
    const ask = <T>(call: Promise<T>) =>
      bounded(call, Math.max(1, deadline - Date.now()), () => timeout(operation, phase, limit, hash, nonce));

    let receipt: TransactionReceipt | undefined;
    try {
      while (!receipt) {
        const mined = await ask(node.minedAt(this.provider, hash));
        if (mined) {
          if (phase === "inclusion" && confirmations > 1) {
            phase = "confirmations";
            limit = confirmationTimeoutMs;
            deadline = Date.now() + limit;
          }
          const deep =
            confirmations === 1 ||
            (await ask(node.blockNumber(this.provider))) - mined.blockNumber + 1 >= confirmations;
          if (deep) {
            // A reorg since (another block hash) or an answer from ethers' cache: ask again next round.
            const full = await ask(this.provider.getTransactionReceipt(hash));
            if (full?.blockHash === mined.blockHash) receipt = full;
          }
        } else {
          const used = await ask(node.transactionCount(this.provider, lane.address, "latest"));
          if (used > nonce) {
            if (await ask(node.minedAt(this.provider, hash))) continue; // mined between the two reads
            lane.resync();
            throw new TransactionReplacedError(operation, hash, nonce);
          }
        }
        if (receipt) break;
        if (Date.now() + pollIntervalMs > deadline) throw timeout(operation, phase, limit, hash, nonce);
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
      throw new ContractRevertError(operation, "unknown", { transactionHash: hash }, "0x", { transactionHash: hash });
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
  /** The NonceManager's counter was set to ours by the last take (not reset since). */
  private managerInStep = false;

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

  /**
   * The next nonce, or `pinned` (only called inside `serialize`); pair with one `settled()`. The
   * reads are bounded by `timeoutMs`: on failure nothing was sent, the lane resyncs and the error
   * (ChainUnavailableError when the node did not answer) is thrown. State changes only after the
   * reads, so a late answer to a timed-out read changes nothing.
   */
  async take(pinned: number | undefined, timeoutMs: number, operation: string): Promise<number> {
    if (pinned !== undefined) {
      this.inFlight++;
      return pinned;
    }
    const ask = <T>(read: Promise<T>) =>
      bounded(read, timeoutMs, () => {
        return new ChainUnavailableError(
          `${operation}: the chain node did not tell the account's nonce within ${timeoutMs} ms; nothing was sent`,
        );
      });
    // Idle: nothing of ours is pending, so the chain's count is the truth (and cheap to ask).
    const idle = this.inFlight === 0;
    let nonce: number;
    try {
      const local = idle ? undefined : this.next;
      nonce = local ?? (await ask(node.transactionCount(this.provider, this.address, "pending")));
      if (this.manager) nonce = await ask(this.stepManager(this.manager, nonce, idle));
    } catch (error) {
      this.resync();
      throw error;
    }
    this.next = nonce + 1;
    this.inFlight++;
    return nonce;
  }

  /**
   * Sets a NonceManager's counter to hand out the nonce after `nonce`, so the caller's direct uses
   * of it follow the sender's writes; returns the nonce to use. Its own count may be stale (ethers'
   * request cache, a dropped transaction, a rewound chain): only while our transactions are in
   * flight, and only when we set it last, is a manager ahead of us trusted (it was used directly).
   */
  private async stepManager(manager: NonceManager, nonce: number, idle: boolean): Promise<number> {
    let managed = await manager.getNonce("pending");
    if (!idle && this.managerInStep && managed > nonce) nonce = managed;
    if (managed > nonce) {
      manager.reset(); // ahead of the chain: it reads the count again on its next use
      this.managerInStep = false;
      return nonce;
    }
    for (; managed <= nonce; managed++) manager.increment();
    this.managerInStep = true;
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
    this.managerInStep = false;
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

/** `request` bounded by `ms`: a node that does not answer gives ChainUnavailableError naming `operation`. */
export function askNode<T>(request: Promise<T>, ms: number, operation: string): Promise<T> {
  return bounded(
    request,
    ms,
    () => new ChainUnavailableError(`${operation}: the chain node did not answer within ${ms} ms`),
  );
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A sender for `runner` when it can sign, undefined for a read-only runner (a Provider). */
export function senderFor(runner: unknown): TransactionSender | undefined {
  if (runner instanceof TransactionSender) return runner;
  return isSigner(runner) ? new TransactionSender(runner) : undefined;
}
