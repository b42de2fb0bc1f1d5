// What the rest of the gateway needs from the audit log (the audit plugin decorates `app.audit`).
import type { AuditEvent } from "@hygeia/audit";

/** An event as a handler describes it; the log adds `v`, `time`, `gateway` and the patient's `seq`. */
export type AuditEventInput = Omit<AuditEvent, "v" | "time" | "gateway" | "seq">;

/** A durable event: its index in the log and the event exactly as logged (with `v`, `time`, `gateway`, `seq`). */
export interface RecordedAuditEvent {
  index: number;
  event: AuditEvent;
}

export interface AuditLog {
  /**
   * Appends the event and resolves once it is durable (committed with synchronous=FULL; concurrent
   * calls share one commit). A key release calls this BEFORE it responds: no wrap leaves without its event.
   * Rejects (DependencyUnavailableError "database") when it cannot be made durable: the caller refuses.
   */
  record(event: AuditEventInput): Promise<RecordedAuditEvent>;
  /** The log's origin (its name in checkpoints; with several gateways, each gateway's own). */
  readonly origin: string;
  /** The C2SP verifier key of the log's signing key: it verifies checkpoints and the other notes the gateway signs. */
  readonly verifierKey: string;
  /**
   * Signs a C2SP note text (ending in a newline, no blank line) with the log's signing key, under the log's origin as
   * key name: statements the gateway makes beside its checkpoints (a research pull manifest), checked with
   * `verifierKey`.
   */
  signNote(text: string): string;
  /** Computes, signs and stores a checkpoint of every event so far, and anchors it on chain when configured. */
  anchorNow(): Promise<void>;
  /** Flushes pending events, anchors the last batch, stops timers. */
  close(): Promise<void>;
  /** For /readyz and operators: the log's size, the anchored size, the last anchoring error, the store's integrity. */
  status(): AuditStatus;
}

export interface AuditStatus {
  size: number;
  /** The size of the tree head last anchored on chain (0: none). */
  anchoredSize: number;
  /** The last anchoring error, until an anchor succeeds again. */
  lastAnchorError: string | null;
  /** False when the stored log does not reproduce the latest stored checkpoint (the store was altered). */
  consistentWithCheckpoints: boolean;
}

declare module "fastify" {
  interface FastifyInstance {
    audit: AuditLog;
  }
}
