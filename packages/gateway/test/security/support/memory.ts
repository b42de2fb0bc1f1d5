// Garbage collection on demand for the memory checks: mocha runs without --expose-gc, so the flag is set at
// run time and `gc` taken from a fresh context (V8 exposes it to contexts created after the flag is set).
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

let collect: (() => void) | undefined;

export function gc(): void {
  if (!collect) {
    const exposed = (globalThis as { gc?: unknown }).gc;
    if (typeof exposed === "function") collect = exposed as () => void;
    else {
      setFlagsFromString("--expose-gc");
      collect = runInNewContext("gc") as () => void;
    }
  }
  collect();
}

/** Heap and RSS after full collections (several rounds: finalizers and weak references settle over a few). */
export async function settledMemory(): Promise<{
  heapUsed: number;
  rss: number;
  external: number;
  arrayBuffers: number;
}> {
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const { heapUsed, rss, external, arrayBuffers } = process.memoryUsage();
  return { heapUsed, rss, external, arrayBuffers };
}

export function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}
