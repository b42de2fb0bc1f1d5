// createServices(config): the real services a gateway runs on, built from its configuration — the chain
// (provider, consent indexer, registry clients, relayer and anchor senders), the content store (embedded
// Helia or an external Kubo), the SQLite store and the credential verifier. `closeServices` releases
// them in reverse order. server.ts and the test stack both build through here, so tests run what runs.
//
// Rules:
// - Nothing half-built is left behind: a failure while building closes what was already opened.
// - One TransactionSender per signing key: the relayer and the anchor key may be the same account, and
//   two senders on one account would race for nonces.
// - The store's sweeper (expired nonces, sessions, check-ins) runs while the services do and is stopped
//   before the store closes; a failed sweep is only logged (nothing depends on a sweep for safety).
// - The indexer has caught up once before the services are returned (fail at start, not at the first
//   request); afterwards staleness is reported by /readyz and refuses releases (fail closed).
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { JsonRpcProvider, Wallet } from "ethers";
import {
  AuditAnchorClient,
  ConsentIndexer,
  ConsentRegistryClient,
  TransactionSender,
  StudyRegistryClient,
  TrustRegistryClient,
  readDeployment,
  type HygeiaDeployment,
} from "@hygeia/chain";
import {
  CachedDidResolver,
  CredentialVerifier,
  IssuerTrust,
  MemoryChallengeStore,
  ethrDidPrefix,
  ethrNetworkFromDeployment,
  type StatusListFetchOptions,
} from "@hygeia/identity";
import { HeliaContentStore, KuboContentStore, type ContentStore } from "@hygeia/storage";
import type { GatewayConfig } from "./config.ts";
import type { GatewayServices } from "./context.ts";
import type { GatewayStore } from "./store/types.ts";
import { loadSharedKey } from "./auth/tokens.ts";
import { openPostgresStore } from "./store/postgres/index.ts";
import { openSqliteStore } from "./store/sqlite/index.ts";
import { DataDirLock } from "./store/sqlite/lock.ts";
import { startStoreSweeper } from "./store/sweeper.ts";

/** Where createServices reports what it does not fail for (a failed store sweep). */
export interface ServicesLog {
  warn(object: object, message: string): void;
}

export interface CreateServicesOptions {
  /** Use this deployment instead of reading `config.chain.deploymentFile`. */
  deployment?: HygeiaDeployment;
  /** Use this store instead of opening the SQLite one under dataDir; the caller keeps it (closeServices leaves it open). */
  store?: GatewayStore;
  /** libp2p listen addresses of the embedded Helia node; default a random loopback port. Tests pass []. */
  heliaListen?: readonly string[];
  /** How long the indexer's first catch-up may keep retrying while the chain is not up yet (default 0: once). */
  indexerRetryForMs?: number;
  /** The clock every service shares (default Date.now). */
  now?: () => number;
  /** Receives a failed store sweep (default: one line on stderr). */
  log?: ServicesLog;
  /** How often the store sweeper runs, ms (default 60 000). */
  sweepEveryMs?: number;
}

const STDERR_LOG: ServicesLog = {
  warn: (object, message) => {
    const err = (object as { err?: unknown }).err;
    process.stderr.write(`hygeia gateway: ${message}${err instanceof Error ? `: ${err.message}` : ""}\n`);
  },
};

/** What closeServices must release besides the services themselves (the DID resolver, the senders' provider). */
interface Owned {
  closers: Array<() => Promise<void> | void>;
  closing?: Promise<void>;
}
const OWNED = new WeakMap<GatewayServices, Owned>();

/**
 * The status lists the verifier may fetch: this gateway's own /v1/status-lists URLs only. Plain http (and a
 * local or private address) is allowed for exactly that host when the public URL itself is http (the local stack).
 */
export function statusListPolicy(publicUrl: string): { origins: string[]; httpHosts: string[] } {
  const url = new URL(publicUrl);
  return { origins: [url.origin], httpHosts: url.protocol === "http:" ? [url.hostname] : [] };
}

/** A status list credential is a few kilobytes; a larger answer is refused before it fills memory. */
export const MAX_STATUS_LIST_BYTES = 1024 * 1024;

/** Fetches a status list credential (JWT text); refuses redirects, non-2xx answers and oversized bodies. */
export async function fetchStatusList(url: string, options?: StatusListFetchOptions): Promise<string> {
  const response = await fetch(url, {
    redirect: "error",
    headers: { accept: "application/statuslist+jwt, application/jwt, text/plain" },
    ...(options?.signal ? { signal: options.signal } : {}),
  });
  if (!response.ok) throw new Error(`status list fetch answered ${response.status}`);
  if (!response.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += chunk.byteLength;
    // Leaving the loop by a throw cancels the body stream.
    if (size > MAX_STATUS_LIST_BYTES) throw new Error(`status list larger than ${MAX_STATUS_LIST_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export async function createServices(
  config: GatewayConfig,
  options: CreateServicesOptions = {},
): Promise<GatewayServices> {
  const owned: Owned = { closers: [] };
  try {
    const deployment = options.deployment ?? (await readDeployment(config.chain.deploymentFile));
    const provider = new JsonRpcProvider(config.chain.rpcUrl, deployment.chainId, {
      cacheTimeout: -1,
      staticNetwork: true,
    });
    owned.closers.push(() => provider.destroy());
    const { contracts } = deployment;

    const senders = new Map<string, TransactionSender>();
    const senderFor = (key: string): TransactionSender => {
      let sender = senders.get(key.toLowerCase());
      if (!sender) {
        sender = new TransactionSender(new Wallet(key, provider));
        senders.set(key.toLowerCase(), sender);
      }
      return sender;
    };

    // PostgreSQL when configured (several gateways share it), else the embedded SQLite database of this gateway.
    // On PostgreSQL the data dir still holds this gateway's signing key (its audit log) and its IPFS repository: one
    // gateway per data dir, as the SQLite store's own lock makes it (a second process would write the same log).
    if (!options.store && config.database.url !== null) {
      await mkdir(config.dataDir, { recursive: true });
      const lock = await DataDirLock.acquire(config.dataDir);
      owned.closers.push(() => lock.release());
    }
    const store =
      options.store ??
      (config.database.url === null
        ? await openSqliteStore(config.dataDir)
        : await openPostgresStore({
            url: config.database.url,
            // Bus messages of gateways not holding the shared secret are dropped.
            busKey: await loadSharedKey(config.dataDir, config.gatewaySecret, "bus", "nothing (it is derived again)"),
          }));
    if (!options.store) owned.closers.push(() => store.close());
    const now = options.now ?? Date.now;
    const log = options.log ?? STDERR_LOG;
    // Closers run in reverse: the sweeper stops (waiting for a sweep in flight) before the store closes.
    const sweeper = startStoreSweeper(store, {
      now,
      onError: (error) => log.warn({ err: error }, "store sweep failed (retried at the next tick)"),
      ...(options.sweepEveryMs === undefined ? {} : { everyMs: options.sweepEveryMs }),
    });
    owned.closers.push(() => sweeper.stop());

    const content: ContentStore =
      config.ipfs.kind === "kubo"
        ? await KuboContentStore.create({ url: config.ipfs.kuboUrl!, timeoutMs: config.ipfs.timeoutMs })
        : await HeliaContentStore.create({
            dataDir: join(config.dataDir, "ipfs"),
            timeoutMs: config.ipfs.timeoutMs,
            ...(options.heliaListen ? { listen: options.heliaListen } : {}),
          });
    owned.closers.push(() => content.close());

    const indexer = new ConsentIndexer({
      provider,
      address: contracts.ConsentRegistry,
      startBlock: deployment.deployedAt.block,
      chainId: deployment.chainId,
      confirmations: config.chain.confirmations,
      pollIntervalMs: config.chain.pollIntervalMs,
      staleAfterMs: config.chain.staleAfterMs,
    });
    owned.closers.push(() => indexer.stop());
    await indexer.start({ retryForMs: options.indexerRetryForMs ?? 0 });

    const trust = new TrustRegistryClient(contracts.TrustRegistry, provider);
    const network = ethrNetworkFromDeployment(deployment, config.chain.rpcUrl);
    const resolver = await CachedDidResolver.create({ network, provider });
    owned.closers.push(() => resolver.close());
    // Registry events drop a changed DID's cached document: a rotated or revoked key is not trusted for the
    // cache's TTL (60 s) after the change, only until the next poll.
    await resolver.watchRegistry({ pollingIntervalMs: config.chain.pollIntervalMs });
    const policy = statusListPolicy(config.publicUrl);
    const verifier = new CredentialVerifier({
      resolver,
      trust: new IssuerTrust({
        registry: trust,
        didPrefix: ethrDidPrefix(network),
        cacheTtlMs: config.identity.trustCacheTtlMs,
      }),
      statusListFetcher: fetchStatusList,
      statusListTtlMs: config.identity.statusListTtlMs,
      statusListOrigins: policy.origins,
      statusListHttpHosts: policy.httpHosts,
      challenges: new MemoryChallengeStore(),
    });

    const services: GatewayServices = {
      store,
      chain: {
        provider,
        deployment,
        indexer,
        registry: new ConsentRegistryClient(contracts.ConsentRegistry, provider),
        relayer:
          config.chain.relayerKey === null
            ? null
            : new ConsentRegistryClient(contracts.ConsentRegistry, senderFor(config.chain.relayerKey)),
        trust,
        studies:
          contracts.StudyRegistry === undefined
            ? null
            : new StudyRegistryClient(contracts.StudyRegistry, provider, { fromBlock: deployment.deployedAt.block }),
        anchors:
          config.chain.anchorKey === null
            ? null
            : new AuditAnchorClient(contracts.AuditAnchor, senderFor(config.chain.anchorKey)),
      },
      content,
      verifier,
      resolver,
      now,
    };
    OWNED.set(services, owned);
    return services;
  } catch (error) {
    await runClosers(owned);
    throw error;
  }
}

/**
 * Closes the DID resolver, the indexer, the content store, the store sweeper, the store (when createServices
 * opened it) and the provider, in reverse order of opening. Idempotent; services not built by createServices are
 * left alone.
 */
export function closeServices(services: GatewayServices): Promise<void> {
  const owned = OWNED.get(services);
  if (!owned) return Promise.resolve();
  owned.closing ??= runClosers(owned);
  return owned.closing;
}

async function runClosers(owned: Owned): Promise<void> {
  for (const close of owned.closers.splice(0).reverse()) {
    try {
      await close();
    } catch {
      // Closing is best effort: one part failing to close must not keep the others open.
    }
  }
}
