// Child processes of bench:gateway: each server (the hello reference, the gateway) and each load run is its own
// Node process, so neither the load generator nor the orchestrator shares an event loop with what is measured.
import { spawn, type ChildProcess } from "node:child_process";

export interface Child<Line> {
  child: ChildProcess;
  /** The first JSON line the child printed on stdout. */
  line: Line;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code (null when killed). */
  stop(graceMs?: number): Promise<number | null>;
}

/** Runs `node script ...args` and resolves with its first stdout JSON line; its stderr is kept for errors. */
export function startChild<Line>(
  script: string,
  args: string[] = [],
  env?: NodeJS.ProcessEnv,
  execArgv: string[] = [],
): Promise<Child<Line>> {
  const child = spawn(process.execPath, [...execArgv, script, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: env ?? process.env,
  });
  let stdout = "";
  let stderr = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
    if (stderr.length > 100_000) stderr = stderr.slice(-50_000);
  });
  const stop = async (graceMs = 10_000): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    const code = await exited;
    clearTimeout(timer);
    return code;
  };
  return new Promise((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const newline = stdout.indexOf("\n");
      if (newline === -1) return;
      try {
        resolve({ child, line: JSON.parse(stdout.slice(0, newline)) as Line, stop });
      } catch (error) {
        reject(new Error(`${script} printed no JSON line: ${stdout.slice(0, 500)} (${String(error)})`));
      }
    });
    void exited.then((code) =>
      reject(new Error(`${script} exited with ${code} before printing its line:\n${stderr.slice(-4_000)}`)),
    );
  });
}

/** Runs a child to completion and resolves with its JSON line (for the load generator). */
export async function runChild<Line>(script: string, args: string[]): Promise<Line> {
  const started = await startChild<Line>(script, args);
  const code = await new Promise<number | null>((resolve) => {
    if (started.child.exitCode !== null) resolve(started.child.exitCode);
    else started.child.once("exit", (exitCode) => resolve(exitCode));
  });
  if (code !== 0) throw new Error(`${script} exited with ${code}`);
  return started.line;
}
