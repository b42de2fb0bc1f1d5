// The audit log across the gateway's life: anchoring retried after the chain comes back, the last batch
// anchored at close, the log rebuilt at restart (seq continues), and a database altered while the gateway
// was down caught by the patient's verifier. The gateway reaches anvil through a proxy the test can cut.
import { copyFile, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { DatabaseSync } from "node:sqlite";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import getPort from "get-port";
import { AuditAnchorClient, startLocalDeployment, writeDeployment, type LocalDeployment } from "@hygeia/chain";
import { verifyAuditLog } from "@hygeia/audit";
import { buildGateway, type GatewayApp } from "../../src/app.ts";
import type { GatewayConfig } from "../../src/config.ts";
import type { GatewayServices } from "../../src/context.ts";
import { closeServices, createServices } from "../../src/services.ts";
import { AuditKeyMismatchError, type AuditService } from "../../src/audit/audit-log.ts";
import { ACCOUNT_INDEXES, testConfig } from "../support/stack.ts";
import { signIn } from "../support/auth.ts";
import { eventually, patientView, releaseEvent } from "./support.ts";

/** A JSON-RPC proxy in front of anvil; `down` makes it drop every request (the chain is unreachable). */
async function startRpcProxy(target: string): Promise<{ url: string; down: boolean; close(): Promise<void> }> {
  const state = { down: false };
  const server: Server = createServer((req, res) => {
    if (state.down) {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body: Buffer.concat(chunks) })
        .then(async (answer) => {
          res.writeHead(answer.status, { "content-type": "application/json" });
          res.end(Buffer.from(await answer.arrayBuffer()));
        })
        .catch(() => req.socket.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    get down() {
      return state.down;
    },
    set down(value: boolean) {
      state.down = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe("gateway audit log across restarts and chain outages", function () {
  this.timeout(300_000);
  let local: LocalDeployment;
  let proxy: Awaited<ReturnType<typeof startRpcProxy>>;
  let root: string;
  let config: GatewayConfig;
  let services: GatewayServices | undefined;
  let app: GatewayApp | undefined;
  let anchorsRead: AuditAnchorClient;
  let gateway: string;
  let alice: string;
  let clinic: string;

  const audit = () => app!.audit as AuditService;
  const chainNextIndex = async () => Number((await anchorsRead.gatewayOf(gateway)).nextIndex);

  async function startGateway(): Promise<void> {
    services = await createServices(config, { heliaListen: [] });
    app = await buildGateway(config, services);
    await app.listen({ host: "127.0.0.1", port: config.port });
  }

  async function stopGateway(): Promise<void> {
    await app?.close();
    if (services) await closeServices(services);
    app = undefined;
    services = undefined;
  }

  before(async () => {
    local = await startLocalDeployment({ gatewayAccounts: [ACCOUNT_INDEXES.gateway], accounts: 10 });
    proxy = await startRpcProxy(local.rpcUrl);
    root = await mkdtemp(join(tmpdir(), "hygeia-audit-lifecycle-"));
    const deploymentFile = join(root, "deployment.json");
    await writeDeployment(deploymentFile, local.deployment);
    const base = testConfig({
      rpcUrl: proxy.url,
      deploymentFile,
      dataDir: join(root, "gateway"),
      port: await getPort({ host: "127.0.0.1" }),
      gatewayKey: local.account(ACCOUNT_INDEXES.gateway).privateKey,
      confirmations: 0,
    });
    // A short timer: it is the retry path after a failed anchor.
    config = { ...base, audit: { ...base.audit, anchorEveryEvents: 100, anchorEveryMs: 300 } };
    gateway = local.account(ACCOUNT_INDEXES.gateway).address.toLowerCase();
    alice = local.account(ACCOUNT_INDEXES.alice).address.toLowerCase();
    clinic = local.account(ACCOUNT_INDEXES.clinic).address.toLowerCase();
    anchorsRead = new AuditAnchorClient(local.deployment.contracts.AuditAnchor, local.provider);
    await startGateway();
  });

  after(async () => {
    await stopGateway().catch(() => undefined);
    await proxy?.close();
    await local?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("keeps recording while the chain is unreachable, keeps the head signed but unanchored, and anchors it once the chain is back", async () => {
    proxy.down = true;
    for (let i = 0; i < 3; i++) await app!.audit.record(releaseEvent(alice, clinic));
    let failure: unknown;
    await app!.audit.anchorNow().catch((error: unknown) => {
      failure = error;
    });
    expect(failure).to.be.instanceOf(Error);
    expect(audit().status().lastAnchorError).to.be.a("string");
    const signed = await services!.store.latestCheckpoint();
    expect(signed?.size).to.equal(3);
    expect(signed?.anchor).to.equal(null);
    // record() never waits for the chain.
    const started = Date.now();
    await app!.audit.record(releaseEvent(alice, clinic));
    expect(Date.now() - started).to.be.below(5_000);

    proxy.down = false;
    await eventually(async () => (await chainNextIndex()) === audit().size(), 60_000, "the retried anchor");
    await eventually(
      async () => (await services!.store.latestCheckpoint({ anchored: true }))?.size === 4,
      10_000,
      "the stored anchor",
    );
    expect(audit().status().lastAnchorError).to.equal(null);
  });

  it("anchors the last events at close, and resumes after a restart: the tree rebuilt, seq continued, the chain's nextIndex respected", async () => {
    for (let i = 0; i < 5; i++) await app!.audit.record(releaseEvent(alice, clinic));
    const size = audit().size();
    const root = audit().rootAt();
    await stopGateway();
    expect(await chainNextIndex()).to.equal(size);

    await startGateway();
    expect(audit().size()).to.equal(size);
    expect(audit().rootAt()).to.equal(root);
    expect(audit().status()).to.include({ consistentWithCheckpoints: true, anchoredSize: size });
    const { index } = await app!.audit.record(releaseEvent(alice, clinic));
    expect(index).to.equal(size);
    const [row] = await services!.store.auditRange(index, index + 1);
    expect(JSON.parse(Buffer.from(row!.event).toString("utf8")).seq).to.equal(size);
    await app!.audit.anchorNow();
    expect(await chainNextIndex()).to.equal(size + 1);
  });

  it("refuses to start when the signing key no longer verifies the published checkpoints (replaced or lost), and starts again once it is restored", async () => {
    await app!.audit.anchorNow();
    await stopGateway();
    const keyFile = join(config.dataDir, "audit-signing.key");
    const backup = join(root, "audit-signing.key.backup");
    await copyFile(keyFile, backup);

    const refusal = async (): Promise<unknown> => {
      try {
        await startGateway();
      } catch (error) {
        await stopGateway().catch(() => undefined);
        if (services) await closeServices(services).catch(() => undefined);
        return error;
      }
      throw new Error("the gateway started with a key that does not verify its own checkpoints");
    };
    // Another valid key (a flipped digit is another seed): its heads would fail every patient's pinned key.
    await writeFile(keyFile, `${"ab".repeat(32)}\n`, { mode: 0o600 });
    const replaced = await refusal();
    expect(replaced).to.be.instanceOf(AuditKeyMismatchError);
    expect((replaced as AuditKeyMismatchError).code).to.equal("AUDIT_KEY_MISMATCH");
    expect((replaced as Error).message).to.match(/audit-signing\.key/);
    // Lost: a fresh key would be made, and refused the same way.
    await rm(keyFile);
    expect(await refusal()).to.be.instanceOf(AuditKeyMismatchError);

    await rm(keyFile, { force: true });
    await copyFile(backup, keyFile);
    await startGateway();
    expect(audit().status().consistentWithCheckpoints).to.equal(true);
  });

  it("an audit row whose patient column was altered while the gateway was down is flagged at start, and the next event's seq follows the event bytes, not the column", async () => {
    const aliceSeqs = async (): Promise<number[]> => {
      const rows = await services!.store.auditRange(0, await services!.store.auditSize());
      return rows
        .map((row) => JSON.parse(Buffer.from(row.event).toString("utf8")) as { patient: string; seq: number })
        .filter((event) => event.patient === alice)
        .map((event) => event.seq);
    };
    const before = await aliceSeqs();
    expect(before.length).to.be.greaterThan(0);
    await stopGateway();

    const db = new DatabaseSync(join(config.dataDir, "gateway.sqlite"));
    db.exec("DROP TRIGGER IF EXISTS audit_events_no_update");
    const row = db
      .prepare("SELECT idx, patient FROM audit_events WHERE patient = ? ORDER BY idx DESC LIMIT 1")
      .get(alice) as { idx: number; patient: string };
    const other = `0x${"ee".repeat(20)}`;
    db.prepare("UPDATE audit_events SET patient = ? WHERE idx = ?").run(other, row.idx);
    db.close();

    await startGateway();
    expect(audit().status().consistentWithCheckpoints).to.equal(false);
    const { index } = await app!.audit.record(releaseEvent(alice, clinic, "permit"));
    const [added] = await services!.store.auditRange(index, index + 1);
    // The hidden row's seq is not handed out again.
    expect(JSON.parse(Buffer.from(added!.event).toString("utf8")).seq).to.equal(before.length);
    await stopGateway();

    const restore = new DatabaseSync(join(config.dataDir, "gateway.sqlite"));
    restore.prepare("UPDATE audit_events SET patient = ? WHERE idx = ?").run(row.patient, row.idx);
    restore.close();
    await startGateway();
    expect(audit().status().consistentWithCheckpoints).to.equal(true);
  });

  it("a database altered while the gateway was down is flagged at start, and the patient's verifier fails against the chain's anchors", async () => {
    const token0 = await signIn({ url: `http://127.0.0.1:${config.port}` }, local.account(ACCOUNT_INDEXES.alice));
    const stack = { url: `http://127.0.0.1:${config.port}`, provider: local.provider, deployment: local.deployment };
    expect(verifyAuditLog(await patientView(stack, token0, gateway)).ok).to.equal(true);
    await stopGateway();

    const db = new DatabaseSync(join(config.dataDir, "gateway.sqlite"));
    db.exec("DROP TRIGGER IF EXISTS audit_events_no_update");
    const row = db.prepare("SELECT event FROM audit_events WHERE idx = 1").get() as { event: Uint8Array };
    const changed = Buffer.from(row.event).toString("utf8").replace("CONSENT_GRANTED", "CONSENT_GRANTEE");
    db.prepare("UPDATE audit_events SET event = ? WHERE idx = 1").run(Buffer.from(changed, "utf8"));
    db.close();

    await startGateway();
    expect(audit().status().consistentWithCheckpoints).to.equal(false);
    const token = await signIn({ url: stack.url }, local.account(ACCOUNT_INDEXES.alice));
    const result = verifyAuditLog(await patientView(stack, token, gateway));
    expect(result.ok).to.equal(false);
    // The served history no longer reproduces what was signed and anchored.
    expect(result.problems.map((p) => p.code)).to.include("TAMPERED_EVENT");
  });
});
