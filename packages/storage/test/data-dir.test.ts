// HeliaContentStore.create on a data dir it cannot use: a DataDirError (DATA_DIR_UNUSABLE) with field "dataDir",
// the path that failed and what to do, never a bare `EEXIST: file already exists, mkdir …`.
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect } from "chai";
import { DataDirError, HeliaContentStore, StoreUnavailableError } from "../src/index.ts";
import { dataDirFailure } from "../src/helia/data-dir-errors.ts";
import { expectRejection } from "./helpers/expect.ts";

const CHILD = fileURLToPath(new URL("./fixtures/open-store.ts", import.meta.url));
const NOBODY = 65534;

function errnoError(code: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: failed, open '${path}'`), { code, path });
}

describe("HeliaContentStore data dir failures", function () {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "hygeia-storage-datadir-"));
  });
  afterEach(async () => {
    await chmod(dir, 0o700).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses a dataDir that is an existing file, naming dataDir and what to do", async () => {
    const file = join(dir, "ipfs");
    await writeFile(file, "not a directory");
    const error = await expectRejection(HeliaContentStore.create({ dataDir: file }), DataDirError);
    expect(error.code).to.equal("DATA_DIR_UNUSABLE");
    expect(error.field).to.equal("dataDir");
    expect(error.reason).to.equal("EEXIST");
    expect(error.path).to.equal(file);
    expect(error.message).to.include(`${file} is a file, not a directory`);
    expect(error.message).to.include("Pass the path of a directory");
  });

  it("refuses a dataDir below a file (ENOTDIR)", async () => {
    await writeFile(join(dir, "file"), "x");
    const dataDir = join(dir, "file", "ipfs");
    const error = await expectRejection(HeliaContentStore.create({ dataDir }), DataDirError);
    expect(error.field).to.equal("dataDir");
    expect(error.reason).to.equal("ENOTDIR");
    expect(error.message).to.include("is a file, not a directory");
  });

  it("refuses a dataDir whose packs/ is a file, naming that path", async () => {
    await writeFile(join(dir, "packs"), "x");
    const error = await expectRejection(HeliaContentStore.create({ dataDir: dir }), DataDirError);
    expect(error.reason).to.equal("EEXIST");
    expect(error.path).to.equal(join(dir, "packs"));
    expect(error.message).to.include(`(in dataDir ${dir})`);
  });

  it("refuses a dataDir the process cannot write (EACCES), new or already used", async function () {
    // Root ignores permissions: run the store in a child process as nobody then.
    const asRoot = process.getuid?.() === 0;
    const open = async (dataDir: string): Promise<Record<string, unknown>> => {
      const { stdout } = await promisify(execFile)(process.execPath, [CHILD, dataDir], {
        ...(asRoot ? { uid: NOBODY, gid: NOBODY } : {}),
        cwd: dir,
      });
      return JSON.parse(stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
    };
    await chmod(dir, 0o755); // readable and searchable by the child, writable only by the test's user
    const fresh = await open(join(dir, "new-node"));
    expect(fresh).to.include({ ok: false, name: "DataDirError", code: "DATA_DIR_UNUSABLE", field: "dataDir" });
    expect(fresh.reason).to.equal("EACCES");
    expect(fresh.message).to.include("is not writable by this process");

    const used = join(dir, "used-node");
    const store = await HeliaContentStore.create({ dataDir: used, listen: [] });
    await store.close();
    await chmod(used, 0o755);
    const existing = await open(used);
    expect(existing).to.include({ ok: false, name: "DataDirError", field: "dataDir" });
    expect(existing.message).to.include("is not writable by this process");
    expect(await readdir(join(used, "packs"))).to.not.include("LOCK");
  });

  it("says what to do for a read-only file system and a full disk (EROFS, ENOSPC, EDQUOT, SQLite's codes)", () => {
    const dataDir = "/data/ipfs";
    const cases: [unknown, string, string][] = [
      [errnoError("EROFS", dataDir), "EROFS", "read-only file system"],
      [errnoError("ENOSPC", join(dataDir, "packs")), "ENOSPC", "no space left for dataDir"],
      [errnoError("EDQUOT", join(dataDir, "packs")), "EDQUOT", "free space (or quota)"],
      [
        new StoreUnavailableError("cannot lock", { cause: errnoError("EACCES", join(dataDir, "packs", "LOCK")) }),
        "EACCES",
        "is not writable by this process",
      ],
      [
        Object.assign(new Error("attempt to write a readonly database"), { code: "ERR_SQLITE_ERROR", errcode: 8 }),
        "EROFS",
        "read-only",
      ],
      [
        Object.assign(new Error("database or disk is full"), { code: "ERR_SQLITE_ERROR", errcode: 13 }),
        "ENOSPC",
        "no space",
      ],
    ];
    for (const [cause, reason, text] of cases) {
      const error = dataDirFailure(dataDir, cause, "the blockstore");
      expect(error).to.be.instanceOf(DataDirError);
      expect((error as DataDirError).reason).to.equal(reason);
      expect((error as DataDirError).field).to.equal("dataDir");
      expect(error.message).to.include(text);
      expect(error.cause).to.equal(cause);
    }
    // A store held by another process is not a data dir problem: it passes through as it is.
    const inUse = new StoreUnavailableError(`${dataDir} is in use by process 42`);
    expect(dataDirFailure(dataDir, inUse, "the blockstore")).to.equal(inUse);
  });

  it("refuses a datastore.sqlite that is not an SQLite database (SQLITE_NOTADB), naming the file", async () => {
    await writeFile(join(dir, "datastore.sqlite"), "not sqlite at all, just text".repeat(200));
    const error = await expectRejection(HeliaContentStore.create({ dataDir: dir, listen: [] }), DataDirError);
    expect(error.reason).to.equal("SQLITE_NOTADB");
    expect(error.field).to.equal("dataDir");
    expect(error.path).to.equal(join(dir, "datastore.sqlite"));
    expect(error.message).to.include("is not an SQLite database").and.include("move the file away");
  });

  it("says a datastore is corrupt for SQLite's SQLITE_CORRUPT (extended codes too)", () => {
    for (const errcode of [11, 11 | (1 << 8)]) {
      const cause = Object.assign(new Error("database disk image is malformed"), { code: "ERR_SQLITE_ERROR", errcode });
      const error = dataDirFailure("/data/ipfs", cause, "the datastore", "/data/ipfs/datastore.sqlite");
      expect(error).to.be.instanceOf(DataDirError);
      expect((error as DataDirError).reason).to.equal("SQLITE_CORRUPT");
      expect((error as DataDirError).path).to.equal("/data/ipfs/datastore.sqlite");
      expect(error.message).to.include("is corrupt").and.include("backup");
    }
  });

  it("still opens a data dir that exists as a directory", async () => {
    await mkdir(join(dir, "ipfs"));
    const store = await HeliaContentStore.create({ dataDir: join(dir, "ipfs"), listen: [] });
    await store.close();
  });
});
