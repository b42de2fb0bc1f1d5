// The real `hygeia` binary as a subprocess (demo/run-hygeia.ts), a fresh home, and the one-line error contract.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFile } from "node:fs/promises";
import type { HDNodeWallet } from "ethers";
import type { TestStack } from "../../../gateway/test/support/stack.ts";
import { hygeia, type CliRun } from "../../demo/run-hygeia.ts";

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

/**
 * A fresh home pointed at `stack` (its deployment pinned in a file, HYGEIA_PASSWORD set) with `wallets` imported
 * by private key, each through `hygeia wallet import` as a user would.
 */
export async function stackHome(
  stack: TestStack,
  password: string,
  wallets: readonly (readonly [string, HDNodeWallet])[],
): Promise<{ home: Awaited<ReturnType<typeof tempHome>>; env: Record<string, string> }> {
  const home = await tempHome();
  const deployment = join(home.home, "deployment.json");
  await writeFile(deployment, JSON.stringify(stack.deployment));
  const env = {
    HYGEIA_HOME: home.home,
    HYGEIA_PASSWORD: password,
    HYGEIA_GATEWAY_URL: stack.url,
    HYGEIA_RPC_URL: stack.local.rpcUrl,
    HYGEIA_DEPLOYMENT: deployment,
  };
  for (const [name, wallet] of wallets) {
    const imported = await hygeia(["--json", "wallet", "import", name, "--private-key"], {
      env,
      input: wallet.privateKey,
    });
    if (imported.code !== 0) throw new Error(`wallet import ${name} exited ${imported.code}: ${imported.stderr}`);
  }
  return { home, env };
}
