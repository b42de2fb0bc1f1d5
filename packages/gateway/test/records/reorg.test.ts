// A chain reorg under a running gateway (anvil: evm_snapshot, then evm_revert and a longer branch without the
// transaction): the gateway's index follows the new chain, so a grant the reorg orphaned releases nothing more, and a
// revoke it orphaned no longer refuses. No key is released on consent the canonical chain does not hold.
import { expect } from "chai";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { expectProblem } from "../support/http.ts";
import {
  addRecord,
  askKey,
  dayAhead,
  encryptRecord,
  observationIds,
  patientScopes,
  registryAs,
  signInParties,
  synced,
  type Party,
} from "./world.ts";

describe("gateway key release across a chain reorg", function () {
  let stack: TestStack;
  let alice: Party;
  let clinic: Party;
  let cid: string;
  let laboratory: string;

  before(async function () {
    // No anchoring during the test: an anchor transaction on an orphaned branch is not what this test is about.
    stack = await startTestStack({ config: { audit: { anchorEveryMs: 86_400_000, anchorEveryEvents: 1_000_000 } } });
    [alice, clinic] = (await signInParties(stack, [stack.accounts.alice, stack.accounts.clinic])) as [Party, Party];
    const scopes = patientScopes(alice.address);
    laboratory = scopes.id("category:laboratory");
    const record = await encryptRecord("Observation: potassium 4.1 mmol/L (canary-records-reorg)");
    cid = await addRecord(stack, alice, record, observationIds(alice, scopes, "laboratory"), [clinic]);
  });

  after(async function () {
    await stack?.close();
  });

  /** Alice grants the clinic her laboratory scope for Treatment, for a day; the gateway has seen it. */
  async function grantLaboratory(): Promise<void> {
    const expiry = await dayAhead(stack);
    await registryAs(stack, alice.wallet).grant({
      grantee: clinic.address,
      scope: laboratory,
      purpose: "Treatment",
      expiry,
    });
    await synced(stack);
  }

  /** Back to `snapshot`, then a branch longer than the orphaned one (the node's head moves past it). */
  async function reorgTo(snapshot: string): Promise<void> {
    expect(await stack.provider.send("evm_revert", [snapshot])).to.equal(true);
    for (let i = 0; i < 4; i++) await stack.provider.send("evm_mine", []);
    await synced(stack);
  }

  it("stops releasing under a grant the reorg orphaned", async function () {
    const snapshot = (await stack.provider.send("evm_snapshot", [])) as string;
    await grantLaboratory();
    const released = await askKey(stack, clinic, alice, cid);
    expect(released.status, released.text).to.equal(200);

    await reorgTo(snapshot);
    expectProblem(await askKey(stack, clinic, alice, cid), 403, "CONSENT_REQUIRED");
  });

  it("releases again once a revoke is orphaned, as the canonical chain says", async function () {
    await grantLaboratory();
    expect((await askKey(stack, clinic, alice, cid)).status).to.equal(200);

    const snapshot = (await stack.provider.send("evm_snapshot", [])) as string;
    await registryAs(stack, alice.wallet).revoke({ grantee: clinic.address, scope: laboratory, purpose: "Treatment" });
    await synced(stack);
    expectProblem(await askKey(stack, clinic, alice, cid), 403, "CONSENT_REQUIRED");

    await reorgTo(snapshot);
    const onChain = await registryAs(stack, alice.wallet).isAllowed({
      patient: alice.address,
      grantee: clinic.address,
      scope: laboratory,
      purpose: "Treatment",
    });
    expect(onChain, "the canonical chain holds the grant").to.equal(true);
    const again = await askKey(stack, clinic, alice, cid);
    expect(again.status, again.text).to.equal(200);
  });
});
