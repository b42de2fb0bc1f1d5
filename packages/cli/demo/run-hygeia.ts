// Runs the real `hygeia` binary as a subprocess (the way a user or a script does) and collects what it printed.
// Used by the demo (`npm run demo`), the end-to-end story test and the CLI's own tests.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { tmpdir } from "node:os";
import type { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";

export const BIN = fileURLToPath(new URL("../bin/hygeia.js", import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as the one JSON document --json promises (throws if it is not exactly one). */
  json<T = Record<string, unknown>>(): T;
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  /** Written to stdin, then stdin is closed (default: stdin closed at once, as in a script). */
  input?: string;
  timeoutMs?: number;
  /** Called with stderr as it arrives (all of it so far), to act while the command still runs (a check-in link). */
  onStderr?: (stderr: string) => void;
}

/** A started `hygeia` process: its result once it exits, and a way to stop it early. */
export interface RunningCli {
  readonly result: Promise<CliRun>;
  kill(): void;
}

/** `hygeia <args>` with a clean environment: only PATH, HOME and what `env` adds (HYGEIA_* from the caller). */
export function hygeia(args: readonly string[], options: CliOptions = {}): Promise<CliRun> {
  return startHygeia(args, options).result;
}

/** Starts `hygeia <args>` without waiting for it (a clinic waiting for a check-in while the patient answers). */
export function startHygeia(args: readonly string[], options: CliOptions = {}): RunningCli {
  const env: Record<string, string> = { PATH: process.env["PATH"] ?? "", HOME: process.env["HOME"] ?? tmpdir() };
  for (const [key, value] of Object.entries(options.env ?? {})) if (value !== undefined) env[key] = value;
  const child: ChildProcessByStdio<Writable, Readable, Readable> = spawn(process.execPath, [BIN, ...args], {
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const result = new Promise<CliRun>((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
      options.onStderr?.(stderr);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({
        code,
        stdout,
        stderr,
        json<T>() {
          try {
            return JSON.parse(stdout) as T;
          } catch {
            throw new Error(`stdout is not one JSON document:\n${stdout}\n--- stderr:\n${stderr}`);
          }
        },
      });
    });
  });
  child.stdin.end(options.input ?? "");
  return { result, kill: () => child.kill("SIGTERM") };
}
