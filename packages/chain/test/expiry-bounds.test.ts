import { expect } from "chai";
import { ConsentRegistryClient, DEFAULT_MAX_EXPIRY_AHEAD_SECONDS, InvalidInputError, signGrant } from "../src/index.ts";
import { startTestChain, walletAt, type TestChain } from "./support/chain.ts";

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
    scope: "fhir:Observation",
    purpose: "Treatment",
    expiry,
  });

  before(async () => {
    t = await startTestChain();
    registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(2));
  });
  after(async () => t?.stop());

  function refusal(call: () => unknown): InvalidInputError {
    try {
      call();
    } catch (error) {
      expect(error).to.be.instanceOf(InvalidInputError);
      return error as InvalidInputError;
    }
    return expect.fail("expected an InvalidInputError");
  }

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
    const base = { patient: patient.address, grantee: clinic, scope: "fhir:Observation", purpose: "Treatment" };
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
    expect(() => registry.setEmergencyGrantee(clinic, 3_600_000)).to.throw(
      InvalidInputError,
      /at most 604800 seconds \(7 days\), got 3600000; 3600000 looks like milliseconds: divide by 1000/,
    );
  });
});
