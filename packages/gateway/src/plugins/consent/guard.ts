// The in-flight guard of the consent relay: at most one relayed transaction per consent slot at a time.
//
// Safety rules:
// - Why: the relayer's sender simulates each call before it takes a nonce, but until the first copy of a
//   message is mined every copy simulates fine; six concurrent posts of one grant were six transactions, five
//   of them reverted on chain at the relayer's expense. Sign-in and patient addresses are free, so quotas alone
//   do not bound that.
// - A request takes the slots of all its items at once, synchronously, after parsing and before reading the
//   chain or sending; if any is held, it takes none and is refused (409 RELAY_IN_PROGRESS) with nothing sent.
// - A slot is released when its transaction settles (mined, reverted, or refused before a nonce was taken), or
//   when the request is refused before sending. A transaction that timed out may still be mined: its slot stays
//   held until the chain shows its receipt, or for at most `TIMEOUT_HOLD_MS`.
// - Process-local: with several gateways behind one relayer key (issue 13) this map must move to the shared
//   store, or each gateway can still send its own copy.
import { GatewayError } from "../../errors.ts";

/** Longest a slot whose transaction timed out stays held while the chain is watched for its receipt. */
export const TIMEOUT_HOLD_MS = 15 * 60_000;
/** How often the receipt of a timed-out transaction is asked for. */
export const TIMEOUT_POLL_MS = 5_000;

/** 409: a relay of one of the request's slots is being mined; nothing was sent for this request. */
export class RelayInProgressError extends GatewayError {
  override name = "RelayInProgressError";
  constructor(field: string) {
    super("RELAY_IN_PROGRESS", 409, "a relay of this consent slot is being mined; retry after it settles", {
      field,
      extensions: { retryAfter: 2 },
    });
  }
}

/** One request's hold on its slots. `release` is idempotent. */
export interface SlotHold {
  release(key: string): void;
  /** Keeps `key` held until `settled` resolves or rejects (or TIMEOUT_HOLD_MS passes), then releases it. */
  releaseWhen(key: string, settled: Promise<unknown>): void;
  releaseAll(): void;
}

export class RelayGuard {
  private readonly held = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  /** Slots currently held (for tests and /readyz-style introspection). */
  get size(): number {
    return this.held.size;
  }

  /**
   * Takes every key or none: the index of the first key already held, or the hold. Synchronous, so two
   * requests cannot both see a slot free.
   */
  acquire(keys: readonly string[]): SlotHold | { busy: number } {
    const busy = keys.findIndex((key) => this.held.has(key));
    if (busy !== -1) return { busy };
    for (const key of keys) this.held.add(key);
    const mine = new Set(keys);
    const release = (key: string) => {
      if (mine.delete(key)) this.held.delete(key);
    };
    return {
      release,
      releaseWhen: (key, settled) => {
        if (!mine.has(key)) return;
        if (this.closed) return release(key);
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          release(key);
        }, TIMEOUT_HOLD_MS);
        timer.unref();
        this.timers.add(timer);
        settled.then(
          () => release(key),
          () => release(key),
        );
      },
      releaseAll: () => {
        for (const key of [...mine]) release(key);
      },
    };
  }

  /** Stops the timers of timed-out holds (app close). */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

/**
 * Resolves once `hash` has a receipt (mined, either status), polling every `intervalMs`; stops early when
 * `stopped()` says so. Node errors are retried: an unreachable chain keeps the slot held (up to the cap).
 */
export async function receiptSettled(
  getReceipt: (hash: string) => Promise<unknown>,
  hash: string,
  stopped: () => boolean,
  intervalMs = TIMEOUT_POLL_MS,
  maxMs = TIMEOUT_HOLD_MS,
): Promise<void> {
  const until = Date.now() + maxMs;
  while (!stopped() && Date.now() < until) {
    try {
      if ((await getReceipt(hash)) != null) return;
    } catch {
      // The node did not answer: ask again next round.
    }
    await new Promise<void>((resolve) => setTimeout(resolve, intervalMs).unref());
  }
}
