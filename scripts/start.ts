// `npm start`: the local Hygeia stack. An anvil JSON-RPC node on 127.0.0.1 whose state survives
// restarts (<data-dir>/chain-state.json), the contracts deployed once (reused on the next start),
// governance set up with demo accreditations, funded demo accounts, and the gateway (packages/gateway)
// on 127.0.0.1 in this same process: embedded Helia and its SQLite database under <data-dir>/gateway,
// the demo gateway account (#1) as its relayer and audit anchor key.
//
// Rules this script keeps:
// - One start per data dir: <data-dir>/stack.lock is taken before anything in the dir is touched
//   (even --fresh's deletions) and released on exit; a live holder is named, never overridden
//   (scripts/data-dir-lock.ts).
// - Every message is true: "state saved" only when anvil has just written the state file; a start
//   that fails says why in one line and exits non-zero.
// - The banner's on-chain facts (owners, gateway, accreditations) are read back from the
//   contracts, not restated from this script's intentions.
// - Blocks are mined every --block-time seconds (default 1) so confirmations accrue with no
//   traffic. Setup runs with a block per transaction first: at one block per second the
//   deployment alone took ~21 s, against ~0.6 s.
// - Stop order: the gateway first (in-flight requests finish, the pending audit batch is anchored on the
//   chain that is still up), then anvil (its state dump). The gateway always binds 127.0.0.1: --host
//   exposes the chain only.
// - The gateway's logs go to <data-dir>/gateway/gateway.log, never to stdout: stdout carries the banner
//   or the --json line and nothing else.
// - A --host other than loopback is warned about on stderr and in the banner: the demo accounts' keys are the
//   public test mnemonic's, so whoever reaches the port controls them. The printed rpcUrl is always one this
//   machine can connect to (127.0.0.1 for the wildcard 0.0.0.0).
//
// Exit codes: 0 stopped by a signal after a clean stop, 1 start failed or the chain died,
// 2 bad options, 3 the data dir is in use, 130 forced stop (a second Ctrl-C).
import { execFileSync } from "node:child_process";
import { createWriteStream, existsSync, readdirSync, statSync, type WriteStream } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { Contract, HDNodeWallet, JsonRpcProvider, NonceManager } from "ethers";
import getPort from "get-port";
import {
  AuditAnchorAbi,
  AuditAnchorClient,
  InvalidInputError,
  LOCAL_MNEMONIC,
  TrustRegistryAbi,
  TrustRegistryClient,
  TrustRole,
  checkLocalChainOptions,
  deployHygeia,
  isDeployed,
  readDeployment,
  upgradeDeployment,
  startLocalChain,
  writeDeployment,
  type HygeiaDeployment,
  type LocalChain,
  type TrustRoleName,
} from "@hygeia/chain";
import type * as GatewayModule from "@hygeia/gateway";
import type { GatewayServices } from "@hygeia/gateway";
import { DataDirLockedError, acquireDataDirLock, type DataDirLock } from "./data-dir-lock.ts";

const USAGE = `usage: npm start -- [--port N] [--gateway-port N] [--host ADDR] [--data-dir DIR] [--block-time N] [--fresh] [--json]
  --port N          JSON-RPC port (default 8545; 0 picks a free one)
  --gateway-port N  the gateway's port on 127.0.0.1 (default 8787; 0 picks a free one)
  --host ADDR       interface the chain binds (default 127.0.0.1; any other exposes the demo accounts, whose keys are
                    public); the gateway always binds 127.0.0.1
  --data-dir DIR    where chain state, deployment.json, the gateway's data and the lock live (default .hygeia)
  --block-time N    seconds between blocks (default 1); 0 mines a block only when a transaction arrives
  --fresh           discard the saved chain state, the deployment and the gateway's data, and deploy anew
  --json            print one JSON line describing the running stack on stdout instead of the banner`;

const REPO_ROOT = resolve(import.meta.dirname, "..");

/** The demo's cast, in the order of the test mnemonic's accounts. What each may do on-chain is read back. */
const DEMO_ROLES = [
  "deployer, governance",
  "gateway",
  "patient Alice",
  "patient Bob",
  "clinic",
  "virtual clinic",
  "researcher",
  "medical board",
  "IRB",
  "insurer",
] as const;
/**
 * Accreditations made at setup: [account, role]. Clinics get the clinic role (they issue health records), never
 * medical-board: only the board accredits clinics.
 */
const DEMO_ACCREDITATIONS: readonly (readonly [number, TrustRoleName])[] = [
  [4, TrustRole.Clinic],
  [5, TrustRole.Clinic],
  [7, TrustRole.MedicalBoard],
  [8, TrustRole.Irb],
  [9, TrustRole.Insurer],
  [0, TrustRole.IdentityIssuer],
];
const GATEWAY_ACCOUNT = 1;
const INDEXER_CONFIRMATIONS = 2; // ConsentIndexer's default, and the gateway's here
const GATEWAY_PORT = 8787;

interface Options {
  port: number;
  gatewayPort: number;
  host: string;
  dataDir: string;
  blockTime: number;
  fresh: boolean;
  json: boolean;
}

function fail(message: string): never {
  console.error(`start: ${message}\n${USAGE}`);
  process.exit(2);
}

function parseOptions(): Options {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: "string", default: "8545" },
        "gateway-port": { type: "string", default: String(GATEWAY_PORT) },
        host: { type: "string", default: "127.0.0.1" },
        "data-dir": { type: "string", default: ".hygeia" },
        "block-time": { type: "string", default: "1" },
        fresh: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    fail((error as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65_535) fail(`--port must be an integer 0-65535, got "${values.port}"`);
  const gatewayPort = Number(values["gateway-port"]);
  if (!/^\d+$/.test(values["gateway-port"]) || gatewayPort > 65_535)
    fail(`--gateway-port must be an integer 0-65535, got "${values["gateway-port"]}"`);
  const blockTime = Number(values["block-time"]);
  if (!/^\d+$/.test(values["block-time"])) {
    fail(`--block-time must be whole seconds 0-3600 (0 = a block per transaction), got "${values["block-time"]}"`);
  }
  if (!values.host) fail("--host must not be empty");
  // Ranges are the chain's own checks, said as flags: they name a too-large --block-time that is
  // milliseconds (1000, 5000) as such, which a range check here would shadow.
  try {
    checkLocalChainOptions({ host: values.host, port, blockTime });
  } catch (error) {
    if (!(error instanceof InvalidInputError)) throw error;
    const flags: Record<string, string> = { blockTime: "--block-time", port: "--port", host: "--host" };
    const flag = flags[error.field] ?? error.field;
    fail(`${flag}: ${error.detail}`);
  }
  return {
    port,
    gatewayPort,
    host: values.host,
    dataDir: resolve(values["data-dir"]),
    blockTime,
    fresh: values.fresh,
    json: values.json,
  };
}

function demoWallet(index: number): HDNodeWallet {
  return HDNodeWallet.fromPhrase(LOCAL_MNEMONIC, undefined, `m/44'/60'/0'/0/${index}`);
}

async function setUpGovernance(deployment: HygeiaDeployment, provider: JsonRpcProvider): Promise<void> {
  const governance = new NonceManager(demoWallet(0).connect(provider));
  const trust = new TrustRegistryClient(deployment.contracts.TrustRegistry, governance);
  const now = BigInt((await provider.getBlock("latest"))!.timestamp);
  const year = 365n * 24n * 3600n;
  for (const [account, role] of DEMO_ACCREDITATIONS) {
    await trust.accredit({ issuer: demoWallet(account).address, role, validFrom: now, validUntil: now + year });
  }
}

/** What the contracts say about one account, read back at startup. */
interface OnChainStanding {
  /** Contracts whose owner (governance) this account is. */
  owns: string[];
  /** Authorized to anchor audit batches on AuditAnchor. */
  gateway: boolean;
  /** TrustRegistry records for this account (roles without a record are left out). */
  accreditations: {
    role: TrustRoleName;
    /** Unix seconds. */
    validFrom: number;
    validUntil: number;
    /** 0 = not revoked. */
    revokedAt: number;
    /** The registry's own isTrusted(account, role) now. */
    trusted: boolean;
  }[];
}

async function readStanding(
  deployment: HygeiaDeployment,
  provider: JsonRpcProvider,
  address: string,
): Promise<OnChainStanding> {
  const trust = new TrustRegistryClient(deployment.contracts.TrustRegistry, provider);
  const audit = new AuditAnchorClient(deployment.contracts.AuditAnchor, provider);
  const owners = await Promise.all(
    (
      [
        ["TrustRegistry", TrustRegistryAbi],
        ["AuditAnchor", AuditAnchorAbi],
      ] as const
    ).map(async ([name, abi]) => {
      const owner = (await new Contract(deployment.contracts[name], abi, provider).getFunction("owner")()) as string;
      return owner.toLowerCase() === address.toLowerCase() ? [name] : [];
    }),
  );
  const accreditations = await Promise.all(
    Object.values(TrustRole).map(async (role) => {
      const record = await trust.accreditationOf(address, role);
      if (record.validUntil === 0n) return [];
      return [
        {
          role,
          validFrom: Number(record.validFrom),
          validUntil: Number(record.validUntil),
          revokedAt: Number(record.revokedAt),
          trusted: await trust.isTrusted(address, role),
        },
      ];
    }),
  );
  return {
    owns: owners.flat(),
    gateway: (await audit.gatewayOf(address)).authorized,
    accreditations: accreditations.flat(),
  };
}

/** Everything the banner says, also printed as one JSON line with --json. */
interface StackInfo {
  /** A URL this machine can connect to (loopback for a wildcard --host such as 0.0.0.0). */
  rpcUrl: string;
  /** The address the chain listens on (--host). */
  host: string;
  /** True when --host is not loopback: other machines can reach the chain, and so its demo accounts. */
  exposed: boolean;
  chainId: number;
  /** Seconds between blocks; 0 = a block per transaction. */
  blockTime: number;
  dataDir: string;
  stateFile: string;
  deploymentFile: string;
  lockFile: string;
  pid: number;
  anvilPid: number;
  /** The gateway's base URL (always on 127.0.0.1): /docs, /openapi.json, /readyz, /v1/... */
  gatewayUrl: string;
  /** The gateway's database, session key, audit log and IPFS blocks. */
  gatewayDataDir: string;
  /** Where the gateway's logs go (not stdout). */
  gatewayLog: string;
  contracts: HygeiaDeployment["contracts"];
  accounts: {
    index: number;
    role: string;
    address: string;
    privateKey: string;
    onChain: OnChainStanding;
  }[];
  /** Example programs in this checkout, relative to the repository root. */
  examples: string[];
  /** The command that runs them from the user's shell at the repository root ("node" or the repo's Node 24). */
  node: string;
}

const WILDCARD_HOSTS: Readonly<Record<string, string>> = { "0.0.0.0": "127.0.0.1", "::": "[::1]", "[::]": "[::1]" };

function isLoopback(host: string): boolean {
  return host === "localhost" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === "::1" || host === "[::1]";
}

/**
 * The URL to connect to the chain at. A wildcard bind address (0.0.0.0, ::) is where anvil listens, not an
 * address to connect to: the banner gives the loopback address of the same port instead.
 */
function reachableRpcUrl(rpcUrl: string, host: string): string {
  const loopback = WILDCARD_HOSTS[host];
  if (loopback === undefined) return rpcUrl;
  const url = new URL(rpcUrl);
  return `${url.protocol}//${loopback}:${url.port}`;
}

/** Said on stderr at start and in the banner when the chain listens beyond loopback. */
function exposureWarning(host: string, port: string): string {
  return (
    `WARNING: --host ${host} makes the chain reachable from other machines on port ${port}. Its demo accounts' ` +
    "keys are the PUBLIC test mnemonic's (printed below, and in every Hardhat/Foundry tutorial): anyone who can " +
    "reach the port controls them, governance included (accreditations, the gateway, the demo's ETH). Use it " +
    "only on a network you trust; the default --host 127.0.0.1 keeps the chain on this machine."
  );
}

function listExamples(): string[] {
  const packages = join(REPO_ROOT, "packages");
  if (!existsSync(packages)) return [];
  return readdirSync(packages)
    .sort()
    .flatMap((pkg) => {
      const dir = join(packages, pkg, "examples");
      if (!existsSync(dir)) return [];
      return readdirSync(dir)
        .filter((name) => name.endsWith(".ts"))
        .sort()
        .map((name) => relative(REPO_ROOT, join(dir, name)));
    });
}

/**
 * How to run a .ts example from the user's shell. Under `npm start` this script runs on the repo's
 * Node 24 while the user's `node` (the one running npm) may be older and unable to run TypeScript.
 */
function nodeCommand(): string {
  const userNode = process.env["npm_node_execpath"];
  let version = process.version;
  if (userNode && userNode !== process.execPath) {
    try {
      version = execFileSync(userNode, ["-v"], { encoding: "utf8", timeout: 5_000 }).trim();
    } catch {
      version = "unknown";
    }
  }
  return Number(/^v(\d+)\./.exec(version)?.[1] ?? 0) >= 24 ? "node" : "node_modules/.bin/node";
}

function date(seconds: number): string {
  return new Date(seconds * 1000).toISOString().slice(0, 10);
}

function describeStanding(standing: OnChainStanding): string {
  const facts: string[] = [];
  if (standing.owns.length > 0) facts.push(`owner (governance) of ${standing.owns.join(" and ")}`);
  if (standing.gateway) facts.push("authorized gateway of AuditAnchor (anchors audit batches)");
  for (const a of standing.accreditations) {
    const state = a.trusted
      ? `until ${date(a.validUntil)}`
      : a.revokedAt !== 0
        ? `REVOKED on ${date(a.revokedAt)}`
        : a.validUntil * 1000 <= Date.now()
          ? `EXPIRED on ${date(a.validUntil)} (--fresh renews it)`
          : `not valid now (from ${date(a.validFrom)} until ${date(a.validUntil)})`;
    facts.push(`TrustRegistry: ${a.role} ${state}`);
  }
  return facts.length > 0 ? facts.join("; ") : "none";
}

function banner(info: StackInfo): string {
  const mining =
    info.blockTime === 0 ? "a block per transaction (--block-time 0)" : `a block every ${info.blockTime} s`;
  const countsAfter =
    info.blockTime === 0
      ? `only after ${INDEXER_CONFIRMATIONS} more transactions have been mined (--block-time 0: no empty blocks)`
      : `about ${INDEXER_CONFIRMATIONS * info.blockTime} s after it is mined`;
  return [
    "",
    "Hygeia local stack",
    `  chain       ${info.rpcUrl} (chain id ${info.chainId}), ${mining}`,
    ...(WILDCARD_HOSTS[info.host] !== undefined
      ? [
          `              listening on every interface (--host ${info.host}): ${info.rpcUrl} from this machine, ` +
            `http://<this machine's address>:${new URL(info.rpcUrl).port} from others`,
        ]
      : []),
    `  gateway     ${info.gatewayUrl} (the API, under /v1), confirmations ${INDEXER_CONFIRMATIONS}`,
    `  wallet      ${info.gatewayUrl}/ (the patient's wallet page: connect a browser wallet on chain ${info.chainId})`,
    `  clinic      ${info.gatewayUrl}/clinic.html (the clinic's desk: records patients consented to)`,
    `  docs        ${info.gatewayUrl}/docs (every route, its schemas and examples; ${info.gatewayUrl}/openapi.json)`,
    `  readiness   ${info.gatewayUrl}/readyz (chain, indexer, IPFS, database)`,
    `  state       ${info.stateFile}`,
    `  deployment  ${info.deploymentFile}`,
    `  gateway data ${info.gatewayDataDir} (database, audit log, IPFS blocks); log ${info.gatewayLog}`,
    `  lock        ${info.lockFile} (this process, pid ${info.pid})`,
    "",
    "Contracts:",
    ...Object.entries(info.contracts).map(([name, address]) => `  ${name.padEnd(20)} ${address}`),
    "",
    "Demo accounts: 10,000 ETH each; their keys are the PUBLIC test mnemonic's, never use them on a real network.",
    "The first column is each account's part in the demo; 'on-chain' is what the contracts say now.",
    ...info.accounts.flatMap((account) => [
      `  #${account.index} ${account.role.padEnd(21)} ${account.address}  key ${account.privateKey}`,
      `       on-chain: ${describeStanding(account.onChain)}`,
    ]),
    "Patients and researchers need no registry entry: researchers prove their standing with credentials from",
    "issuers the TrustRegistry accredits (a ResearcherCredential from the medical board, an EthicsApprovalCredential",
    "from the IRB). A clinic needs both: a ClinicAccreditationCredential from the medical board, and its own",
    "accreditation as clinic on the TrustRegistry (#4 and #5 above), which a patient's wallet checks at check-in.",
    "",
    "Next steps:",
    "  - Watch every role's journey through the hygeia command (in another terminal), then try the command:",
    info.gatewayUrl === "http://127.0.0.1:8787" && info.rpcUrl === "http://127.0.0.1:8545"
      ? "      npm run demo"
      : `      npm run demo -- --gateway ${info.gatewayUrl} --rpc ${info.rpcUrl}`,
    "      npx hygeia --help                  # walkthrough per role: packages/cli/README.md",
    "  - Talk to the gateway:",
    `      curl -s ${info.gatewayUrl}/readyz          # which parts answer`,
    `      curl -s ${info.gatewayUrl}/v1/auth/nonce   # step 1 of signing in with a wallet (SIWE, EIP-4361)`,
    `      open ${info.gatewayUrl}/docs in a browser  # try every route; sign in as a demo account above`,
    `  - From code: readDeployment(${JSON.stringify(info.deploymentFile)}) from @hygeia/chain and`,
    `    new JsonRpcProvider(${JSON.stringify(info.rpcUrl)}) give you the typed clients (packages/chain/README.md).`,
    ...(existsSync(join(REPO_ROOT, "examples", "journey.ts"))
      ? [
          "  - A patient and a virtual clinic end to end on this stack (DIDs, credentials, check-in, an encrypted",
          "    record on IPFS, consent direct and gasless, sharing, revoking), with the demo accounts above:",
          `      HYGEIA_RPC_URL=${info.rpcUrl} HYGEIA_DEPLOYMENT=${info.deploymentFile} ${info.node} examples/journey.ts`,
        ]
      : []),
    `  - A consent grant counts for ConsentIndexer (${INDEXER_CONFIRMATIONS} confirmations by default) ${countsAfter}.`,
    ...(info.examples.length > 0
      ? [
          "  - Example programs (each starts what it needs, so they run with or without this stack):",
          ...info.examples.map((path) => `      ${info.node} ${path}`),
        ]
      : []),
    "  - How the parts fit, what exists and what is planned: docs/architecture.md",
    `  - For tools: npm start -s -- --json prints all of this as one JSON line (-s keeps npm's own header off`,
    `    stdout); ${info.lockFile} has pid and rpcUrl.`,
    "",
    ...(info.exposed ? ["", exposureWarning(info.host, new URL(info.rpcUrl).port)] : []),
    "What survives Ctrl-C and the next start on this data dir: the chain's state and the deployment; the gateway's",
    "database (records, wraps, manifests, consent links), its audit log with its checkpoints and anchors, and the",
    "IPFS blocks. Sessions survive until they expire; uploads not yet registered as records survive too (staged",
    "in the database) and stay registrable until their staging TTL expires, when they are unpinned. --fresh",
    "discards all of it.",
    "",
    "Press Ctrl-C to stop (the gateway anchors its pending audit batch, then the chain state is saved).",
  ].join("\n");
}

/** One line for a data dir that cannot be used, saying what to do about it. */
function dataDirFailure(error: unknown, dataDir: string): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "EEXIST" || code === "ENOTDIR")
    return `--data-dir ${dataDir} is a file, not a directory; name a directory`;
  if (code === "EACCES" || code === "EPERM" || code === "EROFS")
    return `--data-dir ${dataDir} is not writable (${code}); name a directory you can write to`;
  return error instanceof Error ? error.message : String(error);
}

/** One line saying why the chain did not start, with what to do for the usual causes. */
function chainStartFailure(error: unknown, options: Options, stateFile: string): string {
  const message = error instanceof Error ? error.message : String(error);
  if (/failed to (parse|read|deserialize|load)[^\n]*state|state[^\n]*(json|parse)/i.test(message)) {
    return `the chain state in ${stateFile} cannot be loaded (${oneLine(message)}); move it away, or start with --fresh to discard it`;
  }
  if (/address already in use/i.test(message)) {
    return `port ${options.port} on ${options.host} is already in use; choose another with --port N (0 picks a free one)`;
  }
  if (/cannot assign requested address|address not available/i.test(message)) {
    return `cannot bind ${options.host}: not an address of this machine; see --host`;
  }
  return `the local chain did not start: ${oneLine(message)}`;
}

function oneLine(message: string): string {
  const line = message
    .split("\n")
    .map((part) => part.trim())
    .filter(Boolean)
    .join(" | ");
  return line.length > 400 ? `${line.slice(0, 400)}...` : line;
}

/** Whether `file` was written at or after `since` (ms), allowing for the kernel's coarse file clock. */
function writtenSince(file: string, since: number): boolean {
  try {
    return statSync(file).mtimeMs >= since - 50;
  } catch {
    return false;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Moves a gateway data dir aside (its records and audit anchors belong to a chain that is gone); its new path. */
async function setAsideGatewayData(gatewayDir: string): Promise<string | undefined> {
  if (!existsSync(gatewayDir)) return undefined;
  const aside = `${gatewayDir}-previous-chain-${new Date().toISOString().replace(/[:.]/g, "-")}`;
  await rename(gatewayDir, aside);
  return aside;
}

interface RunningGateway {
  url: string;
  logFile: string;
  /**
   * Closes the gateway (in-flight requests, the audit batch anchored), then its services. `note` says how it went;
   * `unanchored` is why the audit log's head is not anchored on the chain after the close, null when it is.
   */
  stop(): Promise<{ note: string; unanchored: string | null }>;
}

/** Gateway settings a user may still give in the environment (log level, limits...); the stack sets the rest. */
const STACK_GATEWAY_SETTINGS = new Set([
  "HYGEIA_HOST",
  "HYGEIA_PORT",
  "HYGEIA_DATA_DIR",
  "HYGEIA_PUBLIC_URL",
  "HYGEIA_RPC_URL",
  "HYGEIA_DEPLOYMENT_FILE",
  "HYGEIA_CONFIRMATIONS",
  "HYGEIA_RELAYER_KEY",
  "HYGEIA_ANCHOR_KEY",
  "HYGEIA_IPFS",
  "HYGEIA_KUBO_URL",
]);
const GATEWAY_CLOSE_TIMEOUT_MS = 30_000;
/** Free ports tried for --gateway-port 0 when another process takes the one picked first. */
const GATEWAY_PORT_ATTEMPTS = 3;

/**
 * The gateway's code, imported once the lock is taken (in parallel with anvil's start): it takes seconds to load
 * on a busy machine, and a start refused for bad flags or a held lock must answer as fast as before.
 */
function loadGatewayCode(): Promise<GatewayCode> {
  return import("@hygeia/gateway");
}
type GatewayCode = typeof GatewayModule;

/**
 * The gateway as server.ts builds it (loadConfig, createServices, buildGateway), configured for this stack: on
 * 127.0.0.1, its data under <data-dir>/gateway (embedded Helia in ipfs/, SQLite), demo account #1 as relayer and
 * anchor key, INDEXER_CONFIRMATIONS confirmations. Logs go to <data-dir>/gateway/gateway.log.
 */
async function startGateway(
  code: GatewayCode,
  options: {
    rpcUrl: string;
    deploymentFile: string;
    deployment: HygeiaDeployment;
    dataDir: string;
    port: number;
  },
): Promise<RunningGateway> {
  const { ENV_SETTINGS, buildGateway, closeServices, createServices, loadConfig } = code;
  // A free port picked first: the gateway's public URL (the SIWE domain) must be known before it is built.
  const port = options.port === 0 ? await getPort({ host: "127.0.0.1" }) : options.port;
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && name in ENV_SETTINGS && !STACK_GATEWAY_SETTINGS.has(name)) env[name] = value;
  }
  Object.assign(env, {
    HYGEIA_HOST: "127.0.0.1",
    HYGEIA_PORT: String(port),
    HYGEIA_DATA_DIR: options.dataDir,
    HYGEIA_RPC_URL: options.rpcUrl,
    HYGEIA_DEPLOYMENT_FILE: options.deploymentFile,
    HYGEIA_CONFIRMATIONS: String(INDEXER_CONFIRMATIONS),
    HYGEIA_RELAYER_KEY: demoWallet(GATEWAY_ACCOUNT).privateKey,
  });
  const config = loadConfig({ env, file: process.env.HYGEIA_CONFIG || undefined });
  await mkdir(options.dataDir, { recursive: true });
  const logFile = join(options.dataDir, "gateway.log");
  const logStream: WriteStream = createWriteStream(logFile, { flags: "a" });
  const closeLog = () => new Promise<void>((resolveClose) => logStream.end(resolveClose));
  let services: GatewayServices | undefined;
  try {
    services = await createServices(config, { deployment: options.deployment, indexerRetryForMs: 10_000 });
    const app = await buildGateway(config, services, { logStream });
    try {
      await app.listen({ host: config.host, port: config.port });
    } catch (error) {
      await app.close();
      throw error;
    }
    const built = services;
    return {
      url: config.publicUrl,
      logFile,
      stop: async () => {
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<"timeout">((resolveTimeout) => {
          timer = setTimeout(() => resolveTimeout("timeout"), GATEWAY_CLOSE_TIMEOUT_MS);
        });
        const outcome = await Promise.race([
          app.close().then(
            () => "closed" as const,
            (error: unknown) => error,
          ),
          timedOut,
        ]);
        clearTimeout(timer);
        // Read after the close, which anchored the last batch (or failed to): the log's status stays readable.
        const unanchored = built.chain.anchors === null ? null : unanchoredReason(app.audit.status());
        await closeServices(built);
        await closeLog();
        if (outcome === "closed") return { note: `; its log: ${logFile}`, unanchored };
        if (outcome === "timeout")
          return {
            note: ` after ${GATEWAY_CLOSE_TIMEOUT_MS / 1000} s without a clean close; see ${logFile}`,
            unanchored,
          };
        return {
          note: ` with an error (${oneLine(outcome instanceof Error ? outcome.message : String(outcome))}); see ${logFile}`,
          unanchored,
        };
      },
    };
  } catch (error) {
    if (services) await closeServices(services);
    await closeLog();
    throw error;
  }
}

/** Why the audit log's head is not anchored after the gateway closed, in one line; null when it is. */
function unanchoredReason(status: {
  size: number;
  anchoredSize: number;
  lastAnchorError: string | null;
}): string | null {
  if (status.anchoredSize >= status.size) return null;
  const pending = `${status.size - status.anchoredSize} event(s)`;
  if (status.lastAnchorError !== null) return `${oneLine(status.lastAnchorError).slice(0, 200)} (${pending})`;
  return `the anchor did not finish before the gateway closed (${pending})`;
}

/** One line saying why the gateway did not start. */
function gatewayStartFailure(error: unknown, options: Options): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "EADDRINUSE" && options.gatewayPort === 0) {
    return (
      `each free port picked for the gateway on 127.0.0.1 was taken by another process before it could bind ` +
      `(${GATEWAY_PORT_ATTEMPTS} tries); start again`
    );
  }
  if (code === "EADDRINUSE") {
    return (
      `port ${options.gatewayPort} on 127.0.0.1 (the gateway) is already in use; choose another with ` +
      "--gateway-port N (0 picks a free one)"
    );
  }
  return `the gateway did not start: ${oneLine(error instanceof Error ? error.message : String(error))}`;
}

async function main(): Promise<void> {
  const options = parseOptions();
  const stateFile = join(options.dataDir, "chain-state.json");
  const deploymentFile = join(options.dataDir, "deployment.json");

  // Signal listeners are installed once, first, and never removed: a Ctrl-C while the lock is being taken must
  // not kill the process with the lock held and no clean-up, and removing a listener (Node then stops its
  // signal watcher) can drop a signal already caught but not yet dispatched. Until the stop logic exists
  // below, a signal is remembered and acted on once anvil's start is under way.
  let stopRequestedEarly = false;
  let onSignal: () => void = () => (stopRequestedEarly = true);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => onSignal());

  let lock: DataDirLock;
  try {
    lock = await acquireDataDirLock(options.dataDir, {
      host: options.host,
      port: options.port,
      onNotice: (message) => console.error(message),
    });
  } catch (error) {
    console.error(`start: ${dataDirFailure(error, options.dataDir)}`);
    process.exit(error instanceof DataDirLockedError ? 3 : 1);
  }
  process.on("exit", () => lock.release()); // whatever path ends the process
  // Loaded from anvil's spawn on (while it starts and the contracts deploy), not before: compiling the gateway's
  // modules holds the event loop, and anvil's pid must reach the lock at once.
  let gatewayCode: Promise<GatewayCode> | undefined;
  const loadGateway = () => {
    if (!gatewayCode) {
      gatewayCode = loadGatewayCode();
      gatewayCode.catch(() => undefined); // its failure is reported where it is awaited
    }
    return gatewayCode;
  };

  const gatewayDir = join(options.dataDir, "gateway");
  if (options.fresh) {
    await rm(stateFile, { force: true });
    await rm(deploymentFile, { force: true });
    await rm(gatewayDir, { recursive: true, force: true });
  }

  let chain: LocalChain | undefined;
  // Pending while anvil starts, so a stop requested meanwhile waits for it instead of orphaning it.
  let chainStarting: Promise<LocalChain | undefined> | undefined = undefined;
  let provider: JsonRpcProvider | undefined;
  let gateway: RunningGateway | undefined;
  // Pending while the gateway starts, so a stop requested meanwhile closes it once it is up.
  let gatewayStarting: Promise<RunningGateway | undefined> | undefined = undefined;
  const chainWatch: { timer?: NodeJS.Timeout } = {};
  let shuttingDown = false;
  const shutdown = async (code: number, reason?: string) => {
    if (shuttingDown) return;
    shuttingDown = true;
    clearInterval(chainWatch.timer);
    // Before anything stops: if anvil is signalled by someone else meanwhile (a kill of its own group), the dump
    // it then makes counts as "saved"; a periodic dump during the gateway's close does not, when anvil is still
    // up for our own stop (below).
    const stopBegan = Date.now();
    if (reason) console.error(`start: ${reason}`);
    provider?.destroy();
    if (!gateway && gatewayStarting) gateway = await gatewayStarting;
    if (gateway) {
      console.error("stopping the gateway (finishing requests, anchoring the pending audit batch)...");
      const { note, unanchored } = await gateway.stop();
      console.error(`stopped the gateway${note}`);
      if (unanchored !== null)
        console.error(`audit batch not anchored: ${unanchored}; it will be anchored at the next start`);
    }
    if (!chain && chainStarting) chain = await chainStarting;
    if (chain) {
      console.error("stopping the local chain (saving its state)...");
      const since = isRunning(chain.pid) ? Date.now() : stopBegan;
      await chain.stop();
      console.error(
        writtenSince(stateFile, since)
          ? `stopped; chain state saved in ${stateFile}`
          : `stopped; the chain state in ${stateFile} was NOT updated (anvil did not save it)`,
      );
    }
    lock.release();
    process.exit(code);
  };
  // anvil's pid from the moment it is spawned, so a second Ctrl-C during start-up can still stop it.
  let anvilPid: number | undefined;
  onSignal = () => {
    if (!shuttingDown) return void shutdown(0);
    // A second Ctrl-C: do not wait for anvil's state dump.
    if (anvilPid !== undefined) {
      try {
        process.kill(anvilPid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    console.error("start: forced stop; the chain state may not be saved");
    process.exit(130);
  };

  let startError: unknown;
  chainStarting = startLocalChain({
    host: options.host,
    port: options.port,
    stateFile,
    stateIntervalSeconds: 10,
    // A terminal's Ctrl-C signals the whole group: anvil must not get it, or it dumps and exits while the gateway
    // still needs it to anchor the pending audit batch. This process stops it, after the gateway.
    ownProcessGroup: true,
    onSpawn: (pid) => {
      anvilPid = pid;
      lock.update({ anvilPid: pid }); // before it listens: a kill -9 of this process now leaves a known anvil
      setImmediate(loadGateway);
    },
  }).catch((error: unknown) => {
    startError = error;
    return undefined;
  });
  if (stopRequestedEarly) void shutdown(0); // waits for anvil's start, then stops it
  chain = await chainStarting;
  if (!chain) return shutdown(1, chainStartFailure(startError, options, stateFile));
  if (shuttingDown) return; // stopped while anvil was starting: shutdown stops it
  const rpcUrl = reachableRpcUrl(chain.rpcUrl, options.host);
  lock.update({ port: Number(new URL(rpcUrl).port), rpcUrl, anvilPid: chain.pid });
  const exposed = !isLoopback(options.host);
  if (exposed) console.error(`start: ${exposureWarning(options.host, new URL(rpcUrl).port)}`);

  try {
    provider = new JsonRpcProvider(rpcUrl, undefined, { cacheTimeout: -1, staticNetwork: true });

    let deployment: HygeiaDeployment | undefined;
    if (existsSync(deploymentFile)) {
      let saved: HygeiaDeployment;
      try {
        saved = await readDeployment(deploymentFile);
      } catch (error) {
        const reason = oneLine(error instanceof Error ? error.message : String(error));
        return shutdown(1, `${reason}; move it away, or start with --fresh to discard the chain state and deploy anew`);
      }
      if (await isDeployed(provider, saved)) deployment = saved;
      else console.error("start: saved deployment is not on this chain (state was reset); deploying anew");
    } else if ((await provider.getBlockNumber()) > 0) {
      // The chain has history but no deployment was recorded: an earlier start stopped mid-deployment.
      console.error(
        "start: the chain has state but no deployment file (an earlier start was stopped before its deployment " +
          "finished); deploying anew, at new addresses",
      );
    }
    if (!deployment) {
      // The gateway's data (records, wraps, the audit log and its anchors) belongs to the chain it ran on.
      const previous = await setAsideGatewayData(gatewayDir);
      if (previous) console.error(`start: the gateway's data of the previous chain was moved to ${previous}`);
      const deployer = new NonceManager(demoWallet(0).connect(provider));
      deployment = await deployHygeia(deployer, {
        gateways: [demoWallet(GATEWAY_ACCOUNT).address],
        onProgress: (message) => console.error(`deploy: ${message}`),
      });
      await setUpGovernance(deployment, provider);
      await writeDeployment(deploymentFile, deployment);
    } else {
      console.error(`start: reusing the deployment in ${deploymentFile}`);
      // A deployment from before a contract was added keeps its contracts and gets the new one.
      const upgraded = await upgradeDeployment(new NonceManager(demoWallet(0).connect(provider)), deployment, {
        onProgress: (message) => console.error(`deploy: ${message}`),
      });
      if (upgraded !== deployment) {
        deployment = upgraded;
        await writeDeployment(deploymentFile, deployment);
      }
    }
    // Setup ran in automine; from now on blocks also come without transactions.
    if (options.blockTime > 0) await provider.send("evm_setIntervalMining", [options.blockTime]);

    const code = await loadGateway();
    if (shuttingDown) return;
    let gatewayError: unknown;
    const gatewayOptions = { rpcUrl, deploymentFile, deployment, dataDir: gatewayDir, port: options.gatewayPort };
    gatewayStarting = (async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await startGateway(code, gatewayOptions);
        } catch (error) {
          // --gateway-port 0: the free port picked can be taken by another process before the gateway binds it.
          const taken = (error as NodeJS.ErrnoException | undefined)?.code === "EADDRINUSE";
          if (!taken || options.gatewayPort !== 0 || attempt >= GATEWAY_PORT_ATTEMPTS || shuttingDown) throw error;
        }
      }
    })().catch((error: unknown) => {
      gatewayError = error;
      return undefined;
    });
    gateway = await gatewayStarting;
    if (!gateway) return shutdown(1, gatewayStartFailure(gatewayError, options));
    if (shuttingDown) return; // stopped while the gateway was starting: shutdown closes it

    const accounts = await Promise.all(
      DEMO_ROLES.map(async (role, index) => {
        const wallet = demoWallet(index);
        return {
          index,
          role,
          address: wallet.address,
          privateKey: wallet.privateKey,
          onChain: await readStanding(deployment, provider!, wallet.address),
        };
      }),
    );
    const info: StackInfo = {
      rpcUrl,
      host: options.host,
      exposed,
      chainId: deployment.chainId,
      blockTime: options.blockTime,
      dataDir: options.dataDir,
      stateFile,
      deploymentFile,
      lockFile: lock.path,
      pid: process.pid,
      anvilPid: chain.pid,
      gatewayUrl: gateway.url,
      gatewayDataDir: gatewayDir,
      gatewayLog: gateway.logFile,
      contracts: deployment.contracts,
      accounts,
      examples: listExamples(),
      node: nodeCommand(),
    };
    provider.destroy(); // nothing polls from here on
    provider = undefined;
    console.log(options.json ? JSON.stringify(info) : banner(info));
  } catch (error) {
    return shutdown(1, oneLine(error instanceof Error ? error.message : String(error)));
  }

  // The gateway's server keeps the process alive whatever anvil does: watch anvil itself.
  const runningPid = chain.pid;
  chainWatch.timer = setInterval(() => {
    if (!isRunning(runningPid)) void shutdown(1, `the local chain (anvil pid ${runningPid}) exited on its own`);
  }, 250);
}

await main();
