// Child processes for the lock tests (fixtures/lock-*.ts, fixtures/manifest-head-writer.ts).
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const LOCK_HOLDER = fileURLToPath(new URL("../fixtures/lock-holder.ts", import.meta.url));
export const LOCK_CONTENDER = fileURLToPath(new URL("../fixtures/lock-contender.ts", import.meta.url));
export const HEAD_WRITER = fileURLToPath(new URL("../fixtures/manifest-head-writer.ts", import.meta.url));

/** Starts `script` with `args`; resolves once it printed `ready` (rejects with what it printed otherwise). */
export function startChild(script: string, args: string[], ready: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line === ready) resolve(child);
      else reject(new Error(`child said: ${line}`));
    });
    child.once("exit", (code) => reject(new Error(`child exited with ${code}`)));
  });
}

/** SIGKILLs `child` (if it still runs) and resolves once it is gone. */
export function killed(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}
