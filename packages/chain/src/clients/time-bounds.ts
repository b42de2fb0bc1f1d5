/**
 * Client-side bounds on the unix times a consent carries (expiry, signature deadline), checked
 * before any chain call. The contract only refuses the past; these checks also refuse the
 * implausible, above all a time in milliseconds (consent until the year ~58,000).
 */
import { InvalidInputError, requireUint } from "../errors.ts";

/** Ten years of 365.25 days. */
export const DEFAULT_MAX_EXPIRY_AHEAD_SECONDS = 315_576_000;

/**
 * Unix seconds at or above this may well be milliseconds (1e11 s is the year ~5100; 1e11 ms is
 * 1973): a refusal of such a value always says what it would be read as milliseconds.
 */
const MAYBE_MILLISECONDS = 100_000_000_000n;

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
  const now = BigInt(Math.floor(bounds.clock() / 1000));
  const latest = now + BigInt(bounds.maxAheadSeconds);
  if (time > now && time <= latest) return time;
  if (time >= MAYBE_MILLISECONDS) {
    const seconds = time / 1000n;
    if (seconds > now && seconds <= latest) {
      throw new InvalidInputError(
        field,
        `${time} looks like milliseconds: divide by 1000 (expected unix seconds, e.g. ${seconds}, ${isoDate(seconds)})`,
      );
    }
  }
  // Not a plausible time in milliseconds either: say so, so the hint is never missing nor misleading.
  const asMilliseconds =
    time >= MAYBE_MILLISECONDS
      ? ` (read as milliseconds it would be ${isoDate(time / 1000n)}, ${time / 1000n <= now ? "in the past" : "also too far ahead"})`
      : "";
  if (time <= now) {
    throw new InvalidInputError(field, `${time} is in the past (now is ${now}); use a future unix time in seconds`);
  }
  const years = Number(time - now) / 31_557_600;
  throw new InvalidInputError(
    field,
    `${time} is ${years < 1e6 ? years.toFixed(1) : years.toExponential(1)} years ahead${asMilliseconds}; ` +
      `at most ${bounds.maxAheadSeconds} s ahead (${latest}) is accepted ` +
      "(the client option maxExpiryAheadSeconds raises the bound)",
  );
}

/** "2031-05-04" for unix seconds, or "a date past the year 275760" beyond what Date can show. */
function isoDate(seconds: bigint): string {
  const ms = Number(seconds) * 1000;
  return Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString().slice(0, 10) : "a date past the year 275760";
}
