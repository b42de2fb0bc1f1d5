import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { dropExtraGenesisBlocks } from "./anvil-state.ts";
import { HygeiaChainError, InvalidInputError, describe, millisecondsHint } from "./errors.ts";

/** Accounts every local chain is funded with: the well-known public test mnemonic. Never use on a real network. */
export const LOCAL_MNEMONIC = "test test test test test test test test test test test junk";
export const LOCAL_CHAIN_ID = 31337;

/** Longest block interval startLocalChain accepts, in seconds (an hour). */
export const MAX_LOCAL_BLOCK_TIME_SECONDS = 3600;
/** Most funded accounts startLocalChain derives from LOCAL_MNEMONIC. */
export const MAX_LOCAL_ACCOUNTS = 1000;

/** Every option is checked before anvil is spawned: InvalidInputError naming the field. */
export interface LocalChainOptions {
  /** Interface to bind; loopback (127.0.0.1) by default so nothing is exposed. */
  host?: string;
  /** TCP port, 0 to 65535; 0 (the default) picks a free port. */
  port?: number;
  /** Default 31337 (LOCAL_CHAIN_ID); a positive integer. */
  chainId?: number;
  /** Load chain state from this file if it exists and dump it there on stop (and every `stateIntervalSeconds`). */
  stateFile?: string;
  /** Whole seconds between state dumps, 1 to 86400 (only with `stateFile`); default: only on stop. */
  stateIntervalSeconds?: number;
  /**
   * Whole SECONDS between blocks, 0 to 3600 (MAX_LOCAL_BLOCK_TIME_SECONDS). 0 (the default) mines a
   * block per transaction (automine). 1000, 2000 and 3000 are refused as milliseconds ("divide by
   * 1000"): write 1 for a block a second (1001 if you really mean about 17 minutes).
   */
  blockTime?: number;
  /** Funded accounts of LOCAL_MNEMONIC, 1 to 1000; default 10. */
  accounts?: number;
  /** Milliseconds to wait for the node to listen, 1 to 600000; default 15000. */
  startTimeoutMs?: number;
  /**
   * Called with anvil's pid as soon as it is spawned, before it listens: a supervisor can record it at once
   * (npm start writes it into its data-dir lock), so a crash during start-up never leaves an unknown anvil.
   */
  onSpawn?: (pid: number) => void;
  /**
   * Runs anvil in its own process group (a new session), so a terminal's Ctrl-C or hang-up, which signal the
   * whole foreground group, reach only this process: it then stops anvil when it chooses (npm start closes the
   * gateway first, which still needs the chain, then stops anvil). anvil still never outlives this process:
   * it is signalled on exit as without the option, and when this process is about to die of a SIGINT, SIGTERM
   * or SIGHUP it has no listener for, anvil is signalled first. Default false (anvil shares the group).
   */
  ownProcessGroup?: boolean;
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
 *
 * An anvil in its own process group does not get the terminal's signals with this process, and a process
 * killed by a signal it does not handle emits no "exit": so while such a chain runs, SIGINT, SIGTERM and SIGHUP
 * get a listener that, when it is the only one (the process would have died of the signal), signals the
 * chains, removes itself and raises the signal again, so the process still dies of it. When the process has
 * listeners of its own, they decide, and "exit" still signals the chains. Nothing can act on a SIGKILL.
 */
const signalOnExit = new Map<ChildProcess, NodeJS.Signals>();
const ownGroups = new Set<ChildProcess>();
const FATAL_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
function stopWithProcess(child: ChildProcess, signal: NodeJS.Signals, ownGroup: boolean): void {
  if (signalOnExit.size === 0) process.on("exit", signalChildren);
  signalOnExit.set(child, signal);
  if (ownGroup) {
    if (ownGroups.size === 0) for (const name of FATAL_SIGNALS) process.on(name, onFatalSignal);
    ownGroups.add(child);
  }
  const forget = () => {
    signalOnExit.delete(child);
    if (signalOnExit.size === 0) process.off("exit", signalChildren);
    if (ownGroups.delete(child) && ownGroups.size === 0) removeFatalSignalListeners();
  };
  child.once("exit", forget);
  child.once("error", () => {
    if (child.pid === undefined) forget(); // never spawned: no "exit" will come
  });
}
function signalChildren(): void {
  for (const [child, signal] of signalOnExit) {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  }
}
function removeFatalSignalListeners(): void {
  for (const name of FATAL_SIGNALS) process.off(name, onFatalSignal);
}
function onFatalSignal(signal: NodeJS.Signals): void {
  if (process.listenerCount(signal) > 1) return; // the process handles it: its own stop or exit signals anvil
  signalChildren();
  removeFatalSignalListeners();
  process.kill(process.pid, signal); // no listener left: the default action, as without this listener
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

interface CheckedLocalChainOptions {
  host: string;
  port: number;
  chainId: number;
  stateFile: string | undefined;
  stateIntervalSeconds: number | undefined;
  blockTime: number;
  accounts: number;
  startTimeoutMs: number;
}

/**
 * Checks startLocalChain's options (startLocalDeployment checks them before anything else too):
 * anvil itself would take `--block-time 1000` as a block every 17 minutes, or fail late with an
 * unclear message.
 */
export function checkLocalChainOptions(options: LocalChainOptions): CheckedLocalChainOptions {
  if (typeof options !== "object" || options === null)
    throw new InvalidInputError("options", `expected an options object, got ${describe(options)}`);
  const host = options.host ?? "127.0.0.1";
  if (typeof host !== "string" || host.trim() === "" || /\s/.test(host))
    throw new InvalidInputError("host", `expected an interface address such as "127.0.0.1", got ${describe(host)}`);
  const stateFile = options.stateFile;
  if (stateFile !== undefined && (typeof stateFile !== "string" || stateFile === ""))
    throw new InvalidInputError("stateFile", `expected a file path, got ${describe(stateFile)}`);
  const stateIntervalSeconds = options.stateIntervalSeconds;
  if (stateIntervalSeconds !== undefined) {
    wholeNumber(stateIntervalSeconds, "stateIntervalSeconds", 1, 86_400, "seconds");
    if (stateFile === undefined)
      throw new InvalidInputError("stateIntervalSeconds", "needs stateFile (the file anvil dumps its state to)");
  }
  if (options.ownProcessGroup !== undefined && typeof options.ownProcessGroup !== "boolean")
    throw new InvalidInputError("ownProcessGroup", `expected true or false, got ${describe(options.ownProcessGroup)}`);
  const blockTime = wholeNumber(options.blockTime ?? 0, "blockTime", 0, MAX_LOCAL_BLOCK_TIME_SECONDS, "seconds");
  // A block every 1000, 2000 or 3000 s is in range but almost surely meant as milliseconds.
  if (blockTime >= 1000 && blockTime % 1000 === 0) {
    throw new InvalidInputError(
      "blockTime",
      `${blockTime} looks like milliseconds: divide by 1000 (${blockTime / 1000} s); blockTime is whole seconds ` +
        `(if you do mean a block every ${blockTime} seconds, write ${blockTime + 1})`,
    );
  }
  return {
    host,
    port: wholeNumber(options.port ?? 0, "port", 0, 65_535, "a TCP port; 0 picks a free one"),
    chainId: wholeNumber(options.chainId ?? LOCAL_CHAIN_ID, "chainId", 1, Number.MAX_SAFE_INTEGER, "a chain id"),
    stateFile,
    stateIntervalSeconds,
    blockTime,
    accounts: wholeNumber(options.accounts ?? 10, "accounts", 1, MAX_LOCAL_ACCOUNTS, "accounts"),
    startTimeoutMs: wholeNumber(options.startTimeoutMs ?? 15_000, "startTimeoutMs", 1, 600_000, "milliseconds"),
  };
}

/** An integer in [min, max]; a seconds value that is a whole number of thousands in range says "milliseconds". */
function wholeNumber(value: unknown, field: string, min: number, max: number, unit: string): number {
  if (typeof value !== "number" || !Number.isInteger(value))
    throw new InvalidInputError(
      field,
      `expected a whole number (${unit}) from ${min} to ${max}, got ${describe(value)}`,
    );
  if (value < min || value > max) {
    const hint = unit === "seconds" ? millisecondsHint(value, min, max) : "";
    throw new InvalidInputError(field, `expected ${unit} from ${min} to ${max}, got ${value}${hint}`);
  }
  return value;
}

/**
 * Starts an anvil JSON-RPC node and resolves when it accepts connections. Options are checked
 * first (InvalidInputError naming the field, nothing spawned); failing to start is a LocalChainError.
 */
export async function startLocalChain(options: LocalChainOptions = {}): Promise<LocalChain> {
  const checked = checkLocalChainOptions(options);
  const { chainId } = checked;
  const args = [
    "--host",
    checked.host,
    "--port",
    String(checked.port),
    "--chain-id",
    String(chainId),
    "--mnemonic",
    LOCAL_MNEMONIC,
    "--accounts",
    String(checked.accounts),
    "--hardfork",
    "prague",
  ];
  if (checked.stateFile !== undefined) {
    // So a restart serves the genesis block 1 links to. Best effort: a file it cannot repair, anvil reports.
    await dropExtraGenesisBlocks(checked.stateFile).catch(() => 0);
    args.push("--state", checked.stateFile);
    if (checked.stateIntervalSeconds !== undefined) args.push("--state-interval", String(checked.stateIntervalSeconds));
  }
  if (checked.blockTime > 0) args.push("--block-time", String(checked.blockTime));

  const ownGroup = options.ownProcessGroup === true;
  const child = spawn(anvilBinaryPath(), args, { stdio: ["ignore", "pipe", "pipe"], detached: ownGroup });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  stopWithProcess(child, options.stateFile ? "SIGINT" : "SIGKILL", ownGroup);
  if (child.pid !== undefined && options.onSpawn) {
    try {
      options.onSpawn(child.pid);
    } catch (error) {
      child.kill("SIGKILL"); // the caller could not record it: an anvil nobody knows about must not stay
      await exited;
      throw error;
    }
  }
  const rpcUrl = await waitForListening(child, exited, checked.startTimeoutMs);

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
