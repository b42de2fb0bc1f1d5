/** Typed client of the AuditAnchor contract: gateways anchor Merkle roots of audit-log batches. */
import { Interface, getAddress, zeroPadValue, type Log } from "ethers";
import {
  InvalidInputError,
  requireAddress,
  requireBytes32,
  requireNonZeroAddress,
  requireSmallUint,
  requireUint,
} from "../errors.ts";
import { AuditAnchorAbi } from "../generated/AuditAnchor.ts";
import { toChainError } from "./chain-errors.ts";
import * as node from "./node-reads.ts";
import {
  ContractClient,
  type ClientRunner,
  logPosition,
  type BlockTag,
  type ClientOptions,
  type LogPosition,
  type TxOptions,
  type TxOutcome,
} from "./base.ts";

/** One anchored batch: events [firstIndex, firstIndex + count) of `gateway`'s log have Merkle root `root`. */
export interface AnchorRecord {
  readonly root: string;
  readonly gateway: string;
  readonly firstIndex: bigint;
  readonly count: number;
  /** Zero-based batch number of this gateway. */
  readonly batch: number;
  readonly position: LogPosition;
}

export type AuditEvent =
  | ({ readonly type: "AuditRootAnchored" } & AnchorRecord)
  | {
      readonly type: "GatewaySet";
      readonly gateway: string;
      readonly authorized: boolean;
      readonly position: LogPosition;
    };

export interface GatewayState {
  readonly authorized: boolean;
  /** The firstIndex the gateway's next anchor must use. */
  readonly nextIndex: bigint;
  readonly batches: number;
}

export interface AuditAnchorOptions extends ClientOptions {
  /** First block to search for anchors (the deployment block); default 0. */
  fromBlock?: number;
  /** Largest eth_getLogs range; public RPC providers often cap it. Default 10,000. */
  maxBlockRange?: number;
}

const auditInterface = new Interface(AuditAnchorAbi);
const ANCHORED_TOPIC = auditInterface.getEvent("AuditRootAnchored")!.topicHash;

export class AuditAnchorClient extends ContractClient<AuditEvent> {
  private readonly fromBlock: number;
  private readonly maxBlockRange: number;

  constructor(address: string, runner: ClientRunner, options: AuditAnchorOptions = {}) {
    super("AuditAnchor", address, AuditAnchorAbi, runner, options);
    this.fromBlock = requireSmallUint(options.fromBlock ?? 0, 48, "fromBlock");
    this.maxBlockRange = requireSmallUint(options.maxBlockRange ?? 10_000, 32, "maxBlockRange");
    if (this.maxBlockRange === 0) throw new InvalidInputError("maxBlockRange", "must be at least 1");
  }

  connect(runner: ClientRunner): AuditAnchorClient {
    return new AuditAnchorClient(this.address, runner, {
      fromBlock: this.fromBlock,
      maxBlockRange: this.maxBlockRange,
      readTimeoutMs: this.readTimeoutMs,
    });
  }

  protected parseEvent(log: Log): AuditEvent | undefined {
    const parsed = auditInterface.parseLog({ topics: [...log.topics], data: log.data });
    if (parsed?.name === "AuditRootAnchored") return { type: "AuditRootAnchored", ...toAnchorRecord(log) };
    if (parsed?.name === "GatewaySet") {
      const [gateway, authorized] = parsed.args as unknown as [string, boolean];
      return { type: "GatewaySet", gateway: getAddress(gateway), authorized, position: logPosition(log) };
    }
    return undefined;
  }

  /** Governance only. */
  setGateway(gateway: string, authorized: boolean, options?: TxOptions): Promise<TxOutcome<AuditEvent>> {
    if (typeof authorized !== "boolean") throw new InvalidInputError("authorized", "expected a boolean");
    return this.write("setGateway", [requireNonZeroAddress(gateway, "gateway"), authorized], options);
  }

  /** Gateway only. `firstIndex` must equal gatewayOf(sender).nextIndex (batches are contiguous). */
  anchor(
    root: string,
    firstIndex: bigint | number,
    count: number,
    options?: TxOptions,
  ): Promise<TxOutcome<AuditEvent>> {
    const checkedRoot = requireBytes32(root, "root");
    if (/^0x0{64}$/.test(checkedRoot)) throw new InvalidInputError("root", "the zero root is not allowed");
    const checkedCount = requireSmallUint(count, 32, "count");
    if (checkedCount === 0) throw new InvalidInputError("count", "a batch holds at least one event");
    return this.write("anchor", [checkedRoot, requireUint(firstIndex, 64, "firstIndex"), checkedCount], options);
  }

  async gatewayOf(gateway: string, blockTag?: BlockTag): Promise<GatewayState> {
    const [authorized, nextIndex, batches] = await this.read<[boolean, bigint, bigint]>(
      "gatewayOf",
      [requireAddress(gateway, "gateway")],
      blockTag,
    );
    return { authorized, nextIndex, batches: Number(batches) };
  }

  /** Every anchoring of `root`, oldest first, found through the indexed root topic. */
  async findAnchors(root: string): Promise<AnchorRecord[]> {
    const topicRoot = requireBytes32(root, "root");
    const provider = this.provider;
    const operation = "AuditAnchor.findAnchors";
    try {
      await this.ensureDeployed();
      const head = await this.ask(node.blockNumber(provider), operation); // fresh: an anchor just mined is found
      const records: AnchorRecord[] = [];
      for (let from = this.fromBlock; from <= head; from += this.maxBlockRange) {
        const to = Math.min(head, from + this.maxBlockRange - 1);
        const logs = await this.ask(
          provider.getLogs({
            address: this.address,
            topics: [ANCHORED_TOPIC, topicRoot],
            fromBlock: from,
            toBlock: to,
          }),
          operation,
        );
        for (const log of logs) records.push(toAnchorRecord(log));
      }
      return records;
    } catch (error) {
      throw toChainError(error, auditInterface, operation, this.address);
    }
  }

  /**
   * Every AuditRootAnchored event of `gateway` in blocks [fromBlock, toBlock] (toBlock default: the head at the
   * call), oldest first, found through the indexed gateway topic in windows of `maxBlockRange` blocks. An audit
   * verifier walks them to check that consecutive anchors link (firstIndex = the previous firstIndex + count).
   */
  anchorsOf(gateway: string, range: { fromBlock: number; toBlock?: number }): Promise<AnchorRecord[]> {
    const topicGateway = zeroPadValue(requireAddress(gateway, "gateway"), 32);
    if (typeof range !== "object" || range === null)
      throw new InvalidInputError("range", "expected { fromBlock, toBlock? }");
    const fromBlock = requireSmallUint(range.fromBlock, 48, "fromBlock");
    const toBlock = range.toBlock === undefined ? undefined : requireSmallUint(range.toBlock, 48, "toBlock");
    if (toBlock !== undefined && toBlock < fromBlock)
      throw new InvalidInputError("toBlock", `must be at least fromBlock (${fromBlock}), got ${toBlock}`);
    // Validated synchronously above (a bad argument throws before any I/O); the reads follow.
    return this.listAnchorsOf(topicGateway, fromBlock, toBlock);
  }

  private async listAnchorsOf(
    topicGateway: string,
    fromBlock: number,
    toBlock: number | undefined,
  ): Promise<AnchorRecord[]> {
    const provider = this.provider;
    const operation = "AuditAnchor.anchorsOf";
    try {
      await this.ensureDeployed();
      const last = toBlock ?? (await this.ask(node.blockNumber(provider), operation));
      const records: AnchorRecord[] = [];
      for (let from = fromBlock; from <= last; from += this.maxBlockRange) {
        const to = Math.min(last, from + this.maxBlockRange - 1);
        const logs = await this.ask(
          provider.getLogs({
            address: this.address,
            topics: [ANCHORED_TOPIC, null, topicGateway],
            fromBlock: from,
            toBlock: to,
          }),
          operation,
        );
        for (const log of logs) records.push(toAnchorRecord(log));
      }
      return records;
    } catch (error) {
      throw toChainError(error, auditInterface, operation, this.address);
    }
  }

  /** The first anchoring of `root`, or null when it was never anchored. */
  async findAnchor(root: string): Promise<AnchorRecord | null> {
    return (await this.findAnchors(root))[0] ?? null;
  }
}

function toAnchorRecord(log: Log): AnchorRecord {
  const parsed = auditInterface.parseLog({ topics: [...log.topics], data: log.data });
  if (parsed?.name !== "AuditRootAnchored") throw new InvalidInputError("log", "not an AuditRootAnchored log");
  const [root, gateway, firstIndex, count, batch] = parsed.args as unknown as [string, string, bigint, bigint, bigint];
  return {
    root: root.toLowerCase(),
    gateway: getAddress(gateway),
    firstIndex,
    count: Number(count),
    batch: Number(batch),
    position: logPosition(log),
  };
}
