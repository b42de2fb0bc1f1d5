// Follows the ERC-1056 registry's events to tell the resolver which cached documents changed.
//
// Rules:
// - Stopping is clean at any moment, even while the first poll is starting: every request's failure is caught
//   here, and stop() resolves once the poll in flight (if any) has settled. (ethers' contract.on() starts an
//   eth_newFilter in the background that rejects unhandled when the provider is destroyed first.)
// - No event is skipped silently: each poll reads the logs after the last block read; when the chain was
//   unreachable for too long to catch up in one request, or the first poll has no starting block, every cached
//   document is dropped instead.
// - The watcher never keeps the process alive (its timer is unref'ed).
import { Interface, type JsonRpcProvider, type Log } from "ethers";
import { EthereumDIDRegistryAbi } from "@hygeia/chain/browser";

const registryInterface = new Interface(EthereumDIDRegistryAbi);
const TOPICS = ["DIDOwnerChanged", "DIDDelegateChanged", "DIDAttributeChanged"].map(
  (name) => registryInterface.getEvent(name)!.topicHash,
);
/** At most this many blocks per eth_getLogs (public nodes refuse wide ranges). */
const MAX_BLOCK_RANGE = 2_000;

export interface RegistryWatcherOptions {
  provider: JsonRpcProvider;
  registry: string;
  pollingIntervalMs: number;
  /** An identity (address, lower case) whose document changed. */
  onChange(address: string): void;
  /** Changes may have been missed: forget everything. */
  onGap(): void;
}

export class RegistryWatcher {
  private readonly options: RegistryWatcherOptions;
  private lastBlock: number | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inFlight: Promise<void> | undefined;
  private stopped = false;

  constructor(options: RegistryWatcherOptions) {
    this.options = options;
  }

  /** Reads the current block (when reachable) so that later changes are seen, then polls on a timer. */
  async start(): Promise<void> {
    this.inFlight = this.readStartBlock();
    await this.inFlight;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inFlight;
  }

  private async readStartBlock(): Promise<void> {
    try {
      this.lastBlock = await this.options.provider.getBlockNumber();
    } catch {
      // Unreachable for now: the first successful poll starts from a clean cache.
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.inFlight = this.poll().finally(() => this.schedule());
    }, this.options.pollingIntervalMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  private async poll(): Promise<void> {
    try {
      const latest = await this.options.provider.getBlockNumber();
      if (this.stopped) return;
      if (this.lastBlock === undefined || latest - this.lastBlock > MAX_BLOCK_RANGE) {
        this.lastBlock = latest;
        this.options.onGap();
        return;
      }
      if (latest <= this.lastBlock) return;
      const logs: Log[] = await this.options.provider.getLogs({
        address: this.options.registry,
        topics: [TOPICS],
        fromBlock: this.lastBlock + 1,
        toBlock: latest,
      });
      if (this.stopped) return;
      for (const log of logs) {
        const identity = log.topics[1];
        if (identity) this.options.onChange(`0x${identity.slice(-40)}`.toLowerCase());
      }
      this.lastBlock = latest;
    } catch {
      // Chain unreachable or provider destroyed: try again next time (from the same block).
    }
  }
}
