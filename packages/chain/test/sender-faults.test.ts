/**
 * The sender and the clients where the review broke them: a default-options JsonRpcProvider
 * (ethers' 250 ms request cache on), a node that stalls on one method, several senders on one
 * account, an unfunded account, errors nobody mapped.
 */
import { expect } from "chai";
import { JsonRpcProvider, NonceManager } from "ethers";
import {
  ChainRequestError,
  ChainUnavailableError,
  ConsentIndexer,
  ConsentRegistryClient,
  ContractRevertError,
  HygeiaChainError,
  InsufficientFundsError,
  InvalidInputError,
  NonceConflictError,
  TransactionSender,
  isDeployed,
  type ConsentTx,
} from "../src/index.ts";
import { connectProvider, latestTimestamp, startTestChain, walletAt, type TestChain } from "./support/chain.ts";
import { scopesOf, sid } from "./support/scopes.ts";
import { rejection, within } from "./support/settle.ts";
import { startRpcProxy, type RpcProxy } from "./support/rpc-proxy.ts";

describe("TransactionSender and clients under faults (anvil)", function () {
  this.timeout(60_000);
  let t: TestChain;
  const grantee = (i: number) => walletAt(10 + (i % 5)).address;
  const open: { destroy(): void }[] = [];
  const proxies: RpcProxy[] = [];

  before(async () => {
    t = await startTestChain();
  });
  afterEach(async () => {
    for (const provider of open.splice(0)) provider.destroy();
    for (const proxy of proxies.splice(0)) await proxy.close();
  });
  after(async () => t?.stop());

  /** What users write: `new JsonRpcProvider(url)`, every option at its default (cache on, network detected). */
  function defaultProvider(url = t.chain.rpcUrl): JsonRpcProvider {
    const provider = new JsonRpcProvider(url);
    open.push(provider);
    return provider;
  }

  async function proxy(): Promise<RpcProxy> {
    const started = await startRpcProxy(t.chain.rpcUrl);
    proxies.push(started);
    return started;
  }

  async function expiry(): Promise<number> {
    return (await latestTimestamp(t.provider)) + 3600;
  }

  describe("on a default-options JsonRpcProvider", () => {
    it("sequential writes through a NonceManager all mine with consecutive nonces, and the manager stays in step", async () => {
      // The manager's own count comes through ethers' cache: reused, it gave NONCE_EXPIRED every other write.
      const manager = new NonceManager(walletAt(2).connect(defaultProvider()));
      const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, manager);
      const until = await expiry();
      const first = await t.provider.getTransactionCount(walletAt(2).address, "pending");
      const nonces: number[] = [];
      for (let i = 0; i < 12; i++) {
        const granted = await registry.grant({
          grantee: grantee(i),
          scope: sid(walletAt(2), "fhir:Patient"),
          purpose: "Treatment",
          expiry: until + i,
        });
        nonces.push(granted.nonce);
      }
      expect(nonces).to.deep.equal(Array.from({ length: 12 }, (_, i) => first + i));
      const direct = await within(
        manager.sendTransaction({ to: walletAt(9).address, value: 1n }),
        10_000,
        "a direct NonceManager send",
      );
      expect(direct.nonce).to.equal(first + 12);
      expect((await direct.wait())?.status).to.equal(1);
    });

    it("a break-glass refused in simulation succeeds right after the registration that makes it valid", async () => {
      // ethers shares an identical eth_estimateGas for 250 ms, including its revert.
      const patient = new ConsentRegistryClient(
        t.deployment.contracts.ConsentRegistry,
        walletAt(3).connect(defaultProvider()),
      );
      const doctor = new ConsentRegistryClient(
        t.deployment.contracts.ConsentRegistry,
        walletAt(6).connect(defaultProvider()),
      );
      // A one-scope registration: its root is the leaf, the proof empty.
      const breakGlass = () =>
        doctor.breakGlass(walletAt(3).address, sid(walletAt(3), "fhir:Condition"), { proof: [] });
      const refused = await rejection(breakGlass());
      expect(refused).to.be.instanceOf(ContractRevertError);
      await patient.setEmergencyGrantee(walletAt(6).address, {
        maxDurationSeconds: 600,
        scopes: [sid(walletAt(3), "fhir:Condition")],
      });
      const opened = await breakGlass();
      expect(opened.events[0]).to.include({ type: "EmergencyAccess" });
    });

    it('a record-access check right after a revoke was mined sees the revoke ("latest" is not a cached block)', async () => {
      // The patient writes through its own provider; a gateway checks through a default-options one.
      const patient = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(4));
      const gateway = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, defaultProvider());
      const slot = { grantee: grantee(1), scope: sid(walletAt(4), "category:laboratory"), purpose: "Treatment" };
      const query = {
        patient: walletAt(4).address,
        grantee: grantee(1),
        record: {
          scopeIds: scopesOf(walletAt(4)).forRecord({ resourceType: "Observation", categories: ["laboratory"] }),
        },
        purpose: "Treatment",
      };
      await patient.grant({ ...slot, expiry: await expiry() });
      expect(await gateway.checkRecordAccess(query)).to.include({ allowed: true });
      await patient.revoke(slot);
      expect(await gateway.checkRecordAccess(query)).to.include({ allowed: false });
    });

    it("a transaction mined between two polls is not mistaken for a replaced one", async () => {
      const rpc = await proxy();
      const sender = new TransactionSender(walletAt(5).connect(defaultProvider(rpc.url)), { pollIntervalMs: 50 });
      const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, sender);
      const until = await expiry();
      await registry.grant({
        grantee: grantee(2),
        scope: sid(walletAt(5), "fhir:Encounter"),
        purpose: 1,
        expiry: until,
      }); // warm up
      await t.provider.send("evm_setAutomine", [false]);
      try {
        // After the first "no receipt yet", the block comes; the account's count is read after it.
        let mined: Promise<unknown> | undefined;
        rpc.events.on("answered", (methods: string[]) => {
          if (!mined && methods.includes("eth_getTransactionReceipt")) mined = t.provider.send("evm_mine", []);
        });
        rpc.rules.set("eth_getTransactionCount", { delayMs: 100 });
        const granted = await within(
          registry.grant({ grantee: grantee(3), scope: sid(walletAt(5), "fhir:Encounter"), purpose: 1, expiry: until }),
          10_000,
          "a write mined between two polls",
        );
        await mined;
        expect((await t.provider.getTransactionReceipt(granted.hash))?.status).to.equal(1);
      } finally {
        await t.provider.send("evm_setAutomine", [true]);
      }
    });
  });

  describe("a node that stalls on one method", () => {
    /** A provider through the proxy, already past ethers' network detection. */
    async function stalling(): Promise<{ rpc: RpcProxy; provider: JsonRpcProvider }> {
      const rpc = await proxy();
      const provider = connectProvider(rpc.url);
      open.push(provider);
      await provider.getBlockNumber();
      return { rpc, provider };
    }

    it("a nonce read the node never answers fails the write within sendTimeoutMs with nothing sent; the next write mines", async () => {
      const { rpc, provider } = await stalling();
      const sender = new TransactionSender(walletAt(6).connect(provider), { sendTimeoutMs: 1_000 });
      const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, sender);
      const until = await expiry();
      const before = await t.provider.getTransactionCount(walletAt(6).address, "pending");
      rpc.rules.set("eth_getTransactionCount", { hang: true, times: 1 });
      const started = Date.now();
      const error = await within(
        rejection(
          registry.grant({ grantee: grantee(0), scope: sid(walletAt(6), "fhir:Procedure"), purpose: 1, expiry: until }),
        ),
        10_000,
        "a write whose nonce read stalls",
      );
      expect(Date.now() - started).to.be.below(3_000);
      expect(error).to.be.instanceOf(ChainUnavailableError);
      expect((error as Error).message).to.match(/did not tell the account's nonce within 1000 ms; nothing was sent/);
      expect(await t.provider.getTransactionCount(walletAt(6).address, "pending")).to.equal(before);
      const next = await within(
        registry.grant({ grantee: grantee(1), scope: sid(walletAt(6), "fhir:Procedure"), purpose: 1, expiry: until }),
        10_000,
        "the write after a stalled nonce read",
      );
      expect(next.nonce).to.equal(before);
    });

    it("a view call the node never answers gives ChainUnavailableError within readTimeoutMs; the next read answers", async () => {
      const { rpc, provider } = await stalling();
      const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, provider, {
        readTimeoutMs: 500,
      });
      const key = {
        patient: walletAt(2).address,
        grantee: grantee(0),
        scope: sid(walletAt(2), "fhir:Patient"),
        purpose: "Treatment",
      };
      expect(await registry.isAllowed(key)).to.equal(true); // deployment checked, nothing stalls yet
      rpc.rules.set("eth_call", { hang: true, times: 1 });
      const started = Date.now();
      const error = await within(rejection(registry.isAllowed(key)), 10_000, "a stalled view call");
      expect(Date.now() - started).to.be.below(2_000);
      expect(error).to.be.instanceOf(ChainUnavailableError);
      expect((error as Error).message).to.match(
        /ConsentRegistry\.isAllowed: the chain node did not answer within 500 ms/,
      );
      expect(await within(registry.isAllowed(key), 10_000, "the read after")).to.equal(true);
    });

    it("one stalled deployment check does not hold up the client's next call", async () => {
      const { rpc, provider } = await stalling();
      const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, provider, {
        readTimeoutMs: 500,
      });
      rpc.rules.set("eth_getCode", { hang: true, times: 1 });
      const key = {
        patient: walletAt(2).address,
        grantee: grantee(0),
        scope: sid(walletAt(2), "fhir:Patient"),
        purpose: "Treatment",
      };
      const error = await within(rejection(registry.isAllowed(key)), 10_000, "a read whose deployment check stalls");
      expect(error).to.be.instanceOf(ChainUnavailableError);
      expect((error as Error).message).to.match(/deployment check: the chain node did not answer within 500 ms/);
      expect(await within(registry.isAllowed(key), 5_000, "the read after a stalled deployment check")).to.equal(true);
    });

    it("a chain id the node never tells gives ChainUnavailableError within the read bound (domain, isDeployed)", async () => {
      const rpc = await proxy();
      rpc.rules.set("eth_chainId", { hang: true });
      const provider = defaultProvider(rpc.url); // detects its network with eth_chainId
      const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, provider, {
        readTimeoutMs: 500,
      });
      const started = Date.now();
      const domain = await within(rejection(registry.domain()), 10_000, "domain() on a stalled eth_chainId");
      expect(domain).to.be.instanceOf(ChainUnavailableError);
      const deployed = await within(
        rejection(isDeployed(provider, t.deployment, { readTimeoutMs: 500 })),
        10_000,
        "isDeployed on a stalled eth_chainId",
      );
      expect(deployed).to.be.instanceOf(ChainUnavailableError);
      expect(Date.now() - started).to.be.below(3_000);
    });

    it("validates readTimeoutMs", () => {
      expect(
        () => new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.provider, { readTimeoutMs: 0 }),
      ).to.throw(InvalidInputError, /readTimeoutMs/);
    });

    it("refuses timeouts longer than a timer can wait (Node fires those after 1 ms), everywhere", async () => {
      const tooLong = 3_000_000_000; // ≈ 35 days: setTimeout would fire at once
      expect(
        () => new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.provider, { readTimeoutMs: tooLong }),
      ).to.throw(InvalidInputError, /readTimeoutMs: .*from 1 to 2147483647/);
      expect(() => new TransactionSender(t.signer(2), { sendTimeoutMs: tooLong })).to.throw(
        InvalidInputError,
        /sendTimeoutMs/,
      );
      expect(
        () =>
          new ConsentIndexer({
            provider: t.provider,
            address: t.deployment.contracts.ConsentRegistry,
            readTimeoutMs: tooLong,
          }),
      ).to.throw(InvalidInputError, /readTimeoutMs/);
      expect(await rejection(isDeployed(t.provider, t.deployment, { readTimeoutMs: tooLong })))
        .to.be.instanceOf(InvalidInputError)
        .with.property("field", "readTimeoutMs");
    });
  });

  describe("typed errors only", () => {
    it("a write from an account without ETH gives InsufficientFundsError naming the account; nothing is sent", async () => {
      const broke = walletAt(30);
      const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, broke.connect(t.provider));
      const error = await rejection(
        registry.grant({
          grantee: grantee(0),
          scope: sid(walletAt(30), "fhir:Patient"),
          purpose: 1,
          expiry: await expiry(),
        }),
      );
      expect(error).to.be.instanceOf(InsufficientFundsError);
      const funds = error as InsufficientFundsError;
      expect(funds.code).to.equal("INSUFFICIENT_FUNDS");
      expect(funds.address).to.equal(broke.address);
      expect(funds.message).to.include(`Fund ${broke.address} (for a relayer: its hot wallet)`);
      expect(await t.provider.getTransactionCount(broke.address, "pending")).to.equal(0);
    });

    it("writes from several senders of one account (one provider each) all mine: taken nonces are retried", async () => {
      const address = t.deployment.contracts.ConsentRegistry;
      const until = await expiry();
      const writes: Promise<ConsentTx>[] = [];
      for (let s = 0; s < 5; s++) {
        const registry = new ConsentRegistryClient(address, walletAt(7).connect(connectProvider(t.chain.rpcUrl)));
        open.push(registry.provider as JsonRpcProvider);
        for (let i = 0; i < 8; i++) {
          const purpose = (s * 8 + i) % 2 ? "Research" : "Treatment";
          writes.push(
            registry.grant({
              grantee: grantee(s),
              scope: sid(walletAt(7), "category:laboratory"),
              purpose,
              expiry: until + s * 8 + i,
            }),
          );
        }
      }
      const settled = await within(Promise.allSettled(writes), 50_000, "40 writes from 5 senders of one account");
      const failures = settled.flatMap((o) => (o.status === "rejected" ? [o.reason as unknown] : []));
      for (const failure of failures) expect(failure).to.be.instanceOf(HygeiaChainError);
      expect(failures).to.deep.equal([]);
      const nonces = settled.map((o) => (o as PromiseFulfilledResult<ConsentTx>).value.nonce);
      expect(new Set(nonces).size).to.equal(40);
    });

    it("a pinned nonce that is already used gives NonceConflictError; nothing is sent", async () => {
      const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(8));
      const granted = await registry.grant({
        grantee: grantee(0),
        scope: sid(walletAt(8), "fhir:Specimen"),
        purpose: "Treatment",
        expiry: await expiry(),
      });
      const error = await rejection(
        registry.grant(
          { grantee: grantee(1), scope: sid(walletAt(8), "fhir:Specimen"), purpose: 1, expiry: await expiry() },
          { nonce: granted.nonce },
        ),
      );
      expect(error).to.be.instanceOf(NonceConflictError);
      expect((error as NonceConflictError).code).to.equal("NONCE_CONFLICT");
      expect((error as NonceConflictError).nonce).to.equal(granted.nonce);
      expect((error as Error).message).to.match(/nothing was sent by this call/);
    });

    it("an error the package does not recognize comes out as ChainRequestError with the original as cause", async () => {
      const rpc = await proxy();
      const provider = connectProvider(rpc.url);
      open.push(provider);
      const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, walletAt(8).connect(provider));
      rpc.rules.set("eth_sendRawTransaction", {
        error: { code: -32000, message: "the node is in a strange mood" },
        times: 1,
      });
      const error = await rejection(
        registry.grant({
          grantee: grantee(2),
          scope: sid(walletAt(8), "fhir:Specimen"),
          purpose: 1,
          expiry: await expiry(),
        }),
      );
      expect(error).to.be.instanceOf(ChainRequestError);
      expect((error as ChainRequestError).code).to.equal("CHAIN_REQUEST_FAILED");
      expect((error as ChainRequestError).operation).to.equal("ConsentRegistry.grant");
      expect((error as Error).cause).to.be.instanceOf(Error);
      expect((error as Error).message).to.match(/strange mood|could not coalesce/);
    });
  });
});
