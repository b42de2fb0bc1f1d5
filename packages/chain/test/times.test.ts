import { expect } from "chai";
import {
  ConsentIndexer,
  InvalidInputError,
  TrustRegistryClient,
  requireTimeNotAhead,
  requireUnixSeconds,
  timeBounds,
} from "../src/index.ts";
import { latestTimestamp, startTestChain, walletAt, type TestChain } from "./support/chain.ts";
import { scopesOf, sid } from "./support/scopes.ts";
import { refusal } from "./support/settle.ts";

const YEAR = 31_557_600;

describe("times given to the TrustRegistry client and the indexer (anvil)", function () {
  this.timeout(60_000);
  let t: TestChain;
  let governance: TrustRegistryClient;
  const issuer = walletAt(6).address;
  const now = () => Math.floor(Date.now() / 1000);

  before(async () => {
    t = await startTestChain();
    governance = new TrustRegistryClient(t.deployment.contracts.TrustRegistry, t.signer(0));
  });
  after(async () => t?.stop());

  describe("accredit", () => {
    it("refuses a validUntil in milliseconds, saying to divide by 1000, before sending anything", async () => {
      const nonce = await t.provider.getTransactionCount(walletAt(0).address);
      const error = refusal(() =>
        governance.accredit({ issuer, role: "irb", validFrom: now() - 60, validUntil: Date.now() + 3_600_000 }),
      );
      expect(error.field).to.equal("validUntil");
      expect(error.code).to.equal("INVALID_INPUT");
      expect(error.message).to.match(/looks like milliseconds: divide by 1000/);
      expect(await t.provider.getTransactionCount(walletAt(0).address)).to.equal(nonce);
    });

    it("names a validFrom in milliseconds as such, not as 'validUntil must be after validFrom'", () => {
      const error = refusal(() =>
        governance.accredit({ issuer, role: "irb", validFrom: Date.now(), validUntil: now() + 3600 }),
      );
      expect(error.field).to.equal("validFrom");
      expect(error.message).to.match(/looks like milliseconds: divide by 1000/);
    });

    it("refuses a window ending more than 10 years ahead; maxExpiryAheadSeconds raises it, connect keeps it", async () => {
      const error = refusal(() =>
        governance.accredit({ issuer, role: "insurer", validFrom: now(), validUntil: now() + 11 * YEAR }),
      );
      expect(error.field).to.equal("validUntil");
      expect(error.message).to.match(/11\.0 years ahead; at most 315576000 s ahead .* maxExpiryAheadSeconds/);
      const trust20 = new TrustRegistryClient(governance.address, t.provider, { maxExpiryAheadSeconds: 20 * YEAR });
      const validUntil = now() + 11 * YEAR; // read the clock once: a second may tick between two reads
      const accredited = await trust20
        .connect(t.signer(0))
        .accredit({ issuer, role: "insurer", validFrom: now(), validUntil });
      expect(accredited.events[0]).to.include({ type: "IssuerAccredited", validUntil: BigInt(validUntil) });
      expect(() => new TrustRegistryClient(governance.address, t.provider, { maxExpiryAheadSeconds: -1 })).to.throw(
        InvalidInputError,
        /maxExpiryAheadSeconds/,
      );
    });

    it("refuses a validUntil in the past and malformed times, naming the field", () => {
      expect(
        refusal(() => governance.accredit({ issuer, role: "irb", validFrom: 0, validUntil: now() - 1 })).message,
      ).to.match(/^validUntil: \d+ is in the past/);
      expect(
        refusal(() => governance.accredit({ issuer, role: "irb", validFrom: -1, validUntil: now() + 60 })).field,
      ).to.equal("validFrom");
      expect(
        refusal(() => governance.accredit({ issuer, role: "irb", validFrom: 0, validUntil: Number.NaN })).message,
      ).to.match(/validUntil: expected an integer, got NaN/);
      expect(
        refusal(() => governance.accredit({ issuer, role: "irb", validFrom: 0.5, validUntil: now() + 60 })).field,
      ).to.equal("validFrom");
      expect(
        refusal(() => governance.accredit({ issuer, role: "irb", validFrom: now() + 7200, validUntil: now() + 3600 }))
          .message,
      ).to.match(/validUntil: must be after validFrom/);
    });

    it("accepts a validFrom in the past, 0 meaning since always", async () => {
      const outcome = await governance.accredit({
        issuer,
        role: "medical-board",
        validFrom: 0,
        validUntil: now() + 60,
      });
      expect(outcome.events[0]).to.include({ type: "IssuerAccredited", validFrom: 0n });
    });
  });

  it("isTrustedAt refuses a time in milliseconds instead of answering for the year ~58,000", async () => {
    const chainNow = await latestTimestamp(t.provider);
    await governance.accredit({
      issuer,
      role: "identity-issuer",
      validFrom: chainNow - 60,
      validUntil: chainNow + 3600,
    });
    expect(await governance.isTrustedAt(issuer, "identity-issuer", chainNow)).to.equal(true);
    const error = refusal(() => governance.isTrustedAt(issuer, "identity-issuer", Date.now()));
    expect(error.field).to.equal("at");
    expect(error.message).to.match(/looks like milliseconds: divide by 1000/);
    expect(refusal(() => governance.isTrustedAt(issuer, "identity-issuer", -5)).field).to.equal("at");
  });

  it("the indexer's isAllowed and checkRecordAccess refuse a time in milliseconds instead of answering", async () => {
    const indexer = new ConsentIndexer({
      provider: t.provider,
      address: t.deployment.contracts.ConsentRegistry,
      startBlock: t.deployment.deployedAt.block,
    });
    await indexer.sync();
    const [patient, grantee] = [walletAt(2).address, walletAt(3).address];
    expect(indexer.isAllowed(patient, grantee, sid(patient, "fhir:Observation"), "Treatment", now())).to.equal(false);
    const allowed = refusal(() =>
      indexer.isAllowed(patient, grantee, sid(patient, "fhir:Observation"), "Treatment", Date.now()),
    );
    expect(allowed.field).to.equal("atUnixSeconds");
    expect(allowed.message).to.match(/looks like milliseconds: divide by 1000/);
    const query = {
      patient,
      grantee,
      record: { scopeIds: scopesOf(patient).forRecord({ resourceType: "Observation" }) },
      purpose: "Treatment",
    };
    expect(indexer.checkRecordAccess(query, now()).allowed).to.equal(false);
    const record = refusal(() => indexer.checkRecordAccess(query, Date.now()));
    expect(record.field).to.equal("atUnixSeconds");
    expect(record.message).to.match(/divide by 1000/);
    expect(refusal(() => indexer.checkRecordAccess(query, 1.5)).field).to.equal("atUnixSeconds");
    await indexer.stop();
  });
});

describe("requireUnixSeconds / requireTimeNotAhead at the edges", () => {
  const detail = (call: () => unknown): string => refusal(call).detail;

  it("accepts any unix time below 1e11 (the year 5138) and refuses 1e11 on as milliseconds", () => {
    expect(requireUnixSeconds(0, "at")).to.equal(0n);
    expect(requireUnixSeconds(99_999_999_999, "at")).to.equal(99_999_999_999n);
    expect(detail(() => requireUnixSeconds(100_000_000_000, "at"))).to.match(
      /^100000000000 looks like milliseconds: divide by 1000 \(expected unix seconds, e\.g\. 100000000, 1973-03-03\)/,
    );
    expect(detail(() => requireUnixSeconds(1_767_225_600_000n, "at"))).to.match(
      /divide by 1000 .*1767225600, 2026-01-01/,
    );
  });

  it("for a value that is not a plausible time in milliseconds either, says so without 'divide by 1000'", () => {
    const refused = detail(() => requireUnixSeconds(10n ** 15n, "at"));
    expect(refused).to.match(
      /after the year 5138 as unix seconds \(read as milliseconds it would be .*also too far ahead\)/,
    );
    expect(refused).to.not.match(/divide by 1000/);
  });

  it("refuses negative, NaN, fractional and non-numeric times", () => {
    expect(detail(() => requireUnixSeconds(-1, "at"))).to.match(/must not be negative/);
    expect(detail(() => requireUnixSeconds(Number.NaN, "at"))).to.match(/expected an integer, got NaN/);
    expect(detail(() => requireUnixSeconds(1.5, "at"))).to.match(/expected an integer/);
    expect(detail(() => requireUnixSeconds("soon", "at"))).to.match(/expected a uint64/);
  });

  it("requireTimeNotAhead accepts the past and up to maxAheadSeconds ahead, and refuses one second more", () => {
    const NOW = 1_767_225_600;
    const bounds = timeBounds({ clock: () => NOW * 1000, maxExpiryAheadSeconds: 100 });
    expect(requireTimeNotAhead(0, 64, "validFrom", bounds)).to.equal(0n);
    expect(requireTimeNotAhead(NOW + 100, 64, "validFrom", bounds)).to.equal(BigInt(NOW + 100));
    expect(detail(() => requireTimeNotAhead(NOW + 101, 64, "validFrom", bounds))).to.match(
      /years ahead; at most 100 s ahead/,
    );
    expect(detail(() => requireTimeNotAhead(NOW * 1000, 64, "validFrom", bounds))).to.match(/divide by 1000/);
  });
});
