import { expect } from "chai";
import type { JsonRpcProvider } from "ethers";
import {
  ChainUnavailableError,
  ConsentIndexer,
  ConsentRegistryClient,
  IndexerStaleError,
  InvalidCheckpointError,
  InvalidInputError,
  Purpose,
  ReorgTooDeepError,
  startLocalChain,
  deployHygeia,
  InvalidScopeError,
  WrongChainError,
  signRevoke,
  type ConsentIndexerOptions,
  type IndexerEvents,
} from "../src/index.ts";
import {
  advanceTime,
  connectProvider,
  latestTimestamp,
  mine,
  startTestChain,
  walletAt,
  type TestChain,
} from "./support/chain.ts";
import { scopesOf, sid } from "./support/scopes.ts";

const patient = walletAt(2);
const clinic = walletAt(3);
const lab = walletAt(4);

describe("ConsentIndexer (anvil)", function () {
  this.timeout(60_000);
  let t: TestChain;
  let registry: ConsentRegistryClient;
  let indexers: ConsentIndexer[] = [];

  before(async () => {
    t = await startTestChain();
    registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(2));
  });
  afterEach(async () => {
    await Promise.all(indexers.map((i) => i.stop()));
    indexers = [];
  });
  after(async () => t?.stop());

  /** An indexer starting at the current block (tests do not see each other's grants). */
  async function indexer(options: Partial<ConsentIndexerOptions> = {}): Promise<ConsentIndexer> {
    const created = new ConsentIndexer({
      provider: t.provider,
      address: t.deployment.contracts.ConsentRegistry,
      startBlock: await t.provider.getBlockNumber(),
      confirmations: 0,
      ...options,
    });
    indexers.push(created);
    return created;
  }

  const scope = sid(patient, "category:laboratory");
  const key = (grantee = clinic.address, purpose: Purpose = Purpose.Treatment) =>
    [patient.address, grantee, scope, purpose] as const;
  async function expiryIn(seconds: number): Promise<number> {
    return (await latestTimestamp(t.provider)) + seconds;
  }
  /** Evaluate at the chain's latest block time, as the contract's view would. */
  async function allowed(i: ConsentIndexer, k: readonly [string, string, string, Purpose]): Promise<boolean> {
    return i.isAllowed(...k, await latestTimestamp(t.provider));
  }

  it("follows grants, revokes, re-grants and break-glass", async () => {
    const i = await indexer();
    await i.sync();
    expect(await allowed(i, key())).to.equal(false);

    await registry.grant({ grantee: clinic.address, scope, purpose: "Treatment", expiry: await expiryIn(3600) });
    await i.sync();
    expect(await allowed(i, key())).to.equal(true);
    expect(await allowed(i, key(clinic.address, Purpose.Research))).to.equal(false);
    expect(await allowed(i, key(lab.address))).to.equal(false);

    await registry.revoke({ grantee: clinic.address, scope, purpose: "Treatment" });
    await i.sync();
    expect(await allowed(i, key())).to.equal(false);

    const expiry = await expiryIn(100);
    await registry.grant({ grantee: clinic.address, scope, purpose: "Treatment", expiry });
    await i.sync();
    expect(i.isAllowed(...key(), expiry - 1)).to.equal(true);
    expect(i.isAllowed(...key(), expiry)).to.equal(false);

    await registry.setEmergencyGrantee(lab.address, { maxDurationSeconds: 600, scopes: [scope] });
    await registry.connect(t.signer(4)).breakGlass(patient.address, scope, { scopes: [scope] });
    await i.sync();
    expect(await allowed(i, key(lab.address, Purpose.Emergency))).to.equal(true);
    expect(i.status()).to.include({ stale: false, syncedBlock: await t.provider.getBlockNumber(), chainId: 31337 });
  });

  it("with confirmations: a grant waits to be buried, a revoke or shortened expiry applies at once", async () => {
    const i = await indexer({ confirmations: 2 });
    const long = await expiryIn(10_000);
    await registry.grant({ grantee: clinic.address, scope, purpose: "Payment", expiry: long });
    const k = key(clinic.address, Purpose.Payment);
    await i.sync();
    expect(await allowed(i, k), "unconfirmed grant").to.equal(false);
    await mine(t.provider, 1);
    await i.sync();
    expect(await allowed(i, k), "one block deep").to.equal(false);
    await mine(t.provider, 1);
    await i.sync();
    expect(await allowed(i, k), "two blocks deep").to.equal(true);

    // Shorten: effective immediately, before any confirmation.
    const short = await expiryIn(1_000);
    await registry.grant({ grantee: clinic.address, scope, purpose: "Payment", expiry: short });
    await i.sync();
    expect(i.isAllowed(...k, short - 1)).to.equal(true);
    expect(i.isAllowed(...k, short + 1), "shortened expiry applies unconfirmed").to.equal(false);

    // Extend again (back to the confirmed expiry): the unconfirmed shortening still holds until
    // both are confirmed, since a reorg could drop the extension and keep the shortening.
    await registry.grant({ grantee: clinic.address, scope, purpose: "Payment", expiry: long });
    await i.sync();
    expect(i.isAllowed(...k, short + 1), "extension waits for confirmations").to.equal(false);
    await mine(t.provider, 1);
    await i.sync();
    expect(i.isAllowed(...k, short + 1), "shortening confirmed, extension not yet").to.equal(false);
    await mine(t.provider, 1);
    await i.sync();
    expect(i.isAllowed(...k, short + 1)).to.equal(true);

    // Revoke: the very next check after it is mined refuses.
    await registry.revoke({ grantee: clinic.address, scope, purpose: "Payment" });
    await i.sync();
    expect(await allowed(i, k), "revoke applies unconfirmed").to.equal(false);
    expect(i.status().confirmedBlock).to.equal(i.status().syncedBlock - 2);
  });

  it("an emergency re-registration or removal closes the grantee's windows at once, keeping versions; reorgs and checkpoints carry it", async () => {
    const doctorAccount = walletAt(7);
    const doctor = registry.connect(t.signer(7));
    const scopes = scopesOf(patient).ids(["category:allergy", "category:medication", "fhir:Condition"]);
    const slot = (s: string) => [patient.address, doctorAccount.address, s, Purpose.Emergency] as const;
    const i = await indexer({ confirmations: 2 });
    const exact = await indexer();
    const agree = async (label: string) => {
      await mine(t.provider, 2); // bury everything, so the confirmed view must equal the chain
      await Promise.all([i.sync(), exact.sync()]);
      for (const s of scopes) {
        const onChain = await registry.isAllowed({
          patient: patient.address,
          grantee: doctorAccount.address,
          scope: s,
          purpose: 3,
        });
        expect(await allowed(i, slot(s)), `${label}: ${s}`).to.equal(onChain);
        expect(await allowed(exact, slot(s)), `${label}: ${s} (no confirmations)`).to.equal(onChain);
      }
    };

    await registry.setEmergencyGrantee(doctorAccount.address, { maxDurationSeconds: 3600, scopes });
    await doctor.breakGlass(patient.address, sid(patient, "category:allergy"), { scopes });
    await doctor.breakGlass(patient.address, sid(patient, "fhir:Condition"), { scopes });
    await agree("two windows open");
    expect(await allowed(i, slot(sid(patient, "category:allergy")))).to.equal(true);

    // A re-registration closes both at once, before any confirmation (a restriction).
    const snapshot = (await t.provider.send("evm_snapshot", [])) as string;
    await registry.setEmergencyGrantee(doctorAccount.address, { maxDurationSeconds: 600, scopes });
    await i.sync();
    expect(await allowed(i, slot(sid(patient, "category:allergy"))), "closed while unconfirmed").to.equal(false);
    expect(await allowed(i, slot(sid(patient, "fhir:Condition"))), "closed while unconfirmed").to.equal(false);

    // That registration is orphaned: the windows are open again on the new branch.
    await t.provider.send("evm_revert", [snapshot]);
    await mine(t.provider, 1);
    await agree("the closing registration was orphaned");
    expect(await allowed(exact, slot(sid(patient, "category:allergy")))).to.equal(true);

    // Removal closes them; the next breakGlass after a new registration is version + 1 (no gap reported).
    const resyncs: unknown[] = [];
    exact.on("resync", (event) => resyncs.push(event));
    await registry.removeEmergencyGrantee(doctorAccount.address);
    await agree("removed");
    const saved = JSON.parse(JSON.stringify(exact.checkpoint())) as {
      entries: [string, string, string, number, string, number][];
    };
    const allergy = saved.entries.find(
      ([, g, s, p]) => g === doctorAccount.address.toLowerCase() && p === 3 && s === sid(patient, "category:allergy"),
    );
    expect(allergy?.slice(4)).to.deep.equal(["0", 1]);
    await registry.setEmergencyGrantee(doctorAccount.address, { maxDurationSeconds: 600, scopes });
    const reopened = await doctor.breakGlass(patient.address, sid(patient, "category:allergy"), { scopes });
    expect(reopened.events[0]).to.include({ version: 2 });
    await agree("registered again, one window open");
    expect(resyncs, "versions continued without a gap").to.deep.equal([]);

    // A checkpoint taken now restores the same answers; a revoke of purpose 3 closes every window.
    const restored = ConsentIndexer.restore(JSON.parse(JSON.stringify(exact.checkpoint())), {
      provider: t.provider,
      address: t.deployment.contracts.ConsentRegistry,
      confirmations: 0,
    });
    indexers.push(restored);
    await doctor.breakGlass(patient.address, sid(patient, "category:medication"), { scopes });
    await registry.revoke({
      grantee: doctorAccount.address,
      scope: sid(patient, "category:allergy"),
      purpose: "Emergency",
    });
    await restored.sync();
    await agree("revoked");
    for (const s of scopes) expect(await allowed(restored, slot(s)), s).to.equal(false);
  });

  it("a repeated breakGlass on an open scope writes nothing: the patient's relayed purpose-3 revoke signed before it succeeds, and both views equal the contract (review F4)", async () => {
    const doctorAccount = walletAt(8);
    const doctor = registry.connect(t.signer(8));
    const relayer = registry.connect(t.signer(9));
    const scopes = [sid(patient, "category:allergy"), sid(patient, "fhir:Condition")];
    const slot = (s: string) => [patient.address, doctorAccount.address, s, Purpose.Emergency] as const;
    const chainSlot = (s: string) => ({
      patient: patient.address,
      grantee: doctorAccount.address,
      scope: s,
      purpose: Purpose.Emergency,
    });
    const i = await indexer({ confirmations: 2 });
    const exact = await indexer();
    const resyncs: unknown[] = [];
    for (const each of [i, exact]) each.on("resync", (event) => resyncs.push(event));
    const indexedSlot = (s: string) =>
      exact
        .checkpoint()
        .entries.find(
          ([, g, id, p]) => g === doctorAccount.address.toLowerCase() && id === s && p === Purpose.Emergency,
        )
        ?.slice(4);
    const agree = async (label: string, bury = true) => {
      if (bury) await mine(t.provider, 2); // the confirmed view must then equal the chain too
      await Promise.all([i.sync(), exact.sync()]);
      for (const s of scopes) {
        const onChain = await registry.isAllowed(chainSlot(s));
        if (bury) expect(await allowed(i, slot(s)), `${label}: ${s}`).to.equal(onChain);
        else if (await allowed(i, slot(s))) expect(onChain, `${label}: ${s} allowed unconfirmed`).to.equal(true);
        expect(await allowed(exact, slot(s)), `${label}: ${s} (no confirmations)`).to.equal(onChain);
        const { expiry, version } = await registry.consentOf(chainSlot(s));
        expect(indexedSlot(s) ?? ["0", 0], `${label}: ${s} slot`).to.deep.equal([expiry.toString(), version]);
      }
    };

    await registry.setEmergencyGrantee(doctorAccount.address, { maxDurationSeconds: 3600, scopes });
    const opened = await doctor.breakGlass(patient.address, sid(patient, "category:allergy"), { scopes });
    await agree("window open");
    const { version, expiry } = opened.events[0] as { version: number; expiry: bigint };

    // The patient signs the revoke of the open slot; the grantee breaks the glass on it again, twice.
    const { domain, message } = await relayer.nextRevokeTypedData({
      patient: patient.address,
      grantee: doctorAccount.address,
      scope: sid(patient, "category:allergy"),
      purpose: "Emergency",
      deadline: (await latestTimestamp(t.provider)) + 600,
    });
    const signed = await signRevoke(patient, domain, { ...message, patient: patient.address });
    for (let n = 0; n < 2; n++) {
      const again = await doctor.breakGlass(patient.address, sid(patient, "category:allergy"), { scopes });
      expect(again.events[0], "same expiry and version").to.include({ type: "EmergencyAccess", version, expiry });
    }
    await agree("broken again on the open scope");

    const revoked = await relayer.revokeBySig(signed);
    expect(revoked.events.map((e) => e.type)).to.deep.equal(["ConsentRevoked", "EmergencyGranteeSet"]);
    await agree("revoked by the patient's signature");
    expect(await allowed(exact, slot(sid(patient, "category:allergy")))).to.equal(false);

    // A window reopened on top of an unconfirmed closure: the confirmed indexer's head view keeps the
    // closure's expiry 0 while the last write is the new window; a repeat must match the last write.
    await registry.setEmergencyGrantee(doctorAccount.address, { maxDurationSeconds: 3600, scopes });
    await doctor.breakGlass(patient.address, sid(patient, "fhir:Condition"), { scopes });
    await agree("registered again, one window open");
    await registry.setEmergencyGrantee(doctorAccount.address, { maxDurationSeconds: 1800, scopes });
    await doctor.breakGlass(patient.address, sid(patient, "fhir:Condition"), { scopes });
    await doctor.breakGlass(patient.address, sid(patient, "fhir:Condition"), { scopes });
    await agree("closed, reopened and broken again, unconfirmed", false);
    await agree("closed, reopened and broken again, buried");
    expect(resyncs, "no version gap was reported").to.deep.equal([]);
  });

  it("rolls back a reorg and converges to the new chain (confirmations 0)", async () => {
    const i = await indexer();
    const reorgs: IndexerEvents["reorg"][] = [];
    i.on("reorg", (event) => reorgs.push(event));
    const expiry = await expiryIn(10_000);
    await registry.grant({ grantee: clinic.address, scope, purpose: "Research", expiry }); // survives the reorg
    await i.sync();

    const snapshot = (await t.provider.send("evm_snapshot", [])) as string;
    await registry.revoke({ grantee: clinic.address, scope, purpose: "Research" });
    await registry.grant({ grantee: lab.address, scope, purpose: "Research", expiry });
    await i.sync();
    expect(await allowed(i, key(clinic.address, Purpose.Research))).to.equal(false);
    expect(await allowed(i, key(lab.address, Purpose.Research))).to.equal(true);
    const orphanedTip = i.status().syncedBlock;

    await t.provider.send("evm_revert", [snapshot]);
    // The other branch: a different transaction, then a longer chain.
    await registry.grant({ grantee: walletAt(6).address, scope, purpose: "Research", expiry });
    await mine(t.provider, 3);
    await i.sync();

    expect(reorgs).to.have.length(1);
    expect(reorgs[0]!.previousSyncedBlock).to.equal(orphanedTip);
    expect(reorgs[0]!.depth).to.equal(2);
    expect(await allowed(i, key(clinic.address, Purpose.Research)), "revoke was orphaned").to.equal(true);
    expect(await allowed(i, key(lab.address, Purpose.Research)), "grant was orphaned").to.equal(false);
    expect(await allowed(i, key(walletAt(6).address, Purpose.Research))).to.equal(true);
    for (const grantee of [clinic.address, lab.address, walletAt(6).address]) {
      const onChain = await registry.isAllowed({ patient: patient.address, grantee, scope, purpose: Purpose.Research });
      expect(await allowed(i, key(grantee, Purpose.Research))).to.equal(onChain);
    }
    expect(i.status().syncedBlock).to.equal(await t.provider.getBlockNumber());
  });

  it("a reorg deeper than the window rebuilds from the start block", async () => {
    const i = await indexer({ reorgWindow: 2 });
    const resyncs: IndexerEvents["resync"][] = [];
    i.on("resync", (event) => resyncs.push(event));
    const expiry = await expiryIn(10_000);
    await registry.grant({
      grantee: clinic.address,
      scope: sid(patient, "fhir:Condition"),
      purpose: "Treatment",
      expiry,
    });
    await i.sync();
    const snapshot = (await t.provider.send("evm_snapshot", [])) as string;
    for (let n = 0; n < 5; n++)
      await registry.grant({
        grantee: lab.address,
        scope: sid(patient, "fhir:Condition"),
        purpose: "Treatment",
        expiry: expiry + n,
      });
    await i.sync();
    await t.provider.send("evm_revert", [snapshot]);
    await registry.revoke({ grantee: clinic.address, scope: sid(patient, "fhir:Condition"), purpose: "Treatment" });
    await mine(t.provider, 6);
    await i.sync();
    expect(resyncs).to.have.length(1);
    expect(resyncs[0]!.reason).to.be.instanceOf(ReorgTooDeepError);
    const now = await latestTimestamp(t.provider);
    expect(
      i.isAllowed(patient.address, clinic.address, sid(patient, "fhir:Condition"), Purpose.Treatment, now),
    ).to.equal(false);
    expect(i.isAllowed(patient.address, lab.address, sid(patient, "fhir:Condition"), Purpose.Treatment, now)).to.equal(
      false,
    );
  });

  it("checkpoints, restores from JSON and continues; resumes without re-reading old blocks", async () => {
    const i = await indexer({ confirmations: 1 });
    const expiry = await expiryIn(10_000);
    await registry.grantBatch([
      { grantee: clinic.address, scope: sid(patient, "fhir:Immunization"), purpose: "Treatment", expiry },
      { grantee: lab.address, scope: sid(patient, "fhir:Immunization"), purpose: "PublicHealth", expiry },
    ]);
    await mine(t.provider, 1);
    await i.sync();
    const saved = JSON.stringify(i.checkpoint());
    expect(JSON.parse(saved)).to.include({ chainId: 31337, contract: t.deployment.contracts.ConsentRegistry });
    expect(JSON.parse(saved).block.number).to.equal(i.status().confirmedBlock);

    await registry.revoke({ grantee: lab.address, scope: sid(patient, "fhir:Immunization"), purpose: "PublicHealth" });
    const restored = ConsentIndexer.restore(JSON.parse(saved), {
      provider: t.provider,
      address: t.deployment.contracts.ConsentRegistry,
      confirmations: 1,
    });
    indexers.push(restored);
    const progress: number[] = [];
    restored.on("progress", (event) => progress.push(event.syncedBlock));
    await restored.sync();
    const now = await latestTimestamp(t.provider);
    expect(
      restored.isAllowed(patient.address, clinic.address, sid(patient, "fhir:Immunization"), "Treatment", now),
    ).to.equal(true);
    expect(
      restored.isAllowed(patient.address, lab.address, sid(patient, "fhir:Immunization"), "PublicHealth", now),
      "revoke after the checkpoint",
    ).to.equal(false);
    expect(restored.status().syncedBlock).to.equal(await t.provider.getBlockNumber());
    expect(progress.length).to.be.greaterThan(0);
    expect(restored.checkpoint().entries.length).to.be.at.least(JSON.parse(saved).entries.length);
  });

  it("refuses checkpoints of another chain or contract and recovers from an orphaned checkpoint block", async () => {
    const i = await indexer();
    await registry.grant({
      grantee: clinic.address,
      scope: sid(patient, "fhir:Procedure"),
      purpose: "Treatment",
      expiry: await expiryIn(5_000),
    });
    await i.sync();
    const checkpoint = i.checkpoint();
    const base = { provider: t.provider, address: t.deployment.contracts.ConsentRegistry, confirmations: 0 };
    expect(() => ConsentIndexer.restore(checkpoint, { ...base, chainId: 1 })).to.throw(
      InvalidCheckpointError,
      /chain 31337, not chain 1/,
    );
    expect(() => ConsentIndexer.restore(checkpoint, { ...base, address: t.deployment.contracts.AuditAnchor })).to.throw(
      InvalidCheckpointError,
    );
    expect(() => ConsentIndexer.restore({ ...checkpoint, entries: "x" }, base)).to.throw(InvalidCheckpointError);

    // A checkpoint whose block is no longer canonical: rebuilt from its start block.
    const orphaned = ConsentIndexer.restore(
      { ...checkpoint, block: { ...checkpoint.block, hash: "0x" + "ab".repeat(32) } },
      base,
    );
    indexers.push(orphaned);
    const resyncs: IndexerEvents["resync"][] = [];
    orphaned.on("resync", (event) => resyncs.push(event));
    await orphaned.sync();
    expect(resyncs.map((r) => r.fromBlock)).to.deep.equal([checkpoint.startBlock]);
    expect(
      orphaned.isAllowed(
        patient.address,
        clinic.address,
        sid(patient, "fhir:Procedure"),
        "Treatment",
        await latestTimestamp(t.provider),
      ),
    ).to.equal(true);
  });

  it("is stale (isAllowed throws) before the first sync and when the last sync is too old", async () => {
    let now = 1_000_000;
    const i = await indexer({ staleAfterMs: 5_000, clock: () => now });
    expect(() => i.isAllowed(...key())).to.throw(IndexerStaleError, /not caught up/);
    await i.sync();
    expect(i.isAllowed(...key())).to.equal(false);
    now += 5_001;
    expect(() => i.isAllowed(...key())).to.throw(
      IndexerStaleError,
      /last successful sync was 5001 ms ago \(limit 5000 ms\)/,
    );
    expect(i.status()).to.include({ stale: true });
    await i.sync();
    expect(i.status().stale).to.equal(false);
    // Malformed arguments are input errors, not "deny".
    expect(() => i.isAllowed("0x12", clinic.address, scope, 1)).to.throw(InvalidInputError, /patient/);
    expect(() => i.isAllowed(patient.address, clinic.address, "category:lab", 1)).to.throw(InvalidInputError, /scope/);
    // A canonical scope string is not an id: refused, pointing at the patient's keyed id.
    expect(() => i.isAllowed(patient.address, clinic.address, "category:laboratory", 1)).to.throw(
      InvalidScopeError,
      /PatientScopes\.id\("category:laboratory"\)/,
    );
  });

  it("defaults to the later of wall clock and chain time for expiry", async () => {
    const i = await indexer();
    await advanceTime(t.provider, 30 * 24 * 3600); // chain time runs a month ahead of the wall clock
    const expiry = await expiryIn(100);
    await registry.grant({ grantee: clinic.address, scope: sid(patient, "fhir:Goal"), purpose: "Treatment", expiry });
    await i.sync();
    expect(i.isAllowed(patient.address, clinic.address, sid(patient, "fhir:Goal"), "Treatment")).to.equal(true);
    await advanceTime(t.provider, 200);
    await i.sync();
    expect(Date.now() / 1000).to.be.below(expiry);
    expect(
      i.isAllowed(patient.address, clinic.address, sid(patient, "fhir:Goal"), "Treatment"),
      "chain time is past expiry",
    ).to.equal(false);
  });

  it("polls on its own after start(), reports progress on a long catch-up, and stops", async () => {
    const from = await t.provider.getBlockNumber();
    await mine(t.provider, 30);
    const i = await indexer({
      startBlock: Math.max(0, from - 20),
      pollIntervalMs: 20,
      maxBlockRange: 7,
      reorgWindow: 3,
    });
    const progress: IndexerEvents["progress"][] = [];
    i.on("progress", (event) => progress.push(event));
    await i.start();
    expect(progress.length).to.be.greaterThan(5);
    expect(progress.map((p) => p.syncedBlock)).to.deep.equal(
      [...progress.map((p) => p.syncedBlock)].sort((a, b) => a - b),
    );

    const synced = new Promise<number>((resolve) => i.on("synced", ({ block }) => resolve(block)));
    const granted = await registry.grant({
      grantee: clinic.address,
      scope: sid(patient, "fhir:Flag"),
      purpose: "Treatment",
      expiry: await expiryIn(500),
    });
    let block = await synced;
    while (block < granted.blockNumber)
      block = await new Promise<number>((resolve) => i.on("synced", ({ block: b }) => resolve(b)));
    expect(await allowed(i, [patient.address, clinic.address, sid(patient, "fhir:Flag"), Purpose.Treatment])).to.equal(
      true,
    );
    await i.stop();
    const stoppedAt = i.status().syncedBlock;
    await mine(t.provider, 2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(i.status().syncedBlock).to.equal(stoppedAt);
  });

  it("start() rejects on the wrong chain, and the index stays unusable", async () => {
    const i = await indexer({ chainId: 1 });
    const error = await i.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(WrongChainError);
    expect(() => i.isAllowed(...key())).to.throw(IndexerStaleError, /stopped: the node is on chain 31337/);
  });
});

describe("ConsentIndexer when the chain goes away", function () {
  this.timeout(60_000);

  it("turns stale with the reason, and isAllowed throws IndexerStaleError (fail closed)", async () => {
    const chain = await startLocalChain();
    const provider: JsonRpcProvider = connectProvider(chain.rpcUrl);
    try {
      const deployment = await deployHygeia(walletAt(0).connect(provider));
      const registry = new ConsentRegistryClient(deployment.contracts.ConsentRegistry, walletAt(2).connect(provider));
      await registry.grant({
        grantee: clinic.address,
        scope,
        purpose: 1,
        expiry: (await latestTimestamp(provider)) + 3600,
      });
      const indexer = new ConsentIndexer({
        provider,
        address: deployment.contracts.ConsentRegistry,
        startBlock: deployment.deployedAt.block,
        confirmations: 0,
      });
      const errors: Error[] = [];
      indexer.on("pollError", ({ error }) => errors.push(error));
      await indexer.sync();
      expect(indexer.isAllowed(patient.address, clinic.address, scope, 1)).to.equal(true);

      await chain.stop();
      const failure = await indexer.sync().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(failure).to.be.instanceOf(ChainUnavailableError);
      expect((failure as Error).message).to.match(/cannot reach the chain: ECONNREFUSED/);
      expect(errors).to.have.length(1);
      const status = indexer.status();
      expect(status.stale).to.equal(true);
      expect(status.lastError).to.equal(failure);
      expect(() => indexer.isAllowed(patient.address, clinic.address, scope, 1)).to.throw(
        IndexerStaleError,
        /the last poll failed: .*ECONNREFUSED/,
      );
    } finally {
      provider.destroy();
      await chain.stop();
    }
  });
});

const scope = sid(patient, "category:laboratory");
