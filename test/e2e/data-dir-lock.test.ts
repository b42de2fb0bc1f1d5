// The data dir's lock (scripts/data-dir-lock.ts), which keeps two `npm start`s off one data dir:
// races between real processes, stale locks, and the cases that must never be taken over.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { DataDirLockedError, LOCK_FILE_NAME, acquireDataDirLock } from "../../scripts/data-dir-lock.ts";

interface Outcome {
  won: boolean;
  pid: number;
  code?: string;
  message?: string;
  notices: string[];
}

const CONTENDER = "test/e2e/fixtures/lock-contender.ts";

/**
 * Runs `count` contender processes that all try to take the lock at the same instant. A winner holds
 * the lock until every contender has reported, then all are let go.
 */
async function race(dataDir: string, count: number): Promise<Outcome[]> {
  // Far enough ahead that every process has usually loaded before it (node takes ~100-300 ms to start);
  // a late one still finds the winner holding the lock.
  const startAt = Date.now() + 1500;
  const children = Array.from({ length: count }, () =>
    spawn(process.execPath, [CONTENDER, dataDir, String(startAt)], { stdio: ["pipe", "pipe", "pipe"] }),
  );
  const reports = children.map(
    (child) =>
      new Promise<Outcome>((resolve, reject) => {
        let stdout = "";
        let stderr = "";
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        child.stdout.on("data", (chunk: Buffer) => {
          stdout += chunk.toString();
          const line = stdout.split("\n")[0];
          if (stdout.includes("\n") && line) resolve(JSON.parse(line) as Outcome);
        });
        child.once("exit", (code) => reject(new Error(`contender exited (${code}) before reporting: ${stderr}`)));
      }),
  );
  try {
    return await Promise.all(reports);
  } finally {
    // Let the winner release, and wait for everyone to exit before the next round.
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once("exit", () => resolve());
            child.stdin.end();
          }),
      ),
    );
  }
}

/** A pid that certainly ran and is certainly gone. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((resolve) => child.once("exit", resolve));
  return child.pid!;
}

function staleLock(pid: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    pid,
    hostname: hostname(),
    startedAt: "2020-01-01T00:00:00.000Z",
    host: "127.0.0.1",
    port: 8545,
    token: `stale-${pid}`,
    ...extra,
  });
}

describe("data dir lock (one npm start per data dir)", function () {
  this.timeout(120_000);
  let dataDir: string;
  let lockFile: string;

  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "hygeia-lock-"));
    lockFile = join(dataDir, LOCK_FILE_NAME);
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("lets exactly one of four processes starting at once take a free lock (5 rounds)", async () => {
    for (let round = 0; round < 5; round++) {
      const outcomes = await race(dataDir, 4);
      const winners = outcomes.filter((outcome) => outcome.won);
      expect(winners, `round ${round}: ${JSON.stringify(outcomes)}`).to.have.length(1);
      for (const loser of outcomes.filter((outcome) => !outcome.won)) {
        expect(loser.code).to.equal("DATA_DIR_LOCKED");
        expect(loser.message).to.contain(`pid ${winners[0]!.pid}`);
      }
      expect(existsSync(lockFile), "the winner released the lock").to.equal(false);
    }
  });

  it("lets exactly one of four processes finding a stale lock at once take it over, with one notice (5 rounds)", async () => {
    for (let round = 0; round < 5; round++) {
      const gone = await deadPid();
      await writeFile(lockFile, staleLock(gone));
      const outcomes = await race(dataDir, 4);
      const winners = outcomes.filter((outcome) => outcome.won);
      expect(winners, `round ${round}: ${JSON.stringify(outcomes)}`).to.have.length(1);
      const notices = outcomes.flatMap((outcome) => outcome.notices);
      expect(notices, JSON.stringify(outcomes)).to.have.length(1);
      expect(notices[0]).to.contain(`pid ${gone}`).and.contain("is gone");
      for (const loser of outcomes.filter((outcome) => !outcome.won)) {
        expect(loser.code).to.equal("DATA_DIR_LOCKED");
        expect(loser.message).to.contain(`pid ${winners[0]!.pid}`);
      }
      expect(existsSync(`${lockFile}.takeover`), "no takeover guard left behind").to.equal(false);
    }
  });

  it("refuses a live holder with a message naming its pid and port and what to do", async () => {
    const held = await acquireDataDirLock(dataDir, { host: "127.0.0.1", port: 0 });
    held.update({ port: 18546, rpcUrl: "http://127.0.0.1:18546", anvilPid: process.pid });
    try {
      const error = await acquireDataDirLock(dataDir, { host: "127.0.0.1", port: 0 }).then(
        () => expect.fail("a second lock was granted"),
        (thrown: unknown) => thrown,
      );
      expect(error).to.be.instanceOf(DataDirLockedError);
      const locked = error as DataDirLockedError;
      expect(locked.code).to.equal("DATA_DIR_LOCKED");
      expect(locked.field).to.equal("data-dir");
      expect(locked.holder?.pid).to.equal(process.pid);
      expect(locked.message).to.contain(`pid ${process.pid}`).and.contain("http://127.0.0.1:18546");
      expect(locked.message).to.contain("--data-dir");
      expect(locked.message).to.not.contain("\n");
    } finally {
      held.release();
    }
    expect(existsSync(lockFile)).to.equal(false);
  });

  it("records where the chain listens in the lock file for tools", async () => {
    const held = await acquireDataDirLock(dataDir, { host: "127.0.0.1", port: 0 });
    held.update({ port: 40001, rpcUrl: "http://127.0.0.1:40001", anvilPid: process.pid });
    const content = JSON.parse(await readFile(lockFile, "utf8")) as Record<string, unknown>;
    expect(content).to.include({
      pid: process.pid,
      hostname: hostname(),
      port: 40001,
      rpcUrl: "http://127.0.0.1:40001",
    });
    expect(Date.parse(content["startedAt"] as string)).to.be.closeTo(Date.now(), 60_000);
    held.release();
  });

  it("releases the lock only while it is still its own", async () => {
    const held = await acquireDataDirLock(dataDir, { host: "127.0.0.1", port: 0 });
    const someoneElse = staleLock(process.pid, { token: "someone-else" });
    await writeFile(lockFile, someoneElse);
    held.release();
    expect(await readFile(lockFile, "utf8")).to.equal(someoneElse);
  });

  it("refuses while the anvil of a start that died still runs, naming it", async () => {
    const gone = await deadPid();
    await writeFile(lockFile, staleLock(gone, { anvilPid: process.pid, rpcUrl: "http://127.0.0.1:18546" }));
    const error = (await acquireDataDirLock(dataDir, { host: "127.0.0.1", port: 0 }).catch((e: unknown) => e)) as Error;
    expect(error).to.be.instanceOf(DataDirLockedError);
    expect(error.message).to.contain(`anvil pid ${process.pid}`).and.contain(`kill -INT ${process.pid}`);
  });

  it("takes over a lock whose pid now belongs to another process (pid reused)", async () => {
    await writeFile(lockFile, staleLock(process.pid, { pidStartTime: "1" }));
    const notices: string[] = [];
    const held = await acquireDataDirLock(dataDir, { host: "127.0.0.1", port: 0, onNotice: (m) => notices.push(m) });
    expect(notices).to.have.length(1);
    held.release();
  });

  it("never takes over a lock held on another host", async () => {
    await writeFile(lockFile, staleLock(await deadPid(), { hostname: "some-other-host" }));
    const error = (await acquireDataDirLock(dataDir, { host: "127.0.0.1", port: 0 }).catch((e: unknown) => e)) as Error;
    expect(error).to.be.instanceOf(DataDirLockedError);
    expect(error.message).to.contain("on host some-other-host").and.contain(`delete ${lockFile}`);
  });

  it("refuses a lock file it cannot read, saying to delete it if nothing runs", async () => {
    await writeFile(lockFile, "");
    const error = (await acquireDataDirLock(dataDir, { host: "127.0.0.1", port: 0 }).catch((e: unknown) => e)) as Error;
    expect(error).to.be.instanceOf(DataDirLockedError);
    expect(error.message).to.contain(`delete it`);
  });

  it("stops with the files to delete when a start died while taking over a stale lock", async () => {
    const gone = await deadPid();
    await writeFile(lockFile, staleLock(gone));
    await writeFile(`${lockFile}.takeover`, JSON.stringify({ pid: gone, hostname: hostname() }));
    const error = (await acquireDataDirLock(dataDir, { host: "127.0.0.1", port: 0 }).catch((e: unknown) => e)) as Error;
    expect(error).to.be.instanceOf(DataDirLockedError);
    expect(error.message).to.contain(`delete ${lockFile}.takeover and ${lockFile}`);
  });
});
