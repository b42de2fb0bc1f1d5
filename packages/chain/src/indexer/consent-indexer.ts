/**
 * ConsentIndexer: follows ConsentRegistry events into an in-memory table so the gateway can answer
 * "is this access allowed right now?" in O(1) without a chain round trip per request.
 *
 * Safety rules (the trust model's "revocation bites" and "fail closed"):
 * - Two views: `confirmed` (blocks at least `confirmations` deep) and, per key, the most
 *   restrictive value written by any unconfirmed block. Access is allowed only if BOTH allow it,
 *   so a grant or an extension counts once confirmed, while a revoke or a shortened expiry counts
 *   as soon as it is mined (even if a later unconfirmed block extends it again).
 * - Near the head every block is read by hash (header + eth_getLogs by blockHash) and linked to its
 *   parent, so a reorg cannot slip in between two calls. Blocks older than `reorgWindow` are read
 *   in eth_getLogs ranges and assumed final.
 * - A processed block whose hash changed means a reorg: roll back to the common ancestor with the
 *   undo log, re-read. Deeper than the window: rebuild from the checkpoint or the start block.
 * - Emergency (purpose 3) like the contract: an EmergencyGranteeSet (a new registration, a removal,
 *   or the removal a revoke of an Emergency slot makes) closes every Emergency slot of that
 *   (patient, grantee) pair at once: expiry 0, version unchanged (the contract does not bump them;
 *   the next breakGlass of a slot is version + 1 as ever). A closure is a write like any other:
 *   restrictive, so it counts as soon as it is mined, with undo entries for reorgs. A breakGlass on
 *   a scope already open in the current window writes nothing in the contract and emits the slot's
 *   expiry and version again: such a repeat (same version, same expiry as the slot's last write) is
 *   no write here either, and no version gap.
 * - When the indexer cannot vouch for its state (not caught up, last poll failed, last success
 *   older than `staleAfterMs`, reorg being applied), isAllowed throws IndexerStaleError.
 *
 * - Every request of a poll is bounded (`readTimeoutMs`): a node that never answers fails the poll
 *   (ChainUnavailableError), so the index goes stale with that reason instead of hanging.
 * - start() resolves only once the first catch-up succeeded; otherwise it rejects with the typed
 *   cause and leaves nothing running, so "started" always means "answering".
 *
 * Time: isAllowed compares expiries with max(wall clock, timestamp of the latest head seen), the
 * more restrictive of the two, since the next block's timestamp is at least the head's and usually
 * close to the wall clock. Pass `atUnixSeconds` (unix seconds, never milliseconds) to evaluate at a
 * specific time.
 */
import { getAddress, type Log, type Provider } from "ethers";
import {
  ChainUnavailableError,
  ContractNotDeployedError,
  HygeiaChainError,
  IndexerInconsistencyError,
  IndexerStaleError,
  InvalidCheckpointError,
  InvalidInputError,
  ReorgTooDeepError,
  requireAddress,
  requireSafeChainId,
  requireSmallUint,
  requireTimeoutMs,
  UnsupportedChainIdError,
  WrongChainError,
} from "../errors.ts";
import { parsePurpose, type Purpose } from "../purposes.ts";
import { checkRecordQuery, recordAccessFrom, type RecordAccess, type RecordAccessQuery } from "../record-access.ts";
import { toScopeId } from "../scopes.ts";
import { networkFailureReason } from "../clients/chain-errors.ts";
import * as node from "../clients/node-reads.ts";
import { bounded } from "../clients/sender.ts";
import { requireUnixSeconds } from "../clients/time-bounds.ts";
import { CONSENT_STATE_TOPICS, isSlotEvent, parseConsentLog, slotAfter } from "../clients/consent-events.ts";
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  parseCheckpoint,
  type ConsentCheckpoint,
  type ParsedCheckpoint,
} from "./checkpoint.ts";
import {
  ConsentTable,
  consentKey,
  isLive,
  keyParts,
  pairKey,
  type ConsentKey,
  type SlotValue,
  type UndoEntry,
} from "./consent-table.ts";

export interface ConsentIndexerOptions {
  provider: Provider;
  /** ConsentRegistry address. */
  address: string;
  /** First block to read (the deployment block). Default 0. Ignored when starting from a checkpoint. */
  startBlock?: number;
  /** Resume from this checkpoint (validated; see ConsentIndexer.restore). */
  checkpoint?: unknown;
  /**
   * Expected chain id; the provider's is used (and checked against the checkpoint) when omitted.
   * 1 .. 2^53 - 1 (the indexer keeps chain ids as numbers): a larger one, here or on the node, is
   * refused with UnsupportedChainIdError rather than rounded.
   */
  chainId?: number;
  /** Blocks a grant must be buried under before it counts. Default 2. Revocations count at once. */
  confirmations?: number;
  /** Default 1000 ms. */
  pollIntervalMs?: number;
  /** Largest eth_getLogs range for catching up. Default 2000. */
  maxBlockRange?: number;
  /** Blocks of undo log and hashes kept; deeper reorgs force a rebuild. Default 64, must exceed confirmations. */
  reorgWindow?: number;
  /** isAllowed refuses to answer when the last successful sync is older. Default max(10 s, 5 polls). */
  staleAfterMs?: number;
  /**
   * Bound on each request a poll makes (chain id, code, blocks, logs). A node that does not answer
   * within it fails the poll with ChainUnavailableError: the index goes stale with that reason, and
   * the next poll asks again. Default staleAfterMs (a slower answer leaves the index stale anyway).
   */
  readTimeoutMs?: number;
  /** Milliseconds clock; injectable for tests. */
  clock?: () => number;
}

export interface IndexerStatus {
  readonly chainId: number | null;
  /** Last block processed (head view). */
  readonly syncedBlock: number;
  /** Last block whose events count for grants. */
  readonly confirmedBlock: number;
  /** Chain head seen at the last poll; -1 before the first. */
  readonly headBlock: number;
  readonly headTimestamp: number;
  /** Wall-clock ms when a poll last reached the head; null before that (or after a rebuild). */
  readonly lastSyncAt: number | null;
  readonly stale: boolean;
  readonly staleReason: string | null;
  /** Error of the last failed poll; cleared by a successful one. */
  readonly lastError: Error | null;
  /** Consent slots held (tombstones included). */
  readonly entries: number;
}

/** A live consent of one consent address (ConsentIndexer.consentsOf). */
export interface IndexedConsent {
  readonly grantee: string;
  /** bytes32 scope id (lowercase hex): PatientScopes.label reads it in the wallet. */
  readonly scope: string;
  readonly purpose: Purpose;
  /** Unix seconds. */
  readonly expiry: bigint;
  readonly version: number;
}

export interface IndexerStartOptions {
  /**
   * Keep trying the first catch-up (every pollIntervalMs) for up to this many milliseconds while it
   * fails for a reason that may pass (node unreachable or not answering, contract not there yet).
   * Default 0: one attempt. A wrong chain is never retried.
   */
  retryForMs?: number;
}

export interface IndexerEvents {
  /** After each batch of blocks, useful for long catch-ups. */
  progress: { syncedBlock: number; headBlock: number; confirmedBlock: number; events: number };
  /** A poll reached the chain head. */
  synced: { block: number };
  reorg: { commonAncestor: number; previousSyncedBlock: number; depth: number };
  /** State was dropped and is being rebuilt from `fromBlock`. */
  resync: { reason: Error; fromBlock: number };
  pollError: { error: Error };
}

type Listener<T> = (payload: T) => void;

interface ProcessedBlock {
  readonly number: number;
  readonly hash: string;
  readonly writes: readonly SlotWrite[];
  /** null while unconfirmed; once applied to the confirmed table, how to revert it. */
  undo: UndoEntry[] | null;
}

interface SlotWrite {
  readonly key: ConsentKey;
  readonly value: SlotValue;
}

type Header = node.BlockHeader;

/** Per-block reads near the head are issued together so ethers batches them into one request. */
const NEAR_HEAD_BATCH = 50;

export class ConsentIndexer {
  readonly address: string;
  private readonly provider: Provider;
  private readonly confirmations: number;
  private readonly pollIntervalMs: number;
  private readonly maxBlockRange: number;
  private readonly reorgWindow: number;
  private readonly staleAfterMs: number;
  private readonly readTimeoutMs: number;
  private readonly clock: () => number;
  private readonly startBlock: number;
  private readonly initialCheckpoint: ParsedCheckpoint | undefined;
  private expectedChainId: number | undefined;
  /** Where expectedChainId comes from, for the WrongChainError message. */
  private expectedChainSource = "the indexer's chainId option";

  private readonly confirmed = new ConsentTable();
  /** Per key touched by unconfirmed blocks: the smallest expiry among them and the latest version. */
  private pending = new Map<ConsentKey, SlotValue>();
  /**
   * (patient ‖ grantee) → the Emergency keys ever seen for the pair, confirmed or not: what an
   * EmergencyGranteeSet closes. Keys of orphaned blocks may linger; a closure skips keys neither view holds.
   */
  private emergencyKeys = new Map<string, Set<ConsentKey>>();
  /** Processed blocks still within the reorg window, ascending; the first is the rollback floor. */
  private blocks: ProcessedBlock[] = [];
  private syncedBlock: number;
  private confirmedBlock: number;

  private chainId: number | null = null;
  private headBlock = -1;
  private headTimestamp = 0;
  private lastSyncAt: number | null = null;
  private lastError: Error | null = null;
  private fatalError: Error | null = null;
  private applyingReorg = false;

  /** Settles (never rejects) when the running poll ends. */
  private inFlight: Promise<unknown> | undefined;
  private queued: Promise<IndexerStatus> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private running = false;
  private starting: Promise<IndexerStatus> | undefined;
  /** Ends the pause between two attempts of start() early (stop()). */
  private wake: (() => void) | undefined;
  private readonly listeners = new Map<keyof IndexerEvents, Set<Listener<never>>>();

  constructor(options: ConsentIndexerOptions) {
    if (!options || typeof options.provider?.getBlock !== "function")
      throw new InvalidInputError("provider", "an ethers Provider is required");
    this.provider = options.provider;
    this.address = requireAddress(options.address, "address");
    this.confirmations = requireSmallUint(options.confirmations ?? 2, 16, "confirmations");
    this.pollIntervalMs = requireTimeoutMs(options.pollIntervalMs ?? 1000, "pollIntervalMs");
    this.maxBlockRange = positive(options.maxBlockRange ?? 2000, "maxBlockRange");
    this.reorgWindow = positive(options.reorgWindow ?? Math.max(64, this.confirmations + 1), "reorgWindow");
    if (this.reorgWindow <= this.confirmations) {
      throw new InvalidInputError(
        "reorgWindow",
        `must exceed confirmations (${this.confirmations}), got ${this.reorgWindow}`,
      );
    }
    this.staleAfterMs = requireTimeoutMs(
      options.staleAfterMs ?? Math.max(10_000, 5 * this.pollIntervalMs),
      "staleAfterMs",
    );
    this.readTimeoutMs = requireTimeoutMs(options.readTimeoutMs ?? this.staleAfterMs, "readTimeoutMs");
    this.clock = options.clock ?? Date.now;
    if (options.chainId !== undefined)
      this.expectedChainId = requireSafeChainId(options.chainId, "chainId", "ConsentIndexer");

    if (options.checkpoint !== undefined) {
      const expected: { contract: string; chainId?: number } = { contract: this.address };
      if (this.expectedChainId !== undefined) expected.chainId = this.expectedChainId;
      const checkpoint = parseCheckpoint(options.checkpoint, expected);
      this.initialCheckpoint = checkpoint;
      if (this.expectedChainId === undefined) this.expectedChainSource = "the indexer's checkpoint";
      this.expectedChainId = checkpoint.chainId;
      this.startBlock = checkpoint.startBlock;
      this.syncedBlock = this.confirmedBlock = -1;
      this.loadCheckpoint(checkpoint);
    } else {
      this.startBlock = requireSmallUint(options.startBlock ?? 0, 48, "startBlock");
      this.syncedBlock = this.confirmedBlock = this.startBlock - 1;
    }
  }

  /** Resumes from a checkpoint (as produced by checkpoint(), possibly after a JSON round trip). */
  static restore(
    checkpoint: unknown,
    options: Omit<ConsentIndexerOptions, "checkpoint" | "startBlock">,
  ): ConsentIndexer {
    return new ConsentIndexer({ ...options, checkpoint });
  }

  on<K extends keyof IndexerEvents>(event: K, listener: Listener<IndexerEvents[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  /**
   * Catches up with the chain, then keeps polling every pollIntervalMs. Resolves with the status
   * once the first catch-up succeeded: the index is fresh and isAllowed answers. When it cannot
   * catch up (after `retryForMs` of attempts), rejects with the typed cause and leaves nothing
   * running: ChainUnavailableError (node unreachable, or not answering within readTimeoutMs),
   * ContractNotDeployedError (no code at `address` on that chain), WrongChainError (the node is on
   * another chain than `chainId` / the checkpoint's). Call start() again to retry. Stopped while
   * starting: rejects with IndexerStaleError. Concurrent calls share one start; once started,
   * resolves at once.
   */
  start(options: IndexerStartOptions = {}): Promise<IndexerStatus> {
    if (typeof options !== "object" || options === null)
      return Promise.reject(new InvalidInputError("options", "expected { retryForMs? }"));
    let retryForMs: number;
    try {
      retryForMs = requireSmallUint(options.retryForMs ?? 0, 32, "retryForMs");
    } catch (error) {
      return Promise.reject(error as Error);
    }
    if (this.starting) return this.starting;
    if (this.running) return Promise.resolve(this.status());
    this.running = true;
    this.starting = this.firstCatchUp(retryForMs).finally(() => (this.starting = undefined));
    return this.starting;
  }

  private async firstCatchUp(retryForMs: number): Promise<IndexerStatus> {
    const giveUpAt = Date.now() + retryForMs; // real time, not the injectable clock: this is a wait
    for (;;) {
      let failure: unknown;
      try {
        const status = await this.sync();
        if (this.running) {
          this.schedule();
          return status;
        }
      } catch (error) {
        failure = error;
      }
      if (!this.running) {
        throw new IndexerStaleError("the indexer was stopped before start() caught up with the chain", {
          cause: failure,
        });
      }
      if (this.fatalError || Date.now() + this.pollIntervalMs > giveUpAt) {
        this.running = false;
        throw failure;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        this.timer = setTimeout(resolve, this.pollIntervalMs);
      });
      this.wake = undefined;
    }
  }

  /** Stops polling and waits for a poll in progress. The state stays readable (and goes stale). */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.wake?.();
    await this.queued?.catch(() => undefined);
    await this.inFlight;
    await this.starting?.catch(() => undefined);
  }

  /**
   * One poll that starts after this call and reads up to the head it sees. Joining a poll already
   * under way would not do: it may have read the head before the caller's last transaction.
   * Errors are recorded in status() and rethrown.
   */
  sync(): Promise<IndexerStatus> {
    if (this.inFlight === undefined) return this.startPoll();
    this.queued ??= this.inFlight.then(() => {
      this.queued = undefined;
      return this.startPoll();
    });
    return this.queued;
  }

  private startPoll(): Promise<IndexerStatus> {
    const poll = this.pollOnce().then(() => this.status());
    this.inFlight = poll.then(
      () => (this.inFlight = undefined),
      () => (this.inFlight = undefined),
    );
    return poll;
  }

  /**
   * O(1) consent check against the indexed state. Throws IndexerStaleError when the state cannot
   * be trusted (callers must then deny), InvalidInputError on malformed arguments.
   */
  isAllowed(
    patient: string,
    grantee: string,
    scope: string,
    purpose: Purpose | string,
    atUnixSeconds?: number | bigint,
  ): boolean {
    const key = checkedKey(patient, grantee, scope, purpose);
    const at = this.checkedTime(atUnixSeconds);
    this.requireFresh();
    return this.allows(key, at);
  }

  /**
   * The live consents of `patient` (a consent address), as isAllowed answers them: each (grantee, scope, purpose)
   * it would answer true for at `atUnixSeconds`, with the expiry that binds (the confirmed one, or an earlier one a
   * mined restriction set) and the slot's confirmed version. Ordered by grantee, purpose, scope. Scopes are ids:
   * the wallet reads them with PatientScopes.label. A grant mined but not yet confirmed is not listed
   * (awaitsConfirmation tells). Fail closed like isAllowed: IndexerStaleError when the state cannot be trusted.
   */
  consentsOf(patient: string, atUnixSeconds?: number | bigint): IndexedConsent[] {
    const address = requireAddress(patient, "patient");
    const at = this.checkedTime(atUnixSeconds);
    this.requireFresh();
    const consents: IndexedConsent[] = [];
    for (const key of this.confirmed.keysOf(address)) {
      if (!this.allows(key, at)) continue;
      const confirmed = this.confirmed.get(key)!;
      const pendingExpiry = this.pending.get(key)?.expiry;
      const { grantee, scope, purpose } = keyParts(key);
      consents.push({
        grantee: getAddress(grantee),
        scope,
        purpose,
        expiry: pendingExpiry !== undefined && pendingExpiry < confirmed.expiry ? pendingExpiry : confirmed.expiry,
        version: confirmed.version,
      });
    }
    return consents.sort(
      (a, b) =>
        a.grantee.toLowerCase().localeCompare(b.grantee.toLowerCase()) ||
        a.purpose - b.purpose ||
        a.scope.localeCompare(b.scope),
    );
  }

  /**
   * Whether isAllowed answers false only because the write that allows it is not confirmed yet: the latest write
   * of the slot is in a mined block less than `confirmations` deep and allows at `atUnixSeconds`. It counts once
   * `confirmations` blocks are built on it (unless a reorg drops it or a revoke follows); on a chain that mines only
   * on demand (anvil's automine, startLocalDeployment's default) that means mining them. Fail closed like isAllowed.
   */
  awaitsConfirmation(
    patient: string,
    grantee: string,
    scope: string,
    purpose: Purpose | string,
    atUnixSeconds?: number | bigint,
  ): boolean {
    const key = checkedKey(patient, grantee, scope, purpose);
    const at = this.checkedTime(atUnixSeconds);
    this.requireFresh();
    if (this.allows(key, at)) return false;
    for (let b = this.blocks.length - 1; b >= 0 && this.blocks[b]!.undo === null; b--) {
      const value = lastWrite(this.blocks[b]!.writes, key);
      if (value !== undefined) return isLive(value, at);
    }
    return false;
  }

  private allows(key: ConsentKey, at: bigint): boolean {
    if (!isLive(this.confirmed.get(key), at)) return false;
    const pendingSlot = this.pending.get(key);
    return pendingSlot === undefined || isLive(pendingSlot, at);
  }

  private checkedTime(atUnixSeconds: number | bigint | undefined): bigint {
    return atUnixSeconds === undefined ? this.defaultNow() : requireUnixSeconds(atUnixSeconds, "atUnixSeconds");
  }

  /** IndexerStaleError unless the indexer can vouch for its state (callers then deny). */
  private requireFresh(): void {
    const reason = this.staleReason();
    if (reason) {
      throw new IndexerStaleError(`consent index is stale: ${reason}`, {
        cause: this.fatalError ?? this.lastError ?? undefined,
      });
    }
  }

  /**
   * Whether `grantee` may read `record` for `purpose`: consent for any one of the record's scope ids
   * (PatientScopes.forRecord, attached by the patient's wallet) allows it, and the answer names that id.
   * Synchronous and fail closed like isAllowed: IndexerStaleError when the state cannot be trusted.
   */
  checkRecordAccess(query: RecordAccessQuery, atUnixSeconds?: number | bigint): RecordAccess {
    // The query is validated once here; each scope id's slot is then read by its key (isAllowed would validate
    // the same addresses again per id). One time and one freshness check for all ids, as isAllowed would do.
    const q = checkRecordQuery(query);
    const at = this.checkedTime(atUnixSeconds);
    this.requireFresh();
    return recordAccessFrom(
      q.scopes,
      q.scopes.map((scope) => this.allows(consentKey(q.patient, q.grantee, scope, q.purpose), at)),
    );
  }

  status(): IndexerStatus {
    const staleReason = this.staleReason();
    return {
      chainId: this.chainId,
      syncedBlock: this.syncedBlock,
      confirmedBlock: this.confirmedBlock,
      headBlock: this.headBlock,
      headTimestamp: this.headTimestamp,
      lastSyncAt: this.lastSyncAt,
      stale: staleReason !== null,
      staleReason,
      lastError: this.fatalError ?? this.lastError,
      entries: this.confirmed.size,
    };
  }

  /** Snapshot of the confirmed state; JSON-serializable. */
  checkpoint(): ConsentCheckpoint {
    const block = this.blocks.find((b) => b.number === this.confirmedBlock);
    if (this.chainId === null || !block)
      throw new InvalidCheckpointError("nothing to checkpoint yet: the indexer has not confirmed a block");
    const entries: ConsentCheckpoint["entries"] = [];
    for (const [key, slot] of this.confirmed.entries()) {
      const { patient, grantee, scope, purpose } = keyParts(key);
      entries.push([patient, grantee, scope, purpose, slot.expiry.toString(), slot.version]);
    }
    return {
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      chainId: this.chainId,
      contract: this.address,
      startBlock: this.startBlock,
      block: { number: block.number, hash: block.hash },
      entries,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Polling
  // ---------------------------------------------------------------------------------------------

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.sync()
        .catch(() => undefined)
        .finally(() => {
          if (this.fatalError) this.running = false;
          this.schedule();
        });
    }, this.pollIntervalMs);
  }

  private async pollOnce(): Promise<void> {
    if (this.fatalError) throw this.fatalError;
    try {
      await this.verifyChain();
      let resynced = false;
      for (;;) {
        try {
          await this.catchUp();
          break;
        } catch (error) {
          // One rebuild per poll; if that is not enough, report and let the next poll retry.
          if (resynced || !(error instanceof ReorgTooDeepError || error instanceof IndexerInconsistencyError))
            throw error;
          resynced = true;
          await this.resync(error);
          // A reorg deeper than the window may be a chain reset (a fresh node, another chain behind the same URL):
          // check again that the registry exists there before an empty index counts as fresh.
          await this.verifyChain();
        }
      }
      this.lastError = null;
    } catch (error) {
      const typed = this.classify(error);
      this.lastError = typed;
      this.emit("pollError", { error: typed });
      throw typed;
    }
  }

  /** Once per indexer: the provider is on the expected chain and the contract exists there. */
  private async verifyChain(): Promise<void> {
    if (this.chainId !== null) return;
    const network = await this.ask(this.provider.getNetwork(), "its chain id");
    let chainId: number;
    try {
      chainId = requireSafeChainId(network.chainId, "chainId", "ConsentIndexer");
    } catch (error) {
      // A configuration error like a wrong chain: not retried.
      if (error instanceof UnsupportedChainIdError) this.fatalError = error;
      throw error;
    }
    if (this.expectedChainId !== undefined && chainId !== this.expectedChainId) {
      this.fatalError = new WrongChainError(chainId, this.expectedChainId, this.expectedChainSource);
      throw this.fatalError;
    }
    // Not fatal: the node may still be importing blocks. Until then the index stays stale.
    if ((await this.ask(node.code(this.provider, this.address), "the registry's code")) === "0x") {
      throw new ContractNotDeployedError(`no ConsentRegistry code at ${this.address} on chain ${chainId}`);
    }
    this.chainId = chainId;
  }

  private async catchUp(): Promise<void> {
    let head = await this.latestHeader();

    await this.ensureAnchor();
    await this.detectReorg();

    // Far from the head: ranged eth_getLogs, assumed final.
    const finalBoundary = head.number - this.reorgWindow;
    while (this.syncedBlock < finalBoundary) {
      const from = this.syncedBlock + 1;
      const to = Math.min(finalBoundary, this.syncedBlock + this.maxBlockRange);
      const logs = await this.ask(
        this.provider.getLogs({
          address: this.address,
          topics: [[...CONSENT_STATE_TOPICS]],
          fromBlock: from,
          toBlock: to,
        }),
        `the logs of blocks ${from}-${to}`,
      );
      const end = await this.header(to);
      if (!end) throw new ChainUnavailableError(`the node has no block ${to} below its head ${head.number}`);
      const byBlock = new Map<number, Log[]>();
      for (const log of logs) {
        const list = byBlock.get(log.blockNumber);
        if (list) list.push(log);
        else byBlock.set(log.blockNumber, [log]);
      }
      for (const [number, blockLogs] of [...byBlock].sort((a, b) => a[0] - b[0])) {
        if (number === to) continue;
        this.ingest(number, blockLogs[0]!.blockHash, blockLogs);
      }
      this.ingest(to, end.hash, byBlock.get(to) ?? []);
      this.promote(Math.min(this.headBlock - this.confirmations, this.syncedBlock));
      this.prune();
      this.emit("progress", {
        syncedBlock: this.syncedBlock,
        headBlock: this.headBlock,
        confirmedBlock: this.confirmedBlock,
        events: logs.length,
      });
    }

    // Near the head: every block by hash, linked to its parent.
    let relinks = 0;
    let lags = 0;
    while (this.syncedBlock < head.number) {
      const from = this.syncedBlock + 1;
      const to = Math.min(head.number, from + NEAR_HEAD_BATCH - 1);
      const numbers = Array.from({ length: to - from + 1 }, (_, i) => from + i);
      const headers = await Promise.all(numbers.map((n) => this.header(n)));
      const linked: Header[] = [];
      let parent = this.blocks.at(-1)?.hash;
      for (const h of headers) {
        // Genesis is final, so block 1 needs no link to it; and anvil restarted from a state file may serve a
        // genesis other than the one block 1 names (see anvil-state.ts): requiring the link would stall here.
        const linksToGenesis = h?.number === 1;
        if (!h || (parent !== undefined && h.parentHash !== parent && !linksToGenesis)) break;
        linked.push(h);
        parent = h.hash;
      }
      if (linked.length === 0 && headers[0] === null && (await this.header(this.syncedBlock))?.hash === parent) {
        // The node named a head it does not serve by number yet (a block being sealed as we asked; seen on a
        // loaded machine with interval mining): not a reorg. Ask again shortly, within bounds.
        if (++lags > 40)
          throw new ChainUnavailableError(`the node names block ${from} as its head but does not serve it`);
        await new Promise((resolve) => setTimeout(resolve, 25));
        head = await this.latestHeader();
        continue;
      }
      if (linked.length === 0) {
        // The chain changed during this poll (our tip is no longer the parent, or the head moved back).
        if (++relinks > 3) throw new ChainUnavailableError("the chain keeps reorganizing; will retry");
        await this.detectReorg();
        head = await this.latestHeader();
        continue;
      }
      const logsPerBlock = await Promise.all(
        linked.map((h) =>
          this.ask(
            this.provider.getLogs({ address: this.address, topics: [[...CONSENT_STATE_TOPICS]], blockHash: h.hash }),
            `the logs of block ${h.number}`,
          ),
        ),
      );
      let events = 0;
      linked.forEach((h, i) => {
        const logs = logsPerBlock[i]!;
        events += logs.length;
        this.ingest(h.number, h.hash, logs);
      });
      this.emit("progress", {
        syncedBlock: this.syncedBlock,
        headBlock: this.headBlock,
        confirmedBlock: this.confirmedBlock,
        events,
      });
    }

    this.promote(this.headBlock - this.confirmations);
    this.prune();
    this.applyingReorg = false;
    this.lastSyncAt = this.clock();
    this.emit("synced", { block: this.syncedBlock });
  }

  /** Before the first block is read, remember the hash of the block before it (to detect a reorg there). */
  private async ensureAnchor(): Promise<void> {
    if (this.blocks.length > 0 || this.syncedBlock < 0) return;
    const anchor = await this.header(this.syncedBlock);
    if (!anchor) throw new ChainUnavailableError(`the node has no block ${this.syncedBlock}`);
    this.blocks.push({ number: anchor.number, hash: anchor.hash, writes: [], undo: [] });
  }

  /** Finds the newest processed block still on the canonical chain and rolls back to it. */
  private async detectReorg(): Promise<void> {
    const tip = this.blocks.at(-1);
    if (!tip) return;
    if ((await this.header(tip.number))?.hash === tip.hash) return;

    // Blocks on the canonical chain form a prefix of `blocks` (hashes commit to ancestry): binary search.
    let low = 0;
    let high = this.blocks.length - 2;
    let ancestor = -1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      const block = this.blocks[mid]!;
      if ((await this.header(block.number))?.hash === block.hash) {
        ancestor = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    if (ancestor < 0) {
      throw new ReorgTooDeepError(
        `reorg below block ${this.blocks[0]!.number}, the oldest of the ${this.reorgWindow}-block window kept (synced block ${this.syncedBlock})`,
      );
    }
    const previousSyncedBlock = this.syncedBlock;
    this.applyingReorg = true;
    this.rollbackTo(ancestor);
    this.emit("reorg", {
      commonAncestor: this.syncedBlock,
      previousSyncedBlock,
      depth: previousSyncedBlock - this.syncedBlock,
    });
  }

  private rollbackTo(index: number): void {
    while (this.blocks.length > index + 1) {
      const block = this.blocks.pop()!;
      if (block.undo) this.confirmed.undo(block.undo);
    }
    this.syncedBlock = this.blocks[index]!.number;
    this.confirmedBlock = Math.min(this.confirmedBlock, this.syncedBlock);
    this.rebuildPending();
  }

  /** Drops all state and starts again from the initial checkpoint (if still canonical) or the start block. */
  private async resync(reason: Error): Promise<void> {
    this.chainId = null; // verifyChain runs again before the rebuilt index counts
    this.confirmed.clear();
    this.pending.clear();
    this.emergencyKeys.clear();
    this.blocks = [];
    this.lastSyncAt = null;
    this.applyingReorg = false;
    const checkpoint = this.initialCheckpoint;
    if (checkpoint && (await this.header(checkpoint.block.number))?.hash === checkpoint.block.hash) {
      this.loadCheckpoint(checkpoint);
    } else {
      this.syncedBlock = this.confirmedBlock = this.startBlock - 1;
    }
    this.emit("resync", { reason, fromBlock: this.syncedBlock + 1 });
  }

  private loadCheckpoint(checkpoint: ParsedCheckpoint): void {
    for (const [key, slot] of checkpoint.slots) {
      this.confirmed.write(key, slot);
      this.noteKey(key);
    }
    this.blocks = [{ number: checkpoint.block.number, hash: checkpoint.block.hash, writes: [], undo: [] }];
    this.syncedBlock = this.confirmedBlock = checkpoint.block.number;
  }

  // ---------------------------------------------------------------------------------------------
  // State changes
  // ---------------------------------------------------------------------------------------------

  /** Adds one block (unconfirmed) to the head view. */
  private ingest(number: number, hash: string, logs: readonly Log[]): void {
    const writes: SlotWrite[] = [];
    for (const log of [...logs].sort((a, b) => a.index - b.index)) {
      if (log.blockHash !== hash || log.blockNumber !== number) {
        throw new IndexerInconsistencyError(
          `log of block ${log.blockNumber} (${log.blockHash}) returned for block ${number} (${hash})`,
        );
      }
      const event = parseConsentLog(log);
      if (!event) continue;
      if (!isSlotEvent(event)) {
        // EmergencyGranteeSet: every Emergency window of the pair closes (versions unchanged).
        for (const key of this.emergencyKeys.get(pairKey(event.patient, event.grantee)) ?? []) {
          const pendingSlot = this.pending.get(key);
          const current = pendingSlot ?? this.confirmed.get(key);
          if (current === undefined || (pendingSlot === undefined && current.expiry === 0n)) continue;
          const value = { expiry: 0n, version: current.version };
          this.addPending(key, value);
          writes.push({ key, value });
        }
        continue;
      }
      const key = consentKey(event.patient, event.grantee, event.scope, event.purpose);
      const value = slotAfter(event);
      const previous = this.pending.get(key) ?? this.confirmed.get(key);
      // breakGlass on a scope already open in the current window writes nothing and emits the
      // slot's own expiry and version again: no write here either (and no version gap).
      if (event.type === "EmergencyAccess" && previous?.version === value.version) {
        const latest = this.latestValue(key, writes);
        if (latest?.expiry === value.expiry) continue;
      }
      // Every write bumps the version by one (never wrapping: the contract reverts VersionOverflow);
      // a gap means the node skipped logs.
      if (previous && previous.version + 1 !== value.version) {
        throw new IndexerInconsistencyError(
          `version of a consent slot went from ${previous.version} to ${value.version} in block ${number}: events are missing`,
        );
      }
      this.addPending(key, value);
      this.noteKey(key);
      writes.push({ key, value });
    }
    this.blocks.push({ number, hash, writes, undo: null });
    this.syncedBlock = number;
  }

  /**
   * The slot's value as last written (this block's writes so far, then the unconfirmed and kept
   * blocks, newest first, then the confirmed table). Not `pending`, which keeps the most restrictive
   * expiry of the unconfirmed blocks rather than the last one.
   */
  private latestValue(key: ConsentKey, writes: readonly SlotWrite[]): SlotValue | undefined {
    let value = lastWrite(writes, key);
    for (let b = this.blocks.length - 1; value === undefined && b >= 0; b--)
      value = lastWrite(this.blocks[b]!.writes, key);
    return value ?? this.confirmed.get(key);
  }

  private noteKey(key: ConsentKey): void {
    const { patient, grantee, purpose } = keyParts(key);
    if (purpose !== 3) return;
    const pair = pairKey(patient, grantee);
    let keys = this.emergencyKeys.get(pair);
    if (!keys) this.emergencyKeys.set(pair, (keys = new Set()));
    keys.add(key);
  }

  /** Applies blocks up to `target` to the confirmed table. */
  private promote(target: number): void {
    let changed = false;
    for (const block of this.blocks) {
      if (block.number > target) break;
      if (block.undo !== null) continue;
      block.undo = block.writes.map(({ key, value }) => this.confirmed.write(key, value));
      this.confirmedBlock = block.number;
      changed ||= block.writes.length > 0;
    }
    if (changed) this.rebuildPending();
  }

  private rebuildPending(): void {
    this.pending = new Map();
    for (const block of this.blocks) {
      if (block.undo !== null) continue;
      for (const { key, value } of block.writes) this.addPending(key, value);
    }
  }

  /** Restrictions (lower expiry) stick until confirmed; the version tracks the latest write. */
  private addPending(key: ConsentKey, value: SlotValue): void {
    const earlier = this.pending.get(key);
    this.pending.set(
      key,
      earlier && earlier.expiry < value.expiry ? { expiry: earlier.expiry, version: value.version } : value,
    );
  }

  /** Forgets blocks below the window, keeping the newest of them as the rollback floor. */
  private prune(): void {
    const bound = this.syncedBlock - this.reorgWindow;
    let floor = -1;
    for (let i = 0; i < this.blocks.length && this.blocks[i]!.number <= bound; i++) floor = i;
    if (floor <= 0) return;
    this.blocks = this.blocks.slice(floor);
    this.blocks[0]!.undo = [];
  }

  // ---------------------------------------------------------------------------------------------

  private staleReason(): string | null {
    if (this.fatalError) return `stopped: ${this.fatalError.message}`;
    if (this.applyingReorg)
      return `a chain reorganization is being applied (synced block ${this.syncedBlock}, head ${this.headBlock})`;
    if (this.lastSyncAt === null) {
      return this.lastError
        ? `never caught up with the chain; last error: ${this.lastError.message}`
        : `not caught up with the chain yet (synced block ${this.syncedBlock}, head ${this.headBlock})`;
    }
    if (this.lastError) return `the last poll failed: ${this.lastError.message}`;
    const age = this.clock() - this.lastSyncAt;
    if (age > this.staleAfterMs) return `last successful sync was ${age} ms ago (limit ${this.staleAfterMs} ms)`;
    return null;
  }

  private defaultNow(): bigint {
    return BigInt(Math.max(Math.floor(this.clock() / 1000), this.headTimestamp));
  }

  private async latestHeader(): Promise<Header> {
    const head = await this.header("latest");
    if (!head) throw new ChainUnavailableError("the node returned no latest block");
    this.headBlock = head.number;
    this.headTimestamp = head.timestamp;
    return head;
  }

  /** Asked of the node itself, past ethers' request cache (node-reads.ts), and bounded. */
  private header(tag: number | "latest"): Promise<Header | null> {
    return this.ask(node.header(this.provider, tag), `block ${tag}`);
  }

  /** `request` bounded by readTimeoutMs: a node that does not answer fails the poll, it does not hang it. */
  private ask<T>(request: Promise<T>, what: string): Promise<T> {
    return bounded(
      request,
      this.readTimeoutMs,
      () =>
        new ChainUnavailableError(
          `consent indexer: the chain node did not answer (${what}) within ${this.readTimeoutMs} ms`,
        ),
    );
  }

  private classify(error: unknown): Error {
    if (error instanceof HygeiaChainError) return error;
    const reason = networkFailureReason(error);
    if (reason) return new ChainUnavailableError(`consent indexer cannot reach the chain: ${reason}`, { cause: error });
    return error instanceof Error ? error : new HygeiaChainError(String(error));
  }

  private emit<K extends keyof IndexerEvents>(event: K, payload: IndexerEvents[K]): void {
    for (const listener of this.listeners.get(event) ?? []) {
      try {
        (listener as Listener<IndexerEvents[K]>)(payload);
      } catch {
        // A failing listener must not break indexing.
      }
    }
  }
}

function positive(value: number, field: string): number {
  const n = requireSmallUint(value, 32, field);
  if (n === 0) throw new InvalidInputError(field, "must be at least 1");
  return n;
}

/** The value the last of `writes` to `key` wrote, if any wrote to it. */
function lastWrite(writes: readonly SlotWrite[], key: ConsentKey): SlotValue | undefined {
  for (let i = writes.length - 1; i >= 0; i--) if (writes[i]!.key === key) return writes[i]!.value;
  return undefined;
}

/** The slot key of a caller's (patient, grantee, scope id, purpose), each validated (InvalidInputError). */
function checkedKey(patient: string, grantee: string, scope: string, purpose: Purpose | string): ConsentKey {
  return consentKey(
    requireAddress(patient, "patient"),
    requireAddress(grantee, "grantee"),
    toScopeId(scope),
    parsePurpose(purpose),
  );
}
