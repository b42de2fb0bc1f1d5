// The short crash-consistency run in `npm test` (issue 15): 20 SIGKILLs of a writer child process at random
// moments, each followed by a fresh process that checks every acknowledged record decrypts exactly, the manifest
// has no dangling entry and adding works again; then 20 damage trials (flips and truncations) on store copies.
// The long run: `npm run test:crash -- --iterations N` (test/crash/run.ts).
import { expect } from "chai";
import { runCrashSuite } from "./crash/crash-suite.ts";

describe("crash consistency (short run)", function () {
  this.timeout(400_000); // ≈ 60–90 s on the 2-core dev VM; generous for a loaded CI box

  it("20 SIGKILLs and 20 damage trials lose no acknowledged record, serve no wrong bytes, and adding works again", async () => {
    const summary = await runCrashSuite({ kills: 20, damageTrials: 20 });
    expect(summary.failures, JSON.stringify(summary)).to.deep.equal([]);
    expect(summary.kills).to.equal(20);
    expect(summary.damageTrials).to.equal(20);
    expect(summary.acked).to.be.greaterThan(0);
  });
});
