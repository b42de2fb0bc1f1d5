// Fault: the chain node stopped under running gateways, then started again with its state (2 gateways, never
// restarted). The cluster's anvil keeps no state file, so the test keeps it itself: `anvil_dumpState` (gzipped JSON)
// just before the stop, unpacked into a state file, and a new anvil on the same port loading it (startLocalChain's
// stateFile, which repairs anvil's extra genesis blocks): the same chain, blocks and contracts at the same URL.
// While the chain is away the consent index goes stale: releases are refused with 503 INDEXER_STALE (never a 200 on
// stale consent), /readyz names the chain; when it returns, service resumes on its own and a revoke made just before
// the stop is honoured. The gateways' anchoring is slowed (an anchor sent between the dump and the stop would be
// lost with the old node).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { expect } from "chai";
import { ConsentRegistryClient, Purpose, TransactionSender, startLocalChain, type LocalChain } from "@hygeia/chain";
import { TREATMENT, call, expectOk, expectProblem, keyPath, sleep, waitFor, useCluster } from "./helpers.ts";

const STALE_AFTER_MS = 5000;

interface Outcome {
  gateway: number;
  cid: string;
  status: number;
  code?: string;
  at: number;
}

describe("scale faults: the chain node stopped and started again under running gateways", function () {
  let restarted: LocalChain | undefined;
  let stateDir: string | undefined;
  const suite = useCluster({ gateways: 2, anchorEveryMs: 600_000 }, 2, {
    afterClose: async () => {
      await restarted?.stop();
      if (stateDir) await rm(stateDir, { recursive: true, force: true });
    },
  });

  it("refuses releases while the index is stale, names the chain in /readyz, resumes alone, honours the last revoke", async function () {
    this.timeout(300_000);
    const stack = suite.cluster;
    const { patient, patientAddress, clinicAddress, clinicToken, records } = suite.parties;
    const [kept, revoked] = [records[0]!, records[1]!];
    const pids = stack.gateways.map((g) => g.pid);

    // The clinic's release of the record about to be revoked works on every gateway; then the patient revokes.
    for (const gateway of stack.gateways)
      expectOk(
        await call(gateway.url, "POST", keyPath(patientAddress, revoked.cid), { token: clinicToken, json: TREATMENT }),
        200,
        `gateway ${gateway.index}: a release before the revoke`,
      );
    const registry = new ConsentRegistryClient(
      stack.local.deployment.contracts.ConsentRegistry,
      new TransactionSender(patient),
    );
    await registry.revoke({ grantee: clinicAddress, scope: revoked.scopeId, purpose: Purpose.Treatment });
    // The gateways poll every 200 ms: a second later each has indexed the revoke.
    await sleep(1000);
    for (const gateway of stack.gateways) {
      const answer = await call(gateway.url, "POST", keyPath(patientAddress, revoked.cid), {
        token: clinicToken,
        json: TREATMENT,
      });
      expect(answer.status, `gateway ${gateway.index}: the revoked record before the stop: ${answer.text}`).to.equal(
        403,
      );
    }

    // The chain's state, then the stop.
    const dumped = String(await stack.local.provider.send("anvil_dumpState", []));
    const bytes = Buffer.from(dumped.replace(/^0x/, ""), "hex");
    const state = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
    stateDir = await mkdtemp(join(tmpdir(), "hygeia-scale-chain-"));
    const stateFile = join(stateDir, "state.json");
    await writeFile(stateFile, state);
    const port = Number(new URL(stack.local.rpcUrl).port);
    await stack.local.chain.stop();
    const stoppedAt = Date.now();

    // While it is away: releases of both records, on both gateways, every 100 ms.
    const outcomes: Outcome[] = [];
    let stop = false;
    const worker = async (gateway: number, cid: string) => {
      const url = stack.gateways[gateway]!.url;
      while (!stop) {
        const answer = await call(url, "POST", keyPath(patientAddress, cid), { token: clinicToken, json: TREATMENT });
        let code: string | undefined;
        if (answer.status !== 200) {
          const problem = expectProblem(answer, answer.status, `gateway ${gateway}: a release with the chain away`);
          code = String(problem.code);
          if (answer.status === 503) {
            expect(problem.code, answer.text).to.equal("INDEXER_STALE");
            expect(problem.dependency, answer.text).to.equal("indexer");
            expect(String(problem.detail ?? problem.title), answer.text).to.match(/stale|fresh/i);
          }
        }
        outcomes.push({ gateway, cid, status: answer.status, code, at: Date.now() });
        await sleep(100);
      }
    };
    const workers = stack.gateways.flatMap((g) => [worker(g.index, kept.cid), worker(g.index, revoked.cid)]);
    const readyz: Record<string, unknown>[] = [];
    try {
      await waitFor("every gateway refusing releases as stale", STALE_AFTER_MS + 30_000, async () =>
        stack.gateways.every((g) =>
          outcomes.some((o) => o.gateway === g.index && o.cid === kept.cid && o.code === "INDEXER_STALE"),
        ),
      );
      for (const gateway of stack.gateways) {
        const answer = await call(gateway.url, "GET", "/readyz");
        const problem = expectProblem(answer, 503, `gateway ${gateway.index}: /readyz with the chain away`);
        expect(problem.code).to.equal("NOT_READY");
        expect(problem.notReady, answer.text).to.include("chain");
        readyz.push(problem);
      }
      // A few more seconds of stale refusals.
      await sleep(3000);
    } catch (error) {
      stop = true;
      await Promise.allSettled(workers);
      throw error;
    }

    // The chain comes back on the same port with its state.
    restarted = await startLocalChain({ port, stateFile, accounts: 12 });
    const backAt = Date.now();
    for (const gateway of stack.gateways)
      await waitFor(`gateway ${gateway.index} releasing again`, 60_000, async () =>
        outcomes.some((o) => o.gateway === gateway.index && o.cid === kept.cid && o.status === 200 && o.at > backAt),
      );
    const resumedAfter = Math.max(
      ...stack.gateways.map(
        (g) =>
          outcomes.find((o) => o.gateway === g.index && o.cid === kept.cid && o.status === 200 && o.at > backAt)!.at,
      ),
    );
    await sleep(1000);
    stop = true;
    await Promise.all(workers);

    const firstStale = Math.min(...outcomes.filter((o) => o.code === "INDEXER_STALE").map((o) => o.at));
    const staleCount = outcomes.filter((o) => o.code === "INDEXER_STALE").length;
    console.log(
      `      chain away ${backAt - stoppedAt} ms: first INDEXER_STALE ${firstStale - stoppedAt} ms after the stop, ` +
        `${staleCount} stale refusals; releases again ${resumedAfter - backAt} ms after the chain returned; ` +
        `/readyz notReady: ${readyz.map((r) => JSON.stringify(r.notReady)).join(" / ")}`,
    );
    // No release on stale consent: nothing answered 200 for the revoked record, before, during or after.
    const revokedReleases = outcomes.filter((o) => o.cid === revoked.cid && o.status === 200);
    expect(revokedReleases, "releases of the revoked record").to.deep.equal([]);
    // Once a gateway has refused as stale, it releases nothing until the chain returns (no flapping back to fresh).
    for (const gateway of stack.gateways) {
      const mine = outcomes.filter((o) => o.gateway === gateway.index);
      const staleFrom = Math.min(...mine.filter((o) => o.code === "INDEXER_STALE").map((o) => o.at));
      const releasedWhileStale = mine.filter((o) => o.status === 200 && o.at > staleFrom && o.at < backAt);
      console.log(
        `      gateway ${gateway.index}: first INDEXER_STALE ${staleFrom - stoppedAt} ms after the stop, ` +
          `${mine.filter((o) => o.status === 200 && o.at < staleFrom).length} releases answered before it`,
      );
      expect(
        releasedWhileStale.map((o) => ({ ...o, afterStop: o.at - stoppedAt, afterStale: o.at - staleFrom })),
        `gateway ${gateway.index}: releases after it refused as stale, before the chain returned`,
      ).to.deep.equal([]);
    }
    // Every refusal of the kept record was the stale index; of the revoked one, the stale index or no consent.
    const codes = new Set(outcomes.filter((o) => o.status !== 200).map((o) => `${o.status} ${o.code}`));
    expect([...codes].sort()).to.satisfy((list: string[]) =>
      list.every((c) => c === "503 INDEXER_STALE" || c === "403 CONSENT_REQUIRED"),
    );

    // After: ready again, the revoked record refused, the kept one released, on every gateway, none restarted.
    for (const gateway of stack.gateways) {
      await waitFor(`gateway ${gateway.index} ready again`, 30_000, async () => {
        return (await call(gateway.url, "GET", "/readyz")).status === 200;
      });
      const refused = await call(gateway.url, "POST", keyPath(patientAddress, revoked.cid), {
        token: clinicToken,
        json: TREATMENT,
      });
      expect(expectProblem(refused, 403, "the revoked record after the chain returned").code).to.equal(
        "CONSENT_REQUIRED",
      );
    }
    expect(stack.gateways.map((g) => g.pid)).to.deep.equal(pids);
  });
});
