// Contribution facts cost about 11 ms of synchronous CPU per cell to verify. The break-it review found them verified
// BEFORE the gateway checked that the caller uploaded the CID it names: any signed-in account could replay one set
// of facts with someone else's CID and stall the event loop, each request ending in 409. Now the ownership check
// comes first (and a study's aggregate scopes have at most 64 cells in all).
import { expect } from "chai";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { request } from "../support/http.ts";
import { closeAuthWorld, presentRole, signIn } from "../support/auth.ts";
import { signInParties, upload } from "../records/world.ts";
import { approve, contributor, factsFor, irbOf, registerStudy, serveStudy, type Irb } from "./world.ts";

const LABELS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+".split("");
const BINS = `aggregate:bins:${LABELS.join(",")}`; // 64 categories, 142 characters: a valid registered scope

describe("gateway studies (break-it review): contribution facts are verified only after the cheap checks", function () {
  let stack: TestStack;
  let irb: Irb;

  before(async function () {
    stack = await startTestStack();
    irb = await irbOf(stack, stack.accounts.irb);
  });
  after(async function () {
    await irb?.agent.close();
    if (stack) await closeAuthWorld(stack);
    await stack?.close();
  });

  it("refuses a CID the caller never uploaded before it verifies any facts", async function () {
    expect(LABELS).to.have.length(64);
    const token = await signIn(stack, stack.accounts.researcher);
    await presentRole(stack, token, stack.accounts.researcher, "researcher");
    const study = await registerStudy(
      stack,
      stack.accounts.researcher,
      await approve(irb, stack.accounts.researcher, "breakit-bins-2026"),
      { scopes: ["fhir:Patient", BINS] },
    );
    expect((await serveStudy(stack, token, study)).status).to.equal(201);

    const [a, b] = await signInParties(stack, [stack.accounts.alice, stack.accounts.bob]);
    const attacker = contributor(a!, 1);
    // Someone else's upload: the attacker names its CID, which it never staged.
    const cid = ((await upload(stack, b!.token, new Uint8Array([7, 7, 7]))).json as { cid: string }).cid;
    const facts = await factsFor(stack, attacker, study.studyId, { bins: 0 }); // once, for its own address
    const url = `/v1/studies/${study.studyId}/contributions`;
    // Facts that would fail verification, with a CID the caller never staged: refused for the CID (409), which
    // shows the ownership check runs first and the proofs (about 11 ms of CPU per cell) are never checked.
    const broken = { bins: { ...facts.bins!, proof: "A".repeat(facts.bins!.proof.length) } };
    const body = { cid, wrap: "AQE" + "A".repeat(149), scopeId: "0x" + "33".repeat(32), facts: broken };
    const res = await request(stack, "POST", url, { token: attacker.token, json: body });
    expect(res.status, res.text).to.equal(409);
    expect((res.json as { code: string }).code).to.equal("UPLOAD_NOT_STAGED");
    // The same broken facts with an upload of its own: the proofs are checked, and refused.
    const own = ((await upload(stack, attacker.token, new Uint8Array([8, 8, 8]))).json as { cid: string }).cid;
    const checked = await request(stack, "POST", url, { token: attacker.token, json: { ...body, cid: own } });
    expect((checked.json as { code: string }).code).to.equal("INVALID_FACTS");
  });
});
