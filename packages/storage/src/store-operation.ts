// What every content store does around one operation: bound it by an idle timeout that the caller's signal or
// the store's closing cancels, and turn an interruption (close, caller abort, timeout) into this package's errors.
import type { CID } from "multiformats/cid";
import type { OperationOptions } from "./content-store.ts";
import { ContentNotFoundError, StorageTimeoutError, StoreUnavailableError } from "./errors.ts";
import { IdleTimeout, assertTimeoutMs } from "./idle-timeout.ts";

/** Starts the idle timeout of one operation: the caller's `timeoutMs` or the store's default. */
export function startOperationTimeout(
  options: OperationOptions,
  defaultTimeoutMs: number,
  closing: AbortSignal,
): IdleTimeout {
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  assertTimeoutMs(timeoutMs);
  const signals = [closing];
  if (options.signal !== undefined) signals.push(options.signal);
  return new IdleTimeout(timeoutMs, AbortSignal.any(signals));
}

export interface Interruption {
  readonly timeout: IdleTimeout;
  readonly closing: AbortSignal;
  readonly callerSignal: AbortSignal | undefined;
  readonly cid: CID | undefined;
  /** True when no byte of `cid` arrived before the timeout: then the content is reported as not found. */
  readonly nothingReceived: boolean;
  /** Where the store looked, for the not-found message, e.g. "locally or from connected peers". */
  readonly searched: string;
}

/**
 * The error for an operation that ended because the store closed, the caller aborted or the idle timeout
 * fired; undefined when it ended for another reason (each store maps those itself).
 */
export function interruptionError(error: unknown, at: Interruption): unknown {
  if (at.closing.aborted) return new StoreUnavailableError("store was closed during the operation", { cause: error });
  if (at.callerSignal?.aborted) return at.callerSignal.reason;
  if (!at.timeout.timedOut) return undefined;
  if (at.cid !== undefined && at.nothingReceived) {
    const cid = at.cid.toString();
    return new ContentNotFoundError(cid, `${cid} not found ${at.searched} within ${at.timeout.timeoutMs} ms`, {
      cause: error,
    });
  }
  return new StorageTimeoutError(at.timeout.timeoutMs, `no progress for ${at.timeout.timeoutMs} ms`, { cause: error });
}
