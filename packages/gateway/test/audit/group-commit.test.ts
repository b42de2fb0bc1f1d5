// The audit log as a unit over the real SQLite store: group commit, a failing commit, the signing key file,
// and the pure parts of the routes. The only stand-in is a thin wrapper at the store's edge that counts (or
// fails) appendAudit calls.
import { mkdtemp, rm, stat, writeFile, chmod } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createServer as createNetServer, type Socket } from "node:net";
import { expect } from "chai";
import { JsonRpcProvider, Wallet } from "ethers";
import { AuditAnchorClient, TransactionSender } from "@hygeia/chain";
import { openSqliteStore } from "../../src/store/sqlite/index.ts";
import { createAuditLog, loadSigningKey, type AuditService } from "../../src/audit/audit-log.ts";
import { DependencyUnavailableError, type BadRequestError } from "../../src/errors.ts";
import type { GatewayStore } from "../../src/store/types.ts";
import { consistencyRange, eventView } from "../../src/plugins/audit/views.ts";
import { releaseEvent } from "./support.ts";

const silent = { info() {}, warn() {}, error() {} };
const ALICE = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc";
const BOB = "0x90f79bf6eb2c4f870365e785982e1f101e93b906";
const CLINIC = "0x15d34aaf54267db7d7c367839aaf71a00a2c6a65";

describe("gateway audit log: group commit and failures (real SQLite store)", function () {
  this.timeout(120_000);
  let dir: string;
  let store: GatewayStore;
  let audit: AuditService;
  let appends = 0;
  let failNext = false;
  let landThenFail = false;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "hygeia-audit-unit-"));
    const real = await openSqliteStore(dir);
    // The edge of the unit: counts commits, and fails one on demand (a full disk, a vanished file).
    const appendAudit = async (events: { patient: string; event: Uint8Array }[]) => {
      appends += 1;
      if (failNext) {
        failNext = false;
        throw new Error("disk I/O error");
      }
      if (landThenFail) {
        // The commit landed, its answer was lost (a connection cut after COMMIT).
        landThenFail = false;
        await real.appendAudit(events);
        throw new Error("connection terminated");
      }
      return real.appendAudit(events);
    };
    store = new Proxy(real, {
      get(target, property) {
        if (property === "appendAudit") return appendAudit;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    }) as GatewayStore;
    audit = await createAuditLog({
      store,
      anchors: null,
      signingKey: await loadSigningKey(dir),
      origin: "hygeia.test/unit",
      gateway: "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
      anchorEveryEvents: 1_000,
      anchorEveryMs: 600_000,
      now: Date.now,
      log: silent,
    });
  });

  after(async () => {
    await audit?.close();
    await store?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("commits 200 concurrent events in far fewer appendAudit calls than events (group commit)", async () => {
    appends = 0;
    const results = await Promise.all(Array.from({ length: 200 }, () => audit.record(releaseEvent(ALICE, CLINIC))));
    expect(new Set(results.map((r) => r.index)).size).to.equal(200);
    expect(appends).to.be.at.least(1);
    expect(appends).to.be.below(20);
    expect(await store.auditSize()).to.equal(200);
  });

  it("rejects every caller of a failed commit with DATABASE_UNAVAILABLE, keeps nothing of it, and goes on with the next batch", async () => {
    const size = audit.size();
    const root = audit.rootAt();
    failNext = true;
    const failed = await Promise.allSettled([
      audit.record(releaseEvent(BOB, CLINIC)),
      audit.record(releaseEvent(BOB, CLINIC)),
    ]);
    for (const outcome of failed) {
      expect(outcome.status).to.equal("rejected");
      const reason = (outcome as PromiseRejectedResult).reason as DependencyUnavailableError;
      expect(reason).to.be.instanceOf(DependencyUnavailableError);
      expect(reason.code).to.equal("DATABASE_UNAVAILABLE");
      expect(reason.dependency).to.equal("database");
    }
    expect(audit.size()).to.equal(size);
    expect(audit.rootAt()).to.equal(root);
    const { index } = await audit.record(releaseEvent(BOB, CLINIC));
    expect(index).to.equal(size);
    // Bob's first durable event has seq 0: the failed batch consumed no sequence numbers.
    const [row] = await store.auditRange(index, index + 1);
    expect(JSON.parse(Buffer.from(row!.event).toString("utf8")).seq).to.equal(0);
  });

  it("reads the log back after an append that failed but landed: the next event's seq follows the stored ones", async () => {
    const patient = "0x00000000000000000000000000000000000000ee";
    const first = await audit.record(releaseEvent(patient, CLINIC));
    landThenFail = true;
    let refused: unknown;
    try {
      await audit.record(releaseEvent(patient, CLINIC));
    } catch (error) {
      refused = error;
    }
    expect(refused).to.be.instanceOf(DependencyUnavailableError);
    const third = await audit.record(releaseEvent(patient, CLINIC));
    expect([first.event.seq, third.event.seq]).to.deep.equal([0, 2]);
    expect(third.index).to.equal(first.index + 2);
    const stored = (await store.auditOf(patient, { limit: 10 })).map(
      (row) => (JSON.parse(new TextDecoder().decode(row.event)) as { seq: number }).seq,
    );
    expect(stored).to.deep.equal([0, 1, 2]);
    expect(audit.rootAt()).to.equal(audit.rootAt(await store.auditSize()));
  });

  it("signs a checkpoint of every event on anchorNow without a chain client, and only once per size", async () => {
    await audit.anchorNow();
    const first = await store.latestCheckpoint();
    expect(first?.size).to.equal(audit.size());
    expect(first?.anchor).to.equal(null);
    await audit.anchorNow();
    expect((await store.listCheckpoints({ limit: 100 })).length).to.equal(1);
  });
});

describe("gateway audit signing key file", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "hygeia-audit-key-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("creates a 0600 Ed25519 seed on first start and reads the same one afterwards", async () => {
    const first = await loadSigningKey(dir);
    expect(first.length).to.equal(32);
    expect((await stat(join(dir, "audit-signing.key"))).mode & 0o777).to.equal(0o600);
    expect(Buffer.from(await loadSigningKey(dir)).equals(Buffer.from(first))).to.equal(true);
  });

  it("refuses a key file readable by others, and a malformed one", async () => {
    const path = join(dir, "audit-signing.key");
    await chmod(path, 0o644);
    let error: unknown;
    await loadSigningKey(dir).catch((e: unknown) => (error = e));
    expect(String(error)).to.match(/chmod 600/);
    await writeFile(path, "not a key\n", { mode: 0o600 });
    await chmod(path, 0o600);
    error = undefined;
    await loadSigningKey(dir).catch((e: unknown) => (error = e));
    expect(String(error)).to.match(/64 hex digits/);
  });
});

describe("gateway audit routes: pure parts", () => {
  it("consistencyRange accepts from ≤ to ≤ size and refuses the rest with INVALID_RANGE naming the field", () => {
    expect(consistencyRange(0, 10, 10)).to.deep.equal({ from: 0, to: 10 });
    const refusal = (action: () => unknown) => {
      try {
        action();
      } catch (error) {
        return error as BadRequestError;
      }
      throw new Error("no refusal");
    };
    expect(refusal(() => consistencyRange(5, 4, 10))).to.include({ code: "INVALID_RANGE", field: "query.from" });
    expect(refusal(() => consistencyRange(1, 11, 10))).to.include({ code: "INVALID_RANGE", field: "query.to" });
  });

  it("eventView proves an event only against heads that cover it", () => {
    const event = new TextEncoder().encode('{"seq":4}');
    const prove = (index: number, size: number) => [
      `0x${String(index).padStart(2, "0")}${String(size).padStart(62, "0")}`,
    ];
    const anchored = { size: 10, rootHash: "0x", note: "" };
    const latest = { size: 20, rootHash: "0x", note: "" };
    const old = eventView({ index: 3, patient: ALICE, event }, anchored, latest, prove);
    expect(old).to.deep.include({ index: 3, seq: 4, event: '{"seq":4}' });
    expect(old.inclusion?.size).to.equal(10);
    expect(old.latest?.size).to.equal(20);
    const fresh = eventView({ index: 15, patient: ALICE, event }, anchored, latest, prove);
    expect(fresh.inclusion).to.equal(null);
    expect(fresh.latest?.size).to.equal(20);
    expect(eventView({ index: 25, patient: ALICE, event }, anchored, latest, prove).latest).to.equal(null);
    // Bytes that are not an event (a damaged row) are served as they are, with seq null: the verifier names them.
    const damaged = eventView({ index: 3, patient: ALICE, event: Uint8Array.of(0x7b, 0xff) }, anchored, latest, prove);
    expect(damaged.seq).to.equal(null);
    expect(damaged.inclusion?.size).to.equal(10);
  });
});

describe("gateway audit log with a chain that never answers", function () {
  this.timeout(120_000);

  it("starts, records and closes within bounded time: the start's chain read and the last anchor never hold them", async () => {
    const dir = await mkdtemp(join(tmpdir(), "hygeia-audit-hung-"));
    // Accepts connections and never answers a JSON-RPC request.
    const sockets: Socket[] = [];
    const hung = createNetServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => hung.listen(0, "127.0.0.1", resolve));
    const port = (hung.address() as { port: number }).port;
    const provider = new JsonRpcProvider(`http://127.0.0.1:${port}`, 31337, { staticNetwork: true });
    const wallet = Wallet.createRandom().connect(provider);
    const anchors = new AuditAnchorClient("0x5fbdb2315678afecb367f032d93f642f64180aa3", new TransactionSender(wallet), {
      readTimeoutMs: 60_000,
    });
    const store = await openSqliteStore(dir);
    try {
      const started = Date.now();
      const audit = await createAuditLog({
        store,
        anchors,
        signingKey: await loadSigningKey(dir),
        origin: "hygeia.test/hung",
        gateway: wallet.address.toLowerCase(),
        anchorEveryEvents: 1,
        anchorEveryMs: 600_000,
        now: Date.now,
        log: silent,
        closeAnchorTimeoutMs: 500,
      });
      const { index } = await audit.record(releaseEvent(ALICE, CLINIC));
      expect(index).to.equal(0);
      await audit.close();
      expect(Date.now() - started).to.be.below(10_000);
      // The head was signed and stored before the chain was asked; the next start anchors it.
      expect((await store.latestCheckpoint())?.size).to.equal(1);
    } finally {
      await store.close();
      provider.destroy();
      for (const socket of sockets) socket.destroy();
      hung.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
