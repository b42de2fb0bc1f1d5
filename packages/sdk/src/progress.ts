/**
 * Transfer progress: bytes so far, total when known, rate and ETA. Pure (the clock is injected), so the CLI's bars
 * and a page's progress element read the same numbers.
 */

export interface Progress {
  /** Bytes transferred so far. */
  bytes: number;
  /** Bytes in all, when known. */
  total: number | undefined;
  /** Bytes per second, averaged over the last few seconds (0 until a rate can be told). */
  bytesPerSecond: number;
  /** Seconds left at the current rate, when the total is known and the rate is not 0. */
  etaSeconds: number | undefined;
  /** True on the last report of a transfer. */
  done: boolean;
}

export type ProgressCallback = (progress: Progress) => void;

/** Counts bytes and reports at most every `intervalMs` (and always at the end). */
export class ProgressMeter {
  readonly #total: number | undefined;
  readonly #onProgress: ProgressCallback;
  readonly #now: () => number;
  readonly #intervalMs: number;
  // A sliding window of (time, bytes) samples: the rate over the last ~3 s follows a network that slows down.
  readonly #window: { at: number; bytes: number }[] = [];
  #bytes = 0;
  #lastReport = -Infinity;

  constructor(
    total: number | undefined,
    onProgress: ProgressCallback,
    options: { now?: () => number; intervalMs?: number } = {},
  ) {
    this.#total = total;
    this.#onProgress = onProgress;
    this.#now = options.now ?? (() => performance.now());
    this.#intervalMs = options.intervalMs ?? 100;
    this.#window.push({ at: this.#now(), bytes: 0 });
  }

  get bytes(): number {
    return this.#bytes;
  }

  add(count: number): void {
    this.#bytes += count;
    const at = this.#now();
    this.#window.push({ at, bytes: this.#bytes });
    while (this.#window.length > 2 && at - this.#window[0]!.at > 3000) this.#window.shift();
    if (at - this.#lastReport >= this.#intervalMs) this.#report(false, at);
  }

  finish(): void {
    this.#report(true, this.#now());
  }

  #report(done: boolean, at: number): void {
    this.#lastReport = at;
    const first = this.#window[0]!;
    const seconds = (at - first.at) / 1000;
    const bytesPerSecond = seconds > 0 ? (this.#bytes - first.bytes) / seconds : 0;
    const left = this.#total === undefined ? undefined : Math.max(0, this.#total - this.#bytes);
    const etaSeconds = done ? 0 : left !== undefined && bytesPerSecond > 0 ? left / bytesPerSecond : undefined;
    this.#onProgress({ bytes: this.#bytes, total: this.#total, bytesPerSecond, etaSeconds, done });
  }
}

/** A stream that passes `source` through unchanged, counting its bytes into `meter` and finishing it at the end. */
export function meteredStream(source: ReadableStream<Uint8Array>, meter: ProgressMeter): ReadableStream<Uint8Array> {
  return source.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        meter.add(chunk.byteLength);
        controller.enqueue(chunk);
      },
      flush() {
        meter.finish();
      },
    }),
  );
}
