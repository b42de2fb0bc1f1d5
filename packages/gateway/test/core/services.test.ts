// createServices builds the real services from a configuration and leaves nothing half-built when a part
// fails; closeServices releases everything (the data dir can be opened again at once).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { Contract } from "ethers";
import { startLocalDeployment, writeDeployment, type LocalDeployment } from "@hygeia/chain";
import { ethrDidPrefix, ethrNetworkFromDeployment } from "@hygeia/identity";
import { createServer, type Server } from "node:http";
import {
  MAX_STATUS_LIST_BYTES,
  closeServices,
  createServices,
  fetchStatusList,
  statusListPolicy,
} from "../../src/services.ts";
import { openSqliteStore } from "../../src/store/sqlite/index.ts";
import { ACCOUNT_INDEXES, testConfig } from "../support/stack.ts";

describe("createServices", function () {
  let local: LocalDeployment;
  let root: string;
  let deploymentFile: string;
  before(async function () {
    local = await startLocalDeployment({ gatewayAccounts: [ACCOUNT_INDEXES.gateway] });
    root = await mkdtemp(join(tmpdir(), "hygeia-services-"));
    deploymentFile = join(root, "deployment.json");
    await writeDeployment(deploymentFile, local.deployment);
  });
  after(async function () {
    await local?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  function config(name: string, rpcUrl = local.rpcUrl) {
    return testConfig({
      rpcUrl,
      deploymentFile,
      dataDir: join(root, name),
      port: 8787,
      gatewayKey: local.account(ACCOUNT_INDEXES.gateway).privateKey,
      confirmations: 0,
    });
  }

  it("builds the chain clients, IPFS, the store and the verifier, and closeServices releases the data dir", async function () {
    const cfg = config("ok");
    const services = await createServices(cfg, { heliaListen: [] });
    expect(services.chain.deployment).to.deep.equal(local.deployment);
    expect(services.chain.indexer.status().stale).to.equal(false);
    // One sender for the relayer and the anchor key: the same account must not have two nonce counters.
    expect(services.chain.relayer!.sender).to.equal(services.chain.anchors!.sender);
    const { cid } = await services.content.put(new TextEncoder().encode("ciphertext"));
    expect(await services.content.has(cid)).to.equal(true);
    await closeServices(services);
    await closeServices(services); // idempotent
    const reopened = await openSqliteStore(cfg.dataDir);
    await reopened.close();
  });

  it("sweeps expired rows from the store on a timer while the services run", async function () {
    const services = await createServices(config("sweep"), { heliaListen: [], sweepEveryMs: 50 });
    try {
      const now = Date.now();
      await services.store.putNonce({ nonce: "expired-nonce-0001", expiresAt: now - 1 });
      await new Promise((resolve) => setTimeout(resolve, 400));
      // The sweeper already removed it: a sweep now finds nothing left.
      expect(await services.store.sweep(Date.now())).to.equal(0);
    } finally {
      await closeServices(services);
    }
  });

  it("exposes its DID resolver, which sees an owner change on the DID registry within a poll (not the 60 s cache)", async function () {
    const services = await createServices(config("resolver"), { heliaListen: [] });
    try {
      const network = ethrNetworkFromDeployment(local.deployment, local.rpcUrl);
      const alice = local.account(ACCOUNT_INDEXES.alice);
      const bob = local.account(ACCOUNT_INDEXES.bob).address.toLowerCase();
      const did = `${ethrDidPrefix(network)}:${alice.address.toLowerCase()}`;
      expect(JSON.stringify(await services.resolver.resolve(did)).toLowerCase()).not.to.include(bob);
      const registry = new Contract(
        network.registry,
        ["function changeOwner(address identity, address newOwner)"],
        alice.connect(local.provider),
      );
      await (await registry.getFunction("changeOwner")(alice.address, bob)).wait();
      const deadline = Date.now() + 10_000;
      for (;;) {
        const document = JSON.stringify(await services.resolver.resolve(did)).toLowerCase();
        if (document.includes(bob)) break;
        if (Date.now() > deadline) throw new Error("the cached document never saw the owner change");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await closeServices(services);
    }
  });

  it("closes what it opened when the chain does not answer, leaving the data dir free", async function () {
    const cfg = config("no-chain", "http://127.0.0.1:9");
    let failure: unknown;
    try {
      await createServices(cfg, { heliaListen: [] });
    } catch (error) {
      failure = error;
    }
    expect((failure as { code?: string }).code).to.be.oneOf(["CHAIN_UNAVAILABLE", "CHAIN_REQUEST_FAILED"]);
    const reopened = await openSqliteStore(cfg.dataDir);
    await reopened.close();
  });

  it("refuses a missing deployment file before opening anything", async function () {
    const cfg = {
      ...config("no-deployment"),
      chain: { ...config("x").chain, deploymentFile: join(root, "nope.json") },
    };
    let failure: unknown;
    try {
      await createServices(cfg, { heliaListen: [] });
    } catch (error) {
      failure = error;
    }
    expect(failure).to.be.instanceOf(Error);
    expect((failure as Error).message).to.include("nope.json");
  });

  it("lets the verifier fetch status lists only from this gateway's origin, over http only when that origin is http", function () {
    expect(statusListPolicy("http://127.0.0.1:8787")).to.deep.equal({
      origins: ["http://127.0.0.1:8787"],
      httpHosts: ["127.0.0.1"],
    });
    expect(statusListPolicy("https://gateway.example")).to.deep.equal({
      origins: ["https://gateway.example"],
      httpHosts: [],
    });
  });

  it("fetches a status list as text, and refuses redirects, errors and oversized answers", async function () {
    const server: Server = createServer((req, res) => {
      if (req.url === "/list") res.end("eyJhbGciOiJFUzI1NksifQ.e30.sig");
      else if (req.url === "/redirect") res.writeHead(302, { location: "/list" }).end();
      else if (req.url === "/huge") res.end(Buffer.alloc(MAX_STATUS_LIST_BYTES + 1, 0x41));
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      expect(await fetchStatusList(`${base}/list`)).to.equal("eyJhbGciOiJFUzI1NksifQ.e30.sig");
      for (const path of ["/redirect", "/missing", "/huge"]) {
        let failed = false;
        await fetchStatusList(base + path).catch(() => (failed = true));
        expect(failed, path).to.equal(true);
      }
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
