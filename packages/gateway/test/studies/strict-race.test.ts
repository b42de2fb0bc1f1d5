// Break-it: in strict mode (chain.strict: consent read from the contract, one RPC round per contribution), an
// aggregate's step 1 decides who is live from the contribution rows it paged (live.ts), and only then reads the
// study's running sums (tally.ts open). A contribution written in between is in the sums but in neither
// `included` nor `excludedRows`: its facts are counted although its consent was never checked. Here the late
// contributor never granted research consent at all, and the released total counts it.
//
// It failed before the fix (break-it review); it now pins it.
import { expect } from "chai";
import { Wallet } from "ethers";
import { addCells, encryptToBuffer, generateDataKey, wrapKey } from "@hygeia/crypto";
import { contributionWrapContext } from "@hygeia/research";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { request } from "../support/http.ts";
import { closeAuthWorld, presentRole, signIn } from "../support/auth.ts";
import { party, upload } from "../records/world.ts";
import {
  approve,
  contributor,
  factsFor,
  irbOf,
  optIn,
  registerStudy,
  serveStudy,
  type Contributor,
  type Irb,
  type Study,
} from "./world.ts";

const K = 3;
const SEX = "aggregate:sex:female,male";
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64url");

describe("gateway studies (break-it review): strict mode never counts a contribution that arrives during the consent checks", function () {
  let stack: TestStack;
  let irb: Irb;
  let token: string;
  let researcher: string;
  let study: Study;
  let seed = 900;

  async function newPatient(): Promise<Contributor> {
    const wallet = Wallet.createRandom().connect(stack.provider);
    await stack.provider.send("anvil_setBalance", [wallet.address, "0xde0b6b3a7640000"]);
    return contributor(party(wallet, await signIn(stack, wallet)), seed++);
  }

  before(async function () {
    stack = await startTestStack({ config: { chain: { strict: true }, research: { minCell: K } } });
    irb = await irbOf(stack, stack.accounts.irb);
    researcher = stack.accounts.researcher.address.toLowerCase();
    token = await signIn(stack, stack.accounts.researcher);
    await presentRole(stack, token, stack.accounts.researcher, "researcher");
    study = await registerStudy(
      stack,
      stack.accounts.researcher,
      await approve(irb, stack.accounts.researcher, "breakit-strict-2026"),
      { scopes: ["fhir:Patient", SEX] },
    );
    expect((await serveStudy(stack, token, study)).status).to.equal(201);
  });
  after(async function () {
    await irb?.agent.close();
    if (stack) await closeAuthWorld(stack);
    await stack?.close();
  });

  it("counts only contributors whose consent it checked", async function () {
    this.timeout(600_000);
    // Six consenting contributors (3 female, 3 male), and twenty who contributed but never granted: each is one
    // more consent check (RPC round) in step 1, which is the window.
    const consenting: Contributor[] = [];
    for (let i = 0; i < 6; i++) {
      const patient = await newPatient();
      await optIn(stack, patient, study, researcher, { facts: { sex: i < 3 ? 0 : 1 } });
      consenting.push(patient);
    }
    for (let i = 0; i < 20; i++)
      await optIn(stack, await newPatient(), study, researcher, { facts: { sex: 0 }, grant: false });

    // What step 1 must answer: the sum of the consenting contributors' cells, per category.
    const rows = await Promise.all(
      consenting.map((p) => stack.services.store.getContribution(study.studyId, p.address)),
    );
    const expected = [0, 1].map((j) =>
      b64(addCells(rows.map((row) => new Uint8Array(Buffer.from(row!.facts!.sex!.cells[j]!, "base64url"))))),
    );

    let hit: { queryId: string; sums: string[] } | undefined;
    let attempts = 0;
    for (let attempt = 0; attempt < 12 && hit === undefined; attempt++) {
      attempts += 1;
      // A late contributor (male) with everything ready, who never grants research consent.
      const late = await newPatient();
      const extract = await encryptToBuffer(new TextEncoder().encode("[]"), generateDataKey());
      const cid = ((await upload(stack, late.token, extract)).json as { cid: string }).cid;
      const wrap = b64(wrapKey(generateDataKey(), study.keys.publicKey, contributionWrapContext(study.studyId, cid)));
      const body = {
        cid,
        wrap,
        scopeId: late.scopes.id(`study:${study.studyId}`),
        facts: await factsFor(stack, late, study.studyId, { sex: 1 }),
      };
      const open = request(stack, "POST", `/v1/studies/${study.studyId}/aggregates`, {
        token,
        json: { dimension: "sex" },
      });
      await new Promise((resolve) => setTimeout(resolve, 5 + attempt * 5));
      const contributed = await request(stack, "POST", `/v1/studies/${study.studyId}/contributions`, {
        token: late.token,
        json: body,
      });
      expect(contributed.status, contributed.text).to.equal(201);
      const query = (await open).json as { queryId: string; sums: string[] };
      if (query.sums.some((sum, j) => sum !== expected[j])) hit = query;
    }
    expect(hit, `step 1 summed a contribution it did not check (attempt ${attempts})`).to.equal(undefined);
  });
});
