// Review findings 6, 7, 12 and 9 (the node's part): the embedded node locks its whole data dir (blocks and
// datastore.sqlite), stops writing when its lock file is deleted or replaced, names a damaged lock file with the
// right advice, and reports a full disk with typed errors, releasing everything on close.
import { execFileSync } from "node:child_process";
import { mkdtemp, rm, rmdir, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateX25519KeyPair } from "@hygeia/crypto";
import { expect } from "chai";
import {
  DataDirError,
  DataDirLockLostError,
  DataDirLockedError,
  FileManifestHead,
  HeliaContentStore,
  HygeiaStorageError,
  PatientRecords,
  StoreUnavailableError,
} from "../src/index.ts";
import { DirLock } from "../src/helia/dir-lock.ts";
import { expectRejection } from "./helpers/expect.ts";
import { LAB } from "./helpers/fixtures.ts";
import { TestNodes, collect, testBytes } from "./helpers/nodes.ts";

describe("review: the node's data dir lock", function () {
  const nodes = new TestNodes();
  afterEach(() => nodes.cleanup());

  it("refuses a flatfs node on a data dir a pack node has open: one node per data dir, datastore.sqlite included", async () => {
    const dataDir = await nodes.dir();
    const pack = await nodes.node({ dataDir, listen: [] });
    const error = await expectRejection(
      HeliaContentStore.create({ dataDir, listen: [], blockstore: "flatfs" }),
      DataDirLockedError,
    );
    expect(error.dir).to.equal(dataDir);
    expect(error.holder).to.include({ pid: process.pid, thisProcess: true });
    const { cid } = await pack.put(testBytes(1000)); // the first node is unaffected
    expect((await pack.stat(cid)).pinned).to.equal(true);
  });

  it("releases the data dir's lock when create fails after taking it (a damaged datastore), so a retry can open", async () => {
    const dataDir = await nodes.dir();
    await writeFile(join(dataDir, "datastore.sqlite"), Buffer.alloc(8192, 7));
    const error = await expectRejection(HeliaContentStore.create({ dataDir, listen: [] }), DataDirError);
    expect(error.reason).to.equal("SQLITE_NOTADB");
    await truncate(join(dataDir, "datastore.sqlite"), 0); // the operator's fix; an empty file is a new datastore
    const store = await nodes.node({ dataDir, listen: [] }); // DataDirLockedError ("this process") if still held
    expect(store.peerId).to.be.a("string");
  });

  it("releases the data dir's lock on close: the same process opens it again", async () => {
    const dataDir = await nodes.dir();
    const first = await HeliaContentStore.create({ dataDir, listen: [] });
    await first.close();
    const lock = await DirLock.acquire(dataDir);
    await lock.release();
  });

  it("refuses every write once LOCK.db was deleted (DataDirLockLostError); content acknowledged before stays readable", async () => {
    const dataDir = await nodes.dir();
    const store = await nodes.node({ dataDir, listen: [] });
    const kept = await store.put(testBytes(5000, 1));
    await rm(join(dataDir, "LOCK.db"));
    const error = await expectRejection(store.put(testBytes(5000, 2)), DataDirLockLostError);
    expect(error).to.be.instanceOf(StoreUnavailableError);
    expect(error.code).to.equal("DATA_DIR_LOCK_LOST");
    expect(error.lockFile).to.equal(join(dataDir, "LOCK.db"));
    expect(error.message).to.include("never delete LOCK.db");
    expect(await collect(store.get(kept.cid))).to.deep.equal(testBytes(5000, 1));
    // A second node can now lock a new LOCK.db: it may, since the first one writes nothing more.
    await expectRejection(
      store.pin(kept.cid).then(() => store.put(testBytes(10, 3))),
      DataDirLockLostError,
    );
  });

  it("refuses writes when LOCK.db was replaced by another file (a restore, a copy)", async () => {
    const dataDir = await nodes.dir();
    const store = await nodes.node({ dataDir, listen: [] });
    await rm(join(dataDir, "LOCK.db"));
    await writeFile(join(dataDir, "LOCK.db"), "");
    await expectRejection(store.put(testBytes(100)), DataDirLockLostError);
  });

  it("names a damaged LOCK.db and advises truncating it with every process stopped, not moving the datastore", async () => {
    const dataDir = await nodes.dir();
    await writeFile(join(dataDir, "LOCK.db"), Buffer.concat([Buffer.from("SQLite format 3\0"), testBytes(4000)]));
    const error = await expectRejection(HeliaContentStore.create({ dataDir, listen: [] }), DataDirError);
    expect(error.dataDir).to.equal(dataDir);
    expect(error.path).to.equal(join(dataDir, "LOCK.db"));
    expect(error.reason).to.equal("SQLITE_NOTADB");
    expect(error.message)
      .to.include(`truncate -s 0 ${join(dataDir, "LOCK.db")}`)
      .and.include("Stop every process")
      .and.include("never delete it")
      .and.not.include("datastore")
      .and.not.include("move");
    await truncate(join(dataDir, "LOCK.db"), 0);
    await nodes.node({ dataDir, listen: [] });
  });

  it("a damaged block directory lock (packs/LOCK.db) gets the same advice, naming that file", async () => {
    const dataDir = await nodes.dir();
    const packs = join(dataDir, "packs");
    await HeliaContentStore.create({ dataDir, listen: [] }).then((store) => store.close());
    await writeFile(join(packs, "LOCK.db"), testBytes(8192));
    const error = await expectRejection(HeliaContentStore.create({ dataDir, listen: [] }), DataDirError);
    expect(error.path).to.equal(join(packs, "LOCK.db"));
    expect(error.message).to.include(`truncate -s 0 ${join(packs, "LOCK.db")}`);
    // The failed create released the data dir's lock.
    await truncate(join(packs, "LOCK.db"), 0);
    await nodes.node({ dataDir, listen: [] });
  });
});

describe("review: a full disk under the node", function () {
  let mountPoint: string | undefined;

  before(async function () {
    // A 6 MiB tmpfs to fill; needs mount rights (root in CI containers). Skipped elsewhere.
    const dir = await mkdtemp(join(tmpdir(), "hygeia-full-"));
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=6m", "tmpfs", dir], { stdio: "ignore" });
      mountPoint = dir;
    } catch {
      await rmdir(dir);
      this.skip();
    }
  });
  after(async () => {
    if (mountPoint === undefined) return;
    execFileSync("umount", ["-l", mountPoint], { stdio: "ignore" });
    await rmdir(mountPoint);
  });

  for (const blockstore of ["flatfs", "pack"] as const) {
    it(`rejects adds on a full disk with typed errors (${blockstore}), and close() releases the data dir even if it fails`, async () => {
      const dataDir = join(mountPoint!, blockstore);
      const store = await HeliaContentStore.create({ dataDir, listen: [], timeoutMs: 5000, blockstore });
      const records = new PatientRecords({
        store,
        head: new FileManifestHead(join(dataDir, "head.json")),
        keyPair: await generateX25519KeyPair(),
      });
      const failures: unknown[] = [];
      for (let i = 0; i < 40 && failures.length < 3; i++) {
        await records.addRecord(testBytes(400_000, i), LAB).catch((error: unknown) => failures.push(error));
      }
      expect(failures, "the disk never filled").to.have.length.greaterThan(0);
      for (const failure of failures) {
        expect(failure, String(failure)).to.be.instanceOf(HygeiaStorageError);
        if (failure instanceof DataDirError) expect(failure.reason).to.be.oneOf(["ENOSPC", "EDQUOT"]);
      }
      const closed = await store.close().then(
        () => undefined,
        (error: unknown) => error,
      );
      if (closed !== undefined) {
        expect(closed, String(closed)).to.satisfy(
          (error: unknown) => error instanceof DataDirError || error instanceof StoreUnavailableError,
        );
      }
      const lock = await DirLock.acquire(dataDir); // released although the disk is full
      await lock.release();
      await rm(dataDir, { recursive: true, force: true });
    });
  }
});
