// Strict mode (config chain.strict) on the real stack: a key release asks the ConsentRegistry at the latest block
// instead of the indexer, so it answers with the indexer stopped, a revoke bites with no indexer poll at all, and a
// chain that cannot answer is a 503 naming the chain plus a deny event, never a release. It keeps the indexer's rules
// while reading the contract: a grant counts once `confirmations` deep, and expiry is compared with
// max(wall clock, head time), not with the time of a head that no transaction has moved for a while.
import { expect } from "chai";
import { blindEmergencyScopes } from "@hygeia/chain";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { expectProblem } from "../support/http.ts";
import {
  addRecord,
  askKey,
  auditEventsOf,
  dayAhead,
  encryptRecord,
  observationIds,
  patientScopes,
  readRecord,
  registryAs,
  signInParties,
  type Party,
} from "./world.ts";

describe("gateway key release in strict mode (the contract decides)", function () {
  let stack: TestStack;
  let alice: Party;
  let clinic: Party;
  let cid: string;
  let plaintext: Uint8Array;
  let laboratory: string;

  before(async function () {
    stack = await startTestStack({ config: { chain: { strict: true } } });
    const parties = await signInParties(stack, [stack.accounts.alice, stack.accounts.clinic]);
    [alice, clinic] = parties as [Party, Party];
    const scopes = patientScopes(alice.address);
    laboratory = scopes.id("category:laboratory");
    const record = await encryptRecord("Observation: creatinine 80 umol/L (canary-records-strict)");
    plaintext = record.plaintext;
    cid = await addRecord(stack, alice, record, observationIds(alice, scopes, "laboratory"), [clinic]);
    // The indexer is stopped: whatever strict mode answers, it does not come from the index.
    await stack.services.chain.indexer.stop();
  });

  after(async function () {
    await stack?.close();
  });

  it("releases under a grant the indexer never saw", async function () {
    await registryAs(stack, alice.wallet).grant({
      grantee: clinic.address,
      scope: laboratory,
      purpose: "Treatment",
      expiry: await dayAhead(stack),
    });
    const read = await readRecord(stack, clinic, alice, cid);
    expect(read.plaintext).to.deep.equal(plaintext);
    expect(read.key).to.include({ scope: laboratory, consentAddress: alice.address });
  });

  it("refuses right after the revoke is mined, with no indexer poll", async function () {
    await registryAs(stack, alice.wallet).revoke({ grantee: clinic.address, scope: laboratory, purpose: "Treatment" });
    expectProblem(await askKey(stack, clinic, alice, cid), 403, "CONSENT_REQUIRED");
    const last = (await auditEventsOf(stack, alice.address)).at(-1)!;
    expect(last).to.include({ type: "access_denied", reason: "NO_CONSENT", actor: clinic.address });
  });

  it("fails closed when the chain cannot answer: 503 naming the chain, and a deny event", async function () {
    await stack.local.chain.stop();
    const res = await askKey(stack, clinic, alice, cid);
    expectProblem(res, 503, "CHAIN_UNAVAILABLE");
    expect(res.json).to.include({ dependency: "chain" });
    const last = (await auditEventsOf(stack, alice.address)).at(-1)!;
    expect(last).to.include({ type: "access_denied", reason: "CHAIN_UNAVAILABLE", actor: clinic.address });
  });
});

describe("gateway key release in strict mode keeps the indexer's rules (confirmations, wall-clock expiry)", function () {
  let stack: TestStack;
  let alice: Party;
  let clinic: Party;
  let doctor: Party;
  let cid: string;
  let scopes: ReturnType<typeof patientScopes>;

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const mine = async (blocks: number) => {
    for (let i = 0; i < blocks; i++) await stack.provider.send("evm_mine", []);
  };

  before(async function () {
    // No audit anchoring while the test runs: its transactions would mine blocks, and this test needs a head that
    // nothing moves (a chain that mines only on demand, with no one asking).
    stack = await startTestStack({
      confirmations: 3,
      config: { chain: { strict: true }, audit: { anchorEveryEvents: 1_000_000, anchorEveryMs: 3_600_000 } },
    });
    const a = stack.accounts;
    const parties = await signInParties(stack, [a.alice, a.clinic, a.clinic2]);
    [alice, clinic, doctor] = parties as [Party, Party, Party];
    scopes = patientScopes(alice.address);
    const record = await encryptRecord("Observation: potassium 4.1 mmol/L (canary-records-strict-rules)");
    cid = await addRecord(stack, alice, record, observationIds(alice, scopes, "laboratory"), [clinic, doctor]);
    await stack.services.chain.indexer.stop();
  });

  after(async function () {
    await stack?.close();
  });

  it("refuses a fresh grant until it is `confirmations` (3) blocks deep, then releases", async function () {
    await registryAs(stack, alice.wallet).grant({
      grantee: clinic.address,
      scope: scopes.id("category:laboratory"),
      purpose: "Treatment",
      expiry: await dayAhead(stack),
    });
    expectProblem(await askKey(stack, clinic, alice, cid), 403, "CONSENT_REQUIRED");
    await mine(2);
    expectProblem(await askKey(stack, clinic, alice, cid), 403, "CONSENT_REQUIRED");
    await mine(1);
    expect((await askKey(stack, clinic, alice, cid)).status).to.equal(200);
  });

  it("refuses once a grant's expiry passed on the wall clock, though no block was mined since", async function () {
    this.timeout(120_000);
    const head = (await stack.provider.getBlock("latest"))!;
    const expiry = Math.max(Math.floor(Date.now() / 1000), head.timestamp) + 15;
    await registryAs(stack, alice.wallet).grant({
      grantee: clinic.address,
      scope: scopes.id("fhir:Observation"),
      purpose: "Research",
      expiry,
    });
    await mine(3);
    expect((await askKey(stack, clinic, alice, cid, "Research")).status).to.equal(200);
    const headBefore = await stack.provider.getBlockNumber();
    // Wait, mining nothing, until the wall clock is past the expiry: the latest block's time is still before it.
    await sleep(Math.max(0, (expiry + 2) * 1000 - Date.now()));
    expect(await stack.provider.getBlockNumber()).to.equal(headBefore);
    expect((await stack.provider.getBlock("latest"))!.timestamp).to.be.below(expiry);
    expectProblem(await askKey(stack, clinic, alice, cid, "Research"), 403, "CONSENT_REQUIRED");
    const last = (await auditEventsOf(stack, alice.address)).at(-1)!;
    expect(last).to.include({ type: "access_denied", reason: "NO_CONSENT", actor: clinic.address });
  });

  it("counts a break-glass window only once confirmed, like a grant", async function () {
    const laboratory = scopes.id("category:laboratory");
    const card = blindEmergencyScopes([laboratory]);
    await registryAs(stack, alice.wallet).setEmergencyGrantee(doctor.address, {
      maxDurationSeconds: 3600,
      scopes: card,
    });
    await registryAs(stack, doctor.wallet).breakGlass(alice.address, laboratory, { scopes: card });
    expectProblem(await askKey(stack, doctor, alice, cid, "Emergency"), 403, "CONSENT_REQUIRED");
    await mine(3);
    const res = await askKey(stack, doctor, alice, cid, "Emergency");
    expect(res.status, res.text).to.equal(200);
    expect(res.json).to.include({ emergency: true, scope: laboratory });
  });

  it("a revoke bites as soon as it is mined, before it is confirmed", async function () {
    await registryAs(stack, alice.wallet).revoke({
      grantee: clinic.address,
      scope: scopes.id("category:laboratory"),
      purpose: "Treatment",
    });
    expectProblem(await askKey(stack, clinic, alice, cid), 403, "CONSENT_REQUIRED");
  });
});
