// /healthz says the process is up; /readyz says whether the gateway can vouch for answers, naming the part
// that cannot (chain, indexer, ipfs, database, audit) so an operator knows where to look.
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { expect } from "chai";
import { buildGateway, type GatewayApp } from "../../src/app.ts";
import type { GatewayServices } from "../../src/context.ts";
import { closeServices, createServices } from "../../src/services.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { expectProblem, request, type TestResponse } from "../support/http.ts";
import { auditCheck, readiness } from "../../src/plugins/health/checks.ts";

interface PartState {
  ready: boolean;
  reason: string | null;
  code: string | null;
}

async function until(check: () => Promise<TestResponse>, done: (res: TestResponse) => boolean, ms: number) {
  const deadline = Date.now() + ms;
  let res = await check();
  while (!done(res) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    res = await check();
  }
  return res;
}

describe("readiness decision", function () {
  const up: PartState = { ready: true, reason: null, code: null };
  const down: PartState = { ready: false, reason: "no answer", code: "TIMEOUT" };

  const audit = { ...up, size: 3, anchoredSize: 2, lastAnchorError: null };

  it("is ready only when every part is, and names the parts that are not in a fixed order", function () {
    expect(readiness({ chain: up, indexer: up, ipfs: up, database: up, audit })).to.deep.equal({
      ready: true,
      notReady: [],
    });
    expect(
      readiness({ chain: up, indexer: down, ipfs: up, database: down, audit: { ...audit, ...down } }),
    ).to.deep.equal({ ready: false, notReady: ["indexer", "database", "audit"] });
  });

  it("fails the audit part only when the log does not reproduce its checkpoints, not for an anchoring error", function () {
    const status = { size: 10, anchoredSize: 8, lastAnchorError: null, consistentWithCheckpoints: true };
    expect(auditCheck(status)).to.deep.equal({ ...up, size: 10, anchoredSize: 8, lastAnchorError: null });
    const anchoring = auditCheck({ ...status, lastAnchorError: "the chain node did not answer\nat line two" });
    expect(anchoring.ready).to.equal(true);
    expect(anchoring.lastAnchorError).to.equal("the chain node did not answer");
    const altered = auditCheck({ ...status, consistentWithCheckpoints: false });
    expect(altered).to.include({ ready: false, code: "AUDIT_LOG_INCONSISTENT", size: 10, anchoredSize: 8 });
    expect(altered.reason).to.be.a("string").and.not.equal("");
  });
});

describe("health and readiness", function () {
  let stack: TestStack;
  before(async function () {
    // A short staleness bound so that a stopped chain shows as a stale index within a test.
    stack = await startTestStack({ config: { chain: { pollIntervalMs: 200, staleAfterMs: 4_000 } } });
  });
  after(async function () {
    await stack?.close();
  });

  it("answers /healthz and a /readyz listing every part as ready", async function () {
    const health = await request(stack, "GET", "/healthz");
    expect(health.status).to.equal(200);
    expect(health.json).to.deep.equal({ status: "ok" });
    const ready = await request(stack, "GET", "/readyz");
    expect(ready.status, ready.text).to.equal(200);
    const body = ready.json as { status: string; checks: Record<string, PartState> };
    expect(body.status).to.equal("ready");
    for (const part of ["chain", "indexer", "ipfs", "database"])
      expect(body.checks[part], part).to.deep.equal({ ready: true, reason: null, code: null });
    const status = stack.app.audit.status();
    expect(body.checks["audit"]).to.deep.equal({
      ready: true,
      reason: null,
      code: null,
      size: status.size,
      anchoredSize: status.anchoredSize,
      lastAnchorError: null,
    });
  });

  it("answers 503 naming the database when the store is closed, and stays live", async function () {
    await stack.services.store.close();
    const res = await request(stack, "GET", "/readyz");
    const problem = expectProblem(res, 503, "NOT_READY");
    expect(problem.notReady).to.deep.equal(["database"]);
    const checks = problem.checks as Record<string, PartState>;
    expect(checks.database!.ready).to.equal(false);
    expect(checks.database!.code).to.equal("DATABASE_UNAVAILABLE");
    expect(checks.chain!.ready).to.equal(true);
    expect((await request(stack, "GET", "/healthz")).status).to.equal(200);
  });

  it("answers 503 naming the chain and the indexer once the chain node is gone", async function () {
    await stack.local.chain.stop();
    const res = await until(
      () => request(stack, "GET", "/readyz"),
      (r) => ((r.json as { notReady?: string[] } | undefined)?.notReady ?? []).includes("indexer"),
      15_000,
    );
    const problem = expectProblem(res, 503, "NOT_READY");
    expect(problem.notReady).to.include.members(["chain", "indexer"]);
    const checks = problem.checks as Record<string, PartState>;
    expect(checks.chain!.ready).to.equal(false);
    expect(checks.chain!.code).to.be.a("string");
    expect(checks.indexer!.code).to.equal("INDEXER_STALE");
    expect(checks.indexer!.reason).to.be.a("string").and.not.equal("");
    expect(res.headers.get("content-type")).to.match(/^application\/problem\+json/);
  });
});

describe("readiness of an altered audit log", function () {
  let stack: TestStack;
  let app: GatewayApp | undefined;
  let services: GatewayServices | undefined;
  before(async function () {
    stack = await startTestStack();
  });
  after(async function () {
    await app?.close().catch(() => undefined);
    if (services) await closeServices(services);
    await stack?.close();
  });

  it("answers 503 naming the audit log when the stored events no longer reproduce the signed checkpoint", async function () {
    const alice = stack.accounts.alice.address.toLowerCase();
    const clinic = stack.accounts.clinic.address.toLowerCase();
    for (const request of ["health-a", "health-b"])
      await stack.app.audit.record({
        type: "key_release",
        decision: "permit",
        actor: clinic,
        patient: alice,
        reason: "CONSENT_GRANTED",
        request,
        purpose: 1,
      });
    await stack.app.audit.anchorNow(); // signs (and anchors) the head over both events
    await stack.app.close();
    await closeServices(stack.services);

    const db = new DatabaseSync(join(stack.config.dataDir, "gateway.sqlite"));
    db.exec("DROP TRIGGER IF EXISTS audit_events_no_update");
    const row = db.prepare("SELECT event FROM audit_events WHERE idx = 0").get() as { event: Uint8Array };
    const altered = Buffer.from(row.event).toString("utf8").replace("health-a", "health-z");
    db.prepare("UPDATE audit_events SET event = ? WHERE idx = 0").run(Buffer.from(altered, "utf8"));
    db.close();

    services = await createServices(stack.config, { heliaListen: [] });
    app = await buildGateway(stack.config, services);
    const url = await app.listen({ host: "127.0.0.1", port: 0 });
    const problem = expectProblem(await request({ url }, "GET", "/readyz"), 503, "NOT_READY");
    expect(problem.notReady).to.deep.equal(["audit"]);
    const audit = (problem.checks as Record<string, PartState & { size: number }>)["audit"]!;
    expect(audit).to.include({ ready: false, code: "AUDIT_LOG_INCONSISTENT", size: 2 });
  });
});
