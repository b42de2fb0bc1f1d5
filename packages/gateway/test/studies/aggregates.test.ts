// Study aggregates on the real stack: patients' facts encrypted to the study's 2-of-2 tally key, summed over the
// contributors with live consent, decrypted with the researcher's verified partials, released after small-cell
// suppression; and every refusal (deny by default, bad facts, bad partials, reused queries, row-level data).
import { expect } from "chai";
import { Wallet } from "ethers";
import { partialDecrypt } from "@hygeia/crypto";
import { partialContext } from "@hygeia/research";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { expectProblem, request } from "../support/http.ts";
import { closeAuthWorld, presentRole, signIn } from "../support/auth.ts";
import { party, registryAs, synced } from "../records/world.ts";
import {
  aggregate,
  approve,
  contributor,
  factsFor,
  irbOf,
  optIn,
  pull,
  registerStudy,
  serveStudy,
  type Contributor,
  type Irb,
  type Study,
} from "./world.ts";

const SEX = "aggregate:sex:female,male,other,unknown";
const SITE = "aggregate:site:north,south";
const K = 3;

interface Release {
  dimension: string;
  cells: Record<string, number | null>;
  total: number | null;
  k: number;
}

describe("gateway studies: encrypted aggregates with small-cell suppression", function () {
  let stack: TestStack;
  let irb: Irb;
  let token: string;
  let researcher: string;
  let study: Study;
  let patients: Contributor[];

  /** A funded fresh account, signed in, as a contributor. */
  async function newPatient(seed: number): Promise<Contributor> {
    const wallet = Wallet.createRandom().connect(stack.provider);
    await stack.provider.send("anvil_setBalance", [wallet.address, "0xde0b6b3a7640000"]);
    return contributor(party(wallet, await signIn(stack, wallet)), seed);
  }

  before(async function () {
    stack = await startTestStack({ config: { research: { minCell: K } } });
    irb = await irbOf(stack, stack.accounts.irb);
    researcher = stack.accounts.researcher.address.toLowerCase();
    token = await signIn(stack, stack.accounts.researcher);
    await presentRole(stack, token, stack.accounts.researcher, "researcher");
    study = await registerStudy(
      stack,
      stack.accounts.researcher,
      await approve(irb, stack.accounts.researcher, "counts-2026"),
      { scopes: ["fhir:Patient", SEX, SITE] },
    );
    patients = [];
    for (let i = 0; i < 7; i++) patients.push(await newPatient(100 + i));
  });
  after(async function () {
    await irb?.agent.close();
    if (stack) await closeAuthWorld(stack);
    await stack?.close();
  });

  it("refuses to serve a study with aggregate scopes without the researcher's proven tally share", async function () {
    const res = await request(stack, "POST", "/v1/studies", {
      token,
      json: { studyId: study.studyId, approval: study.approval.jwt, scopes: study.scopes },
    });
    expectProblem(res, 400, "TALLY_SHARE_REQUIRED");
    // A share whose proof is for another study (a replay) is refused too.
    const other = await request(stack, "POST", "/v1/studies", {
      token,
      json: {
        studyId: study.studyId,
        approval: study.approval.jwt,
        scopes: study.scopes,
        tallyShare: { publicKey: Buffer.from(study.tally.publicKey).toString("base64url"), proof: "A".repeat(86) },
      },
    });
    expectProblem(other, 400, "TALLY_SHARE_INVALID");
  });

  it("serves it with its dimensions and the joint key patients encrypt to", async function () {
    const res = await serveStudy(stack, token, study);
    expect(res.status, res.text).to.equal(201);
    const view = res.json as { aggregates: { name: string; categories: string[] }[]; tallyKey: string | null };
    expect(view.aggregates).to.deep.equal([
      { name: "sex", categories: ["female", "male", "other", "unknown"] },
      { name: "site", categories: ["north", "south"] },
    ]);
    expect(view.tallyKey).to.be.a("string");
    // The joint key is neither share alone.
    expect(Buffer.from(view.tallyKey!, "base64url")).not.to.deep.equal(Buffer.from(study.tally.publicKey));
  });

  it("refuses a contribution without facts, and facts made for another patient", async function () {
    const [alice, bob] = patients as [Contributor, Contributor];
    const up = await request(stack, "PUT", "/v1/uploads", {
      token: alice.token,
      body: new Uint8Array([9, 9, 9]),
      headers: { "content-type": "application/octet-stream" },
    });
    const cid = (up.json as { cid: string }).cid;
    const base = { cid, wrap: "AQE" + "A".repeat(149), scopeId: "0x" + "22".repeat(32) };
    const url = `/v1/studies/${study.studyId}/contributions`;
    expectProblem(await request(stack, "POST", url, { token: alice.token, json: base }), 400, "FACTS_REQUIRED");
    const bobs = await factsFor(stack, bob, study.studyId, { sex: 0 });
    expectProblem(
      await request(stack, "POST", url, { token: alice.token, json: { ...base, facts: bobs } }),
      400,
      "INVALID_FACTS",
    );
    const unknown = await request(stack, "POST", url, {
      token: alice.token,
      json: { ...base, facts: { ...(await factsFor(stack, alice, study.studyId, {})), age: bobs.sex! } },
    });
    expectProblem(unknown, 400, "UNKNOWN_DIMENSION");
  });

  it("counts consenting contributors per category: every cell at least k (or zero) is shown", async function () {
    // sex: 4 female, 3 male; site: 3 north, 4 south. One more patient contributes without granting: not counted.
    const sex = [0, 0, 0, 0, 1, 1, 1];
    const site = [0, 0, 0, 1, 1, 1, 1];
    for (const [i, patient] of patients.entries())
      await optIn(stack, patient, study, researcher, { facts: { sex: sex[i]!, site: site[i]! } });
    await optIn(stack, await newPatient(200), study, researcher, { facts: { sex: 0, site: 0 }, grant: false });

    const res = await aggregate(stack, token, study, "sex");
    expect(res.status, res.text).to.equal(200);
    expect(res.json).to.deep.equal({
      dimension: "sex",
      cells: { female: 4, male: 3, other: 0, unknown: 0 },
      total: 7,
      k: K,
    });
  });

  it("withholds the whole table once a cell is small, and a total that moved by less than k", async function () {
    await optIn(stack, await newPatient(201), study, researcher, { facts: { sex: 2, site: 0 } });
    const release = (await aggregate(stack, token, study, "sex")).json as Release;
    expect(release.cells).to.deep.equal({ female: null, male: null, other: null, unknown: null });
    expect(release.total).to.equal(null);
  });

  it("stops counting a patient who revoked", async function () {
    const revoking = patients[4]!; // a south patient
    await registryAs(stack, revoking.wallet).revoke({
      grantee: researcher,
      scope: revoking.scopes.id(`study:${study.studyId}`),
      purpose: "Research",
    });
    await synced(stack);
    // 8 consenting contributors without the revoke: north 4, south 4; with it, south 3.
    const release = (await aggregate(stack, token, study, "site")).json as Release;
    expect(release).to.deep.equal({ dimension: "site", cells: { north: 4, south: 3 }, total: 7, k: K });
  });

  it("refuses a partial decryption of another sum (a shifted count), and a reused query", async function () {
    const open = await request(stack, "POST", `/v1/studies/${study.studyId}/aggregates`, {
      token,
      json: { dimension: "sex" },
    });
    const query = open.json as { queryId: string; sums: string[] };
    // Cell 1's partial swapped for cell 0's: a valid decryption share, of another sum (its proof says so).
    const partials = query.sums.map((sum, j) => {
      const { partial, proof } = partialDecrypt(
        study.tally,
        Buffer.from(query.sums[j === 1 ? 0 : j]!, "base64url"),
        partialContext(query.queryId, j),
      );
      void sum;
      return { partial: Buffer.from(partial).toString("base64url"), proof: Buffer.from(proof).toString("base64url") };
    });
    const url = `/v1/studies/${study.studyId}/aggregates/${query.queryId}`;
    expectProblem(await request(stack, "POST", url, { token, json: { partials } }), 400, "INVALID_PARTIALS");
    expectProblem(await request(stack, "POST", url, { token, json: { partials } }), 404, "AGGREGATE_QUERY_NOT_FOUND");
  });

  it("counts only the dimensions the study registered, and only for its researcher", async function () {
    const res = await request(stack, "POST", `/v1/studies/${study.studyId}/aggregates`, {
      token,
      json: { dimension: "age" },
    });
    expectProblem(res, 400, "UNKNOWN_DIMENSION");
    const patient = await request(stack, "POST", `/v1/studies/${study.studyId}/aggregates`, {
      token: patients[1]!.token,
      json: { dimension: "sex" },
    });
    expectProblem(patient, 403, "ROLE_REQUIRED");
  });

  it("gives a study with no aggregate scope no counts, and an aggregate-only study no rows", async function () {
    const rowsOnly = await registerStudy(
      stack,
      stack.accounts.researcher,
      await approve(irb, stack.accounts.researcher, "rows-2026"),
      { scopes: ["fhir:Patient"] },
    );
    expect((await serveStudy(stack, token, rowsOnly)).status).to.equal(201);
    const counts = await request(stack, "POST", `/v1/studies/${rowsOnly.studyId}/aggregates`, {
      token,
      json: { dimension: "sex" },
    });
    expectProblem(counts, 403, "NO_AGGREGATES");

    const countsOnly = await registerStudy(
      stack,
      stack.accounts.researcher,
      await approve(irb, stack.accounts.researcher, "counts-only-2026"),
      { scopes: [SEX] },
    );
    expect((await serveStudy(stack, token, countsOnly)).status).to.equal(201);
    expectProblem(await pull(stack, token, countsOnly.studyId), 403, "PULL_NOT_APPROVED");
  });
});
