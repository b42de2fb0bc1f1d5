// A scaled-out Hygeia for the scale tests: anvil with Hygeia deployed (an anchoring account authorized on
// AuditAnchor for every gateway; governance accredits a medical board and an IRB, as the gateway test stack does),
// one PostgreSQL server (packages/gateway/test/support/postgres.ts), one js-ipfs daemon behind the Kubo RPC adapter
// (./ipfs.ts), N gateway PROCESSES (`node packages/gateway/src/server.ts`, configured only by HYGEIA_* variables
// as an operator would) and a per-request round-robin load balancer in front of them (./balancer.ts), whose URL is
// every gateway's public URL.
//
// Each gateway has its own data dir, port, relayer/anchor key (account 10 + i of the test mnemonic) and audit log
// (HYGEIA_AUDIT_ORIGIN hygeia.test/gateway-<i>); they share the session secret, the database, IPFS and the chain.
// Each gateway's stdout and stderr go to its own log file (`gateways[i].logFile`, kept across restarts), which
// `failureReport()` quotes for a failing test; `close({ keepLogs: true })` leaves them on disk.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { toQuantity, type HDNodeWallet } from "ethers";
import {
  TransactionSender,
  TrustRegistryClient,
  TrustRole,
  startLocalDeployment,
  writeDeployment,
  type LocalDeployment,
} from "@hygeia/chain";
import { ACCOUNT_INDEXES } from "../../../packages/gateway/test/support/stack.ts";
import { startPostgres, type TestPostgres } from "../../../packages/gateway/test/support/postgres.ts";
import { startLoadBalancer, type LoadBalancer } from "./balancer.ts";
import { startIpfsDaemon, type IpfsDaemon } from "./ipfs.ts";

const SERVER = join(dirname(fileURLToPath(import.meta.url)), "../../../packages/gateway/src/server.ts");
/** Account index of gateway 0's relayer and anchor key; gateway i uses FIRST_GATEWAY_ACCOUNT + i. */
export const FIRST_GATEWAY_ACCOUNT = 10;
const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 30_000;
/** The shared MAC key of session tokens (HYGEIA_SESSION_SECRET): a test value, at least 32 characters. */
const SESSION_SECRET = "scale-test-session-secret-shared-by-every-gateway-0123456789";
/** The secret the gateways' long-lived shared keys derive from (HYGEIA_GATEWAY_SECRET): receipts, webhooks, tallies. */
const GATEWAY_SECRET = "scale-test-gateway-secret-shared-by-every-gateway-9876543210";

/** The cast, as in the gateway test stack (packages/gateway/test/support/stack.ts), minus its gateway account. */
export type ClusterAccountName = Exclude<keyof typeof ACCOUNT_INDEXES, "gateway">;

export type ClusterEnv = Readonly<Record<string, string | undefined>>;

export interface ClusterOptions {
  /** How many gateway processes (default 3). */
  gateways?: number;
  /** HYGEIA_AUDIT_ANCHOR_MS of every gateway (default 500: the story waits for anchored heads). */
  anchorEveryMs?: number;
  /** HYGEIA_LOG_LEVEL of every gateway (default info: request lines in the log files). */
  logLevel?: string;
  /** More HYGEIA_* variables for every gateway, or per gateway (they win over the defaults; undefined: not set). */
  env?: ClusterEnv | ((index: number) => ClusterEnv);
}

export interface ClusterGateway {
  readonly index: number;
  /** The gateway's own URL (bypassing the balancer), e.g. http://127.0.0.1:40123. */
  readonly url: string;
  /** The running process's id (undefined while it is down). */
  readonly pid: number | undefined;
  /** stdout and stderr of every run of this gateway, appended. */
  readonly logFile: string;
  /** Its anchoring (and relayer) account. */
  readonly account: HDNodeWallet;
  /** Its audit log's origin (HYGEIA_AUDIT_ORIGIN). */
  readonly origin: string;
  readonly running: () => boolean;
  /** Sends `signal` (default SIGTERM: a graceful shutdown) and waits for the exit; SIGKILL after 30 s. */
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Stops it if it runs (SIGTERM), then starts it again on the same port, data dir and key. */
  restart(): Promise<void>;
}

export interface Cluster {
  /** The load balancer's URL: what clients use, and every gateway's public URL. */
  readonly url: string;
  readonly gateways: readonly ClusterGateway[];
  readonly balancer: LoadBalancer;
  readonly postgres: TestPostgres;
  /** The database the gateways share (HYGEIA_DATABASE_URL). */
  readonly databaseUrl: string;
  readonly ipfs: IpfsDaemon;
  readonly local: LocalDeployment;
  /** Funded wallets of the cast, connected to `local.provider`. */
  readonly accounts: Record<ClusterAccountName, HDNodeWallet>;
  /** Requests the balancer sent to each gateway, by index. */
  counts(): number[];
  mine(blocks?: number): Promise<void>;
  /** The last lines of each gateway's log file (and the IPFS daemon's output), for a failure message. */
  failureReport(lines?: number): Promise<string>;
  /** Stops everything that was started (each part even if another fails to stop). Idempotent. */
  close(options?: { keepLogs?: boolean }): Promise<void>;
}

/** Every gateway process this process started, killed hard if it exits without closing the cluster. */
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

/** One gateway process: spawned from its environment, its output appended to its log file. */
class GatewayProcess implements ClusterGateway {
  readonly index: number;
  readonly logFile: string;
  readonly account: HDNodeWallet;
  readonly origin: string;
  url = "";
  #port = 0;
  #env: Record<string, string>;
  #child: ChildProcess | undefined;
  #log: WriteStream;
  #onUrl: (url: string) => void;

  constructor(options: {
    index: number;
    logFile: string;
    account: HDNodeWallet;
    origin: string;
    env: Record<string, string>;
    onUrl: (url: string) => void;
  }) {
    this.index = options.index;
    this.logFile = options.logFile;
    this.account = options.account;
    this.origin = options.origin;
    this.#env = options.env;
    this.#onUrl = options.onUrl;
    this.#log = createWriteStream(options.logFile, { flags: "a" });
  }

  get pid(): number | undefined {
    return this.running() ? this.#child?.pid : undefined;
  }

  running(): boolean {
    const child = this.#child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** Starts the process and waits for its "listening on" line. Port 0 the first time, then the port it got. */
  async start(): Promise<void> {
    if (this.running()) return;
    this.#log.write(`\n=== cluster: starting gateway ${this.index} on port ${this.#port || "(any)"}\n`);
    const child = spawn(process.execPath, [SERVER], {
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? tmpdir(),
        ...this.#env,
        HYGEIA_PORT: String(this.#port),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#child = child;
    killOnExit(child);
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      this.#log.write(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => this.#log.write(chunk));
    child.once("exit", (code, signal) =>
      this.#log.write(`=== cluster: gateway ${this.index} exited (code ${code}, signal ${signal})\n`),
    );
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const match = /hygeia gateway listening on (http:\/\/\S+)/.exec(stdout);
      if (match) {
        this.url = match[1]!;
        this.#port = Number(new URL(this.url).port);
        this.#onUrl(this.url);
        return;
      }
      if (!this.running())
        throw new Error(`gateway ${this.index} exited before listening:\n${await tail(this.logFile, 40)}`);
      if (Date.now() > deadline) {
        await this.kill("SIGKILL");
        throw new Error(`gateway ${this.index} was not listening after ${START_TIMEOUT_MS} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async kill(signal: NodeJS.Signals = "SIGTERM"): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const child = this.#child;
    if (!child) return { code: null, signal: null };
    if (!this.running()) return { code: child.exitCode, signal: child.signalCode };
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once("exit", (code, exitSignal) => resolve({ code, signal: exitSignal })),
    );
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  async restart(): Promise<void> {
    await this.kill("SIGTERM");
    await this.start();
  }

  closeLog(): Promise<void> {
    return new Promise((resolve) => this.#log.end(resolve));
  }
}

async function tail(file: string, lines: number): Promise<string> {
  try {
    return (await readFile(file, "utf8")).split("\n").slice(-lines).join("\n");
  } catch {
    return `(no log at ${file})`;
  }
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const count = options.gateways ?? 3;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`gateways must be 1 or more, got ${count}`);
  const root = await mkdtemp(join(tmpdir(), "hygeia-scale-"));
  const logDir = await mkdtemp(join(tmpdir(), "hygeia-scale-logs-"));
  const gatewayIndexes = Array.from({ length: count }, (_, i) => FIRST_GATEWAY_ACCOUNT + i);

  // Everything started so far, stopped in reverse by close() (or at once when the start fails half way).
  let local: LocalDeployment | undefined;
  let postgres: TestPostgres | undefined;
  let ipfs: IpfsDaemon | undefined;
  let balancer: LoadBalancer | undefined;
  const gateways: GatewayProcess[] = [];
  let closing: Promise<void> | undefined;
  const close = (closeOptions: { keepLogs?: boolean } = {}): Promise<void> => {
    closing ??= (async () => {
      const failures: unknown[] = [];
      const attempt = async (step: () => Promise<unknown> | undefined) => {
        try {
          await step();
        } catch (error) {
          failures.push(error);
        }
      };
      // The balancer first (no new requests), then the gateways: a graceful stop anchors their pending audit
      // events, so the chain and the database must still be up.
      await attempt(() => balancer?.close());
      await Promise.all(gateways.map((gateway) => attempt(() => gateway.kill("SIGTERM"))));
      await Promise.all(gateways.map((gateway) => attempt(() => gateway.closeLog())));
      await attempt(() => ipfs?.close());
      await attempt(() => postgres?.stop());
      await attempt(() => local?.stop());
      await attempt(() => rm(root, { recursive: true, force: true }));
      if (closeOptions.keepLogs) process.stderr.write(`scale cluster: gateway logs kept in ${logDir}\n`);
      else await attempt(() => rm(logDir, { recursive: true, force: true }));
      if (failures.length > 0) throw new AggregateError(failures, "the cluster did not close cleanly");
    })();
    return closing;
  };

  try {
    // The three services the gateways share start side by side: anvil, PostgreSQL, IPFS. Each is kept as soon as it
    // is up, so a failure of another still stops it.
    const started = await Promise.allSettled([
      startLocalDeployment({ gatewayAccounts: gatewayIndexes, accounts: FIRST_GATEWAY_ACCOUNT + count }).then(
        (deployment) => (local = deployment),
      ),
      startPostgres().then((server) => (postgres = server)),
      startIpfsDaemon().then((daemon) => (ipfs = daemon)),
    ]);
    for (const outcome of started) if (outcome.status === "rejected") throw outcome.reason;
    const chain = local!;
    const database = postgres!;
    const content = ipfs!;
    const accounts = Object.fromEntries(
      Object.entries(ACCOUNT_INDEXES)
        .filter(([name]) => name !== "gateway")
        .map(([name, index]) => [name, chain.account(index)]),
    ) as Record<ClusterAccountName, HDNodeWallet>;

    // Governance accredits the board and the IRB for a year (the roles credentials are checked against).
    const trust = new TrustRegistryClient(
      chain.deployment.contracts.TrustRegistry,
      new TransactionSender(accounts.governance),
    );
    const head = await chain.provider.getBlock("latest");
    const now = head?.timestamp ?? Math.floor(Date.now() / 1000);
    for (const [issuer, role] of [
      [accounts.board.address, TrustRole.MedicalBoard],
      [accounts.irb.address, TrustRole.Irb],
    ] as const)
      await trust.accredit({ issuer, role, validFrom: now - 60, validUntil: now + 365 * 86_400 });

    const deploymentFile = join(root, "deployment.json");
    await writeDeployment(deploymentFile, chain.deployment);
    const databaseUrl = await database.createDatabase("hygeia_scale");
    // Settings that have no environment variable, in the file every gateway reads (HYGEIA_CONFIG), as in the
    // gateway test stack: a trust answer is reused 1 s (the story accredits issuers just before they are used).
    const configFile = join(root, "gateway.json");
    await writeFile(configFile, `${JSON.stringify({ identity: { trustCacheTtlMs: 1000 } }, null, 2)}\n`);

    // The balancer starts first (its URL is the gateways' public URL) and learns their ports as they listen.
    const pending = gatewayIndexes.map(() => "http://127.0.0.1:9");
    balancer = await startLoadBalancer(pending);
    const lb = balancer;
    for (const [i, accountIndex] of gatewayIndexes.entries()) {
      const account = chain.account(accountIndex);
      const dataDir = join(root, `gateway-${i}`);
      await mkdir(dataDir, { recursive: true });
      const given = typeof options.env === "function" ? options.env(i) : (options.env ?? {});
      const extra = Object.fromEntries(
        Object.entries(given).filter((entry): entry is [string, string] => entry[1] !== undefined),
      );
      gateways.push(
        new GatewayProcess({
          index: i,
          logFile: join(logDir, `gateway-${i}.log`),
          account,
          origin: `hygeia.test/gateway-${i}`,
          onUrl: (url) => lb.setBackend(i, url),
          env: {
            HYGEIA_CONFIG: configFile,
            HYGEIA_HOST: "127.0.0.1",
            HYGEIA_DATA_DIR: dataDir,
            HYGEIA_PUBLIC_URL: lb.url,
            HYGEIA_TRUST_PROXY: "127.0.0.1",
            HYGEIA_LOG_LEVEL: options.logLevel ?? "info",
            HYGEIA_DATABASE_URL: databaseUrl,
            HYGEIA_SESSION_SECRET: SESSION_SECRET,
            HYGEIA_GATEWAY_SECRET: GATEWAY_SECRET,
            HYGEIA_RPC_URL: chain.rpcUrl,
            HYGEIA_DEPLOYMENT_FILE: deploymentFile,
            HYGEIA_CONFIRMATIONS: "0",
            HYGEIA_POLL_INTERVAL_MS: "200",
            HYGEIA_STALE_AFTER_MS: "5000",
            HYGEIA_RELAYER_KEY: account.privateKey,
            HYGEIA_IPFS: "kubo",
            HYGEIA_KUBO_URL: content.url,
            HYGEIA_IPFS_TIMEOUT_MS: "10000",
            HYGEIA_STATUS_LIST_TTL_MS: "2000",
            HYGEIA_AUDIT_ANCHOR_MS: String(options.anchorEveryMs ?? 500),
            HYGEIA_AUDIT_ORIGIN: `hygeia.test/gateway-${i}`,
            // High enough that the tests never meet the limiters (every request comes from 127.0.0.1).
            HYGEIA_RATE_LIMIT_PER_IP: "100000",
            HYGEIA_RATE_LIMIT_PER_SESSION: "100000",
            ...extra,
          },
        }),
      );
    }
    // Side by side, as an operator's orchestrator starts them: the first start of a database is shared too.
    await Promise.all(gateways.map((gateway) => gateway.start()));

    const cluster: Cluster = {
      url: lb.url,
      gateways,
      balancer: lb,
      postgres: database,
      databaseUrl,
      ipfs: content,
      local: chain,
      accounts,
      counts: () => lb.counts(),
      async mine(blocks = 1) {
        await chain.provider.send("anvil_mine", [toQuantity(blocks)]);
      },
      async failureReport(lines = 60) {
        const parts: string[] = [];
        for (const gateway of gateways)
          parts.push(`--- gateway ${gateway.index} (${gateway.logFile}):\n${await tail(gateway.logFile, lines)}`);
        parts.push(`--- balancer: requests ${JSON.stringify(lb.counts())}, 502 ${JSON.stringify(lb.unreachable())}`);
        parts.push(`--- ipfs daemon:\n${content.log().split("\n").slice(-lines).join("\n")}`);
        return parts.join("\n");
      },
      close,
    };
    return cluster;
  } catch (error) {
    let report = "";
    for (const gateway of gateways) report += `\n--- gateway ${gateway.index}:\n${await tail(gateway.logFile, 40)}`;
    await close().catch(() => undefined);
    if (report && error instanceof Error) error.message += report;
    throw error;
  }
}
