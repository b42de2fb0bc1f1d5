/**
 * The indexer where a new user and the review broke it: what start() promises a gateway ("started"
 * means "answering", or a typed reason why not), its own requests bounded (a dead node, a contract
 * that is not there, the wrong chain, a node that never answers), and a default-options
 * JsonRpcProvider (ethers' 250 ms request cache on).
 */
import { createServer } from "node:net";
import { expect } from "chai";
import { JsonRpcProvider } from "ethers";
import {
  ChainUnavailableError,
  ConsentIndexer,
  ConsentRegistryClient,
  ContractNotDeployedError,
  IndexerStaleError,
  InvalidInputError,
  WrongChainError,
  type ConsentIndexerOptions,
} from "../src/index.ts";
import { connectProvider, latestTimestamp, startTestChain, walletAt, type TestChain } from "./support/chain.ts";
import { sid } from "./support/scopes.ts";
import { rejection, within } from "./support/settle.ts";
import { startRpcProxy, type RpcProxy } from "./support/rpc-proxy.ts";

/** A loopback URL nothing listens on. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

const patient = walletAt(2);
const clinic = walletAt(3);
const scope = sid(patient, "fhir:Observation");

describe("ConsentIndexer under faults: start(), bounded polls, a default-options provider (anvil)", function () {
  this.timeout(60_000);
  let t: TestChain;
  const open: { destroy(): void }[] = [];
  const proxies: RpcProxy[] = [];
  const indexers: ConsentIndexer[] = [];

  before(async () => {
    t = await startTestChain();
    const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(2));
    await registry.grant({
      grantee: clinic.address,
      scope,
      purpose: "Treatment",
      expiry: (await latestTimestamp(t.provider)) + 3600,
    });
  });
  afterEach(async () => {
    await Promise.all(indexers.splice(0).map((i) => i.stop()));
    for (const provider of open.splice(0)) provider.destroy();
    for (const proxy of proxies.splice(0)) await proxy.close();
  });
  after(async () => t?.stop());

  function indexer(options: Partial<ConsentIndexerOptions> = {}): ConsentIndexer {
    const created = new ConsentIndexer({
      provider: t.provider,
      address: t.deployment.contracts.ConsentRegistry,
      startBlock: t.deployment.deployedAt.block,
      confirmations: 0,
      ...options,
    });
    indexers.push(created);
    return created;
  }

  function provider(url: string, options: { staticNetwork: boolean }): JsonRpcProvider {
    const created = options.staticNetwork ? connectProvider(url) : new JsonRpcProvider(url);
    open.push(created);
    return created;
  }

  /** One request per HTTP call, so a proxy can rewrite each answer. */
  function unbatched(url: string): JsonRpcProvider {
    const created = new JsonRpcProvider(url, undefined, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1 });
    open.push(created);
    return created;
  }

  async function proxy(): Promise<RpcProxy> {
    const started = await startRpcProxy(t.chain.rpcUrl);
    proxies.push(started);
    return started;
  }

  /** Whether the indexer polls again by itself within `ms` (it must not after a failed start). */
  async function pollsWithin(i: ConsentIndexer, ms: number): Promise<boolean> {
    let polled = false;
    const off = [i.on("synced", () => (polled = true)), i.on("pollError", () => (polled = true))];
    await new Promise((resolve) => setTimeout(resolve, ms));
    off.forEach((f) => f());
    return polled;
  }

  it("resolves once caught up: the status it returns is fresh and isAllowed answers", async () => {
    const i = indexer();
    const status = await i.start();
    expect(status.stale).to.equal(false);
    expect(status.syncedBlock).to.equal(await t.provider.getBlockNumber());
    expect(i.isAllowed(patient.address, clinic.address, scope, "Treatment")).to.equal(true);
    expect(await i.start(), "a second start() resolves at once").to.include({ stale: false });
  });

  it("on a dead RPC, rejects with ChainUnavailableError saying why, and leaves nothing polling", async () => {
    const i = indexer({ provider: provider(await deadUrl(), { staticNetwork: true }), pollIntervalMs: 20 });
    const error = await within(rejection(i.start()), 10_000, "start() on a dead RPC");
    expect(error).to.be.instanceOf(ChainUnavailableError);
    expect((error as Error).message).to.match(/cannot reach the chain: ECONNREFUSED/);
    expect(i.status()).to.include({ stale: true, lastError: error });
    expect(() => i.isAllowed(patient.address, clinic.address, scope, "Treatment"))
      .to.throw(IndexerStaleError, /never caught up with the chain; last error: .*ECONNREFUSED/)
      .with.property("cause", error);
    expect(await pollsWithin(i, 200), "no poll after a failed start").to.equal(false);
  });

  it("on a node that never tells its chain id (a plain JsonRpcProvider), rejects within readTimeoutMs", async () => {
    const rpc = await proxy();
    rpc.rules.set("eth_chainId", { hang: true });
    const i = indexer({ provider: provider(rpc.url, { staticNetwork: false }), readTimeoutMs: 300 });
    const started = Date.now();
    const error = await within(rejection(i.start()), 10_000, "start() on a stalled eth_chainId");
    expect(Date.now() - started).to.be.below(3_000);
    expect(error).to.be.instanceOf(ChainUnavailableError);
    expect((error as Error).message).to.match(/did not answer \(its chain id\) within 300 ms/);
  });

  it("on an address without code, rejects with ContractNotDeployedError", async () => {
    const i = indexer({ address: walletAt(9).address });
    const error = await within(rejection(i.start()), 10_000, "start() on an address without code");
    expect(error).to.be.instanceOf(ContractNotDeployedError);
    expect((error as Error).message).to.match(/no ConsentRegistry code at 0x[0-9a-fA-F]{40} on chain 31337/);
  });

  it("on the wrong chain, rejects with WrongChainError naming both chains, and never retries", async () => {
    const i = indexer({ chainId: 1 });
    const error = await within(rejection(i.start({ retryForMs: 5_000 })), 2_000, "start() on the wrong chain");
    expect(error).to.be.instanceOf(WrongChainError).and.include({ actualChainId: 31337, expectedChainId: 1 });
    expect((error as WrongChainError).code).to.equal("WRONG_CHAIN");
    expect((error as Error).message).to.match(
      /the node is on chain 31337, the indexer's chainId option expects chain 1/,
    );
    expect(() => i.isAllowed(patient.address, clinic.address, scope, "Treatment")).to.throw(
      IndexerStaleError,
      /stopped: the node is on chain 31337/,
    );
  });

  it("with retryForMs, keeps trying the first catch-up until the node answers", async () => {
    const rpc = await proxy();
    const primed = provider(rpc.url, { staticNetwork: true });
    await primed.getBlockNumber(); // ethers learns the chain id batched with the first request: not the hung one
    rpc.rules.set("eth_getCode", { hang: true, times: 2 });
    const errors: Error[] = [];
    const i = indexer({ provider: primed, readTimeoutMs: 200, pollIntervalMs: 20 });
    i.on("pollError", ({ error }) => errors.push(error));
    const status = await within(i.start({ retryForMs: 10_000 }), 10_000, "start() with retries");
    expect(status.stale).to.equal(false);
    expect(errors).to.have.length(2);
    expect(errors[0]).to.be.instanceOf(ChainUnavailableError);
    expect(i.isAllowed(patient.address, clinic.address, scope, "Treatment")).to.equal(true);
  });

  it("stop() during a retrying start ends it: start rejects with IndexerStaleError, nothing keeps polling", async () => {
    const i = indexer({ provider: provider(await deadUrl(), { staticNetwork: true }), pollIntervalMs: 50 });
    const starting = rejection(i.start({ retryForMs: 60_000 }));
    await new Promise((resolve) => setTimeout(resolve, 120));
    await within(i.stop(), 2_000, "stop() during start");
    const error = await within(starting, 2_000, "start() after stop()");
    expect(error).to.be.instanceOf(IndexerStaleError);
    expect((error as Error).message).to.match(/stopped before start\(\) caught up/);
    expect(await pollsWithin(i, 200)).to.equal(false);
  });

  it("concurrent start() calls share one catch-up", async () => {
    const i = indexer();
    let synced = 0;
    i.on("synced", () => synced++);
    const [first, second] = await Promise.all([i.start(), i.start()]);
    expect(first).to.deep.equal(second);
    expect(synced).to.equal(1);
  });

  it("refuses a malformed retryForMs or readTimeoutMs", async () => {
    expect(await rejection(indexer().start({ retryForMs: -1 }))).to.be.instanceOf(InvalidInputError);
    expect(() => indexer({ readTimeoutMs: 0 })).to.throw(InvalidInputError, /readTimeoutMs/);
  });

  it("a head the node names but does not serve by number yet (a block being sealed) is waited for, not taken for a reorg", async () => {
    const p = await proxy();
    const head = await t.provider.getBlockNumber();
    let refused = 0;
    // Six by-number reads of the head answer null, as a node under load did right after naming it as "latest".
    p.rules.set("eth_getBlockByNumber", {
      rewrite: (result, params) => {
        const tag = Array.isArray(params) ? params[0] : undefined;
        if (tag === `0x${head.toString(16)}` && refused < 6) {
          refused += 1;
          return null;
        }
        return result;
      },
    });
    const i = indexer({ provider: unbatched(p.url), reorgWindow: 64 });
    await i.start();
    expect(refused).to.equal(6);
    expect(i.status().syncedBlock).to.be.at.least(head);
    expect(i.isAllowed(patient.address, clinic.address, scope, "Treatment")).to.equal(true);
  });

  it("starting at block 1, links it to whatever genesis the node serves (anvil reloaded from a state file may serve another)", async () => {
    const p = await proxy();
    // Block 0 as a restarted anvil served it: not the block that block 1 names as its parent.
    p.rules.set("eth_getBlockByNumber", {
      rewrite: (result, params) =>
        Array.isArray(params) && params[0] === "0x0" && result !== null && typeof result === "object"
          ? { ...result, hash: `0x${"ab".repeat(32)}` }
          : result,
    });
    const i = indexer({ provider: unbatched(p.url), startBlock: 1, reorgWindow: 64 });
    await within(i.start(), 10_000, "start() from block 1");
    expect(i.status().syncedBlock).to.equal(await t.provider.getBlockNumber());
    expect(i.isAllowed(patient.address, clinic.address, scope, "Treatment")).to.equal(true);
  });

  it("a poll the node never answers fails after readTimeoutMs: stale with that reason, fresh after the next poll", async () => {
    const rpc = await proxy();
    const i = indexer({ provider: provider(rpc.url, { staticNetwork: true }), readTimeoutMs: 300 });
    await i.sync();
    rpc.rules.set("eth_getBlockByNumber", { hang: true, times: 1 });
    const started = Date.now();
    const error = await within(rejection(i.sync()), 10_000, "a poll on a node that never answers");
    expect(Date.now() - started).to.be.below(3_000);
    expect(error).to.be.instanceOf(ChainUnavailableError);
    expect((error as Error).message).to.match(/the chain node did not answer \(block latest\) within 300 ms/);
    expect(i.status()).to.include({ stale: true, lastError: error });
    expect(() => i.isAllowed(patient.address, clinic.address, scope, "Treatment")).to.throw(
      IndexerStaleError,
      /the last poll failed: .*did not answer \(block latest\) within 300 ms/,
    );
    await within(i.sync(), 10_000, "the poll after");
    expect(i.isAllowed(patient.address, clinic.address, scope, "Treatment")).to.equal(true);
  });

  it("a running indexer whose node stops answering goes stale by itself within readTimeoutMs + a poll", async () => {
    const rpc = await proxy();
    const i = indexer({ provider: provider(rpc.url, { staticNetwork: true }), readTimeoutMs: 300, pollIntervalMs: 50 });
    await i.start();
    rpc.rules.set("eth_getBlockByNumber", { hang: true });
    const failed = new Promise<Error>((resolve) => i.on("pollError", ({ error }) => resolve(error)));
    const error = await within(failed, 5_000, "the polling loop's failure");
    expect(error).to.be.instanceOf(ChainUnavailableError);
    expect(i.status().staleReason).to.match(/the last poll failed: .*within 300 ms/);
    rpc.rules.delete("eth_getBlockByNumber");
    const synced = new Promise<void>((resolve) => i.on("synced", () => resolve()));
    await within(synced, 5_000, "recovery once the node answers again");
    expect(i.status().stale).to.equal(false);
  });

  it("on a default-options JsonRpcProvider, sync() right after a revoke was mined sees the revoke", async () => {
    const plain = new JsonRpcProvider(t.chain.rpcUrl); // ethers' request cache on (250 ms), network detected
    open.push(plain);
    const i = indexer({ provider: plain });
    const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(2));
    const key = [patient.address, walletAt(5).address, sid(patient, "fhir:Condition"), "Treatment"] as const;
    for (let round = 0; round < 5; round++) {
      await registry.grant({
        grantee: walletAt(5).address,
        scope: sid(patient, "fhir:Condition"),
        purpose: "Treatment",
        expiry: (await latestTimestamp(t.provider)) + 3600,
      });
      await i.sync();
      expect(i.isAllowed(...key), `round ${round}: granted`).to.equal(true);
      await registry.revoke({
        grantee: walletAt(5).address,
        scope: sid(patient, "fhir:Condition"),
        purpose: "Treatment",
      });
      await i.sync(); // within 250 ms of the last poll: a cached "latest" would predate the revoke
      expect(i.isAllowed(...key), `round ${round}: revoked`).to.equal(false);
    }
  });
});

describe("ConsentIndexer on a chain that was reset under it (anvil)", function () {
  this.timeout(60_000);
  let t: TestChain;
  after(async () => t?.stop());

  it("is stale, naming the missing registry, instead of answering from an empty index", async () => {
    t = await startTestChain();
    const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(2));
    await registry.grant({
      grantee: clinic.address,
      scope,
      purpose: "Treatment",
      expiry: (await latestTimestamp(t.provider)) + 3600,
    });
    const indexer = new ConsentIndexer({
      provider: t.provider,
      address: t.deployment.contracts.ConsentRegistry,
      startBlock: t.deployment.deployedAt.block,
      confirmations: 0,
      pollIntervalMs: 60_000,
    });
    try {
      await indexer.start();
      expect(indexer.isAllowed(patient.address, clinic.address, scope, "Treatment")).to.equal(true);
      // A fresh chain behind the same URL: genesis again, no contracts, a few new blocks.
      await t.provider.send("anvil_reset", []);
      for (let i = 0; i < 3; i++) await t.provider.send("evm_mine", []);
      const error = await rejection(indexer.sync());
      expect(error).to.be.instanceOf(ContractNotDeployedError);
      expect(() => indexer.isAllowed(patient.address, clinic.address, scope, "Treatment")).to.throw(IndexerStaleError);
      expect(indexer.status().stale).to.equal(true);
    } finally {
      await indexer.stop();
    }
  });
});
