// The real `hygeia` binary as a subprocess (demo/run-hygeia.ts), a fresh home, and the one-line error contract.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CliRun } from "../../demo/run-hygeia.ts";

export { BIN, hygeia, type CliOptions, type CliRun } from "../../demo/run-hygeia.ts";

/** A fresh HYGEIA_HOME; remove it with `dispose`. */
export async function tempHome(): Promise<{ home: string; dispose(): Promise<void> }> {
  const home = await mkdtemp(join(tmpdir(), "hygeia-cli-"));
  return { home, dispose: () => rm(home, { recursive: true, force: true }) };
}

/** Asserts the error contract: exactly one line on stderr, starting "hygeia: ", with a hint, no stack trace. */
export function oneErrorLine(run: CliRun): string {
  const lines = run.stderr.split("\n").filter((line) => line !== "");
  if (lines.length !== 1) throw new Error(`expected one line on stderr, got ${lines.length}:\n${run.stderr}`);
  const line = lines[0]!;
  if (!line.startsWith("hygeia: ") || !line.includes(" — ")) throw new Error(`not the one-line error format: ${line}`);
  if (/\n\s+at /.test(run.stderr)) throw new Error(`stack trace on stderr:\n${run.stderr}`);
  return line;
}
