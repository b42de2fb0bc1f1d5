// The patient's audit view when several gateways share one PostgreSQL database (a real server started here): each
// gateway keeps its own log, and `verify()` asked of one gateway checks every log against its own heads and its own
// gateway's anchors on chain, merging the events. A tampered event in another gateway's log, or another key than the
// one pinned for that log, is a problem of that log.
import { expect } from "chai";
import { startPostgres, type TestPostgres } from "../../gateway/test/support/postgres.ts";
import {
  startMoreGateway,
  startTestStack,
  type MoreGateway,
  type TestStack,
} from "../../gateway/test/support/stack.ts";
import { releaseEvent } from "../../gateway/test/audit/support.ts";
import type { AuditService } from "../../gateway/src/audit/audit-log.ts";
import type { GatewayApp } from "../../gateway/src/app.ts";
import { derivePatientKeys } from "../src/patient/keys.ts";
import { HygeiaConnection, signIn, type FetchLike } from "../src/index.ts";
import type { PatientContext, RecordSharing } from "../src/patient/context.ts";
import { PatientAudit } from "../src/patient/audit.ts";

const SECRET = "shared-session-secret-of-the-sdk-test-gateways-0123";
const B_ORIGIN = "hygeia.test/gateway-b";
const noSharing: RecordSharing = { shareScopesWith: () => Promise.resolve(0) };
const auditOf = (app: GatewayApp) => app.audit as AuditService;

describe("sdk PatientAudit over gateways sharing a database", function () {
  this.timeout(300_000);
  let postgres: TestPostgres;
  let stack: TestStack;
  let b: MoreGateway;
  const opened: HygeiaConnection[] = [];
  let indexes: { a: number; b: number };

  async function auditVia(fetchLike?: FetchLike): Promise<PatientAudit> {
    const alice = stack.accounts.alice;
    const connection = await HygeiaConnection.open({
      gatewayUrl: stack.url,
      rpcUrl: stack.local.rpcUrl,
      deployment: stack.deployment,
      ...(fetchLike ? { fetch: fetchLike } : {}),
    });
    opened.push(connection);
    await signIn(connection.transport, alice);
    const context: PatientContext = {
      connection,
      signer: alice,
      address: alice.address,
      keys: await derivePatientKeys(alice),
    };
    return new PatientAudit(context, noSharing);
  }

  before(async function () {
    postgres = await startPostgres();
    stack = await startTestStack({
      config: {
        database: { url: await postgres.createDatabase() },
        sessions: { secret: SECRET },
        gatewaySecret: `${SECRET}-keys`,
        audit: { anchorEveryMs: 86_400_000, anchorEveryEvents: 1_000_000 },
      },
      moreGatewayAccounts: [10],
    });
    b = await startMoreGateway(stack, { account: 10, origin: B_ORIGIN });
    const patient = stack.accounts.alice.address;
    const clinic = stack.accounts.clinic.address;
    // A permit decided at the stack's gateway, a deny at B; both anchored.
    indexes = {
      a: (await stack.app.audit.record(releaseEvent(patient, clinic))).index,
      b: (await b.app.audit.record(releaseEvent(patient, clinic, "deny"))).index,
    };
    await stack.app.audit.anchorNow();
    await b.app.audit.anchorNow();
  });

  after(async function () {
    for (const connection of opened) connection.close();
    await b?.close();
    await stack?.close();
    await postgres?.stop();
  });

  it("verifies every gateway's log against its own anchors and merges the events", async function () {
    const audit = await auditVia();
    const logs = await audit.logs();
    expect(logs.map((log) => [log.origin, log.own])).to.deep.equal([
      ["hygeia.test/gateway", true],
      [B_ORIGIN, false],
    ]);
    const report = await audit.verify();
    expect(report.problems).to.deep.equal([]);
    expect(report.ok).to.equal(true);
    expect(report.logs.map((log) => [log.origin, log.gateway, log.ok])).to.deep.equal([
      ["hygeia.test/gateway", auditOf(stack.app).gateway, true],
      [B_ORIGIN, auditOf(b.app).gateway, true],
    ]);
    const permit = report.events.find((e) => e.log === "hygeia.test/gateway" && e.index === indexes.a)!;
    const deny = report.events.find((e) => e.log === B_ORIGIN && e.index === indexes.b)!;
    expect([permit.decision, permit.verified]).to.deep.equal(["permit", true]);
    expect([deny.decision, deny.verified]).to.deep.equal(["deny", true]);
    expect(audit.pinnedVerifierKeys).to.deep.equal({
      "hygeia.test/gateway": auditOf(stack.app).verifierKey,
      [B_ORIGIN]: auditOf(b.app).verifierKey,
    });
  });

  it("names the other gateway's log when an event of it was altered on the way", async function () {
    const audit = await auditVia(async (input, init) => {
      const res = await fetch(input, init);
      const url = new URL(input);
      if (url.pathname !== "/v1/audit/events" || url.searchParams.get("log") !== B_ORIGIN || !res.ok) return res;
      const page = (await res.json()) as { events: { event: string }[] };
      for (const entry of page.events) entry.event = entry.event.replace('"deny"', '"permit"');
      return new Response(JSON.stringify(page), { status: 200, headers: { "content-type": "application/json" } });
    });
    const report = await audit.verify();
    expect(report.ok).to.equal(false);
    expect(report.problems.length).to.be.greaterThan(0);
    expect(report.problems.every((p) => p.log === B_ORIGIN)).to.equal(true);
    expect(report.logs.find((log) => log.origin === B_ORIGIN)!.ok).to.equal(false);
    expect(report.logs.find((log) => log.own)!.ok).to.equal(true);
  });

  it("reports a pinned log the gateway stops listing as LOG_MISSING", async function () {
    let hide = false;
    const audit = await auditVia(async (input, init) => {
      const res = await fetch(input, init);
      if (!hide || new URL(input).pathname !== "/v1/audit/logs" || !res.ok) return res;
      const answer = (await res.json()) as { self: string; logs: { origin: string }[] };
      answer.logs = answer.logs.filter((log) => log.origin !== B_ORIGIN);
      return new Response(JSON.stringify(answer), { status: 200, headers: { "content-type": "application/json" } });
    });
    expect((await audit.verify()).ok).to.equal(true);
    hide = true;
    const report = await audit.verify();
    expect(report.ok).to.equal(false);
    expect(report.problems.map((p) => [p.code, p.log])).to.deep.equal([["LOG_MISSING", B_ORIGIN]]);
  });

  it("holds each event learned elsewhere to its own log (a release's auditLog and auditIndex)", async function () {
    const audit = await auditVia();
    const served = await audit.verify({ knownEvents: [{ log: B_ORIGIN, index: indexes.b }] });
    expect(served.problems).to.deep.equal([]);
    // B's index read as a position in the answering gateway's log would be checked in the wrong log: by log, an
    // index past B's log is missing there, and a log the gateway does not list is LOG_MISSING.
    const report = await audit.verify({
      knownEvents: [
        { log: B_ORIGIN, index: indexes.b + 1_000 },
        { log: "nobody.example/log", index: 0 },
      ],
    });
    expect(report.ok).to.equal(false);
    expect(report.problems.map((p) => [p.code, p.log])).to.deep.equal([
      ["MISSING_EVENT", B_ORIGIN],
      ["LOG_MISSING", "nobody.example/log"],
    ]);
  });

  it("holds each log to the key pinned for it", async function () {
    const audit = await auditVia();
    const report = await audit.verify({ verifierKeys: { [B_ORIGIN]: auditOf(stack.app).verifierKey } });
    expect(report.ok).to.equal(false);
    const changed = report.problems.find((p) => p.code === "VERIFIER_KEY_CHANGED")!;
    expect(changed.log).to.equal(B_ORIGIN);
  });
});
