// Faults of the shared services under running gateways (2 gateway processes, never restarted here):
// - PostgreSQL restarted (fast shutdown: every connection ended) while key releases run: the requests it cuts fail
//   cleanly (503 problems naming the database, never a 500 or a stack), later ones succeed without restarting the
//   gateways, and every release answered 200 has its event in its gateway's log afterwards.
// - The IPFS daemon stopped, then hung (SIGSTOP): uploads and content fetches fail with a 503 problem naming IPFS within the configured
//   timeout (HYGEIA_IPFS_TIMEOUT_MS 2000), nothing is recorded as stored (no record, no staged upload, the CID cannot
//   be registered), and after the daemon starts again uploads and fetches work.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";
import {
  TREATMENT,
  addRecord,
  call,
  database,
  expectOk,
  expectProblem,
  keyPath,
  patientEvents,
  sampleWrap,
  waitFor,
  useCluster,
} from "./helpers.ts";

const IPFS_TIMEOUT_MS = 2000;

/** The pid of the process listening on a loopback TCP port (one of ours: ss shows our own processes). */
function listenerPid(port: number): number {
  const out = execFileSync("ss", ["-Hltnp", `sport = :${port}`], { encoding: "utf8" });
  const pid = Number(/pid=(\d+)/.exec(out)?.[1]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no process found listening on port ${port}: ${out}`);
  return pid;
}

interface Outcome {
  gateway: number;
  cid: string;
  status: number;
  text: string;
  contentType: string;
  auditIndex?: number;
  at: number;
}

describe("scale faults: PostgreSQL restarted and IPFS stopped under running gateways", function () {
  const suite = useCluster({ gateways: 2, env: { HYGEIA_IPFS_TIMEOUT_MS: String(IPFS_TIMEOUT_MS) } }, 4);

  it("PostgreSQL restarted while releases run: clean 503s naming the database, then service, no lost event", async function () {
    this.timeout(300_000);
    const stack = suite.cluster;
    const { patientAddress, clinicAddress, patientToken, clinicToken, records } = suite.parties;
    const pids = stack.gateways.map((g) => g.pid);
    const outcomes: Outcome[] = [];
    const networkErrors: string[] = [];
    let stop = false;
    // 8 workers per gateway, each addressing its gateway directly (so every answer's log is known).
    const worker = async (gateway: number, n: number) => {
      const url = stack.gateways[gateway]!.url;
      for (; !stop; n++) {
        const cid = records[n % records.length]!.cid;
        try {
          const answer = await call(url, "POST", keyPath(patientAddress, cid), { token: clinicToken, json: TREATMENT });
          const json = answer.json as { auditIndex?: number } | undefined;
          outcomes.push({
            gateway,
            cid,
            status: answer.status,
            text: answer.text,
            contentType: answer.headers.get("content-type") ?? "",
            auditIndex: answer.status === 200 ? json?.auditIndex : undefined,
            at: Date.now(),
          });
        } catch (error) {
          networkErrors.push(error instanceof Error ? `${error.message} ${String(error.cause)}` : String(error));
        }
      }
    };
    const workers = stack.gateways.flatMap((g) => Array.from({ length: 8 }, (_, i) => worker(g.index, i)));
    await waitFor("100 releases before the restart", 60_000, async () => outcomes.length >= 100);
    const restartAt = Date.now();
    await stack.postgres.restart();
    const restartedAt = Date.now();
    // Later requests succeed: 100 releases answered 200 after the server is back, on each gateway.
    await waitFor("100 releases per gateway answered 200 after the restart", 90_000, async () =>
      stack.gateways.every(
        (g) => outcomes.filter((o) => o.gateway === g.index && o.status === 200 && o.at > restartedAt).length >= 100,
      ),
    );
    stop = true;
    await Promise.all(workers);

    const refused = outcomes.filter((o) => o.status !== 200);
    const codes = new Map<string, number>();
    for (const o of refused) {
      const problem = expectProblem(
        {
          status: o.status,
          headers: new Headers({ "content-type": o.contentType }),
          text: o.text,
          json: JSON.parse(o.text),
        },
        503,
        `a release while PostgreSQL restarted (gateway ${o.gateway})`,
      );
      expect(problem.dependency, o.text).to.equal("database");
      codes.set(String(problem.code), (codes.get(String(problem.code)) ?? 0) + 1);
    }
    const ok = outcomes.filter((o) => o.status === 200);
    console.log(
      `      PostgreSQL restart took ${restartedAt - restartAt} ms; ${ok.length} releases answered 200, ` +
        `${refused.length} refused (${[...codes].map(([c, n]) => `${n} ${c}`).join(", ") || "none"}), ` +
        `${networkErrors.length} network errors`,
    );
    expect(networkErrors, "requests the gateways dropped").to.deep.equal([]);
    // The gateways were not restarted.
    expect(stack.gateways.map((g) => g.pid)).to.deep.equal(pids);

    // Every release acknowledged with a 200 has its event at its auditIndex in its gateway's log.
    for (const gateway of stack.gateways) {
      const events = await patientEvents(stack.url, patientToken, gateway.origin);
      const byIndex = new Map(events.map((e) => [e.index, e.parsed]));
      const lost = ok
        .filter((o) => o.gateway === gateway.index)
        .filter((o) => {
          const event = byIndex.get(o.auditIndex!);
          return event?.record !== o.cid || event.actor !== clinicAddress || event.decision !== "permit";
        });
      expect(lost.length, `gateway ${gateway.index}: acknowledged releases without their event`).to.equal(0);
    }
  });

  it("IPFS stopped: uploads and fetches are 503 problems naming IPFS within the timeout, nothing stored; then back", async function () {
    this.timeout(300_000);
    const stack = suite.cluster;
    const { patientAddress, clinicAddress, patientToken, clinicToken, records } = suite.parties;
    const db = await database(stack);
    const count = async () => {
      const recordsCount = await db.query<{ n: string }>("SELECT count(*) AS n FROM records");
      const staged = await db.query<{ n: string }>("SELECT count(*) AS n FROM staged_uploads");
      return { records: Number(recordsCount.rows[0]!.n), staged: Number(staged.rows[0]!.n) };
    };
    try {
      const before = await count();
      await stack.ipfs.stop();
      const bytes = randomBytes(8192);
      // The CID the gateway would have given these bytes (CIDv1, raw leaves, one chunk).
      const cid = CID.createV1(raw.code, await sha256.digest(bytes)).toString();
      const registration = (of: string) => ({
        cid: of,
        scopeIds: { [patientAddress]: [`0x${randomBytes(32).toString("hex")}`] },
        wraps: [{ recipient: patientAddress, wrap: sampleWrap(of) }],
      });
      for (const gateway of stack.gateways) {
        const started = Date.now();
        const upload = await call(gateway.url, "PUT", "/v1/uploads", { token: patientToken, body: bytes });
        const uploadMs = Date.now() - started;
        const problem = expectProblem(upload, 503, `gateway ${gateway.index}: an upload with IPFS down`);
        expect(problem.dependency, upload.text).to.equal("ipfs");
        expect(uploadMs, "the upload's refusal time").to.be.lessThan(IPFS_TIMEOUT_MS + 3000);

        const fetchStarted = Date.now();
        const content = await call(
          gateway.url,
          "GET",
          `/v1/patients/${patientAddress}/records/${records[0]!.cid}/content?purpose=Treatment`,
          { token: clinicToken },
        );
        const fetchMs = Date.now() - fetchStarted;
        const fetchProblem = expectProblem(content, 503, `gateway ${gateway.index}: a content fetch with IPFS down`);
        expect(fetchProblem.dependency, content.text).to.equal("ipfs");
        expect(fetchMs, "the fetch's refusal time").to.be.lessThan(IPFS_TIMEOUT_MS + 3000);
        console.log(
          `      gateway ${gateway.index} with IPFS down: upload refused in ${uploadMs} ms (${String(problem.code)}), ` +
            `fetch in ${fetchMs} ms (${String(fetchProblem.code)})`,
        );

        // Registering the refused upload's CID is refused too (a clean problem, never a 201 or a 500).
        const register = await call(gateway.url, "POST", "/v1/records", {
          token: patientToken,
          json: registration(cid),
        });
        const refusal = expectProblem(register, register.status, "registering the refused upload with IPFS down");
        expect(register.status, register.text).to.satisfy(
          (status: number) => (status >= 400 && status < 500) || (status === 503 && refusal.dependency === "ipfs"),
        );
        console.log(
          `      registering the refused upload's CID with IPFS down: ${register.status} ${String(refusal.code)}`,
        );
      }
      expect(await count(), "records and staged uploads while IPFS was down").to.deep.equal(before);

      await stack.ipfs.start();
      // Nothing was staged while IPFS was down: with IPFS back, the refused upload's CID is still not registrable.
      for (const gateway of stack.gateways) {
        const register = await call(gateway.url, "POST", "/v1/records", {
          token: patientToken,
          json: registration(cid),
        });
        expect(expectProblem(register, 409, "registering the refused upload after IPFS is back").code).to.equal(
          "UPLOAD_NOT_STAGED",
        );
      }
      // Uploads work again (through each gateway, without restarting them), and so do fetches.
      for (const gateway of stack.gateways) {
        await waitFor(`gateway ${gateway.index} uploads again`, 30_000, async () => {
          const upload = await call(gateway.url, "PUT", "/v1/uploads", { token: patientToken, body: randomBytes(64) });
          return upload.status === 201;
        });
        const record = await addRecord(gateway.url, patientToken, patientAddress, clinicAddress);
        const content = await fetch(
          `${gateway.url}/v1/patients/${patientAddress}/records/${record.cid}/content?purpose=Treatment`,
          { headers: { authorization: `Bearer ${patientToken}` } },
        );
        expect(content.status, `gateway ${gateway.index}: the owner's fetch after IPFS is back`).to.equal(200);
        expect((await content.arrayBuffer()).byteLength).to.equal(4096);
        expectOk(
          await call(gateway.url, "POST", keyPath(patientAddress, records[1]!.cid), {
            token: clinicToken,
            json: TREATMENT,
          }),
          200,
          "a release after IPFS is back",
        );
      }
    } finally {
      await db.end();
      if (!stack.ipfs.running()) await stack.ipfs.start();
    }
  });
  it("IPFS hung (its daemon SIGSTOPped): uploads and fetches are 503 problems naming IPFS within the timeout; then back", async function () {
    this.timeout(180_000);
    const stack = suite.cluster;
    const { patientAddress, clinicAddress, patientToken, clinicToken, records } = suite.parties;
    const pid = listenerPid(Number(new URL(stack.ipfs.url).port));
    process.kill(pid, "SIGSTOP");
    try {
      for (const gateway of stack.gateways) {
        const started = Date.now();
        const upload = await call(gateway.url, "PUT", "/v1/uploads", { token: patientToken, body: randomBytes(8192) });
        const uploadMs = Date.now() - started;
        const problem = expectProblem(upload, 503, `gateway ${gateway.index}: an upload with IPFS hung`);
        expect(problem.dependency, upload.text).to.equal("ipfs");
        const fetchStarted = Date.now();
        const content = await call(
          gateway.url,
          "GET",
          `/v1/patients/${patientAddress}/records/${records[2]!.cid}/content?purpose=Treatment`,
          { token: clinicToken },
        );
        const fetchMs = Date.now() - fetchStarted;
        const fetchProblem = expectProblem(content, 503, `gateway ${gateway.index}: a content fetch with IPFS hung`);
        expect(fetchProblem.dependency, content.text).to.equal("ipfs");
        console.log(
          `      gateway ${gateway.index} with IPFS hung: upload refused in ${uploadMs} ms (${String(problem.code)}), ` +
            `fetch in ${fetchMs} ms (${String(fetchProblem.code)}); HYGEIA_IPFS_TIMEOUT_MS ${IPFS_TIMEOUT_MS}`,
        );
        expect(uploadMs, "the upload's refusal time (ms)").to.be.lessThan(IPFS_TIMEOUT_MS + 3000);
        expect(fetchMs, "the fetch's refusal time (ms)").to.be.lessThan(IPFS_TIMEOUT_MS + 3000);
      }
    } finally {
      process.kill(pid, "SIGCONT");
    }
    for (const gateway of stack.gateways)
      await waitFor(`gateway ${gateway.index} uploads again after IPFS resumed`, 30_000, async () => {
        await addRecord(gateway.url, patientToken, patientAddress, clinicAddress);
        return true;
      });
  });
});
