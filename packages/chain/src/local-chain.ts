import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { HygeiaChainError } from "./errors.ts";

/** Accounts every local chain is funded with: the well-known public test mnemonic. Never use on a real network. */
export const LOCAL_MNEMONIC = "test test test test test test test test test test test junk";
export const LOCAL_CHAIN_ID = 31337;

export interface LocalChainOptions {
  /** Interface to bind; loopback by default so nothing is exposed. */
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  chainId?: number;
  /** Load chain state from this file if it exists and dump it there on stop (and every `stateIntervalSeconds`). */
  stateFile?: string;
  stateIntervalSeconds?: number;
  /** Seconds between blocks; default: a block per transaction (automine). */
  blockTime?: number;
  accounts?: number;
  /** Milliseconds to wait for the node to listen. */
  startTimeoutMs?: number;
  /**
   * Called with anvil's pid as soon as it is spawned, before it listens: a supervisor can record it at once
   * (npm start writes it into its data-dir lock), so a crash during start-up never leaves an unknown anvil.
   */
  onSpawn?: (pid: number) => void;
}

export interface LocalChain {
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly pid: number;
  /** Stops the node with SIGINT (so anvil dumps its state) and resolves once it has exited. */
  stop(): Promise<void>;
}

/** anvil could not be found, started, or did not listen in time; the message carries its output. */
export class LocalChainError extends HygeiaChainError {
  override readonly code = "LOCAL_CHAIN_FAILED";
}

/**
 * anvil must never outlive the process that started it (an assertion that throws, an uncaught error, a
 * forgotten stop()): an orphan keeps its port and, with a state file, keeps writing it. On exit a listener
 * can only act synchronously, so it signals: SIGINT when anvil keeps a state file (it then dumps and exits),
 * SIGKILL otherwise. One listener for all chains of the process.
 */
const signalOnExit = new Map<ChildProcess, NodeJS.Signals>();
function stopWithProcess(child: ChildProcess, signal: NodeJS.Signals): void {
  if (signalOnExit.size === 0) process.on("exit", signalChildren);
  signalOnExit.set(child, signal);
  child.once("exit", () => {
    signalOnExit.delete(child);
    if (signalOnExit.size === 0) process.off("exit", signalChildren);
  });
}
function signalChildren(): void {
  for (const [child, signal] of signalOnExit) {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  }
}

const ANVIL_PACKAGES: Record<string, string> = {
  "linux-x64": "@foundry-rs/anvil-linux-amd64",
  "linux-arm64": "@foundry-rs/anvil-linux-arm64",
  "darwin-x64": "@foundry-rs/anvil-darwin-amd64",
  "darwin-arm64": "@foundry-rs/anvil-darwin-arm64",
  "win32-x64": "@foundry-rs/anvil-win32-amd64",
};

/**
 * Path of the anvil binary shipped by the npm package `@foundry-rs/anvil` (or $HYGEIA_ANVIL_BIN).
 * We run the binary itself, not the package's JS wrapper, because the wrapper does not pass
 * signals on: a SIGINT to it would orphan anvil and lose the state dump.
 */
export function anvilBinaryPath(): string {
  const override = process.env["HYGEIA_ANVIL_BIN"];
  if (override) return override;
  const pkg = ANVIL_PACKAGES[`${process.platform}-${process.arch}`];
  if (!pkg) throw new LocalChainError(`anvil has no npm build for ${process.platform}-${process.arch}`);
  const require = createRequire(import.meta.url);
  let pkgJson: string;
  try {
    pkgJson = require.resolve(`${pkg}/package.json`);
  } catch {
    throw new LocalChainError(
      `${pkg} is not installed; run npm install (it is an optional dependency of @foundry-rs/anvil)`,
    );
  }
  const bin = join(dirname(pkgJson), "bin", process.platform === "win32" ? "anvil.exe" : "anvil");
  if (!existsSync(bin)) throw new LocalChainError(`anvil binary missing at ${bin}`);
  return bin;
}

/** Starts an anvil JSON-RPC node and resolves when it accepts connections. */
export async function startLocalChain(options: LocalChainOptions = {}): Promise<LocalChain> {
  const host = options.host ?? "127.0.0.1";
  const chainId = options.chainId ?? LOCAL_CHAIN_ID;
  const args = [
    "--host",
    host,
    "--port",
    String(options.port ?? 0),
    "--chain-id",
    String(chainId),
    "--mnemonic",
    LOCAL_MNEMONIC,
    "--accounts",
    String(options.accounts ?? 10),
    "--hardfork",
    "prague",
  ];
  if (options.stateFile) {
    args.push("--state", options.stateFile);
    if (options.stateIntervalSeconds) args.push("--state-interval", String(options.stateIntervalSeconds));
  }
  if (options.blockTime) args.push("--block-time", String(options.blockTime));

  const child = spawn(anvilBinaryPath(), args, { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  stopWithProcess(child, options.stateFile ? "SIGINT" : "SIGKILL");
  if (child.pid !== undefined) options.onSpawn?.(child.pid);
  const rpcUrl = await waitForListening(child, exited, options.startTimeoutMs ?? 15_000);

  let stopping: Promise<void> | undefined;
  return {
    rpcUrl,
    chainId,
    pid: child.pid ?? -1,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}

function waitForListening(child: ChildProcess, exited: Promise<number | null>, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new LocalChainError(`anvil did not start within ${timeoutMs} ms:\n${output.slice(-2000)}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Listening on ([\d.:[\]a-zA-Z]+):(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout?.off("data", onData);
        child.stdout?.resume(); // keep draining so anvil never blocks on a full pipe
        resolve(`http://${match[1]}:${match[2]}`);
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new LocalChainError(`could not run anvil: ${error.message}`));
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new LocalChainError(`anvil exited (code ${code}) before listening:\n${output.slice(-2000)}`));
    });
  });
}
