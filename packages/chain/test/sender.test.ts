import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { NonceManager, parseEther } from "ethers";
import {
  ChainUnavailableError,
  ConsentRegistryClient,
  ContractRevertError,
  InvalidInputError,
  TransactionSender,
  TransactionTimeoutError,
  deployHygeia,
  signGrant,
  isDeployed,
  startLocalChain,
  type TxOutcome,
} from "../src/index.ts";
import { connectProvider, latestTimestamp, startTestChain, walletAt, type TestChain } from "./support/chain.ts";
import { sid } from "./support/scopes.ts";
import { rejection, within } from "./support/settle.ts";

describe("TransactionSender (anvil)", function () {
  this.timeout(60_000);
  let t: TestChain;
  const grantee = (i: number) => walletAt(10 + (i % 5)).address; // accounts without funds are fine as grantees

  before(async () => {
    t = await startTestChain();
  });
  after(async () => t?.stop());

  async function expiry(): Promise<number> {
    return (await latestTimestamp(t.provider)) + 3600;
  }

  async function nonceOf(index: number): Promise<number> {
    return t.provider.getTransactionCount(walletAt(index).address, "pending");
  }

  it("a write that reverts in simulation takes no nonce, so the next write through a NonceManager settles", async () => {
    // The README used to recommend NonceManager: it consumed a nonce on the revert and the next
    // write waited forever behind the gap.
    const registry = new ConsentRegistryClient(
      t.deployment.contracts.ConsentRegistry,
      new NonceManager(walletAt(2).connect(t.provider)),
    );
    const before = await nonceOf(2);
    // Breaking the glass without being registered reverts (NotEmergencyGrantee).
    const reverted = await rejection(registry.breakGlass(grantee(0), sid(grantee(0), "fhir:Patient"), { proof: [] }));
    expect(reverted).to.be.instanceOf(ContractRevertError);
    expect((reverted as ContractRevertError).errorName).to.equal("NotEmergencyGrantee");
    expect((reverted as ContractRevertError).transactionHash, "a simulation sends nothing").to.equal(undefined);
    const granted = await within(
      registry.grant({
        grantee: grantee(0),
        scope: sid(walletAt(2), "fhir:Patient"),
        purpose: 1,
        expiry: await expiry(),
      }),
      10_000,
      "the write after a reverted one",
    );
    expect(granted.nonce).to.equal(before);
    expect(granted.events[0]).to.include({ type: "ConsentGranted" });
  });

  it("a transaction mined as a revert is a ContractRevertError carrying its transactionHash", async () => {
    const relayer = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, walletAt(5).connect(t.provider));
    const patient = walletAt(6);
    const now = await latestTimestamp(t.provider);
    const next = await relayer.nextGrantTypedData({
      patient: patient.address,
      grantee: grantee(2),
      scope: sid(patient, "fhir:Condition"),
      purpose: "Treatment",
      expiry: now + 3600,
      deadline: now + 600,
    });
    const signed = await signGrant(patient, next.domain, { ...next.message, patient: patient.address });
    await t.provider.send("evm_setAutomine", [false]);
    let outcome: unknown;
    let relayedHash: string | undefined;
    try {
      const relayed = relayer.grantBySig(signed).then(
        () => undefined,
        (error: unknown) => error,
      );
      // The relayer's transaction waits in the pool; the same signed grant, sent by another account with a higher
      // tip, is mined first, so the relayer's (simulated fine) reverts on inclusion.
      const deadline = Date.now() + 30_000;
      let pooled: { hash: string; input: string } | undefined;
      while (pooled === undefined) {
        if (Date.now() > deadline) throw new Error("the relayer's transaction never reached the pool");
        const content = (await t.provider.send("txpool_content", [])) as {
          pending: Record<string, Record<string, { hash: string; input: string }>>;
        };
        const mine = Object.entries(content.pending).find(
          ([from]) => from.toLowerCase() === walletAt(5).address.toLowerCase(),
        );
        pooled = mine ? Object.values(mine[1])[0] : undefined;
        if (pooled === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      relayedHash = pooled.hash;
      const fees = await t.provider.getFeeData();
      await walletAt(7)
        .connect(t.provider)
        .sendTransaction({
          to: t.deployment.contracts.ConsentRegistry,
          data: pooled.input,
          gasLimit: 500_000n,
          maxPriorityFeePerGas: (fees.maxPriorityFeePerGas ?? 1n) * 100n,
          maxFeePerGas: (fees.maxFeePerGas ?? 1n) * 100n,
        });
      await t.provider.send("evm_mine", []);
      outcome = await relayed;
    } finally {
      await t.provider.send("evm_setAutomine", [true]);
    }
    expect(outcome).to.be.instanceOf(ContractRevertError);
    const revert = outcome as ContractRevertError;
    expect(revert.transactionHash?.toLowerCase()).to.equal(relayedHash!.toLowerCase());
    expect(String(revert.args["transactionHash"]).toLowerCase()).to.equal(relayedHash!.toLowerCase());
    expect((await t.provider.getTransactionReceipt(relayedHash!))?.status).to.equal(0);
  });

  it("a NonceManager the caller also uses directly stays in step with the sender", async () => {
    const manager = new NonceManager(walletAt(3).connect(t.provider));
    const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, manager);
    await (await manager.sendTransaction({ to: walletAt(9).address, value: 1n })).wait();
    const granted = await registry.grant({
      grantee: grantee(1),
      scope: sid(walletAt(3), "fhir:Patient"),
      purpose: 1,
      expiry: await expiry(),
    });
    await rejection(registry.breakGlass(grantee(2), sid(grantee(2), "fhir:Patient"), { proof: [] }));
    const direct = await within(
      manager.sendTransaction({ to: walletAt(9).address, value: 1n }).then((tx) => tx.wait()),
      10_000,
      "a direct NonceManager send",
    );
    expect(direct?.status).to.equal(1);
    expect((await t.provider.getTransaction(direct!.hash))!.nonce).to.equal(granted.nonce + 1);
  });

  it("concurrent writes from one account all mine, with consecutive nonces in call order; a revert in between leaves no gap", async () => {
    const address = t.deployment.contracts.ConsentRegistry;
    // Two clients over two Signer objects of the same account share one nonce lane.
    const a = new ConsentRegistryClient(address, t.signer(4));
    const b = new ConsentRegistryClient(address, t.signer(4));
    const first = await nonceOf(4);
    const until = await expiry();
    const writes: Promise<TxOutcome<unknown>>[] = [];
    for (let i = 0; i < 16; i++) {
      const client = i % 2 === 0 ? a : b;
      writes.push(
        client.grant({
          grantee: grantee(i),
          scope: sid(walletAt(4), "category:laboratory"),
          purpose: i % 2 ? "Research" : "Treatment",
          expiry: until + i,
        }),
      );
      if (i === 7) {
        const failing = b.breakGlass(grantee(i), sid(grantee(i), "category:imaging"), { proof: [] });
        writes.push(
          failing.then(
            () => expect.fail("break-glass by an unregistered grantee"),
            () => ({ nonce: -1 }) as TxOutcome<unknown>,
          ),
        );
      }
    }
    const outcomes = await within(Promise.all(writes), 30_000, "16 concurrent writes");
    const nonces = outcomes.map((o) => o.nonce).filter((n) => n !== -1);
    expect(nonces).to.deep.equal(Array.from({ length: 16 }, (_, i) => first + i));
    expect(await nonceOf(4)).to.equal(first + 16);
    for (const outcome of outcomes.filter((o) => o.nonce !== -1)) {
      expect((await t.provider.getTransactionReceipt(outcome.hash))?.status).to.equal(1);
    }
  });

  it("a transaction that is not mined in time raises TransactionTimeoutError with its hash and nonce; the next write follows it", async () => {
    const sender = new TransactionSender(t.signer(5), { inclusionTimeoutMs: 1_500, pollIntervalMs: 100 });
    const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, sender);
    const until = await expiry();
    const nonce = await nonceOf(5);
    await t.provider.send("evm_setAutomine", [false]);
    let error: unknown;
    const started = Date.now();
    try {
      error = await within(
        rejection(
          registry.grant({
            grantee: grantee(0),
            scope: sid(walletAt(5), "fhir:Observation"),
            purpose: 1,
            expiry: until,
          }),
        ),
        10_000,
        "a write on a chain that does not mine",
      );
    } finally {
      await t.provider.send("evm_setAutomine", [true]);
    }
    expect(Date.now() - started).to.be.below(4_000);
    expect(error).to.be.instanceOf(TransactionTimeoutError);
    const timeout = error as TransactionTimeoutError;
    expect(timeout.code).to.equal("TX_TIMEOUT");
    expect(timeout.phase).to.equal("inclusion");
    expect(timeout.nonce).to.equal(nonce);
    expect(timeout.hash).to.match(/^0x[0-9a-f]{64}$/);
    expect(timeout.message).to.include(`It may still be mined: check ${timeout.hash}`);

    // The stuck transaction is still in the node's pool: once a block comes, it is mined ...
    await t.provider.send("evm_mine", []);
    expect((await t.provider.getTransactionReceipt(timeout.hash!))?.status).to.equal(1);
    // ... and the sender, resynchronized from the chain, sends the next write right after it.
    const next = await within(
      registry.grant({ grantee: grantee(1), scope: sid(walletAt(5), "fhir:Observation"), purpose: 1, expiry: until }),
      10_000,
      "the write after a timeout",
    );
    expect(next.nonce).to.equal(nonce + 1);
  });

  it("after a timed-out transaction is dropped by the node, the next write reuses its nonce", async () => {
    const sender = new TransactionSender(t.signer(6), { inclusionTimeoutMs: 1_000, pollIntervalMs: 100 });
    const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, sender);
    const until = await expiry();
    const nonce = await nonceOf(6);
    await t.provider.send("evm_setAutomine", [false]);
    let timeout: TransactionTimeoutError;
    try {
      timeout = (await rejection(
        registry.grant({ grantee: grantee(0), scope: sid(walletAt(6), "fhir:Condition"), purpose: 1, expiry: until }),
      )) as TransactionTimeoutError;
      expect(timeout).to.be.instanceOf(TransactionTimeoutError);
      await t.provider.send("anvil_dropTransaction", [timeout.hash]);
    } finally {
      await t.provider.send("evm_setAutomine", [true]);
    }
    // Without the resync the sender would use nonce + 1 and wait behind a gap that never fills.
    const next = await within(
      registry.grant({ grantee: grantee(1), scope: sid(walletAt(6), "fhir:Condition"), purpose: 1, expiry: until }),
      10_000,
      "the write after a dropped transaction",
    );
    expect(next.nonce).to.equal(nonce);
    expect(await t.provider.getTransactionReceipt(timeout.hash!)).to.equal(null);
  });

  it("a transaction sent elsewhere from the same account between two writes is noticed before the next one", async () => {
    const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(7));
    const until = await expiry();
    const first = await registry.grant({
      grantee: grantee(0),
      scope: sid(walletAt(7), "fhir:Encounter"),
      purpose: 1,
      expiry: until,
    });
    // Another process (here: a wallet on another provider) uses the account's next nonce.
    const elsewhere = connectProvider(t.chain.rpcUrl);
    try {
      const tx = await walletAt(7)
        .connect(elsewhere)
        .sendTransaction({ to: walletAt(9).address, value: parseEther("0.001") });
      expect(tx.nonce).to.equal(first.nonce + 1);
      await tx.wait();
    } finally {
      elsewhere.destroy();
    }
    const next = await within(
      registry.grant({ grantee: grantee(1), scope: sid(walletAt(7), "fhir:Encounter"), purpose: 1, expiry: until }),
      10_000,
      "the write after a nonce moved under the sender",
    );
    expect(next.nonce).to.equal(first.nonce + 2);
  });

  it("a nonce taken elsewhere while writes are in flight is detected by the node's answer and retried", async () => {
    const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(7));
    const until = await expiry();
    const n = await nonceOf(7);
    const elsewhere = connectProvider(t.chain.rpcUrl);
    await t.provider.send("evm_setAutomine", [false]);
    try {
      // A is broadcast and waits to be mined: the lane counts locally from here on.
      const a = registry.grant({
        grantee: grantee(2),
        scope: sid(walletAt(7), "fhir:Encounter"),
        purpose: 1,
        expiry: until,
      });
      while ((await nonceOf(7)) !== n + 1) await new Promise((resolve) => setTimeout(resolve, 20));
      // Another process takes the next nonce, n + 1, which the lane was about to use.
      const external = await walletAt(7)
        .connect(elsewhere)
        .sendTransaction({ to: walletAt(9).address, value: 1n });
      expect(external.nonce).to.equal(n + 1);
      // B is sent with n + 1, refused by the node (nonce taken), and retried with a fresh nonce.
      const b = registry.grant({
        grantee: grantee(3),
        scope: sid(walletAt(7), "fhir:Encounter"),
        purpose: 1,
        expiry: until,
      });
      while ((await nonceOf(7)) !== n + 3) await new Promise((resolve) => setTimeout(resolve, 20));
      await t.provider.send("evm_mine", []);
      const [mineA, mineB] = await within(Promise.all([a, b]), 10_000, "writes around an external transaction");
      expect([mineA.nonce, mineB.nonce]).to.deep.equal([n, n + 2]);
    } finally {
      elsewhere.destroy();
      await t.provider.send("evm_setAutomine", [true]);
    }
  });

  it("after the chain is rewound (evm_revert), the next write uses the chain's nonce again", async () => {
    const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(8));
    const until = await expiry();
    const snapshot = (await t.provider.send("evm_snapshot", [])) as string;
    const n = await nonceOf(8);
    await registry.grant({ grantee: grantee(0), scope: sid(walletAt(8), "fhir:Specimen"), purpose: 1, expiry: until });
    await t.provider.send("evm_revert", [snapshot]);
    const again = await within(
      registry.grant({ grantee: grantee(0), scope: sid(walletAt(8), "fhir:Specimen"), purpose: 1, expiry: until }),
      10_000,
      "a write after a rewind",
    );
    expect(again.nonce).to.equal(n);
  });

  it("confirmations that do not come raise TransactionTimeoutError in the confirmations phase", async () => {
    const sender = new TransactionSender(t.signer(8), { confirmationTimeoutMs: 800, pollIntervalMs: 100 });
    const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, sender);
    const error = await rejection(
      registry.grant(
        { grantee: grantee(0), scope: sid(walletAt(8), "fhir:Procedure"), purpose: 1, expiry: await expiry() },
        { confirmations: 3 },
      ),
    );
    expect(error).to.be.instanceOf(TransactionTimeoutError);
    expect((error as TransactionTimeoutError).phase).to.equal("confirmations");
    // Mined all the same: its receipt is there.
    expect((await t.provider.getTransactionReceipt((error as TransactionTimeoutError).hash!))?.status).to.equal(1);
  });

  it("validates its options and the confirmations before sending", () => {
    expect(() => new TransactionSender(t.signer(2), { inclusionTimeoutMs: 0 })).to.throw(
      InvalidInputError,
      /inclusionTimeoutMs/,
    );
    expect(() => new TransactionSender(walletAt(2))).to.throw(InvalidInputError, /connected to a provider/);
    const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(2));
    expect(() =>
      registry.revoke(
        { grantee: grantee(0), scope: sid(walletAt(2), "fhir:Patient"), purpose: 1 },
        { confirmations: 0 },
      ),
    ).to.throw(InvalidInputError, /confirmations/);
  });

  it("deployHygeia takes a plain Signer and sends through a TransactionSender", async () => {
    const chain = await startLocalChain();
    const provider = connectProvider(chain.rpcUrl);
    try {
      const deployment = await deployHygeia(walletAt(0).connect(provider), { gateways: [walletAt(1).address] });
      expect(await isDeployed(provider, deployment)).to.equal(true);
      expect(await provider.getTransactionCount(walletAt(0).address)).to.equal(6); // 5 contracts + 1 gateway
    } finally {
      provider.destroy();
      await chain.stop();
    }
  });

  describe("an unreachable node", () => {
    let rpcUrl: string;
    before(async () => {
      const chain = await startLocalChain();
      rpcUrl = chain.rpcUrl;
      await chain.stop();
    });

    it("gives ChainUnavailableError when the connection is refused", async () => {
      const provider = connectProvider(rpcUrl);
      try {
        const registry = new ConsentRegistryClient(
          t.deployment.contracts.ConsentRegistry,
          walletAt(2).connect(provider),
        );
        const error = await within(
          rejection(registry.revoke({ grantee: grantee(0), scope: sid(walletAt(2), "fhir:Patient"), purpose: 1 })),
          10_000,
          "a write to a stopped node",
        );
        expect(error).to.be.instanceOf(ChainUnavailableError);
        expect((error as Error).message).to.match(/ECONNREFUSED/);
      } finally {
        provider.destroy();
      }
    });

    it("gives ChainUnavailableError within sendTimeoutMs when the node accepts connections but never answers", async () => {
      const silent = createServer(() => undefined); // holds every request open
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
      const { port } = silent.address() as AddressInfo;
      const provider = connectProvider(`http://127.0.0.1:${port}`);
      try {
        const sender = new TransactionSender(walletAt(2).connect(provider), { sendTimeoutMs: 1_000 });
        const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, sender);
        const started = Date.now();
        const error = await within(
          rejection(registry.revoke({ grantee: grantee(0), scope: sid(walletAt(2), "fhir:Patient"), purpose: 1 })),
          10_000,
          "a write to a node that never answers",
        );
        expect(Date.now() - started).to.be.below(3_000);
        expect(error).to.be.instanceOf(ChainUnavailableError);
        expect((error as Error).message).to.match(/did not answer within 1000 ms; nothing was sent/);
      } finally {
        provider.destroy();
        silent.closeAllConnections();
        await new Promise((resolve) => silent.close(resolve));
      }
    });
  });
});
