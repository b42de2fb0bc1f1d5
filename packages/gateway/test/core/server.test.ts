// The gateway as a process: `node src/server.ts` starts from HYGEIA_* settings on a real chain, prints its
// URL, serves, and on SIGTERM finishes, anchors the audit events still pending, closes the store cleanly
// and exits 0. A bad setting exits 2 naming it.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import getPort from "get-port";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { AuditAnchorClient, startLocalDeployment, writeDeployment, type LocalDeployment } from "@hygeia/chain";
import { openSqliteStore } from "../../src/store/sqlite/index.ts";
import { ACCOUNT_INDEXES } from "../support/stack.ts";
import { request } from "../support/http.ts";
import { signIn } from "../support/auth.ts";

const SERVER = join(dirname(fileURLToPath(import.meta.url)), "../../src/server.ts");

interface Running {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startServer(env: Record<string, string>, args: string[] = []): Running {
  let out = "";
  let err = "";
  const child = spawn(process.execPath, [SERVER, ...args], {
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function waitFor(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("gateway process", function () {
  let local: LocalDeployment;
  let root: string;
  let deploymentFile: string;
  const started: ChildProcess[] = [];

  before(async function () {
    local = await startLocalDeployment({ gatewayAccounts: [ACCOUNT_INDEXES.gateway] });
    root = await mkdtemp(join(tmpdir(), "hygeia-gateway-server-"));
    deploymentFile = join(root, "deployment.json");
    await writeDeployment(deploymentFile, local.deployment);
  });
  after(async function () {
    for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await local?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it("starts from the environment, serves, and on SIGTERM anchors the pending audit events and exits 0", async function () {
    const port = await getPort({ host: "127.0.0.1" });
    const dataDir = join(root, "gateway");
    const gateway = local.account(ACCOUNT_INDEXES.gateway);
    const server = startServer({
      HYGEIA_PORT: String(port),
      HYGEIA_DATA_DIR: dataDir,
      HYGEIA_RPC_URL: local.rpcUrl,
      HYGEIA_DEPLOYMENT_FILE: deploymentFile,
      HYGEIA_CONFIRMATIONS: "0",
      HYGEIA_RELAYER_KEY: gateway.privateKey,
      HYGEIA_LOG_LEVEL: "warn",
      // Nothing is anchored on schedule during the test: only the shutdown anchors.
      HYGEIA_AUDIT_ANCHOR_EVERY: "100000",
      HYGEIA_AUDIT_ANCHOR_MS: "3600000",
    });
    started.push(server.child);
    await waitFor(() => server.stdout().includes("listening on"), 60_000, `the URL line (stderr: ${server.stderr()})`);
    const url = `http://127.0.0.1:${port}`;
    expect(server.stdout()).to.include(`hygeia gateway listening on ${url}`);
    expect((await request({ url }, "GET", "/readyz")).status).to.equal(200);

    // A key request for a record that does not exist: refused, and audited as a deny.
    const token = await signIn({ url }, local.account(ACCOUNT_INDEXES.bob));
    const alice = local.account(ACCOUNT_INDEXES.alice).address.toLowerCase();
    const cid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
    const denied = await request({ url }, "POST", `/v1/patients/${alice}/records/${cid}/key`, {
      token,
      json: { purpose: "Treatment" },
    });
    expect(denied.status, denied.text).to.equal(403);
    const anchors = new AuditAnchorClient(local.deployment.contracts.AuditAnchor, local.provider);
    expect((await anchors.gatewayOf(gateway.address)).nextIndex).to.equal(0n);

    // An open notification stream must not hold the shutdown up: it is ended first.
    const patientToken = await signIn({ url }, local.account(ACCOUNT_INDEXES.alice));
    const stream = await fetch(`${url}/v1/events`, { headers: { authorization: `Bearer ${patientToken}` } });
    expect(stream.status).to.equal(200);
    const drained = stream.body!.pipeTo(new WritableStream()).catch(() => undefined);

    const stopAt = Date.now();
    server.child.kill("SIGTERM");
    const { code } = await server.exited;
    expect(code, server.stderr()).to.equal(0);
    expect(Date.now() - stopAt, "shutdown time").to.be.below(25_000);
    await drained;

    // The store closed cleanly (reopens, no lock left behind) and every event is under an anchored head.
    const store = await openSqliteStore(dataDir);
    try {
      const size = await store.auditSize();
      expect(size).to.be.greaterThan(0);
      const head = await store.latestCheckpoint({ anchored: true });
      expect(head?.size).to.equal(size);
      expect(BigInt(size)).to.equal((await anchors.gatewayOf(gateway.address)).nextIndex);
    } finally {
      await store.close();
    }
  });

  it("exits at once with code 1 on a second signal while a request holds the shutdown up", async function () {
    const port = await getPort({ host: "127.0.0.1" });
    const server = startServer({
      HYGEIA_PORT: String(port),
      HYGEIA_DATA_DIR: join(root, "second-signal"),
      HYGEIA_RPC_URL: local.rpcUrl,
      HYGEIA_DEPLOYMENT_FILE: deploymentFile,
      HYGEIA_LOG_LEVEL: "warn",
    });
    started.push(server.child);
    await waitFor(() => server.stdout().includes("listening on"), 60_000, `the URL line (stderr: ${server.stderr()})`);
    const url = `http://127.0.0.1:${port}`;
    const token = await signIn({ url }, local.account(ACCOUNT_INDEXES.bob));
    // An upload that never finishes: the first SIGTERM waits for it.
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new Uint8Array(1024));
      },
    });
    const upload = fetch(`${url}/v1/uploads`, {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/octet-stream" },
      body,
      duplex: "half",
    } as RequestInit & { duplex: "half" }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 500));
    server.child.kill("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(server.child.exitCode, "still finishing the upload").to.equal(null);
    server.child.kill("SIGTERM");
    const { code } = await server.exited;
    expect(code).to.equal(1);
    expect(server.stdout() + server.stderr()).to.include("second signal");
    await upload;
  });

  it("exits 1 naming DATA_DIR_LOCKED and the holder when another process holds the data dir", async function () {
    const dataDir = join(root, "locked");
    const holder = await openSqliteStore(dataDir);
    try {
      const server = startServer({
        HYGEIA_PORT: String(await getPort({ host: "127.0.0.1" })),
        HYGEIA_DATA_DIR: dataDir,
        HYGEIA_RPC_URL: local.rpcUrl,
        HYGEIA_DEPLOYMENT_FILE: deploymentFile,
        HYGEIA_LOG_LEVEL: "warn",
      });
      started.push(server.child);
      const { code } = await server.exited;
      expect(code, server.stderr()).to.equal(1);
      expect(server.stderr()).to.include("could not open the store: DATA_DIR_LOCKED:");
      expect(server.stderr()).to.include(String(process.pid));
    } finally {
      await holder.close();
    }
  });

  it("refuses a bad setting at start with exit code 2, naming it", async function () {
    const server = startServer({ HYGEIA_PORT: "80a", HYGEIA_DATA_DIR: join(root, "bad") });
    started.push(server.child);
    const { code } = await server.exited;
    expect(code).to.equal(2);
    expect(server.stderr()).to.include('HYGEIA_PORT: must be an integer 0-65535, got "80a"');
  });
});
