// An agent's lifetime. Rules:
// - After close() every call fails at once with AgentClosedError (pending = false).
// - A call still waiting when close() happens (a resolution, a transaction being mined, a signature) fails at
//   once with AgentClosedError (pending = true), whatever it was waiting on; its late outcome is swallowed, so
//   closing never produces an unhandled rejection.
// - A bounded call fails with the caller's timeout error instead of waiting forever.
import { AgentClosedError } from "../errors.ts";

export class Lifetime {
  private readonly controller = new AbortController();

  get closed(): boolean {
    return this.controller.signal.aborted;
  }

  close(): void {
    this.controller.abort();
  }

  /** Runs `operation` (named in errors) unless closed; rejects with AgentClosedError as soon as the agent closes. */
  async run<T>(operation: string, work: () => Promise<T>, timeout?: { ms: number; error: () => Error }): Promise<T> {
    if (this.closed) throw new AgentClosedError(operation, false);
    const signal = this.controller.signal;
    let onAbort: () => void = () => {};
    let timer: NodeJS.Timeout | undefined;
    const interrupted = new Promise<never>((_, reject) => {
      onAbort = () => reject(new AgentClosedError(operation, true));
      signal.addEventListener("abort", onAbort, { once: true });
      if (timeout) timer = setTimeout(() => reject(timeout.error()), timeout.ms);
    });
    try {
      // race() subscribes to both: whichever settles late is handled, never unhandled.
      return await Promise.race([work(), interrupted]);
    } catch (error) {
      if (this.closed && !(error instanceof AgentClosedError))
        throw new AgentClosedError(operation, true, { cause: error });
      throw error;
    } finally {
      signal.removeEventListener("abort", onAbort);
      clearTimeout(timer);
    }
  }
}
