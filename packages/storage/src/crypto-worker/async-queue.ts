// A minimal single-consumer async queue: producers push from event callbacks, one consumer iterates.
export class AsyncQueue<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  #ended = false;
  #failure: { error: unknown } | undefined;
  #wake: (() => void) | undefined;

  push(item: T): void {
    this.#items.push(item);
    this.#notify();
  }

  end(): void {
    this.#ended = true;
    this.#notify();
  }

  fail(error: unknown): void {
    this.#failure ??= { error };
    this.#notify();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for (;;) {
      if (this.#failure !== undefined) throw this.#failure.error;
      const item = this.#items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.#ended) return;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** Counts bytes handed to the other side and not yet acknowledged; `whenBelow` waits for room. */
export class Window {
  readonly #limit: number;
  #outstanding = 0;
  #wake: (() => void) | undefined;

  constructor(limit: number) {
    this.#limit = limit;
  }

  add(bytes: number): void {
    this.#outstanding += bytes;
  }

  release(bytes: number): void {
    this.#outstanding -= bytes;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async whenBelow(): Promise<void> {
    while (this.#outstanding >= this.#limit) await new Promise<void>((resolve) => (this.#wake = resolve));
  }
}
