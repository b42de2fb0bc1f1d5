// Two gateways on one PostgreSQL database (a real server started for this file), one chain, one public URL: what a
// load balancer in front of them needs. A session or a SIWE nonce of one is good at the other (once); a role
// challenge issued by one is answered at the other; each keeps its own audit log, and either serves both; a gateway
// that would append to another's log, or anchor from another's account, refuses to start.
import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { startPostgres, type TestPostgres } from "../support/postgres.ts";
import {
  ACCOUNT_INDEXES,
  startMoreGateway,
  startTestStack,
  type MoreGateway,
  type TestStack,
} from "../support/stack.ts";
import {
  closeAuthWorld,
  getNonce,
  issueRoleCredential,
  rolePresentation,
  sessionRoles,
  siweMessage,
  signIn,
} from "../support/auth.ts";
import { expectProblem, request } from "../support/http.ts";
import { releaseEvent } from "../audit/support.ts";
import type { AuditService } from "../../src/audit/audit-log.ts";
import type { GatewayApp } from "../../src/app.ts";

const auditOf = (app: GatewayApp) => app.audit as AuditService;

const SECRET = "shared-session-secret-of-the-test-gateways-0123456789";
const B_ACCOUNT = 10;
const B_ORIGIN = "hygeia.test/gateway-b";

describe("gateways sharing one PostgreSQL database", function () {
  this.timeout(300_000);
  let postgres: TestPostgres;
  let stack: TestStack;
  let b: MoreGateway;
  let databaseUrl: string;

  before(async function () {
    postgres = await startPostgres();
    databaseUrl = await postgres.createDatabase();
    stack = await startTestStack({
      config: {
        database: { url: databaseUrl },
        sessions: { secret: SECRET },
        gatewaySecret: `${SECRET}-keys`,
        // Anchored only when a test says so.
        audit: { anchorEveryMs: 86_400_000, anchorEveryEvents: 1_000_000 },
      },
      moreGatewayAccounts: [B_ACCOUNT, B_ACCOUNT + 1],
    });
    b = await startMoreGateway(stack, { account: B_ACCOUNT, origin: B_ORIGIN });
  });

  after(async function () {
    if (stack) await closeAuthWorld(stack);
    await b?.close();
    await stack?.close();
    await postgres?.stop();
  });

  it("accepts a session issued by one gateway at the other, and a sign-out at one ends it at both", async function () {
    const token = await signIn(stack, stack.accounts.alice);
    const atB = await request(b, "GET", "/v1/records", { token });
    expect(atB.status, atB.text).to.equal(200);
    const out = await request(b, "POST", "/v1/auth/logout", { token });
    expect(out.status, out.text).to.be.oneOf([200, 204]);
    expectProblem(await request(stack, "GET", "/v1/records", { token }), 401);
  });

  it("spends a SIWE nonce once across both gateways", async function () {
    const fields = await getNonce(stack);
    const message = siweMessage(stack.accounts.bob.address, fields);
    const signature = await stack.accounts.bob.signMessage(message);
    const first = await request(b, "POST", "/v1/auth/verify", { json: { message, signature } });
    expect(first.status, first.text).to.equal(200);
    const again = await request(stack, "POST", "/v1/auth/verify", { json: { message, signature } });
    expect(again.status).to.equal(401);
  });

  it("grants a role for a presentation answering the other gateway's challenge, once", async function () {
    const token = await signIn(stack, stack.accounts.clinic);
    const issued = await issueRoleCredential(stack, stack.accounts.clinic, "clinic");
    const { presentation, challenge } = await rolePresentation(stack, token, stack.accounts.clinic, issued.credential);
    const atB = await request(b, "POST", "/v1/auth/roles", {
      token,
      json: { role: "clinic", presentation, challenge },
    });
    expect(atB.status, atB.text).to.equal(200);
    expect(await sessionRoles(stack, token)).to.include("clinic");
    const replay = await request(stack, "POST", "/v1/auth/roles", {
      token,
      json: { role: "clinic", presentation, challenge },
    });
    expect(replay.status).to.be.oneOf([400, 401, 403]);
  });

  it("keeps one audit log per gateway, and serves both from either, each with proofs against its own heads", async function () {
    const patient = stack.accounts.alice.address;
    const actor = stack.accounts.clinic.address;
    const atA = await stack.app.audit.record(releaseEvent(patient, actor));
    const atB = await auditOf(b.app).record(releaseEvent(patient, actor, "deny"));
    await stack.app.audit.anchorNow();
    await auditOf(b.app).anchorNow();

    for (const gateway of [stack, b]) {
      const logs = await request(gateway, "GET", "/v1/audit/logs");
      expect(logs.status, logs.text).to.equal(200);
      const listed = logs.json as { self: string; logs: { origin: string; gateway: string; verifierKey: string }[] };
      expect(listed.logs.map((log) => log.origin)).to.have.members(["hygeia.test/gateway", B_ORIGIN]);
      expect(listed.logs[0]!.origin).to.equal(listed.self);
      expect(listed.logs.find((log) => log.origin === B_ORIGIN)!.verifierKey).to.equal(auditOf(b.app).verifierKey);
    }

    const token = await signIn(stack, stack.accounts.alice);
    // B's log read at A: the deny B logged, proven against B's anchored head.
    const page = await request(stack, "GET", `/v1/audit/events?log=${encodeURIComponent(B_ORIGIN)}`, { token });
    expect(page.status, page.text).to.equal(200);
    const events = page.json as {
      log: string;
      events: { index: number; event: string; inclusion: { size: number; proof: string[] } | null }[];
      anchoredHead: { size: number; rootHash: string } | null;
    };
    expect(events.log).to.equal(B_ORIGIN);
    const denied = events.events.find((e) => e.index === atB.index)!;
    expect(JSON.parse(denied.event)).to.include({ decision: "deny", gateway: auditOf(b.app).gateway });
    expect(denied.inclusion).to.not.equal(null);
    expect(events.anchoredHead!.rootHash).to.equal(auditOf(b.app).rootAt(events.anchoredHead!.size));
    // Its own log at A holds A's permit only.
    const own = (await request(stack, "GET", "/v1/audit/events", { token })).json as { events: { index: number }[] };
    expect(own.events.map((e) => e.index)).to.include(atA.index);

    const key = await request(stack, "GET", `/v1/audit/verifier-key?log=${encodeURIComponent(B_ORIGIN)}`);
    expect(key.json).to.include({
      origin: B_ORIGIN,
      verifierKey: auditOf(b.app).verifierKey,
      gateway: auditOf(b.app).gateway,
    });
    const consistency = await request(
      stack,
      "GET",
      `/v1/audit/proofs/consistency?log=${encodeURIComponent(B_ORIGIN)}&from=0&to=${auditOf(b.app).size()}`,
    );
    expect((consistency.json as { toRoot: string }).toRoot).to.equal(auditOf(b.app).rootAt());
  });

  it("streams an access decided at one gateway to the patient's live stream held by the other", async function () {
    const patient = stack.accounts.alice.address.toLowerCase();
    const token = await signIn(stack, stack.accounts.alice);
    const aborted = new AbortController();
    const response = await fetch(`${stack.url}/v1/events`, {
      headers: { authorization: `Bearer ${token}` },
      signal: aborted.signal,
    });
    expect(response.status).to.equal(200);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    const readUntil = async (needle: string): Promise<void> => {
      const deadline = Date.now() + 15_000;
      while (!text.includes(needle)) {
        if (Date.now() > deadline) throw new Error(`the stream never said ${JSON.stringify(needle)}: ${text}`);
        const { value, done } = await reader.read();
        if (done) throw new Error(`the stream ended: ${text}`);
        text += decoder.decode(value, { stream: true });
      }
    };
    try {
      await readUntil(": connected");
      const logged = await auditOf(b.app).record(releaseEvent(patient, stack.accounts.clinic.address));
      b.app.notifier.publish(patient, {
        log: auditOf(b.app).origin,
        index: logged.index,
        event: logged.event,
        newGrantee: true,
        emergency: false,
      });
      await readUntil("event: access");
      await readUntil("\n\n");
      const data = text
        .slice(text.indexOf("event: access"))
        .split("\n")
        .find((line) => line.startsWith("data: "))!;
      const body = JSON.parse(data.slice(6)) as {
        patient: string;
        log: string;
        index: number;
        newGrantee: boolean;
        event: object;
      };
      expect(body).to.include({ patient, log: auditOf(b.app).origin, index: logged.index, newGrantee: true });
      expect(body.event).to.include({ gateway: auditOf(b.app).gateway, seq: logged.event.seq });
    } finally {
      aborted.abort();
    }
  });

  it("answers an unknown log with a 404 naming it", async function () {
    const token = await signIn(stack, stack.accounts.alice);
    const res = await request(stack, "GET", "/v1/audit/events?log=nobody.example%2Flog", { token });
    expectProblem(res, 404, "UNKNOWN_AUDIT_LOG");
  });

  it("refuses to start a gateway whose origin is another gateway's log, or whose anchoring account another uses", async function () {
    let refused: unknown;
    try {
      await startMoreGateway(stack, { account: B_ACCOUNT + 1, origin: B_ORIGIN });
    } catch (error) {
      refused = error;
    }
    expect(refused).to.be.instanceOf(Error);
    expect((refused as Error).message)
      .to.include(B_ORIGIN)
      .and.include("HYGEIA_AUDIT_ORIGIN");

    refused = undefined;
    try {
      await startMoreGateway(stack, { account: ACCOUNT_INDEXES.gateway, origin: "hygeia.test/gateway-c" });
    } catch (error) {
      refused = error;
    }
    expect(refused).to.be.instanceOf(Error);
    expect((refused as Error).message).to.include("HYGEIA_ANCHOR_KEY");

    // A copy of B's data dir (its signing key) anchoring from another account: refused, not a second writer of B's log.
    const copy = await mkdtemp(join(tmpdir(), "hygeia-copied-"));
    try {
      await cp(b.config.dataDir, copy, { recursive: true });
      refused = undefined;
      try {
        await startMoreGateway(stack, { account: B_ACCOUNT + 1, origin: B_ORIGIN, config: { dataDir: copy } });
      } catch (error) {
        refused = error;
      }
      expect((refused as Error).message).to.include("anchored from");
    } finally {
      await rm(copy, { recursive: true, force: true });
    }

    // A second process on B's very data dir: refused by the data dir's lock, before anything else.
    refused = undefined;
    try {
      await startMoreGateway(stack, {
        account: B_ACCOUNT + 1,
        origin: B_ORIGIN,
        config: { dataDir: b.config.dataDir },
      });
    } catch (error) {
      refused = error;
    }
    expect(refused).to.include({ code: "DATA_DIR_LOCKED" });

    // The refusals left no log behind, and the stack's own gateway still starts.
    const logs = (await request(stack, "GET", "/v1/audit/logs")).json as { logs: { origin: string }[] };
    expect(logs.logs.map((log) => log.origin)).to.have.members(["hygeia.test/gateway", B_ORIGIN]);
    await stack.restartGateway();
    expect((await request(stack, "GET", "/v1/audit/logs")).status).to.equal(200);
  });
});
