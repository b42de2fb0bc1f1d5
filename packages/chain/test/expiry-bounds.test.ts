import { expect } from "chai";
import {
  ConsentRegistryClient,
  DEFAULT_MAX_EXPIRY_AHEAD_SECONDS,
  InvalidInputError,
  requireFutureTime,
  signGrant,
  timeBounds,
} from "../src/index.ts";
import { startTestChain, walletAt, type TestChain } from "./support/chain.ts";
import { sid } from "./support/scopes.ts";
import { refusal } from "./support/settle.ts";

const YEAR = 31_557_600;

describe("expiry and deadline bounds of the ConsentRegistry client (anvil)", function () {
  this.timeout(60_000);
  let t: TestChain;
  let registry: ConsentRegistryClient;
  const patient = walletAt(2);
  const clinic = walletAt(3).address;
  const now = () => Math.floor(Date.now() / 1000);
  const grant = (expiry: number | bigint) => ({
    grantee: clinic,
    scope: sid(patient, "fhir:Observation"),
    purpose: "Treatment",
    expiry,
  });

  before(async () => {
    t = await startTestChain();
    registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(2));
  });
  after(async () => t?.stop());

  it("refuses an expiry in milliseconds, saying to divide by 1000, before sending anything", async () => {
    const nonce = await t.provider.getTransactionCount(patient.address);
    const error = refusal(() => registry.grant(grant(Date.now() + 3_600_000)));
    expect(error.field).to.equal("expiry");
    expect(error.code).to.equal("INVALID_INPUT");
    expect(error.message).to.match(/looks like milliseconds: divide by 1000/);
    expect(await t.provider.getTransactionCount(patient.address)).to.equal(nonce);
  });

  it("refuses an expiry in the past with a clear error instead of a contract revert", () => {
    const error = refusal(() => registry.grant(grant(now() - 60)));
    expect(error.field).to.equal("expiry");
    expect(error.message).to.match(/is in the past \(now is \d+\); use a future unix time in seconds/);
  });

  it("refuses more than 10 years ahead by default; the client option raises the bound", async () => {
    expect(DEFAULT_MAX_EXPIRY_AHEAD_SECONDS).to.equal(10 * YEAR);
    const error = refusal(() => registry.grant(grant(now() + 11 * YEAR)));
    expect(error.message).to.match(/11\.0 years ahead; at most 315576000 s ahead .* maxExpiryAheadSeconds/);
    const patient20 = new ConsentRegistryClient(registry.address, t.signer(2), { maxExpiryAheadSeconds: 20 * YEAR });
    const granted = await patient20.grant(grant(now() + 11 * YEAR));
    expect(granted.events[0]).to.include({ type: "ConsentGranted" });
    expect(() => new ConsentRegistryClient(registry.address, t.provider, { maxExpiryAheadSeconds: 0 })).to.throw(
      InvalidInputError,
      /maxExpiryAheadSeconds/,
    );
  });

  it("grantBatch names the item whose expiry is out of bounds", () => {
    const error = refusal(() => registry.grantBatch([grant(now() + 3600), grant(Date.now())]));
    expect(error.field).to.equal("items[1].expiry");
    expect(error.message).to.match(/milliseconds/);
  });

  it("nextGrantTypedData / nextRevokeTypedData bound the expiry and the signature deadline", async () => {
    const base = {
      patient: patient.address,
      grantee: clinic,
      scope: sid(patient, "fhir:Observation"),
      purpose: "Treatment",
    };
    const cases: [Promise<unknown>, RegExp][] = [
      [registry.nextGrantTypedData({ ...base, expiry: Date.now(), deadline: now() + 600 }), /expiry: .*milliseconds/],
      [
        registry.nextGrantTypedData({ ...base, expiry: now() + 3600, deadline: Date.now() }),
        /deadline: .*milliseconds/,
      ],
      [registry.nextGrantTypedData({ ...base, expiry: now() + 3600, deadline: now() - 1 }), /deadline: .*in the past/],
      [registry.nextRevokeTypedData({ ...base, deadline: now() - 1 }), /deadline: .*in the past/],
    ];
    for (const [attempt, message] of cases) {
      await attempt.then(
        () => expect.fail(`expected ${String(message)}`),
        (error: unknown) => expect(error).to.be.instanceOf(InvalidInputError).and.match(message),
      );
    }
    const ok = await registry.nextGrantTypedData({ ...base, expiry: now() + 3600, deadline: now() + 600 });
    expect(ok.patient).to.equal(patient.address);
  });

  it("a relayer refuses a signed grant whose expiry is in milliseconds", async () => {
    const domain = await registry.domain();
    const signed = await signGrant(patient, domain, {
      ...grant(Date.now() + 3_600_000),
      version: 0,
      deadline: now() + 600,
      patient: patient.address,
    });
    const relayer = registry.connect(t.signer(9));
    expect(() => relayer.grantBySig(signed)).to.throw(InvalidInputError, /expiry: .*divide by 1000/);
  });

  it("a break-glass window given in milliseconds is named as such", () => {
    expect(() =>
      registry.setEmergencyGrantee(clinic, {
        maxDurationSeconds: 3_600_000,
        scopes: [sid(patient, "category:allergy")],
      }),
    ).to.throw(
      InvalidInputError,
      /at most 604800 seconds \(7 days\), got 3600000; 3600000 looks like milliseconds: divide by 1000/,
    );
  });
});

describe("requireFutureTime at the edges (fixed clock)", () => {
  const NOW = 1_767_225_600; // 2026-01-01T00:00:00Z
  const bounds = timeBounds({ clock: () => NOW * 1000 });
  const check = (value: unknown) => requireFutureTime(value, 64, "expiry", bounds);
  const refusal = (value: unknown): string => {
    try {
      check(value);
    } catch (error) {
      expect(error).to.be.instanceOf(InvalidInputError);
      expect((error as InvalidInputError).field).to.equal("expiry");
      return (error as InvalidInputError).detail;
    }
    return expect.fail(`expected ${String(value)} to be refused`);
  };

  it("refuses 0, negative, NaN and fractional values, naming what is wrong", () => {
    expect(refusal(0)).to.match(/^0 is in the past \(now is 1767225600\)/);
    expect(refusal(-1)).to.match(/must not be negative/);
    expect(refusal(Number.NaN)).to.match(/expected an integer, got NaN/);
    expect(refusal(NOW + 0.5)).to.match(/expected an integer/);
    expect(refusal(NOW)).to.match(/is in the past/);
  });

  it("accepts exactly 10 years ahead and refuses one second more, without a milliseconds hint", () => {
    expect(check(NOW + DEFAULT_MAX_EXPIRY_AHEAD_SECONDS)).to.equal(BigInt(NOW + DEFAULT_MAX_EXPIRY_AHEAD_SECONDS));
    expect(check(NOW + 1)).to.equal(BigInt(NOW + 1));
    const detail = refusal(NOW + DEFAULT_MAX_EXPIRY_AHEAD_SECONDS + 1);
    expect(detail).to.match(/is 10\.0 years ahead; at most 315576000 s ahead/);
    expect(detail).to.not.match(/milliseconds/);
  });

  it("says 'divide by 1000' for a future time in milliseconds, on both sides of 1e12", () => {
    expect(refusal((NOW + 3600) * 1000)).to.match(/looks like milliseconds: divide by 1000 .*1767229200, 2026-01-01/);
    // At a clock in 2001, 1e12 − 1 ms is a few hours ahead: the hint no longer stops at 1e12.
    const in2001 = timeBounds({ clock: () => 999_990_000_000 });
    const early = (value: bigint) => () => requireFutureTime(value, 64, "expiry", in2001);
    expect(early(999_999_999_999n)).to.throw(InvalidInputError, /999999999999 looks like milliseconds: divide by 1000/);
    expect(early(1_000_000_000_000n)).to.throw(InvalidInputError, /looks like milliseconds: divide by 1000/);
  });

  it("for a large value that is not a plausible time in milliseconds either, says what it would be", () => {
    expect(refusal(999_999_999_999)).to.match(
      /years ahead \(read as milliseconds it would be 2001-09-09, in the past\); at most/,
    );
    expect(refusal(1_000_000_000_000n)).to.match(/read as milliseconds it would be 2001-09-09, in the past/);
    expect(refusal(2n ** 64n - 1n)).to.match(
      /^18446744073709551615 is 5\.8e\+11 years ahead \(read as milliseconds it would be .*also too far ahead\)/,
    );
    expect(refusal(2n ** 64n)).to.match(/does not fit in uint64/);
    expect(() => requireFutureTime(2n ** 255n, 256, "deadline", bounds)).to.throw(InvalidInputError, /years ahead/);
  });
});
