// Break-it: small-cell suppression of study aggregates, on the real stack (anvil, Helia, SQLite, HTTP), k = 3.
//
// Rule 3 of suppressSmallCells compares a table only with the cells of earlier releases that were SHOWN, and
// withholds a moved total without withholding the cells that sum to it. Two ways that lets the study's researcher
// learn what a release withheld:
//
// 1. (no sybil) A table withheld because of a small cell says its total; once that cell empties (its patient
//    revokes), the next release shows every cell (nothing shown earlier to compare with) and "withholds" a total
//    that is the sum of those cells. One patient fewer, and the earlier table was withheld: it can only have been
//    the shown table plus that patient in the now-empty cell. The hidden count (1) and the revoker's category
//    follow.
// 2. (one sybil, whatever k) Rule 3 accepts a step of 0, so whether a release is shown depends on the categories
//    of the patients who came and went: the researcher's one sybil leaves as a victim joins, and the release is
//    shown exactly when the victim is in the sybil's category.
//
// These tests failed before the fix (break-it review); they now pin it.
import { expect } from "chai";
import { Wallet } from "ethers";
import { suppressSmallCells, type ReleasedCounts } from "@hygeia/research";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { request } from "../support/http.ts";
import { closeAuthWorld, presentRole, signIn } from "../support/auth.ts";
import { party, registryAs, synced } from "../records/world.ts";
import {
  aggregate,
  approve,
  contributor,
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
const FEMALE = 0;
const MALE = 1;

interface Release {
  dimension: string;
  cells: Record<string, number | null>;
  total: number | null;
  k: number;
}

describe("gateway studies (break-it review): later releases do not leak what suppression withheld", function () {
  let stack: TestStack;
  let irb: Irb;
  let token: string;
  let researcher: string;
  let seed = 500;

  async function newPatient(): Promise<Contributor> {
    const wallet = Wallet.createRandom().connect(stack.provider);
    await stack.provider.send("anvil_setBalance", [wallet.address, "0xde0b6b3a7640000"]);
    return contributor(party(wallet, await signIn(stack, wallet)), seed++);
  }

  async function countsStudy(slug: string): Promise<Study> {
    const study = await registerStudy(
      stack,
      stack.accounts.researcher,
      await approve(irb, stack.accounts.researcher, slug),
      {
        scopes: [SEX],
      },
    );
    const served = await serveStudy(stack, token, study);
    expect(served.status, served.text).to.equal(201);
    return study;
  }

  async function release(study: Study): Promise<Release> {
    const res = await aggregate(stack, token, study, "sex");
    expect(res.status, res.text).to.equal(200);
    return res.json as Release;
  }

  before(async function () {
    stack = await startTestStack({ config: { research: { minCell: K } } });
    irb = await irbOf(stack, stack.accounts.irb);
    researcher = stack.accounts.researcher.address.toLowerCase();
    token = await signIn(stack, stack.accounts.researcher);
    await presentRole(stack, token, stack.accounts.researcher, "researcher");
  });
  after(async function () {
    await irb?.agent.close();
    if (stack) await closeAuthWorld(stack);
    await stack?.close();
  });

  it("does not let a later release reveal a cell an earlier release withheld (no sybil needed)", async function () {
    const study = await countsStudy("breakit-withheld-2026");
    const patients: Contributor[] = [];
    for (let i = 0; i < 6; i++) patients.push(await newPatient());
    // Five women and one man contribute and grant (the researcher does not know who is what).
    for (const [i, patient] of patients.entries())
      await optIn(stack, patient, study, researcher, { facts: { sex: i === 5 ? MALE : FEMALE } });

    const first = await release(study);
    // Withheld: the man is a cell of 1. The researcher sees only the total.
    expect(first.cells).to.deep.equal({ female: null, male: null });
    expect(first.total).to.equal(6);

    // The man revokes his research grant (his own, ordinary decision; the chain shows one revoke to the researcher).
    const man = patients[5]!;
    await registryAs(stack, man.wallet).revoke({
      grantee: researcher,
      scope: man.scopes.id(`study:${study.studyId}`),
      purpose: "Research",
    });
    await synced(stack);

    const second = await release(study);

    // The researcher's arithmetic: the second table's cells are shown; their sum is the total the release withheld.
    const recovered = recoverWithheld(first, second);
    expect(
      recovered,
      `release 2 ${JSON.stringify(second)} after release 1 ${JSON.stringify(first)} lets the researcher solve ` +
        `release 1's withheld table as ${JSON.stringify(recovered)}: the revoker's category and the hidden count`,
    ).to.equal(null);
  });

  it("does not make showing a release depend on the category of who joined and who left (one sybil)", async function () {
    // Two worlds the researcher must not tell apart: the victim is male in one, female in the other.
    const worlds: Study[] = [await countsStudy("breakit-swap-a-2026"), await countsStudy("breakit-swap-b-2026")];
    const regulars: Contributor[] = [];
    for (let i = 0; i < 5; i++) regulars.push(await newPatient());
    const sybil = await newPatient(); // an account the researcher controls: it contributes as a man
    const victim = await newPatient();
    for (const study of worlds) {
      for (const [i, patient] of regulars.entries())
        await optIn(stack, patient, study, researcher, { facts: { sex: i < 3 ? FEMALE : MALE } });
      await optIn(stack, sybil, study, researcher, { facts: { sex: MALE } });
    }
    const before = await Promise.all(worlds.map(release));
    for (const r of before) expect(r.cells).to.deep.equal({ female: 3, male: 3 }); // both shown, identical

    // The victim joins (male in world 0, female in world 1); the sybil opts out at the same time.
    for (const [w, study] of worlds.entries()) {
      await optIn(stack, victim, study, researcher, { facts: { sex: w === 0 ? MALE : FEMALE } });
      const out = await request(stack, "DELETE", `/v1/studies/${study.studyId}/contributions/mine`, {
        token: sybil.token,
      });
      expect(out.status, out.text).to.equal(200);
    }
    const after = await Promise.all(worlds.map(release));
    const shape = (r: Release) => ({ shown: Object.values(r.cells).some((c) => c !== null), total: r.total });
    expect(
      shape(after[0]!),
      `victim male: ${JSON.stringify(after[0])}; victim female: ${JSON.stringify(after[1])}: ` +
        "the researcher reads the victim's category from whether the table is shown",
    ).to.deep.equal(shape(after[1]!));
  });
});

/**
 * The researcher's side of attack 1: when release 2 shows every cell, its total is their sum; a net change of
 * one contributor since a withheld release 1 leaves as candidates release 2's table with one contributor more in
 * one cell; only those that suppression would have withheld (as release 1 was) remain. A unique candidate is
 * release 1's withheld table. Null when release 2 does not allow the arithmetic.
 */
function recoverWithheld(first: Release, second: Release): Record<string, number> | null {
  const cells = Object.values(second.cells);
  if (first.total === null || cells.some((c) => c === null)) return null;
  const total = (cells as number[]).reduce((a, b) => a + b, 0);
  if (first.total - total !== 1) return null;
  const candidates = Object.keys(second.cells)
    .map((label) => ({ ...(second.cells as Record<string, number>), [label]: second.cells[label]! + 1 }))
    .filter((table) => {
      const shown: ReleasedCounts = suppressSmallCells(table, { k: first.k }).release;
      return Object.values(shown.cells).every((c) => c === null);
    });
  return candidates.length === 1 ? candidates[0]! : null;
}
