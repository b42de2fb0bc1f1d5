// Runs `store.sweep(now)` on a timer so expired nonces, sessions, check-ins and aggregate queries do not pile up.
// Nothing depends on a sweep for safety (every read checks expiry itself); this only bounds the tables' size.
// - One sweep at a time: a tick while the previous sweep still runs is skipped.
// - A failed sweep is reported to `onError` (the log) and retried at the next tick; it never throws.
// - The timer is unref'd: it never keeps the process alive. `stop()` waits for a sweep in flight.
import type { GatewayStore } from "./types.ts";

export interface StoreSweeperOptions {
  /** Default 60 000 ms. */
  everyMs?: number;
  /** Unix ms. */
  now: () => number;
  /** Called with how many rows went, after each sweep that removed any. */
  onSwept?: (removed: number) => void;
  onError: (error: unknown) => void;
}

export interface StoreSweeper {
  /** Sweeps now (the timer's work, callable directly); resolves with how many rows went, 0 when skipped. */
  sweepNow(): Promise<number>;
  stop(): Promise<void>;
}

export function startStoreSweeper(store: GatewayStore, options: StoreSweeperOptions): StoreSweeper {
  const everyMs = options.everyMs ?? 60_000;
  let running: Promise<number> | null = null;
  let stopped = false;

  const sweepNow = (): Promise<number> => {
    if (stopped || running !== null) return Promise.resolve(0);
    running = store
      .sweep(options.now())
      .then((removed) => {
        if (removed > 0) options.onSwept?.(removed);
        return removed;
      })
      .catch((error: unknown) => {
        options.onError(error);
        return 0;
      })
      .finally(() => {
        running = null;
      });
    return running;
  };

  const timer = setInterval(() => void sweepNow(), everyMs);
  timer.unref();

  return {
    sweepNow,
    async stop(): Promise<void> {
      stopped = true;
      clearInterval(timer);
      if (running !== null) await running;
    },
  };
}
