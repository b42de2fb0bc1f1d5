/** Internal (not exported from the package): a request raced against a scan's AbortSignal. */
import { ScanAbortedError, throwIfAborted } from "../errors.ts";

/**
 * `request`, or ScanAbortedError as soon as `signal` aborts while it is in flight: a node that answers slowly (up to
 * readTimeoutMs per request) must not keep a scan running past its signal. The request itself is left to settle.
 */
export function untilAborted<T>(request: Promise<T>, signal: AbortSignal | undefined, operation: string): Promise<T> {
  if (signal === undefined) return request;
  request.catch(() => {}); // a request that fails after the abort won the race is not an unhandled rejection
  throwIfAborted(signal, operation);
  let onAbort: () => void = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new ScanAbortedError(operation, signal.reason));
    signal.addEventListener("abort", onAbort, { once: true });
  });
  return Promise.race([request, aborted]).finally(() => signal.removeEventListener("abort", onAbort));
}
