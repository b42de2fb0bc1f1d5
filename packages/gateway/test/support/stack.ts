// The real stack every gateway test runs against: anvil with Hygeia deployed (the gateway's account
// authorized on AuditAnchor, a medical board and an IRB accredited on the TrustRegistry), an embedded
// Helia node and the SQLite store in a temporary data dir, the real credential verifier, and the gateway
// listening on 127.0.0.1. One stack per `describe` (starting one takes a few seconds on a busy machine).
import { mkdtemp, readdir, rm } from "node:fs/promises";
import getPort from "get-port";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toQuantity, type HDNodeWallet, type JsonRpcProvider } from "ethers";
import {
  TransactionSender,
  TrustRegistryClient,
  TrustRole,
  startLocalDeployment,
  writeDeployment,
  type HygeiaDeployment,
  type LocalDeployment,
} from "@hygeia/chain";
import { buildGateway, type BuildOptions, type GatewayApp } from "../../src/app.ts";
import type { GatewayConfig } from "../../src/config.ts";
import { defaultConfig } from "../../src/config-load.ts";
import type { GatewayServices } from "../../src/context.ts";
import { closeServices, createServices } from "../../src/services.ts";
import { DATABASE_FILE } from "../../src/store/sqlite/index.ts";

export type DeepPartial<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { [K in keyof T]?: DeepPartial<T[K]> | undefined }
    : T;

/** Test accounts: indexes into anvil's public test mnemonic. */
export const ACCOUNT_INDEXES = {
  governance: 0,
  /** Relayer and audit anchor key of the gateway; authorized on AuditAnchor. */
  gateway: 1,
  alice: 2,
  bob: 3,
  clinic: 4,
  clinic2: 5,
  researcher: 6,
  /** Accredited on the TrustRegistry as `medical-board` (issues clinic accreditations, researcher credentials). */
  board: 7,
  /** Accredited as `irb` (issues ethics approvals). */
  irb: 8,
} as const;

export type AccountName = keyof typeof ACCOUNT_INDEXES;

export interface TestStackOptions {
  /** Overrides of the test configuration (deep-merged). */
  config?: DeepPartial<GatewayConfig>;
  /** The indexer's confirmation depth; default 0 so a mined grant counts at once. */
  confirmations?: number;
  /** Capture the gateway's logs (default: silent unless config.logLevel is set). */
  logStream?: NodeJS.WritableStream;
  /** Extra plugins registered on the gateway before it is ready (a probe route for a test). */
  plugins?: BuildOptions["plugins"];
  /** Keep the data dir on close (to reopen the store in a test). */
  keepDataDir?: boolean;
  /** The gateway's JSON body timeout (BuildOptions.bodyTimeoutMs). */
  bodyTimeoutMs?: number;
  /**
   * More accounts (indexes of the test mnemonic, 10 and up) authorized to anchor on AuditAnchor: the keys of more
   * gateways sharing the stack's chain and database (scale-out tests).
   */
  moreGatewayAccounts?: readonly number[];
}

export interface TestStack {
  /** The gateway's base URL, e.g. http://127.0.0.1:40123 (no trailing slash). */
  url: string;
  app: GatewayApp;
  services: GatewayServices;
  config: GatewayConfig;
  deployment: HygeiaDeployment;
  /** The tests' provider (shared by the account wallets); the gateway has its own. */
  provider: JsonRpcProvider;
  /** Funded wallets connected to `provider`. Do not send from `gateway` in tests: the gateway's relayer uses it. */
  accounts: Record<AccountName, HDNodeWallet>;
  local: LocalDeployment;
  dataDir: string;
  /** Mines `blocks` empty blocks (default 1). */
  mine(blocks?: number): Promise<void>;
  /**
   * Stops the gateway and its services and starts them again on the same port, chain and IPFS data. With
   * `forgetDatabase`, its SQLite database (sessions, records, wraps, manifest pointers, links, audit log) is deleted
   * in between: a gateway that lost its state. `app` and `services` are the new ones afterwards.
   */
  restartGateway(options?: { forgetDatabase?: boolean; beforeStart?: () => Promise<void> }): Promise<void>;
  /** Closes the gateway (audit flush), the services, anvil, and removes the data dir. Idempotent. */
  close(): Promise<void>;
}

function mergeDeep<T>(base: T, patch: DeepPartial<T> | undefined): T {
  if (patch === undefined) return base;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === undefined) continue;
    const current = out[key];
    out[key] =
      typeof value === "object" && value !== null && !Array.isArray(value) && typeof current === "object" && current
        ? mergeDeep(current, value as DeepPartial<typeof current>)
        : value;
  }
  return out as T;
}

/** The test configuration around a chain, a data dir and a port (before the caller's overrides). */
export function testConfig(options: {
  rpcUrl: string;
  deploymentFile: string;
  dataDir: string;
  port: number;
  gatewayKey: string;
  confirmations: number;
}): GatewayConfig {
  const base = defaultConfig();
  return {
    ...base,
    host: "127.0.0.1",
    port: options.port,
    dataDir: options.dataDir,
    publicUrl: `http://127.0.0.1:${options.port}`,
    logLevel: "silent",
    chain: {
      ...base.chain,
      rpcUrl: options.rpcUrl,
      deploymentFile: options.deploymentFile,
      confirmations: options.confirmations,
      pollIntervalMs: 200,
      staleAfterMs: 5_000,
      relayerKey: options.gatewayKey,
      anchorKey: options.gatewayKey,
    },
    ipfs: { ...base.ipfs, timeoutMs: 10_000 },
    identity: { statusListTtlMs: 2_000, trustCacheTtlMs: 1_000 },
    limits: {
      ...base.limits,
      // High enough that tests never meet the limiters unless they lower them.
      perIp: { max: 100_000, windowMs: 60_000 },
      perSession: { max: 100_000, windowMs: 60_000 },
    },
    audit: { ...base.audit, origin: "hygeia.test/gateway" },
    web: { rpcUrl: options.rpcUrl },
  };
}

export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const more = options.moreGatewayAccounts ?? [];
  const local = await startLocalDeployment({
    gatewayAccounts: [ACCOUNT_INDEXES.gateway, ...more],
    accounts: Math.max(10, ...more.map((index) => index + 1)),
  });
  let dataDir: string | undefined;
  let services: GatewayServices | undefined;
  let app: GatewayApp | undefined;
  try {
    const accounts = Object.fromEntries(
      Object.entries(ACCOUNT_INDEXES).map(([name, index]) => [name, local.account(index)]),
    ) as Record<AccountName, HDNodeWallet>;

    // Governance accredits the board and the IRB for a year (the roles credentials are checked against).
    const trust = new TrustRegistryClient(
      local.deployment.contracts.TrustRegistry,
      new TransactionSender(accounts.governance),
    );
    const head = await local.provider.getBlock("latest");
    const now = head?.timestamp ?? Math.floor(Date.now() / 1000);
    for (const [issuer, role] of [
      [accounts.board.address, TrustRole.MedicalBoard],
      [accounts.irb.address, TrustRole.Irb],
    ] as const) {
      await trust.accredit({ issuer, role, validFrom: now - 60, validUntil: now + 365 * 86_400 });
    }

    dataDir = await mkdtemp(join(tmpdir(), "hygeia-gateway-test-"));
    const deploymentFile = join(dataDir, "deployment.json");
    await writeDeployment(deploymentFile, local.deployment);
    const buildOptions: BuildOptions = {
      ...(options.logStream ? { logStream: options.logStream } : {}),
      ...(options.plugins ? { plugins: options.plugins } : {}),
      ...(options.bodyTimeoutMs === undefined ? {} : { bodyTimeoutMs: options.bodyTimeoutMs }),
    };
    // The port is chosen before the app is built (the public URL depends on it); another process may take
    // it in between, so a taken port means building again on another one.
    let port = 0;
    let config: GatewayConfig | undefined;
    for (let attempt = 1; ; attempt++) {
      port = await getPort({ host: "127.0.0.1" });
      config = mergeDeep<GatewayConfig>(
        testConfig({
          rpcUrl: local.rpcUrl,
          deploymentFile,
          dataDir: join(dataDir, "gateway"),
          port,
          gatewayKey: accounts.gateway.privateKey,
          confirmations: options.confirmations ?? 0,
        }),
        options.config,
      );
      if (options.logStream && options.config?.logLevel === undefined) config.logLevel = "info";
      services = await createServices(config, { heliaListen: [] });
      app = await buildGateway(config, services, buildOptions);
      try {
        await app.listen({ host: "127.0.0.1", port });
        break;
      } catch (error) {
        await app.close().catch(() => undefined);
        await closeServices(services);
        app = undefined;
        services = undefined;
        if ((error as { code?: unknown }).code !== "EADDRINUSE" || attempt >= 3) throw error;
      }
    }

    let builtApp = app;
    let builtServices = services;
    const builtConfig = config;
    const root = dataDir;
    let closing: Promise<void> | undefined;
    const stack: TestStack = {
      url: `http://127.0.0.1:${port}`,
      app: builtApp,
      services: builtServices,
      config,
      deployment: local.deployment,
      provider: local.provider,
      accounts,
      local,
      dataDir: config.dataDir,
      async mine(blocks = 1) {
        await local.provider.send("anvil_mine", [toQuantity(blocks)]);
      },
      async restartGateway(restart = {}) {
        await builtApp.close();
        await closeServices(builtServices);
        if (restart.forgetDatabase)
          for (const name of await readdir(builtConfig.dataDir))
            if (name.startsWith(DATABASE_FILE)) await rm(join(builtConfig.dataDir, name), { force: true });
        await restart.beforeStart?.();
        builtServices = await createServices(builtConfig, { heliaListen: [] });
        builtApp = await buildGateway(builtConfig, builtServices, buildOptions);
        await builtApp.listen({ host: "127.0.0.1", port });
        stack.app = builtApp;
        stack.services = builtServices;
      },
      close() {
        closing ??= (async () => {
          await builtApp.close().catch(() => undefined);
          await closeServices(builtServices);
          await local.stop();
          if (!options.keepDataDir) await rm(root, { recursive: true, force: true });
        })();
        return closing;
      },
    };
    return stack;
  } catch (error) {
    await app?.close().catch(() => undefined);
    if (services) await closeServices(services);
    await local.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/** Another gateway on the stack's chain and database (scale-out tests): its own key, audit log and data dir. */
export interface MoreGateway {
  url: string;
  app: GatewayApp;
  services: GatewayServices;
  config: GatewayConfig;
  close(): Promise<void>;
}

/**
 * Starts another gateway beside the stack's, sharing its chain and (configured with `database.url`) its database.
 * It anchors from `account` (one of `moreGatewayAccounts`), keeps the audit log `origin`, and answers to the same
 * public URL as the stack's gateway, as gateways behind one load balancer do.
 */
export async function startMoreGateway(
  stack: TestStack,
  options: { account: number; origin: string; config?: DeepPartial<GatewayConfig> },
): Promise<MoreGateway> {
  const key = stack.local.account(options.account).privateKey;
  const dataDir = await mkdtemp(join(tmpdir(), "hygeia-gateway-more-"));
  const port = await getPort({ host: "127.0.0.1" });
  const config = mergeDeep<GatewayConfig>(
    {
      ...stack.config,
      port,
      dataDir,
      chain: { ...stack.config.chain, relayerKey: key, anchorKey: key },
      audit: { ...stack.config.audit, origin: options.origin },
    },
    options.config,
  );
  const services = await createServices(config, { heliaListen: [] });
  let app: GatewayApp;
  try {
    app = await buildGateway(config, services);
    await app.listen({ host: "127.0.0.1", port });
  } catch (error) {
    await closeServices(services);
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    services,
    config,
    async close() {
      await app.close().catch(() => undefined);
      await closeServices(services);
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
