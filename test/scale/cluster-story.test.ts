// The e2e story of the SDK/CLI (packages/cli/demo/story.ts: every role through the real `hygeia` binary) on a
// scaled-out Hygeia: 3 gateway processes on one PostgreSQL database, one IPFS node and one chain, behind a load
// balancer that sends each request to the next gateway in turn. The same outcomes as test/e2e/cli-story.test.ts
// against one gateway, plus: every gateway served requests, and the patient's audit verification covered several
// gateways' logs (each checked against its own gateway's anchors).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { parseEther } from "ethers";
import { LAB_BUNDLE, runStory, type StoryOutcome } from "../../packages/cli/demo/story.ts";
import { hygeia } from "../../packages/cli/demo/run-hygeia.ts";
import { startCluster, type Cluster } from "./support/cluster.ts";

/** story.ts's PASSWORD (not exported): the patient's keystore in the story's work dir is locked with it. */
const STORY_PASSWORD = "a demo password, not a real one";

interface VerifiedAudit {
  ok: boolean;
  counts: { verified: number; failed: number; pending: number };
  events: { decision?: string; log?: string }[];
  logs: { origin: string; gateway: string; verifierKey: string; anchoredSize: number }[];
}

describe("scale: the CLI story through a load balancer over 3 gateways on PostgreSQL", function () {
  let cluster: Cluster | undefined;
  let workDir: string | undefined;
  let outcome: StoryOutcome;
  let counts: number[];
  let audit: VerifiedAudit;
  let failed = false;

  before(async function () {
    this.timeout(600_000);
    cluster = await startCluster({ gateways: 3 });
    const stack = cluster;
    workDir = await mkdtemp(join(tmpdir(), "hygeia-scale-story-"));
    try {
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
      counts = stack.counts();
      // The patient's verification once more, as the story's last `audit show --verify` did, for its `logs`.
      const run = await hygeia(["--json", "audit", "show", "--verify"], {
        env: {
          HYGEIA_HOME: join(workDir, "patient"),
          HYGEIA_PASSWORD: STORY_PASSWORD,
          HYGEIA_GATEWAY_URL: stack.url,
          HYGEIA_RPC_URL: stack.local.rpcUrl,
        },
      });
      if (run.code !== 0) throw new Error(`audit show --verify exited ${run.code}:\n${run.stdout}\n${run.stderr}`);
      audit = run.json<VerifiedAudit>();
    } catch (error) {
      failed = true;
      if (error instanceof Error) error.message += `\n${await stack.failureReport()}`;
      throw error;
    }
  });
  afterEach(function () {
    if (this.currentTest?.state === "failed") failed = true;
  });
  after(async function () {
    this.timeout(120_000);
    if (failed && cluster) process.stderr.write(`${await cluster.failureReport(30)}\n`);
    // HYGEIA_SCALE_KEEP_LOGS=1 keeps the gateways' log files of a passing run too (their directory is printed).
    await cluster?.close({ keepLogs: failed || process.env.HYGEIA_SCALE_KEEP_LOGS === "1" });
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

  it("spread the requests over every gateway, round robin", function () {
    const total = counts.reduce((sum, n) => sum + n, 0);
    process.stdout.write(`      requests per gateway through the balancer: ${counts.join(" / ")} (${total})\n`);
    // Round robin: no gateway is more than one request off its share (the counters include every request).
    for (const n of counts)
      expect(n, `requests per gateway: ${JSON.stringify(counts)}`).to.be.within(
        Math.floor(total / 3),
        Math.ceil(total / 3),
      );
    expect(total).to.be.at.least(100);
    expect(cluster!.balancer.unreachable()).to.deep.equal([0, 0, 0]);
  });

  it("verified the patient's events in several gateways' logs, each against its own gateway's anchors", function () {
    const cast = cluster!;
    expect(audit.ok).to.equal(true);
    expect(audit.counts).to.include({ failed: 0, pending: 0 });
    // One log per gateway of the shared database, each with its own origin and anchoring account.
    expect(audit.logs.map((log) => log.origin).sort()).to.deep.equal(cast.gateways.map((g) => g.origin).sort());
    for (const gateway of cast.gateways) {
      const log = audit.logs.find((l) => l.origin === gateway.origin)!;
      expect(log.gateway.toLowerCase()).to.equal(gateway.account.address.toLowerCase());
    }
    expect(new Set(audit.logs.map((log) => log.verifierKey)).size).to.equal(3);
    // The patient's events came from several of them (the requests were spread).
    const logsWithEvents = new Set(audit.events.map((event) => event.log));
    const perLog = audit.logs.map((log) => `${log.origin} ${audit.events.filter((e) => e.log === log.origin).length}`);
    process.stdout.write(`      the patient's events per log: ${perLog.join(", ")}\n`);
    expect(
      logsWithEvents.size,
      `the logs holding the patient's events: ${[...logsWithEvents].join(", ")}`,
    ).to.be.at.least(2);
    const anchored = audit.logs.filter((log) => log.anchoredSize > 0);
    expect(anchored.length).to.be.at.least(2);
  });
});
