// The block directory's lock (helia/dir-lock.ts over process-lock.ts): one writer per directory, a lock the
// operating system releases when its process dies, so nothing guesses staleness. Real child processes throughout.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { expect } from "chai";
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import { DataDirLockedError, HeliaContentStore, PackBlockstore, StoreUnavailableError } from "../src/index.ts";
import { DirLock } from "../src/helia/dir-lock.ts";
import { expectRejection } from "./helpers/expect.ts";
import { LOCK_CONTENDER, LOCK_HOLDER, killed, startChild } from "./helpers/lock-children.ts";
import { readBlock } from "./helpers/pack.ts";

describe("block directory lock", function () {
  let dir: string;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "hygeia-lock-"));
  });
  afterEach(async () => {
    await Promise.all(children.splice(0).map(killed));
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses a second opener while another process holds the directory: DataDirLockedError naming its pid and host", async () => {
    const packs = join(dir, "packs"); // what HeliaContentStore locks in its data dir
    const child = await startChild(LOCK_HOLDER, ["pack", packs], "held");
    children.push(child);
    const error = await expectRejection(new PackBlockstore(packs).open(), DataDirLockedError);
    expect(error).to.be.instanceOf(StoreUnavailableError); // callers catching the broader class still do
    expect(error.code).to.equal("DATA_DIR_LOCKED");
    expect(error.dir).to.equal(packs);
    expect(error.holder).to.include({ pid: child.pid, host: hostname(), thisProcess: false });
    expect(error.message)
      .to.include(`in use by process ${child.pid} on ${hostname()}`)
      .and.include("stop that process");
    // The embedded node on that data dir says the same (not a DataDirError: nothing is wrong with the directory).
    const nodeError = await expectRejection(HeliaContentStore.create({ dataDir: dir, listen: [] }), DataDirLockedError);
    expect(nodeError.holder?.pid).to.equal(child.pid);
  });

  it("locks a flatfs node's data dir too: a second node on it is refused until the first closes", async () => {
    const first = await HeliaContentStore.create({ dataDir: dir, listen: [], blockstore: "flatfs" });
    try {
      const error = await expectRejection(
        HeliaContentStore.create({ dataDir: dir, listen: [], blockstore: "flatfs" }),
        DataDirLockedError,
      );
      expect(error.holder).to.include({ pid: process.pid, thisProcess: true });
    } finally {
      await first.close();
    }
    const second = await HeliaContentStore.create({ dataDir: dir, listen: [], blockstore: "flatfs" });
    await second.close();
  });

  it("takes over at once the lock of a holder killed with SIGKILL (no waiting, no staleness guess)", async () => {
    for (let round = 0; round < 3; round++) {
      const child = await startChild(LOCK_HOLDER, ["pack", dir], "held");
      await expectRejection(new PackBlockstore(dir).open(), DataDirLockedError);
      await killed(child);
      const started = Date.now();
      const store = new PackBlockstore(dir);
      await store.open();
      expect(Date.now() - started).to.be.below(1_000);
      await store.close();
    }
  });

  it("is not blocked by a LOCK file an earlier release left with a live pid (pid 1, this process) or left empty", async () => {
    for (const left of ["1\n", `${process.pid}\n`, ""]) {
      await writeFile(join(dir, "LOCK"), left);
      const store = new PackBlockstore(dir);
      await store.open();
      expect((await readFile(join(dir, "LOCK"), "utf8")).split("\n")[0]).to.equal(String(process.pid));
      await store.close();
    }
  });

  it("refuses a second store in the same process, naming this process; exactly one of concurrent openers wins", async () => {
    const first = new PackBlockstore(dir);
    await first.open();
    const error = await expectRejection(new PackBlockstore(dir).open(), DataDirLockedError);
    expect(error.holder).to.include({ pid: process.pid, thisProcess: true });
    expect(error.message).to.include("this process").and.include("close the other store");
    await first.close();

    const stores = Array.from({ length: 8 }, () => new PackBlockstore(dir));
    const results = await Promise.allSettled(stores.map((store) => store.open()));
    expect(results.filter((result) => result.status === "fulfilled")).to.have.length(1);
    for (const result of results) {
      if (result.status === "rejected") expect(result.reason).to.be.instanceOf(DataDirLockedError);
    }
    await Promise.all(stores.map((store) => store.close()));
    expect(await readdir(dir)).to.not.include("LOCK"); // the holder's note goes with it; LOCK.db stays
  });

  it("release() releases only what it holds: releasing again after a successor took the lock leaves the successor's", async () => {
    const first = await DirLock.acquire(dir);
    await first.release();
    const second = await DirLock.acquire(dir);
    await first.release(); // a late or repeated release: must not free or delete the successor's lock
    expect((await readFile(join(dir, "LOCK"), "utf8")).split("\n")[0]).to.equal(String(process.pid));
    await expectRejection(DirLock.acquire(dir), DataDirLockedError);
    const child = startChild(LOCK_HOLDER, ["pack", dir], "held");
    const said = await child.then(
      () => "held",
      (error: Error) => error.message,
    );
    expect(said).to.include("DATA_DIR_LOCKED");
    await second.release();
  });

  it("two processes opening, writing and closing one directory in a loop: every acknowledged write survives", async function () {
    this.timeout(120_000);
    const [first, second] = await contend("pack", dir, 150, 20_000);
    const acknowledged = [...first, ...second].map((line) => CID.parse(line));
    expect(acknowledged.length).to.be.above(40);
    const store = new PackBlockstore(dir);
    await store.open();
    let lost = 0;
    try {
      for (const cid of acknowledged) {
        try {
          const digest = await sha256.digest(await readBlock(store, cid));
          if (!Buffer.from(digest.bytes).equals(Buffer.from(cid.multihash.bytes))) lost += 1;
        } catch {
          lost += 1;
        }
      }
    } finally {
      await store.close();
    }
    expect(lost, `acknowledged blocks lost or overwritten, of ${acknowledged.length}`).to.equal(0);
  });

  it("two embedded nodes (child processes) taking turns on one data dir: every acknowledged file reads back exactly", async function () {
    this.timeout(180_000);
    const [first, second] = await contend("node", dir, 12, 60_000);
    const acknowledged = [...first, ...second].map((line) => line.split(" ") as [string, string]);
    expect(acknowledged.length).to.be.above(4);
    const store = await HeliaContentStore.create({ dataDir: dir, listen: [], timeoutMs: 5_000 });
    try {
      for (const [cid, hex] of acknowledged) {
        const hash = createHash("sha256");
        for await (const chunk of store.get(cid)) hash.update(chunk);
        expect(hash.digest("hex"), cid).to.equal(hex);
      }
    } finally {
      await store.close();
    }
  });

  /** Runs two contenders on `dir` at once; resolves their acknowledgements after checking they did contend. */
  async function contend(mode: string, dir: string, rounds: number, forMs: number): Promise<[string[], string[]]> {
    const deadline = Date.now() + forMs;
    const run = (): Promise<{ acks: string[]; summary: { refused: number; failures: string[] } }> =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [LOCK_CONTENDER, mode, dir, String(rounds), String(deadline)], {
          stdio: ["ignore", "pipe", "inherit"],
        });
        children.push(child);
        const acks: string[] = [];
        let summary: { refused: number; failures: string[] } | undefined;
        createInterface({ input: child.stdout }).on("line", (line) => {
          if (line.startsWith("ack ")) acks.push(line.slice(4));
          else summary = JSON.parse(line) as typeof summary;
        });
        child.once("exit", (code) =>
          code === 0 && summary !== undefined ? resolve({ acks, summary }) : reject(new Error(`contender: ${code}`)),
        );
      });
    const [a, b] = await Promise.all([run(), run()]);
    expect(a.summary.failures, "first contender").to.deep.equal([]);
    expect(b.summary.failures, "second contender").to.deep.equal([]);
    // They did contend: each open the other held was refused.
    expect(a.summary.refused + b.summary.refused).to.be.above(0);
    return [a.acks, b.acks];
  }
});
