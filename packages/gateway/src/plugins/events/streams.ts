// How many event streams may be open: at most `perSession` per session and `total` in the gateway. Each open stream
// holds a socket, a subscription and timers; without a cap, one session (or many) could open them until the
// process runs out of sockets or memory. Pure bookkeeping, tested directly; the route refuses with 429.

/** Open streams per session (several devices or tabs of one sign-in are fine; hundreds are not). */
export const MAX_STREAMS_PER_SESSION = 4;
/** Open streams in the whole gateway. */
export const MAX_STREAMS_TOTAL = 1000;

/** How long a stream request past a cap waits for a slot to free before it is refused. */
export const STREAM_SLOT_GRACE_MS = 1000;

export type StreamRefusal = "session" | "total";

export class StreamSlots {
  readonly perSession: number;
  readonly total: number;
  readonly #bySession = new Map<string, number>();
  readonly #waiters = new Set<() => void>();
  #open = 0;

  constructor(
    limits: { perSession: number; total: number } = { perSession: MAX_STREAMS_PER_SESSION, total: MAX_STREAMS_TOTAL },
  ) {
    this.perSession = limits.perSession;
    this.total = limits.total;
  }

  /** Streams open now (all sessions). */
  get open(): number {
    return this.#open;
  }

  /**
   * Takes a slot for a stream of `sessionId`: a release function (idempotent: a stream ends through several
   * paths), or which cap refused it.
   */
  acquire(sessionId: string): { ok: true; release: () => void } | { ok: false; refused: StreamRefusal } {
    const mine = this.#bySession.get(sessionId) ?? 0;
    if (mine >= this.perSession) return { ok: false, refused: "session" };
    if (this.#open >= this.total) return { ok: false, refused: "total" };
    this.#bySession.set(sessionId, mine + 1);
    this.#open++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.#open--;
      const left = (this.#bySession.get(sessionId) ?? 1) - 1;
      if (left === 0) this.#bySession.delete(sessionId);
      else this.#bySession.set(sessionId, left);
      for (const wake of [...this.#waiters]) wake();
    };
    return { ok: true, release };
  }

  /**
   * `acquire`, waiting up to `graceMs` for a slot to free: a client that drops a stream and reconnects at once
   * races the server noticing the close (the refusal would then hit a client that holds no more than the cap).
   */
  async acquireWithin(
    sessionId: string,
    graceMs: number,
  ): Promise<{ ok: true; release: () => void } | { ok: false; refused: StreamRefusal }> {
    const deadline = Date.now() + graceMs;
    for (;;) {
      const slot = this.acquire(sessionId);
      const left = deadline - Date.now();
      if (slot.ok || left <= 0) return slot;
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.#waiters.add(wake);
      });
    }
  }
}
