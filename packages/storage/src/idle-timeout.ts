// An abort signal that fires when an operation makes no progress for `timeoutMs`, combined with the
// caller's own signal. Progress (a block arrived, a chunk was written) pushes the deadline back, so a large
// transfer that keeps flowing is never cut off, while a stalled or unanswerable one ends in bounded time.
import { InvalidArgumentError } from "./errors.ts";

export const MAX_TIMEOUT_MS = 24 * 60 * 60 * 1000;

export function assertTimeoutMs(timeoutMs: unknown, what = "timeoutMs"): asserts timeoutMs is number {
  if (typeof timeoutMs !== "number" || !Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS) {
    throw new InvalidArgumentError(`${what} must be an integer number of milliseconds in 1..${MAX_TIMEOUT_MS}`, {
      field: what,
    });
  }
}

/**
 * The least store-wide `timeoutMs` (HeliaContentStore and KuboContentStore): it is an idle timeout for network
 * fetches, and a smaller value is a unit mistake (seconds for ms) that would fail reads of content that is there. A
 * single call may pass less.
 */
export const MIN_STORE_TIMEOUT_MS = 100;

/**
 * A store-wide timeoutMs: a whole number of ms from MIN_STORE_TIMEOUT_MS. Below it, the likely mistake is seconds
 * for milliseconds, and the message says so.
 */
export function assertStoreTimeoutMs(timeoutMs: unknown, defaultMs: number): asserts timeoutMs is number {
  assertTimeoutMs(timeoutMs);
  if (timeoutMs >= MIN_STORE_TIMEOUT_MS) return;
  const seconds = timeoutMs <= 3600 ? ` (${timeoutMs} looks like seconds: multiply by 1000, ${timeoutMs * 1000})` : "";
  throw new InvalidArgumentError(
    `timeoutMs is an idle timeout in milliseconds, at least ${MIN_STORE_TIMEOUT_MS} (default ${defaultMs})${seconds}`,
    { field: "timeoutMs" },
  );
}

export class IdleTimeout {
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
  #timedOut = false;
  #paused = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #controller = new AbortController();

  constructor(timeoutMs: number, callerSignal?: AbortSignal) {
    assertTimeoutMs(timeoutMs);
    this.timeoutMs = timeoutMs;
    this.signal = callerSignal ? AbortSignal.any([callerSignal, this.#controller.signal]) : this.#controller.signal;
    this.touch();
  }

  /** True when this timer (not the caller) aborted the operation. */
  get timedOut(): boolean {
    return this.#timedOut;
  }

  /** Records progress: restarts the idle deadline (unless paused). */
  touch(): void {
    clearTimeout(this.#timer);
    if (this.#controller.signal.aborted || this.#paused) return;
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      this.#controller.abort(new Error(`no progress for ${this.timeoutMs} ms`));
    }, this.timeoutMs);
  }

  /** Stops the clock, e.g. while the consumer holds a chunk: its processing time is not the store's stall. */
  pause(): void {
    this.#paused = true;
    clearTimeout(this.#timer);
  }

  resume(): void {
    this.#paused = false;
    this.touch();
  }

  dispose(): void {
    clearTimeout(this.#timer);
  }
}
