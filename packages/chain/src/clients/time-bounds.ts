/**
 * Client-side bounds on the unix times a consent carries (expiry, signature deadline), checked
 * before any chain call. The contract only refuses the past; these checks also refuse the
 * implausible, above all a time in milliseconds (consent until the year ~58,000).
 */
import { InvalidInputError, requireUint } from "../errors.ts";

/** Ten years of 365.25 days. */
export const DEFAULT_MAX_EXPIRY_AHEAD_SECONDS = 315_576_000;

/** Unix seconds at or above this are almost certainly milliseconds (1e12 s is the year ~33,700). */
const MILLISECONDS_THRESHOLD = 1_000_000_000_000n;

export interface TimeBounds {
  /** Latest accepted time, in seconds from now. */
  readonly maxAheadSeconds: number;
  /** Wall clock in milliseconds. */
  readonly clock: () => number;
}

export function timeBounds(options: { maxExpiryAheadSeconds?: number; clock?: () => number }): TimeBounds {
  const maxAheadSeconds = options.maxExpiryAheadSeconds ?? DEFAULT_MAX_EXPIRY_AHEAD_SECONDS;
  if (!Number.isSafeInteger(maxAheadSeconds) || maxAheadSeconds <= 0)
    throw new InvalidInputError("maxExpiryAheadSeconds", `expected a positive integer, got ${String(maxAheadSeconds)}`);
  const clock = options.clock ?? Date.now;
  if (typeof clock !== "function") throw new InvalidInputError("clock", "expected a function returning milliseconds");
  return { maxAheadSeconds, clock };
}

/**
 * A future unix time in seconds, at most `maxAheadSeconds` ahead. `bits` is the contract's width
 * (64 for expiry, 256 for deadlines). Time is the wall clock: chain time may differ by seconds.
 */
export function requireFutureTime(value: unknown, bits: number, field: string, bounds: TimeBounds): bigint {
  const time = requireUint(value, bits, field);
  if (time >= MILLISECONDS_THRESHOLD) {
    throw new InvalidInputError(
      field,
      `${time} looks like milliseconds: divide by 1000 (expected unix seconds, e.g. ${time / 1000n})`,
    );
  }
  const now = BigInt(Math.floor(bounds.clock() / 1000));
  if (time <= now) {
    throw new InvalidInputError(field, `${time} is in the past (now is ${now}); use a future unix time in seconds`);
  }
  const latest = now + BigInt(bounds.maxAheadSeconds);
  if (time > latest) {
    const years = Number(time - now) / 31_557_600;
    throw new InvalidInputError(
      field,
      `${time} is ${years.toFixed(1)} years ahead; at most ${bounds.maxAheadSeconds} s ahead (${latest}) ` +
        "is accepted (the client option maxExpiryAheadSeconds raises the bound)",
    );
  }
  return time;
}
