/**
 * Client-side bounds on the unix times the clients and the indexer take (a consent's expiry and
 * signature deadline, an accreditation's validFrom / validUntil, the time a read is evaluated at),
 * checked before any chain call. The contracts only refuse the past, and views answer for any
 * time; these checks also refuse the implausible, above all a time in milliseconds (consent or an
 * accreditation until the year ~58,000, "was this issuer trusted in the year 58,000?").
 * One implementation of the milliseconds rule for all of them: requireTimeWithin.
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
  const now = nowSeconds(bounds);
  return requireTimeWithin(value, bits, field, {
    earliest: now + 1n,
    latest: now + BigInt(bounds.maxAheadSeconds),
    tooEarly: (time) => `${time} is in the past (now is ${now}); use a future unix time in seconds`,
    tooLate: (time, asMilliseconds) => tooFarAhead(time, now, bounds, asMilliseconds),
  });
}

/**
 * A unix time in seconds not in the past (now or later), with no upper bound but the contract's
 * width: for deadlines whose only rule is "not expired" (the deadline of a relayed removal of an
 * emergency grantee, which the client must never refuse for lying far ahead, 2^256 - 1 included).
 */
export function requireNotPast(value: unknown, bits: number, field: string, bounds: TimeBounds): bigint {
  const now = nowSeconds(bounds);
  const time = requireUint(value, bits, field);
  if (time < now)
    throw new InvalidInputError(field, `${time} is in the past (now is ${now}); use a future unix time in seconds`);
  return time;
}

/**
 * A unix time in seconds that may lie in the past (from 0, "since always") but not more than
 * `maxAheadSeconds` ahead: the start of a validity window (an accreditation's validFrom).
 */
export function requireTimeNotAhead(value: unknown, bits: number, field: string, bounds: TimeBounds): bigint {
  const now = nowSeconds(bounds);
  return requireTimeWithin(value, bits, field, {
    earliest: 0n,
    latest: now + BigInt(bounds.maxAheadSeconds),
    tooEarly: (time) => `${time} is negative`, // unreachable: requireUint refuses negatives first
    tooLate: (time, asMilliseconds) => tooFarAhead(time, now, bounds, asMilliseconds),
  });
}

/**
 * A unix time in seconds a read is evaluated at (`isTrustedAt`, the indexer's `atUnixSeconds`):
 * any time before 1e11 (the year 5138). Anything from 1e11 on is refused rather than answered,
 * since a value that large is almost surely milliseconds (`Date.now()`), and an answer "at the year
 * 58,000" would silently be wrong. Returns the value as a bigint.
 */
export function requireUnixSeconds(value: unknown, field: string): bigint {
  return requireTimeWithin(value, 64, field, {
    earliest: 0n,
    latest: MAYBE_MILLISECONDS - 1n,
    tooEarly: (time) => `${time} is negative`, // unreachable: requireUint refuses negatives first
    tooLate: (time, asMilliseconds) =>
      `${time} is after the year 5138 as unix seconds${asMilliseconds}; expected unix seconds below ${MAYBE_MILLISECONDS}`,
  });
}

interface TimeWindow {
  /** Inclusive bounds in unix seconds. */
  readonly earliest: bigint;
  readonly latest: bigint;
  readonly tooEarly: (time: bigint) => string;
  /** `asMilliseconds` is "" or " (read as milliseconds it would be …)" to put after the value. */
  readonly tooLate: (time: bigint, asMilliseconds: string) => string;
}

/**
 * The one implementation of the milliseconds rule: a value refused that is ≥ 1e11 says "divide by
 * 1000" when the value divided by 1000 would be accepted, and otherwise what it would be read as
 * milliseconds, so the hint is never missing nor misleading.
 */
function requireTimeWithin(value: unknown, bits: number, field: string, window: TimeWindow): bigint {
  const time = requireUint(value, bits, field);
  if (time >= window.earliest && time <= window.latest) return time;
  if (time >= MAYBE_MILLISECONDS) {
    const seconds = time / 1000n;
    if (seconds >= window.earliest && seconds <= window.latest) {
      throw new InvalidInputError(
        field,
        `${time} looks like milliseconds: divide by 1000 (expected unix seconds, e.g. ${seconds}, ${isoDate(seconds)})`,
      );
    }
  }
  if (time < window.earliest) throw new InvalidInputError(field, window.tooEarly(time));
  const asMilliseconds =
    time >= MAYBE_MILLISECONDS
      ? ` (read as milliseconds it would be ${isoDate(time / 1000n)}, ${time / 1000n < window.earliest ? "in the past" : "also too far ahead"})`
      : "";
  throw new InvalidInputError(field, window.tooLate(time, asMilliseconds));
}

function nowSeconds(bounds: TimeBounds): bigint {
  return BigInt(Math.floor(bounds.clock() / 1000));
}

function tooFarAhead(time: bigint, now: bigint, bounds: TimeBounds, asMilliseconds: string): string {
  const years = Number(time - now) / 31_557_600;
  return (
    `${time} is ${years < 1e6 ? years.toFixed(1) : years.toExponential(1)} years ahead${asMilliseconds}; ` +
    `at most ${bounds.maxAheadSeconds} s ahead (${now + BigInt(bounds.maxAheadSeconds)}) is accepted ` +
    "(the client option maxExpiryAheadSeconds raises the bound)"
  );
}

/** "2031-05-04" for unix seconds, or "a date past the year 275760" beyond what Date can show. */
function isoDate(seconds: bigint): string {
  const ms = Number(seconds) * 1000;
  return Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString().slice(0, 10) : "a date past the year 275760";
}
