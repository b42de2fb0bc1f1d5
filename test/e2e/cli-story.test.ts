// The whole story through the real `hygeia` binary, one subprocess per command, on the real stack (anvil with the
// contracts, Helia on disk, the SQLite gateway on a socket): the same story `npm run demo` narrates
// (packages/cli/demo/story.ts), asserted here on its --json output and exit codes.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { parseEther } from "ethers";
import { startTestStack, type TestStack } from "../../packages/gateway/test/support/stack.ts";
import { LAB_BUNDLE, runStory, type StoryOutcome } from "../../packages/cli/demo/story.ts";

describe("e2e: every role's journey through the hygeia binary", function () {
  let stack: TestStack;
  let workDir: string;
  let outcome: StoryOutcome;

  before(async function () {
    this.timeout(600_000);
    stack = await startTestStack({ config: { audit: { anchorEveryMs: 500 } } });
    workDir = await mkdtemp(join(tmpdir(), "hygeia-cli-story-"));
    outcome = await runStory({
      gatewayUrl: stack.url,
      rpcUrl: stack.local.rpcUrl,
      cast: {
        governance: stack.accounts.governance.privateKey,
        board: stack.accounts.board.privateKey,
        insurer: stack.local.account(9).privateKey,
        clinic: stack.accounts.clinic.privateKey,
      },
      fundPatient: async (address) => {
        await (await stack.accounts.governance.sendTransaction({ to: address, value: parseEther("0.05") })).wait();
      },
      workDir,
    });
  });
  after(async function () {
    await stack?.close();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it("checks the patient in with mutual verification, disclosing only the two claims asked for", function () {
    expect(outcome.checkIn.ok).to.equal(true);
    expect(outcome.checkIn.disclosed).to.deep.equal({
      HealthInsuranceCredential: { insurerName: "Acme Health", memberId: "M-1234" },
    });
    expect(outcome.checkIn.shown).to.deep.equal([
      { type: "HealthInsuranceCredential", claims: ["insurerName", "memberId"] },
    ]);
  });

  it("lets the clinic read exactly the consented category, decrypted on its side, and refuses the other record", function () {
    expect(outcome.fetchGranted.readable).to.deep.equal([outcome.records.lab]);
    expect(outcome.fetchGranted.refused).to.deep.equal([{ cid: outcome.records.letter, code: "CONSENT_REQUIRED" }]);
    expect(JSON.parse(outcome.fetchGranted.labBytes.toString("utf8"))).to.deep.equal(LAB_BUNDLE);
  });

  it("refuses the clinic after the revoke with exit code 2 and a typed error", function () {
    expect(outcome.fetchRevoked.code).to.equal(2);
    expect(outcome.fetchRevoked.error).to.include({ code: "CONSENT_REQUIRED", kind: "refused" });
  });

  it("shows the patient every permit and deny, each verified against the chain", function () {
    expect(outcome.audit.ok).to.equal(true);
    expect(outcome.audit.pending).to.equal(0);
    expect(outcome.audit.permits).to.be.at.least(1);
    expect(outcome.audit.denies).to.be.at.least(2); // the letter, then the lab record after the revoke
  });

  it("recovers every record on a new device from the recovery phrase alone", function () {
    expect(outcome.recovered.records).to.include.members([outcome.records.lab, outcome.records.letter]);
    expect(outcome.recovered.letterMatches).to.equal(true);
  });

  it("exits 0 for every command but the refused fetch", function () {
    const nonZero = outcome.exitCodes.filter((c) => c.code !== 0);
    expect(nonZero).to.deep.equal([{ who: "clinic", command: "clinic fetch", code: 2 }]);
    expect(outcome.exitCodes.length).to.be.at.least(25);
  });
});
