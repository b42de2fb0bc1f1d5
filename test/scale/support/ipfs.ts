// A real IPFS RPC server for the scale tests: the js-ipfs 0.66 daemon that packages/storage/scripts/with-js-ipfs.sh
// runs for the Kubo adapter tests (installed outside the workspace by install-js-ipfs.sh when missing), on a
// throwaway repo with the same configuration (no bootstrap, no mDNS, no delegates, no preload) and free loopback
// ports. Unlike the script it can be stopped and started again on the same ports and repo: the fault tests take
// IPFS away from running gateways and bring it back, and the gateways keep the URL they were given.
import { spawn, execFile, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const INSTALL_SCRIPT = join(
  dirname(fileURLToPath(import.meta.url)),
  "../../../packages/storage/scripts/install-js-ipfs.sh",
);
const READY_LINE = "Daemon is ready";
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;

export interface IpfsDaemon {
  /** The RPC API, e.g. http://127.0.0.1:40123 (HYGEIA_KUBO_URL). */
  readonly url: string;
  /** The daemon's output of its current (or last) run, for a failure message. */
  readonly log: () => string;
  /** Whether the daemon runs now. */
  readonly running: () => boolean;
  /** Stops the daemon (SIGTERM, then SIGKILL); the repo and the ports are kept for start(). Idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same ports and repo; waits until it is ready. No-op while it runs. */
  start(): Promise<void>;
  /** Stops it for good and removes its repo. Idempotent. */
  close(): Promise<void>;
}

/** Every daemon this process started, killed when the process exits (a test that crashed, mocha --exit). */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function killOnExit(child: ChildProcess): void {
  live.add(child);
  child.once("exit", () => live.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const running of live) running.kill("SIGKILL");
  });
}

/** The js-ipfs CLI's script (installing the daemon first when missing). */
async function jsIpfsCli(): Promise<string> {
  const { stdout } = await promisify(execFile)("bash", [INSTALL_SCRIPT], {
    env: process.env,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 15 * 60_000,
  });
  const bin = stdout.trim().split("\n").pop() ?? "";
  // The .bin entry is a symlink to a node script: run it with this Node, whatever `node` PATH names.
  return realpath(bin);
}

/** `count` distinct free loopback ports, held open together so the OS cannot hand out one twice. */
async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve))));
    return servers.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

function runCli(cli: string, args: string[], repo: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [cli, ...args], { env: { ...process.env, IPFS_PATH: repo } }, (error, _out, err) =>
      error ? reject(new Error(`jsipfs ${args.join(" ")} failed: ${error.message}\n${err}`)) : resolve(),
    );
  });
}

/** The same settings as with-js-ipfs.sh (`jsipfs config ...`), written into the repo's config file at once. */
async function configure(repo: string, ports: { api: number; gateway: number; swarm: number; rpc: number }) {
  const file = join(repo, "config");
  const config = JSON.parse(await readFile(file, "utf8")) as {
    Addresses: Record<string, unknown>;
    Bootstrap: unknown;
    Discovery: { MDNS: { Enabled: boolean } };
  };
  config.Bootstrap = [];
  config.Discovery.MDNS.Enabled = false;
  config.Addresses.API = `/ip4/127.0.0.1/tcp/${ports.api}`;
  config.Addresses.Gateway = `/ip4/127.0.0.1/tcp/${ports.gateway}`;
  config.Addresses.RPC = `/ip4/127.0.0.1/tcp/${ports.rpc}`;
  config.Addresses.Swarm = [`/ip4/127.0.0.1/tcp/${ports.swarm}`];
  config.Addresses.Delegates = [];
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
}

/** Inits a throwaway repo and starts the daemon on free loopback ports; resolves once it is ready. */
export async function startIpfsDaemon(): Promise<IpfsDaemon> {
  const cli = await jsIpfsCli();
  const repo = await mkdtemp(join(tmpdir(), "hygeia-scale-ipfs-"));
  let child: ChildProcess | undefined;
  let output = "";
  let closed = false;
  let ports = { api: 0, gateway: 0, swarm: 0, rpc: 0 };

  async function stop(): Promise<void> {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => running.once("exit", () => resolve()));
    running.kill("SIGTERM");
    const timer = setTimeout(() => running.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
    // A daemon killed hard leaves its lock and API file behind; the next start would refuse the repo.
    await rm(join(repo, "repo.lock"), { recursive: true, force: true });
    await rm(join(repo, "api"), { force: true });
  }

  /** One start on the current ports: true once ready, false if a port was taken (EADDRINUSE). */
  async function startOnce(): Promise<boolean> {
    output = "";
    const started = spawn(process.execPath, [cli, "daemon", "--enable-preload=false"], {
      env: { ...process.env, IPFS_PATH: repo },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = started;
    killOnExit(started);
    const onData = (chunk: Buffer) => (output += chunk.toString());
    started.stdout.on("data", onData);
    started.stderr.on("data", onData);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!output.includes(READY_LINE)) {
      const exited = started.exitCode !== null || started.signalCode !== null;
      if (output.includes("EADDRINUSE") || exited) {
        await stop();
        if (output.includes("EADDRINUSE")) return false;
        throw new Error(`the js-ipfs daemon exited before it was ready:\n${output}`);
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`the js-ipfs daemon was not ready after ${READY_TIMEOUT_MS} ms:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return true;
  }

  try {
    await runCli(cli, ["init", "--profile", "test"], repo);
    // New ports for a first start that met a taken port; a restart keeps its ports (the gateways hold the URL).
    for (let attempt = 1; ; attempt++) {
      const [api, gateway, swarm, rpc] = await freePorts(4);
      ports = { api: api!, gateway: gateway!, swarm: swarm!, rpc: rpc! };
      await configure(repo, ports);
      if (await startOnce()) break;
      if (attempt >= 3) throw new Error(`the js-ipfs daemon found a port taken 3 times:\n${output}`);
    }
  } catch (error) {
    await stop();
    await rm(repo, { recursive: true, force: true });
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${ports.api}`,
    log: () => output,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    stop,
    async start() {
      if (closed) throw new Error("the IPFS daemon was closed");
      if (child && child.exitCode === null && child.signalCode === null) return;
      // Another process may take a freed port for a moment (a client's ephemeral port): try again a little later.
      for (let attempt = 1; !(await startOnce()); attempt++) {
        if (attempt >= 5) throw new Error(`the js-ipfs daemon could not take its ports back:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    },
    close() {
      closed = true;
      closing ??= (async () => {
        await stop();
        await rm(repo, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}
