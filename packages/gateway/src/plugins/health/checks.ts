// Readiness checks: each part the gateway's answers depend on, asked with a short bound. A part that does
// not answer within it is not ready (fail closed: a load balancer then sends traffic elsewhere). The
// reasons are operator-facing but never carry a URL, key or stack: only the part's own error code and a
// short cause.
// The audit log is a part too: a log that no longer reproduces its own signed checkpoints cannot vouch for
// the events it would append (not ready). An anchoring error is reported but does not fail readiness: the
// chain's own check covers an unreachable chain, and the events stay durable and are anchored later.
import type { GatewayServices } from "../../context.ts";
import type { AuditStatus } from "../../audit/types.ts";

export type PartName = "chain" | "indexer" | "ipfs" | "database" | "audit";
export const PARTS: readonly PartName[] = ["chain", "indexer", "ipfs", "database", "audit"];

export interface PartCheck {
  ready: boolean;
  /** Why not ready (null when ready). */
  reason: string | null;
  /** The stable code of the failure (CHAIN_UNAVAILABLE, INDEXER_STALE, TIMEOUT, ...), null when ready. */
  code: string | null;
}

/** The audit part also reports the log's sizes and the last anchoring error. */
export interface AuditCheck extends PartCheck {
  size: number;
  anchoredSize: number;
  lastAnchorError: string | null;
}

export type Checks = Record<Exclude<PartName, "audit">, PartCheck> & { audit: AuditCheck };

/** The raw-sha256 CID of the empty file: a `has` of it touches the node's blockstore and nothing else. */
export const PROBE_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";

const READY: PartCheck = { ready: true, reason: null, code: null };

class CheckTimeout extends Error {
  readonly code = "TIMEOUT";
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new CheckTimeout(`${what} did not answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function failed(error: unknown, fallbackCode: string): PartCheck {
  const code = (error as { code?: unknown })?.code;
  const message = error instanceof Error ? error.message : String(error);
  // First line only, bounded: no stack, no multi-line dumps of a node's answer.
  const reason = message.split("\n")[0]!.slice(0, 200);
  return { ready: false, reason, code: typeof code === "string" && /^[A-Z0-9_]+$/.test(code) ? code : fallbackCode };
}

/** The audit log's part: not ready only when its store no longer reproduces its checkpoints. */
export function auditCheck(status: AuditStatus): AuditCheck {
  const sizes = {
    size: status.size,
    anchoredSize: status.anchoredSize,
    lastAnchorError: status.lastAnchorError === null ? null : status.lastAnchorError.split("\n")[0]!.slice(0, 200),
  };
  if (status.consistentWithCheckpoints) return { ...READY, ...sizes };
  return {
    ready: false,
    reason:
      "the stored audit log does not match what this gateway signed (its latest checkpoint, or the event bytes " +
      "behind a row's columns): the database was altered",
    code: "AUDIT_LOG_INCONSISTENT",
    ...sizes,
  };
}

/**
 * Runs every check concurrently, each bounded by `timeoutMs`. `audit` is the audit log's status, or undefined
 * when no audit log is registered (reported not ready: nothing could be audited).
 */
export async function runChecks(
  services: GatewayServices,
  timeoutMs: number,
  audit: (() => AuditStatus) | undefined,
): Promise<Checks> {
  const [chain, indexer, ipfs, database] = await Promise.all([
    within(services.chain.provider.getBlockNumber(), timeoutMs, "the chain node").then(
      () => READY,
      (error: unknown) => failed(error, "CHAIN_UNAVAILABLE"),
    ),
    Promise.resolve().then(() => indexerCheck(services)),
    within(services.content.has(PROBE_CID, { timeoutMs }), timeoutMs, "the IPFS node").then(
      () => READY,
      (error: unknown) => failed(error, "STORE_UNAVAILABLE"),
    ),
    within(services.store.ping(), timeoutMs, "the database").then(
      () => READY,
      (error: unknown) => failed(error, "DATABASE_UNAVAILABLE"),
    ),
  ]);
  return { chain, indexer, ipfs, database, audit: auditPart(audit) };
}

function auditPart(audit: (() => AuditStatus) | undefined): AuditCheck {
  if (audit === undefined)
    return {
      ready: false,
      reason: "no audit log is registered",
      code: "AUDIT_UNAVAILABLE",
      size: 0,
      anchoredSize: 0,
      lastAnchorError: null,
    };
  try {
    return auditCheck(audit());
  } catch (error) {
    return { ...failed(error, "AUDIT_UNAVAILABLE"), size: 0, anchoredSize: 0, lastAnchorError: null };
  }
}

function indexerCheck(services: GatewayServices): PartCheck {
  const status = services.chain.indexer.status();
  if (!status.stale) return READY;
  const cause = (status.lastError as { code?: unknown } | null)?.code;
  const reason = status.staleReason ?? "the consent index is stale";
  return {
    ready: false,
    reason: typeof cause === "string" && /^[A-Z0-9_]+$/.test(cause) ? `${reason} (last poll: ${cause})` : reason,
    code: "INDEXER_STALE",
  };
}

/** Ready only when every part is; otherwise the parts that are not, in a fixed order. */
export function readiness(checks: Checks): { ready: boolean; notReady: PartName[] } {
  const notReady = PARTS.filter((part) => !checks[part].ready);
  return { ready: notReady.length === 0, notReady };
}
