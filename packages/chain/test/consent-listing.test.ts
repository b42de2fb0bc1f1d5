// Listing a consent address's consents: ConsentRegistryClient.consentEventsOf (the chain's events, paged) and
// ConsentIndexer.consentsOf (the live confirmed consents), read back with the wallet's PatientScopes.label.
import { expect } from "chai";
import {
  ChainRequestError,
  ChainUnavailableError,
  ConsentIndexer,
  ConsentRegistryClient,
  ContractNotDeployedError,
  IndexerStaleError,
  InvalidInputError,
  MAX_CONSENT_EVENT_PATIENTS,
  type ConsentEvent,
  type ConsentIndexerOptions,
} from "../src/index.ts";
import { connectProvider, latestTimestamp, mine, startTestChain, walletAt, type TestChain } from "./support/chain.ts";
import { startRpcProxy } from "./support/rpc-proxy.ts";
import { refusal, rejection } from "./support/settle.ts";
import { scopesOf, sid } from "./support/scopes.ts";

const patient = walletAt(2);
const otherPatient = walletAt(5);
const clinic = walletAt(3).address;
const lab = walletAt(4).address;

/** What a wallet shows of an event: type, grantee, readable scope, purpose. */
function readable(events: readonly ConsentEvent[]): (string | number | undefined)[][] {
  const scopes = scopesOf(patient);
  return events.map((event) =>
    event.type === "EmergencyGranteeSet"
      ? [event.type, event.grantee, undefined, undefined]
      : [event.type, event.grantee, scopes.label(event.scope), event.purpose],
  );
}

describe("listing a patient's consents (anvil)", function () {
  this.timeout(60_000);
  let t: TestChain;
  let client: ConsentRegistryClient;
  let fromBlock: number;
  let expiry: number;

  before(async () => {
    t = await startTestChain();
    client = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(2));
    const other = client.connect(t.signer(5));
    fromBlock = t.deployment.deployedAt.block;
    expiry = (await latestTimestamp(t.provider)) + 30 * 86400;
    await client.grant({ grantee: clinic, scope: sid(patient, "category:laboratory"), purpose: "Treatment", expiry });
    await other.grant({
      grantee: clinic,
      scope: sid(otherPatient, "category:laboratory"),
      purpose: "Treatment",
      expiry,
    });
    await client.grantBatch([
      { grantee: lab, scope: sid(patient, "fhir:Observation"), purpose: "Treatment", expiry },
      { grantee: clinic, scope: sid(patient, "category:imaging"), purpose: "Treatment", expiry },
    ]);
    await client.revoke({ grantee: clinic, scope: sid(patient, "category:imaging"), purpose: "Treatment" });
    await client.setEmergencyGrantee(lab, {
      maxDurationSeconds: 3600,
      scopes: [sid(patient, "category:allergy")],
    });
  });
  after(async () => t?.stop());

  describe("ConsentRegistryClient.consentEventsOf", () => {
    const expected = () => [
      ["ConsentGranted", clinic, "category:laboratory", 1],
      ["ConsentGranted", lab, "fhir:Observation", 1],
      ["ConsentGranted", clinic, "category:imaging", 1],
      ["ConsentRevoked", clinic, "category:imaging", 1],
      ["EmergencyGranteeSet", lab, undefined, undefined],
    ];

    it("returns every event naming the patient, in chain order, readable with the wallet's label, and no other patient's", async () => {
      const events = await client.consentEventsOf(patient.address, { fromBlock });
      expect(readable(events)).to.deep.equal(expected());
      expect(events.every((event) => event.patient === patient.address)).to.equal(true);
      const positions = events.map((event) => [event.position.blockNumber, event.position.logIndex]);
      expect(positions).to.deep.equal([...positions].sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!));
    });

    it("gives the same answer in pages of one block, and from a read-only client", async () => {
      const whole = await client.consentEventsOf(patient.address, { fromBlock });
      const reader = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.provider);
      expect(await reader.consentEventsOf(patient.address, { fromBlock, maxBlockRange: 1 })).to.deep.equal(whole);
    });

    it("reads only fromBlock..toBlock", async () => {
      const all = await client.consentEventsOf(patient.address, { fromBlock });
      const firstBlock = all[0]!.position.blockNumber;
      const upToFirst = await client.consentEventsOf(patient.address, { fromBlock, toBlock: firstBlock });
      expect(readable(upToFirst)).to.deep.equal([expected()[0]]);
      const afterFirst = await client.consentEventsOf(patient.address, { fromBlock: firstBlock + 1 });
      expect(afterFirst).to.deep.equal(all.slice(1));
    });

    it("takes a list of consent addresses (what findConsentAccounts asks for a batch of accounts)", async () => {
      const events = await client.consentEventsOf([patient.address, otherPatient.address], { fromBlock });
      expect(events.map((event) => event.patient)).to.deep.equal([
        patient.address,
        otherPatient.address,
        ...Array<string>(4).fill(patient.address),
      ]);
    });

    it("answers an empty list for an address that never consented", async () => {
      expect(await client.consentEventsOf(walletAt(7).address, { fromBlock })).to.deep.equal([]);
    });

    it("refuses bad arguments with InvalidInputError naming the field", async () => {
      const head = await t.provider.getBlockNumber();
      const cases: [unknown, unknown, string][] = [
        [patient.address, undefined, "fromBlock"],
        [patient.address, {}, "fromBlock"],
        [patient.address, { fromBlock: -1 }, "fromBlock"],
        [patient.address, { fromBlock: head + 1 }, "fromBlock"],
        [patient.address, { fromBlock: 2, toBlock: 1 }, "toBlock"],
        [patient.address, { fromBlock, toBlock: head + 1 }, "toBlock"],
        [patient.address, { fromBlock, maxBlockRange: 0 }, "maxBlockRange"],
        ["0x1234", { fromBlock }, "patient"],
        [[], { fromBlock }, "patient"],
        [[patient.address, "nope"], { fromBlock }, "patient[1]"],
        [Array<string>(MAX_CONSENT_EVENT_PATIENTS + 1).fill(patient.address), { fromBlock }, "patient"],
      ];
      for (const [who, options, field] of cases) {
        const error = await rejection(client.consentEventsOf(who as string, options as { fromBlock: number }));
        expect(error, field).to.be.instanceOf(InvalidInputError).with.property("field", field);
      }
    });

    it("refuses an address without registry code instead of answering 'no events'", async () => {
      const wrong = new ConsentRegistryClient(walletAt(8).address, t.provider);
      expect(await rejection(wrong.consentEventsOf(patient.address, { fromBlock: 0 }))).to.be.instanceOf(
        ContractNotDeployedError,
      );
    });

    it("fails with typed errors when the node does not answer eth_getLogs or refuses the range", async () => {
      const proxy = await startRpcProxy(t.chain.rpcUrl);
      const provider = connectProvider(proxy.url);
      try {
        const reader = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, provider, {
          readTimeoutMs: 300,
        });
        proxy.rules.set("eth_getLogs", { hang: true });
        expect(await rejection(reader.consentEventsOf(patient.address, { fromBlock }))).to.be.instanceOf(
          ChainUnavailableError,
        );
        proxy.rules.set("eth_getLogs", { error: { code: -32005, message: "query exceeds max block range 1000" } });
        expect(await rejection(reader.consentEventsOf(patient.address, { fromBlock }))).to.be.instanceOf(
          ChainRequestError,
        );
      } finally {
        provider.destroy();
        await proxy.close();
      }
    });
  });

  describe("ConsentIndexer.consentsOf and awaitsConfirmation", () => {
    let indexers: ConsentIndexer[] = [];
    afterEach(async () => {
      await Promise.all(indexers.map((indexer) => indexer.stop()));
      indexers = [];
    });

    async function started(options: Partial<ConsentIndexerOptions> = {}): Promise<ConsentIndexer> {
      const indexer = new ConsentIndexer({
        provider: t.provider,
        address: t.deployment.contracts.ConsentRegistry,
        startBlock: fromBlock,
        pollIntervalMs: 60_000, // the tests sync() themselves
        ...options,
      });
      indexers.push(indexer);
      await indexer.start();
      return indexer;
    }

    it("lists the live confirmed consents of a patient (not revoked ones, not another patient's), readable with label", async () => {
      await mine(t.provider, 2);
      const indexer = await started({ confirmations: 2 });
      const consents = indexer.consentsOf(patient.address);
      const scopes = scopesOf(patient);
      expect(consents.map((c) => [c.grantee, scopes.label(c.scope), c.purpose, c.expiry, c.version])).to.deep.equal([
        // ordered by grantee (lowercase hex), purpose, scope
        ...[
          [clinic, "category:laboratory", 1, BigInt(expiry), 1],
          [lab, "fhir:Observation", 1, BigInt(expiry), 1],
        ].sort((a, b) => (a[0] as string).toLowerCase().localeCompare((b[0] as string).toLowerCase())),
      ]);
      expect(indexer.consentsOf(otherPatient.address).map((c) => c.scope)).to.deep.equal([
        sid(otherPatient, "category:laboratory"),
      ]);
      expect(indexer.consentsOf(walletAt(7).address)).to.deep.equal([]);
    });

    it("lists nothing past the expiry (atUnixSeconds), and refuses a bad patient or time", async () => {
      await mine(t.provider, 2);
      const indexer = await started({ confirmations: 2 });
      expect(indexer.consentsOf(patient.address, expiry - 1)).to.have.length(2);
      expect(indexer.consentsOf(patient.address, expiry)).to.deep.equal([]);
      expect(refusal(() => indexer.consentsOf("0x1234")).field).to.equal("patient");
      expect(refusal(() => indexer.consentsOf(patient.address, Date.now())).field).to.equal("atUnixSeconds");
    });

    it("a fresh grant on an automining chain is not listed and isAllowed is false until 2 more blocks are mined; awaitsConfirmation says why", async () => {
      const indexer = await started({ confirmations: 2 });
      const scope = sid(patient, "category:medication");
      await client.grant({ grantee: clinic, scope, purpose: "Research", expiry });
      await indexer.sync();
      expect(indexer.isAllowed(patient.address, clinic, scope, "Research")).to.equal(false);
      expect(indexer.awaitsConfirmation(patient.address, clinic, scope, "Research")).to.equal(true);
      expect(indexer.consentsOf(patient.address).map((c) => c.scope)).to.not.include(scope);
      // Never granted, or granted but expired at the time asked: nothing to wait for.
      expect(indexer.awaitsConfirmation(patient.address, lab, scope, "Research")).to.equal(false);
      expect(indexer.awaitsConfirmation(patient.address, clinic, scope, "Research", expiry)).to.equal(false);

      await mine(t.provider, 2);
      await indexer.sync();
      expect(indexer.isAllowed(patient.address, clinic, scope, "Research")).to.equal(true);
      expect(indexer.awaitsConfirmation(patient.address, clinic, scope, "Research")).to.equal(false);
      expect(indexer.consentsOf(patient.address).map((c) => c.scope)).to.include(scope);

      // A revoke counts as soon as it is mined: unlisted at once, and nothing awaits confirmation.
      await client.revoke({ grantee: clinic, scope, purpose: "Research" });
      await indexer.sync();
      expect(indexer.consentsOf(patient.address).map((c) => c.scope)).to.not.include(scope);
      expect(indexer.awaitsConfirmation(patient.address, clinic, scope, "Research")).to.equal(false);
    });

    it("forgets a consent whose grant a reorg orphaned", async () => {
      const indexer = await started({ confirmations: 0 });
      const newcomer = walletAt(6);
      const snapshot = (await t.provider.send("evm_snapshot", [])) as string;
      await client
        .connect(t.signer(6))
        .grant({ grantee: clinic, scope: sid(newcomer, "category:laboratory"), purpose: "Treatment", expiry });
      await indexer.sync();
      expect(indexer.consentsOf(newcomer.address)).to.have.length(1);
      await t.provider.send("evm_revert", [snapshot]);
      await mine(t.provider, 3);
      await indexer.sync();
      expect(indexer.consentsOf(newcomer.address)).to.deep.equal([]);
    });

    it("consentsOf and awaitsConfirmation fail closed (IndexerStaleError) when the index is stale", async () => {
      let now = Date.now();
      const indexer = await started({ confirmations: 0, staleAfterMs: 1000, clock: () => now });
      expect(indexer.consentsOf(patient.address)).to.have.length(2);
      now += 5000;
      expect(() => indexer.consentsOf(patient.address)).to.throw(IndexerStaleError);
      expect(() =>
        indexer.awaitsConfirmation(patient.address, clinic, sid(patient, "category:laboratory"), "Treatment"),
      ).to.throw(IndexerStaleError);
    });
  });
});
