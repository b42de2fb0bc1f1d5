import { expect } from "chai";
import { hexlify, keccak256, randomBytes, toUtf8Bytes } from "ethers";
import {
  AuditAnchorClient,
  ChainUnavailableError,
  ConsentRegistryClient,
  ContractNotDeployedError,
  InvalidInputError,
  InvalidPurposeError,
  InvalidScopeError,
  Purpose,
  TrustRegistryClient,
  emergencyScopes,
  emergencyScopesRoot,
  trustRoleId,
  startLocalChain,
} from "../src/index.ts";
import {
  advanceTime,
  connectProvider,
  latestTimestamp,
  startTestChain,
  walletAt,
  type TestChain,
} from "./support/chain.ts";
import { sid } from "./support/scopes.ts";
import { refusal, rejection, revertOf } from "./support/settle.ts";

describe("contract clients (anvil)", function () {
  this.timeout(60_000);
  let t: TestChain;
  const patient = walletAt(2);
  const clinic = walletAt(3);
  const lab = walletAt(4);

  before(async () => {
    t = await startTestChain();
  });
  after(async () => t?.stop());

  describe("ConsentRegistryClient", () => {
    let registry: ConsentRegistryClient;
    before(() => {
      registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(2));
    });

    it("grants, reads the slot, and revokes; events are typed", async () => {
      const expiry = (await latestTimestamp(t.provider)) + 3600;
      const key = {
        patient: patient.address,
        grantee: clinic.address,
        scope: sid(patient, "fhir:Observation"),
        purpose: Purpose.Treatment,
      };
      const granted = await registry.grant({
        grantee: clinic.address,
        scope: sid(patient, "fhir:Observation"),
        purpose: "treatment",
        expiry,
      });
      expect(granted.events).to.deep.equal([
        {
          type: "ConsentGranted",
          patient: patient.address,
          grantee: clinic.address,
          scope: sid(patient, "fhir:Observation"),
          purpose: 1,
          expiry: BigInt(expiry),
          version: 1,
          position: {
            blockNumber: granted.blockNumber,
            blockHash: granted.blockHash,
            transactionHash: granted.hash,
            logIndex: 0,
          },
        },
      ]);
      expect(granted.gasUsed > 0n).to.equal(true);
      expect(await registry.isAllowed(key)).to.equal(true);
      // An id in upper-case hex names the same slot (ids are compared lowercased).
      const upper = `0x${sid(patient, "fhir:Observation").slice(2).toUpperCase()}`;
      expect(await registry.isAllowed({ ...key, scope: upper })).to.equal(true);
      expect(await registry.isAllowed({ ...key, purpose: Purpose.Research })).to.equal(false);
      expect(await registry.consentOf(key)).to.deep.equal({ expiry: BigInt(expiry), version: 1 });
      // Views at an explicit block: before the grant nothing was there.
      expect(await registry.isAllowed(key, granted.blockNumber - 1)).to.equal(false);

      const revoked = await registry.revoke({
        grantee: clinic.address,
        scope: sid(patient, "fhir:Observation"),
        purpose: Purpose.Treatment,
      });
      expect(revoked.events[0]).to.include({ type: "ConsentRevoked", version: 2 });
      expect(await registry.isAllowed(key)).to.equal(false);
      expect(await registry.consentOf(key)).to.deep.equal({ expiry: 0n, version: 2 });

      // A revoke always writes (it is how outstanding signatures are cancelled): again, and on a slot never written.
      const again = await registry.revoke({
        grantee: clinic.address,
        scope: sid(patient, "fhir:Observation"),
        purpose: 1,
      });
      expect(again.events[0]).to.include({ type: "ConsentRevoked", version: 3 });
      expect(await registry.consentOf(key)).to.deep.equal({ expiry: 0n, version: 3 });
      const never = await registry.revoke({
        grantee: clinic.address,
        scope: sid(patient, "fhir:Immunization"),
        purpose: 2,
      });
      expect(never.events[0]).to.include({ type: "ConsentRevoked", purpose: 2, version: 1 });
    });

    it("decodes custom-error arguments of reverts", async () => {
      const now = await latestTimestamp(t.provider);
      // A client whose clock is an hour behind passes the past-expiry pre-check; the contract refuses.
      const behind = new ConsentRegistryClient(registry.address, t.signer(2), { clock: () => (now - 3600) * 1000 });
      const past = await revertOf(
        behind.grant({
          grantee: clinic.address,
          scope: sid(patient, "category:imaging"),
          purpose: 1,
          expiry: now - 10,
        }),
      );
      expect(past.errorName).to.equal("ExpiryInPast");
      expect(past.args).to.deep.equal({ expiry: BigInt(now - 10) });
      expect(past.data.startsWith(registry.contract.interface.getError("ExpiryInPast")!.selector)).to.equal(true);
    });

    it("grantBatch writes every item and names the bad item on validation errors", async () => {
      const expiry = (await latestTimestamp(t.provider)) + 7200;
      const items = [
        { grantee: clinic.address, scope: sid(patient, "category:laboratory"), purpose: "Treatment", expiry },
        { grantee: lab.address, scope: sid(patient, "category:laboratory"), purpose: "Payment", expiry },
        { grantee: lab.address, scope: sid(patient, "study:diabetes-2026"), purpose: "Research", expiry },
      ];
      const outcome = await registry.grantBatch(items);
      expect(outcome.events.map((e) => e.type)).to.deep.equal(["ConsentGranted", "ConsentGranted", "ConsentGranted"]);
      for (const item of items) {
        expect(await registry.isAllowed({ patient: patient.address, ...item })).to.equal(true);
      }
      expect(() => registry.grantBatch([items[0]!, { ...items[1]!, scope: "category:labs" }])).to.throw(
        InvalidScopeError,
        /items\[1\]\.scope/,
      );
      expect(() => registry.grantBatch([{ ...items[0]!, purpose: "Emergency" }])).to.throw(
        InvalidPurposeError,
        /items\[0\]\.purpose/,
      );
      expect(() => registry.grantBatch([])).to.throw(InvalidInputError, /at least one/);
    });

    it("break-glass: only a registered grantee, on a named scope, within the registration's single window", async () => {
      const doctor = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(5));
      const scopes = [sid(patient, "category:medication"), sid(patient, "category:allergy")];
      const key = {
        patient: patient.address,
        grantee: walletAt(5).address,
        scope: sid(patient, "category:medication"),
        purpose: Purpose.Emergency,
      };

      const refused = await revertOf(
        doctor.breakGlass(patient.address, sid(patient, "category:medication"), { scopes }),
      );
      expect(refused.errorName).to.equal("NotEmergencyGrantee");
      expect(refused.args).to.deep.equal({ patient: patient.address, grantee: walletAt(5).address });

      expect(() =>
        registry.setEmergencyGrantee(walletAt(5).address, { maxDurationSeconds: 8 * 24 * 3600, scopes }),
      ).to.throw(InvalidInputError, /7 days/);
      const set = await registry.setEmergencyGrantee(walletAt(5).address, { maxDurationSeconds: 3600, scopes });
      const root = emergencyScopesRoot(scopes);
      expect(set.events[0]).to.include({ type: "EmergencyGranteeSet", maxDuration: 3600, scopesRoot: root });
      expect(await registry.emergencyGranteeOf(patient.address, walletAt(5).address)).to.deep.equal({
        maxDurationSeconds: 3600,
        windowEnd: 0n,
        scopesRoot: root,
        epoch: 1,
      });

      const opened = await doctor.breakGlass(patient.address, sid(patient, "category:medication"), { scopes });
      const block = await t.provider.getBlock(opened.blockNumber);
      const windowEnd = BigInt(block!.timestamp + 3600);
      expect(opened.events[0]).to.include({ type: "EmergencyAccess", purpose: 3, expiry: windowEnd, version: 1 });
      expect((await registry.emergencyGranteeOf(patient.address, walletAt(5).address)).windowEnd).to.equal(windowEnd);
      expect(await registry.isAllowed(key)).to.equal(true);

      // A later scope joins the same window, never extending it.
      await advanceTime(t.provider, 600);
      const later = await doctor.breakGlass(patient.address, sid(patient, "category:allergy"), {
        proof: emergencyScopes(scopes).proof(sid(patient, "category:allergy")),
      });
      expect(later.events[0]).to.include({ type: "EmergencyAccess", expiry: windowEnd, version: 1 });
      // Breaking the glass again on an open scope writes nothing: same expiry, same version.
      const again = await doctor.breakGlass(patient.address, sid(patient, "category:medication"), { scopes });
      expect(again.events[0]).to.include({ type: "EmergencyAccess", expiry: windowEnd, version: 1 });
      expect(await registry.consentOf(key)).to.deep.equal({ expiry: windowEnd, version: 1 });

      await advanceTime(t.provider, 3001);
      expect(await registry.isAllowed(key)).to.equal(false);
      const used = await revertOf(doctor.breakGlass(patient.address, sid(patient, "category:medication"), { scopes }));
      expect(used.errorName).to.equal("EmergencyWindowUsed");
      expect(used.args).to.deep.equal({ windowEnd });
      expect(used.message).to.match(/the patient must register the grantee again/);
    });

    it("validates inputs before sending anything", () => {
      expect(() =>
        registry.grant({ grantee: "0x123", scope: sid(patient, "fhir:Patient"), purpose: 1, expiry: 1 }),
      ).to.throw(InvalidInputError, /grantee/);
      expect(() =>
        registry.grant({ grantee: clinic.address, scope: sid(patient, "fhir:Patient"), purpose: 1, expiry: 2n ** 64n }),
      ).to.throw(InvalidInputError, /uint64/);
      expect(() => registry.revoke({ grantee: clinic.address, scope: "all", purpose: 1 })).to.throw(InvalidScopeError);
      expect(() =>
        registry.isAllowed({
          patient: patient.address,
          grantee: clinic.address,
          scope: sid(patient, "fhir:Patient"),
          purpose: 7 as Purpose,
        }),
      ).to.throw(InvalidPurposeError);
    });

    it("refuses a canonical scope string in every call, pointing at PatientScopes.id, and sends nothing", async () => {
      const doctor = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(5));
      const nonces = async () => [
        await t.provider.getTransactionCount(patient.address),
        await t.provider.getTransactionCount(walletAt(5).address),
      ];
      const before = await nonces();
      const expiry = (await latestTimestamp(t.provider)) + 3600;
      const scope = "category:mental-health";
      const refusals: Array<[string, () => unknown, string]> = [
        ["grant", () => registry.grant({ grantee: clinic.address, scope, purpose: 1, expiry }), "scope"],
        [
          "grantBatch",
          () => registry.grantBatch([{ grantee: clinic.address, scope, purpose: 1, expiry }]),
          "items[0].scope",
        ],
        ["revoke", () => registry.revoke({ grantee: clinic.address, scope, purpose: 1 }), "scope"],
        [
          "isAllowed",
          () => registry.isAllowed({ patient: patient.address, grantee: clinic.address, scope, purpose: 1 }),
          "scope",
        ],
        [
          "setEmergencyGrantee",
          () => registry.setEmergencyGrantee(walletAt(5).address, { maxDurationSeconds: 600, scopes: [scope] }),
          "scopes[0]",
        ],
        ["breakGlass", () => doctor.breakGlass(patient.address, scope, { scopes: [sid(patient, scope)] }), "scope"],
        [
          "breakGlass (list)",
          () => doctor.breakGlass(patient.address, sid(patient, scope), { scopes: [scope] }),
          "scopes[0]",
        ],
      ];
      for (const [call, run, field] of refusals) {
        const error = refusal(run);
        expect(error, call).to.be.instanceOf(InvalidScopeError);
        expect(error.code, call).to.equal("INVALID_SCOPE");
        expect(error.field, call).to.equal(field);
        expect(error.message, call).to.include('PatientScopes.id("category:mental-health")');
      }
      expect(await nonces(), "no transaction was sent").to.deep.equal(before);
    });

    it("a read-only client refuses to send; an address without code is reported", async () => {
      const readOnly = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.provider);
      expect(() =>
        readOnly.revoke({ grantee: clinic.address, scope: sid(patient, "fhir:Patient"), purpose: 1 }),
      ).to.throw(InvalidInputError, /needs a Signer/);
      const nowhere = new ConsentRegistryClient(walletAt(8).address, t.signer(2));
      const read = await rejection(
        nowhere.isAllowed({
          patient: patient.address,
          grantee: clinic.address,
          scope: sid(patient, "fhir:Patient"),
          purpose: 1,
        }),
      );
      expect(read).to.be.instanceOf(ContractNotDeployedError);
      expect((read as Error).message).to.match(/no ConsentRegistry code at .* on chain 31337/);
      const expiry = (await latestTimestamp(t.provider)) + 3600;
      const write = await rejection(
        nowhere.grant({ grantee: clinic.address, scope: sid(patient, "fhir:Patient"), purpose: 1, expiry }),
      );
      expect(write).to.be.instanceOf(ContractNotDeployedError);
    });
  });

  describe("TrustRegistryClient", () => {
    it("role ids match the contract's constants", async () => {
      const trust = new TrustRegistryClient(t.deployment.contracts.TrustRegistry, t.provider);
      expect(trustRoleId("irb")).to.equal(await trust.contract.getFunction("IRB")());
      expect(trustRoleId("medical-board")).to.equal(await trust.contract.getFunction("MEDICAL_BOARD")());
      expect(trustRoleId("insurer")).to.equal(keccak256(toUtf8Bytes("hygeia.role.insurer")));
      expect(() => trustRoleId("pharmacy")).to.throw(InvalidInputError, /unknown role/);
      expect(() => trustRoleId("0x" + "00".repeat(32))).to.throw(InvalidInputError, /zero role/);
    });

    it("accredits, answers at a time, revokes; only governance may", async () => {
      const governance = new TrustRegistryClient(t.deployment.contracts.TrustRegistry, t.signer(0));
      const now = await latestTimestamp(t.provider);
      const issuer = walletAt(6).address;
      const outcome = await governance.accredit({
        issuer,
        role: "irb",
        validFrom: now - 100,
        validUntil: now + 10_000,
      });
      expect(outcome.events[0]).to.include({ type: "IssuerAccredited", issuer, role: trustRoleId("irb") });
      expect(await governance.isTrusted(issuer, "irb")).to.equal(true);
      expect(await governance.isTrusted(issuer, "insurer")).to.equal(false);
      expect(await governance.isTrustedAt(issuer, "irb", now - 101)).to.equal(false);
      expect(await governance.isTrustedAt(issuer, "irb", now + 5_000)).to.equal(true);
      expect(await governance.accreditationOf(issuer, "irb")).to.deep.equal({
        validFrom: BigInt(now - 100),
        validUntil: BigInt(now + 10_000),
        revokedAt: 0n,
      });
      expect(() => governance.accredit({ issuer, role: "irb", validFrom: 10, validUntil: 10 })).to.throw(
        InvalidInputError,
        /after validFrom/,
      );

      const outsider = governance.connect(t.signer(7));
      const denied = await revertOf(
        outsider.accredit({ issuer, role: "insurer", validFrom: now, validUntil: now + 10 }),
      );
      expect(denied.errorName).to.equal("OwnableUnauthorizedAccount");
      expect(denied.args).to.deep.equal({ account: walletAt(7).address });

      const revoked = await governance.revokeAccreditation(issuer, "irb");
      expect(revoked.events[0]).to.include({ type: "AccreditationRevoked", issuer });
      expect(await governance.isTrusted(issuer, "irb")).to.equal(false);
      const twice = await revertOf(governance.revokeAccreditation(issuer, "irb"));
      expect(twice.errorName).to.equal("NotAccredited");
    });
  });

  describe("AuditAnchorClient", () => {
    it("anchors contiguous batches and finds a root by its topic", async () => {
      const gateway = new AuditAnchorClient(t.deployment.contracts.AuditAnchor, t.signer(1), {
        fromBlock: t.deployment.deployedAt.block,
        maxBlockRange: 3, // forces several eth_getLogs windows
      });
      const rootA = hexlify(randomBytes(32));
      const rootB = hexlify(randomBytes(32));
      const first = await gateway.anchor(rootA, 0n, 10);
      expect(first.events[0]).to.include({
        type: "AuditRootAnchored",
        root: rootA,
        gateway: walletAt(1).address,
        firstIndex: 0n,
        count: 10,
        batch: 0,
      });
      await gateway.anchor(rootB, 10, 5);
      expect(await gateway.gatewayOf(walletAt(1).address)).to.deep.equal({
        authorized: true,
        nextIndex: 15n,
        batches: 2,
      });

      const found = await gateway.findAnchor(rootA);
      expect(found).to.deep.include({ root: rootA, firstIndex: 0n, count: 10, batch: 0 });
      expect(found!.position.blockNumber).to.equal(first.blockNumber);
      expect(found!.position.transactionHash).to.equal(first.hash);
      expect((await gateway.findAnchor(rootB))!.batch).to.equal(1);
      expect(await gateway.findAnchor(hexlify(randomBytes(32)))).to.equal(null);

      // anchorsOf lists one gateway's anchors in a block range, oldest first, whatever the window size.
      const all = await gateway.anchorsOf(walletAt(1).address.toLowerCase(), {
        fromBlock: t.deployment.deployedAt.block,
      });
      expect(all.map((a) => [a.root, a.firstIndex, a.count, a.batch])).to.deep.equal([
        [rootA, 0n, 10, 0],
        [rootB, 10n, 5, 1],
      ]);
      expect(all[0]!.position.transactionHash).to.equal(first.hash);
      const onlyFirst = await gateway.anchorsOf(walletAt(1).address, {
        fromBlock: t.deployment.deployedAt.block,
        toBlock: first.blockNumber,
      });
      expect(onlyFirst.map((a) => a.root)).to.deep.equal([rootA]);
      expect(await gateway.anchorsOf(walletAt(7).address, { fromBlock: 0 })).to.deep.equal([]);
      expect(() => gateway.anchorsOf(walletAt(1).address, { fromBlock: 5, toBlock: 4 })).to.throw(
        InvalidInputError,
        /toBlock/,
      );

      const gap = await revertOf(gateway.anchor(hexlify(randomBytes(32)), 99, 1));
      expect(gap.errorName).to.equal("NonContiguous");
      expect(gap.args).to.deep.equal({ expectedFirstIndex: 15n, firstIndex: 99n });
      const stranger = await revertOf(gateway.connect(t.signer(7)).anchor(hexlify(randomBytes(32)), 0, 1));
      expect(stranger.errorName).to.equal("NotGateway");
      expect(() => gateway.anchor("0x" + "00".repeat(32), 15, 1)).to.throw(InvalidInputError, /zero root/);
      expect(() => gateway.anchor(rootA, 15, 0)).to.throw(InvalidInputError, /at least one/);
    });
  });

  it("a stopped node surfaces as ChainUnavailableError, saying why", async () => {
    const chain = await startLocalChain();
    const provider = connectProvider(chain.rpcUrl);
    await chain.stop();
    const registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, provider);
    const error = await rejection(
      registry.isAllowed({
        patient: patient.address,
        grantee: clinic.address,
        scope: sid(patient, "fhir:Patient"),
        purpose: 1,
      }),
    );
    provider.destroy();
    expect(error).to.be.instanceOf(ChainUnavailableError);
    expect((error as Error).message).to.match(
      /ConsentRegistry\.isAllowed: the chain node is unavailable \(ECONNREFUSED/,
    );
  });
});
