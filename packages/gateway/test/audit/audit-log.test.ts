import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { expect } from "chai";
import { AuditAnchorClient } from "@hygeia/chain";
import { openCheckpoint, verifyAuditLog } from "@hygeia/audit";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { expectProblem, request } from "../support/http.ts";
import { signIn } from "../support/auth.ts";
import type { AuditService } from "../../src/audit/audit-log.ts";
import { anchorsOnChain, eventually, patientView, releaseEvent, type EventsPageJson } from "./support.ts";

const EVERY = 100;

describe("gateway audit log on the real stack (anvil, SQLite, HTTP)", function () {
  this.timeout(300_000);
  let stack: TestStack;
  let audit: AuditService;
  let gateway: string;
  let alice: string;
  let bob: string;
  let clinic: string;
  let aliceToken: string;

  before(async () => {
    // Only the event count triggers anchoring here (the timer is far away).
    stack = await startTestStack({ config: { audit: { anchorEveryEvents: EVERY, anchorEveryMs: 600_000 } } });
    audit = stack.app.audit as AuditService;
    gateway = stack.accounts.gateway.address.toLowerCase();
    alice = stack.accounts.alice.address.toLowerCase();
    bob = stack.accounts.bob.address.toLowerCase();
    clinic = stack.accounts.clinic.address.toLowerCase();
    aliceToken = await signIn(stack, stack.accounts.alice);
  });

  after(async () => {
    await stack?.close();
  });

  it("records 300 concurrent events with contiguous indexes, each durable in the SQLite file when record() resolves, and anchors them on chain once 100 are unanchored", async () => {
    const start = audit.size();
    const db = new DatabaseSync(join(stack.dataDir, "gateway.sqlite"), { readOnly: true });
    try {
      const durable: boolean[] = [];
      const results = await Promise.all(
        Array.from({ length: 300 }, async (_, i) => {
          const result = await stack.app.audit.record(
            releaseEvent(i % 3 === 2 ? bob : alice, clinic, i % 7 === 0 ? "deny" : "permit"),
          );
          // Read through another connection: the row is committed by the time record() resolves.
          const row = db.prepare("SELECT idx FROM audit_events WHERE idx = ?").get(result.index);
          durable.push(row !== undefined);
          return result.index;
        }),
      );
      expect([...results].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 300 }, (_, i) => start + i));
      expect(durable.every(Boolean)).to.equal(true);
    } finally {
      db.close();
    }
    const client = new AuditAnchorClient(stack.deployment.contracts.AuditAnchor, stack.provider);
    await eventually(
      async () => Number((await client.gatewayOf(gateway)).nextIndex) >= start + 300 - (EVERY - 1),
      60_000,
      "anchors",
    );
    const anchors = await anchorsOnChain(stack.provider, stack.deployment.contracts.AuditAnchor, gateway);
    expect(anchors.length).to.be.greaterThan(0);
    anchors.forEach((anchor, i) => {
      expect(anchor.firstIndex).to.equal(i === 0 ? 0 : anchors[i - 1]!.firstIndex + anchors[i - 1]!.count);
      expect(anchor.count).to.be.at.least(EVERY);
      expect(anchor.root).to.equal(audit.rootAt(anchor.firstIndex + anchor.count));
    });
  });

  it("numbers each patient's events 0, 1, 2, ... in log order (seq), in the served events", async () => {
    const res = await request(stack, "GET", "/v1/audit/events?limit=500", { token: aliceToken });
    expect(res.status, res.text).to.equal(200);
    const page = res.json as EventsPageJson;
    expect(page.patient).to.equal(alice);
    expect(page.events.map((e) => e.seq)).to.deep.equal(page.events.map((_, i) => i));
    expect(page.events.every((e) => JSON.parse(e.event).patient === alice)).to.equal(true);
  });

  it("serves a patient's events and proofs that verifyAuditLog accepts against the anchors read from the chain", async () => {
    await audit.anchorNow();
    const view = await patientView(stack, aliceToken, gateway);
    expect(view.events.length).to.equal(200);
    const result = verifyAuditLog(view);
    expect(result.problems).to.deep.equal([]);
    expect(result.ok).to.equal(true);
    expect(result.heads.every((h) => h.signed && h.anchored)).to.equal(true);
  });

  it("serves the latest checkpoint as a C2SP note that opens with the served verifier key, and the anchor it was bound to", async () => {
    const keyRes = await request(stack, "GET", "/v1/audit/verifier-key");
    expect(keyRes.status, keyRes.text).to.equal(200);
    const key = keyRes.json as {
      verifierKey: string;
      origin: string;
      gateway: string;
      auditAnchor: string;
      size: number;
    };
    expect(key.gateway).to.equal(gateway);
    expect(key.origin).to.equal(stack.config.audit.origin);
    const note = await request(stack, "GET", "/v1/audit/checkpoint");
    expect(note.status).to.equal(200);
    expect(note.headers.get("content-type")).to.match(/^text\/plain/);
    const opened = openCheckpoint(note.text, key.verifierKey, { origin: key.origin });
    expect(opened.size).to.equal(audit.size());
    const page = (await request(stack, "GET", "/v1/audit/checkpoints?limit=500")).json as {
      checkpoints: {
        size: number;
        anchor: { txHash: string; blockNumber: number } | null;
        consistency: { from: number; to: number };
      }[];
    };
    const last = page.checkpoints[page.checkpoints.length - 1]!;
    // Each entry's consistency is verifyAuditLog's { from, to, proof } as is: `to` is the checkpoint's size.
    for (const c of page.checkpoints) expect(c.consistency.to).to.equal(c.size);
    expect(last.size).to.equal(opened.size);
    const receipt = await stack.provider.getTransactionReceipt(last.anchor!.txHash);
    expect(receipt?.blockNumber).to.equal(last.anchor!.blockNumber);
  });

  it("detects an event byte changed in the SQLite file (triggers dropped by the attacker) as TAMPERED_EVENT", async () => {
    const view = await patientView(stack, aliceToken, gateway);
    const target = view.events[5]!;
    const db = new DatabaseSync(join(stack.dataDir, "gateway.sqlite"));
    try {
      db.exec("DROP TRIGGER audit_events_no_update");
      const row = db.prepare("SELECT event FROM audit_events WHERE idx = ?").get(target.index) as { event: Uint8Array };
      const changed = Buffer.from(row.event)
        .toString("utf8")
        .replace("CONSENT_GRANTED", "CONSENT_GRANTEE")
        .replace("NO_CONSENT", "NO_CONSENX");
      db.prepare("UPDATE audit_events SET event = ? WHERE idx = ?").run(Buffer.from(changed, "utf8"), target.index);
      const tampered = await patientView(stack, aliceToken, gateway);
      const result = verifyAuditLog(tampered);
      expect(result.ok).to.equal(false);
      expect(result.problems.map((p) => [p.code, p.index])).to.deep.equal([["TAMPERED_EVENT", target.index]]);
    } finally {
      // Put the byte back for the following tests.
      const original = typeof target.event === "string" ? target.event : Buffer.from(target.event).toString("utf8");
      db.prepare("UPDATE audit_events SET event = ? WHERE idx = ?").run(Buffer.from(original, "utf8"), target.index);
      db.close();
    }
  });

  it("detects a row deleted from the SQLite file (the gateway serves the log without it) as MISSING_EVENT", async () => {
    const view = await patientView(stack, aliceToken, gateway);
    const target = view.events[9]!;
    const db = new DatabaseSync(join(stack.dataDir, "gateway.sqlite"));
    try {
      db.exec("DROP TRIGGER IF EXISTS audit_events_no_delete");
      const row = db.prepare("SELECT * FROM audit_events WHERE idx = ?").get(target.index) as Record<string, never>;
      db.prepare("DELETE FROM audit_events WHERE idx = ?").run(target.index);
      const result = verifyAuditLog(await patientView(stack, aliceToken, gateway));
      expect(result.ok).to.equal(false);
      expect(result.problems.map((p) => p.code)).to.deep.equal(["MISSING_EVENT"]);
      db.exec("DROP TRIGGER IF EXISTS audit_events_continue");
      const columns = Object.keys(row);
      db.prepare(`INSERT INTO audit_events (${columns.join(",")}) VALUES (${columns.map(() => "?").join(",")})`).run(
        ...columns.map((c) => row[c]!),
      );
    } finally {
      db.close();
    }
    expect(verifyAuditLog(await patientView(stack, aliceToken, gateway)).ok).to.equal(true);
  });

  it("detects a fork: a consistency proof from another tree, served between two anchored heads, fails (BAD_CONSISTENCY)", async () => {
    // A second anchored head after the first, so two anchored heads need linking.
    for (let i = 0; i < 5; i++) await stack.app.audit.record(releaseEvent(alice, clinic));
    await audit.anchorNow();
    const view = await patientView(stack, aliceToken, gateway);
    expect(view.consistency.length).to.be.greaterThan(0);
    expect(verifyAuditLog(view).ok).to.equal(true);
    const link = view.consistency[view.consistency.length - 1]!;
    // Another tree sharing the first `from` events: the same proof shape, other hashes after the prefix.
    const foreign = link.proof.map((hash, i) => (i === link.proof.length - 1 ? `0x${"ab".repeat(32)}` : hash));
    const result = verifyAuditLog({
      ...view,
      consistency: [...view.consistency.slice(0, -1), { ...link, proof: foreign }],
    });
    expect(result.problems.map((p) => p.code)).to.deep.equal(["BAD_CONSISTENCY"]);
  });

  it("refuses without a session (401), and a consistency range beyond the log or reversed (400), as problems", async () => {
    expectProblem(await request(stack, "GET", "/v1/audit/events"), 401, "NOT_SIGNED_IN");
    const size = audit.size();
    expectProblem(
      await request(stack, "GET", `/v1/audit/proofs/consistency?from=1&to=${size + 1}`),
      400,
      "INVALID_RANGE",
    );
    expectProblem(await request(stack, "GET", "/v1/audit/proofs/consistency?from=5&to=4"), 400, "INVALID_RANGE");
    const bad = await request(stack, "GET", "/v1/audit/proofs/consistency?from=-1&to=4");
    expect(bad.status).to.equal(400);
    const badLimit = await request(stack, "GET", "/v1/audit/events?limit=501", { token: aliceToken });
    expect(badLimit.status).to.equal(400);
  });

  it("refuses a malformed event at record() without failing the other callers of its batch", async () => {
    const good = stack.app.audit.record(releaseEvent(alice, clinic));
    const bad = stack.app.audit.record({ ...releaseEvent(alice, clinic), actor: "0xNOT" });
    const [goodResult, badResult] = await Promise.allSettled([good, bad]);
    expect(goodResult.status).to.equal("fulfilled");
    expect(badResult.status).to.equal("rejected");
  });
});
