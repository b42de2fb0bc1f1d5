// Several processes on one key store (a wallet's CLI run twice at once, a gateway's workers): writes wait for each
// other, a lock held too long is a typed DatabaseBusyError, and no raw SQLite error escapes. Real processes.
import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  DatabaseBusyError,
  HygeiaIdentityError,
  IdentityAgent,
  InvalidIdentityInputError,
  SqliteChallengeStore,
} from "../src/index.ts";
import { rejection } from "./helpers/settle.ts";

const CHILD = fileURLToPath(new URL("./helpers/key-store-process.ts", import.meta.url));
const network = { chainId: 31337, rpcUrl: "http://127.0.0.1:9", registry: `0x${"11".repeat(20)}` };
const secretBoxKey = "ab".repeat(32);

interface CreateOutcome {
  created: number;
  errors: Array<{ name: string; code: unknown; message: string }>;
}

function createDidsInChild(path: string, count: number): Promise<CreateOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, "create-dids", path, secretBoxKey, String(count)]);
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code !== 0) reject(new Error(`child exited ${code}: ${err}`));
      else resolve(JSON.parse(out.trim()) as CreateOutcome);
    });
  });
}

/** A process holding a lock on `path` until release() (which closes its stdin) resolves. */
async function lockInChild(path: string, mode: "immediate" | "exclusive"): Promise<{ release(): Promise<void> }> {
  const child: ChildProcess = spawn(process.execPath, [CHILD, "hold-lock", path, mode], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`lock holder exited early (${code})`)));
    child.stdout!.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("locked")) resolve();
    });
  });
  child.removeAllListeners("exit");
  return {
    release: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.stdin!.end();
      }),
  };
}

describe("identity: one key store shared by several processes", function () {
  let dir: string;
  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "hygeia-identity-shared-"));
  });
  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it("two processes creating the store and 40 DIDs each at once all succeed, and both see all 80", async function () {
    const path = join(dir, "identity.db");
    const outcomes = await Promise.all([createDidsInChild(path, 40), createDidsInChild(path, 40)]);
    expect(outcomes).to.deep.equal([
      { created: 40, errors: [] },
      { created: 40, errors: [] },
    ]);
    const agent = await IdentityAgent.create({ network, databasePath: path, secretBoxKey, watchRegistry: false });
    try {
      expect(await agent.listDids()).to.have.length(80);
    } finally {
      await agent.close();
    }
  });

  it("a write that another process keeps locked longer than busyTimeoutMs fails with DatabaseBusyError", async function () {
    const path = join(dir, "identity.db");
    const agent = await IdentityAgent.create({
      network,
      databasePath: path,
      secretBoxKey,
      watchRegistry: false,
      busyTimeoutMs: 300,
    });
    const holder = await lockInChild(path, "immediate");
    try {
      const started = Date.now();
      const error = await rejection(agent.createDid({ method: "key" }));
      expect(error).to.be.instanceOf(DatabaseBusyError);
      expect((error as DatabaseBusyError).code).to.equal("DATABASE_BUSY");
      expect((error as DatabaseBusyError).field).to.equal("databasePath");
      expect((error as Error).message).to.contain("stayed locked by another process's write for more than 300 ms");
      expect(Date.now() - started).to.be.at.least(250); // it waited for the other process first
      expect(await agent.listDids()).to.deep.equal([]); // readers are not blocked by a writer (WAL)
    } finally {
      await holder.release();
    }
    await agent.createDid({ method: "key" }); // the lock is gone: the same agent writes again
    await agent.close();
  });

  it("a store locked by another process at open is reported as busy, not as a path that cannot be opened", async function () {
    const path = join(dir, "identity.db");
    const holder = await lockInChild(path, "exclusive");
    try {
      const error = await rejection(
        IdentityAgent.create({ network, databasePath: path, secretBoxKey, watchRegistry: false, busyTimeoutMs: 300 }),
      );
      expect(error).to.be.instanceOf(DatabaseBusyError);
      expect((error as Error).message).not.to.contain("cannot open");
    } finally {
      await holder.release();
    }
  });

  it("a path that cannot be a store says why: a missing directory, a file that is not a database", async function () {
    const missing = await rejection(
      IdentityAgent.create({ network, databasePath: join(dir, "no", "such", "dir.db"), secretBoxKey }),
    );
    expect(missing).to.be.instanceOf(InvalidIdentityInputError);
    expect((missing as InvalidIdentityInputError).field).to.equal("databasePath");
    expect((missing as Error).message).to.contain("does its directory exist");

    const notADatabase = join(dir, "notes.txt");
    await writeFile(notADatabase, "these are not the droids ".repeat(200));
    const garbage = await rejection(IdentityAgent.create({ network, databasePath: notADatabase, secretBoxKey }));
    expect(garbage).to.be.instanceOf(InvalidIdentityInputError);
    expect((garbage as Error).message).to.contain("not an SQLite database");
  });

  it("a challenge store locked by another process fails with DatabaseBusyError, never a raw SQLite error", async function () {
    const path = join(dir, "challenges.db");
    const store = new SqliteChallengeStore(path, { busyTimeoutMs: 200 });
    const challenge = await store.issue("clinic.example");
    const holder = await lockInChild(path, "immediate");
    try {
      const error = await rejection(store.issue("clinic.example"));
      expect(error).to.be.instanceOf(DatabaseBusyError);
      expect(error).to.be.instanceOf(HygeiaIdentityError);
    } finally {
      await holder.release();
    }
    expect(await store.consume(challenge, "clinic.example")).to.equal("consumed");
    store.close();
  });
});
