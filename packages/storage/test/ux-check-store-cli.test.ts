// The operator's check:store command as a newcomer ran it: a store in use, --help, an unknown option, and a
// relative data dir from where npm was run (INIT_CWD), not from packages/storage. The real CLI in a child process.
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { HeliaContentStore } from "../src/index.ts";

const PACKAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), "..");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as `npm run check:store -w @hygeia/storage` does: in the package's directory, INIT_CWD set. */
function checkStore(args: string[], initCwd?: string): Promise<Run> {
  const env = { ...process.env };
  if (initCwd === undefined) delete env.INIT_CWD;
  else env.INIT_CWD = initCwd;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ["src/helia/check-store-cli.ts", ...args], { cwd: PACKAGE_DIR, env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code, stdout, stderr }));
  });
}

describe("check:store command line", function () {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "hygeia-ux-cli-"));
    const store = await HeliaContentStore.create({ dataDir: join(dir, "node") });
    await store.put(new TextEncoder().encode("checked"));
    await store.close();
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("--help prints the usage and exits 0", async () => {
    const run = await checkStore(["--help"]);
    expect(run.code).to.equal(0);
    expect(run.stdout).to.match(/^usage: npm run check:store -w @hygeia\/storage -- <dataDir>/);
    expect(run.stderr).to.equal("");
    expect((await checkStore(["-h"])).code).to.equal(0);
  });

  it("an unknown option is one line naming it, then the usage, exit 2", async () => {
    const run = await checkStore([join(dir, "node"), "--verify"]);
    expect(run.code).to.equal(2);
    const lines = run.stderr.trimEnd().split("\n");
    expect(lines[0]).to.match(/^check:store: .*--verify/);
    expect(lines[1]).to.match(/^usage: /);
    expect(run.stderr).to.not.match(/\n\s+at /); // no stack
    expect(run.stdout).to.equal("");
  });

  it("a relative data dir is resolved against where npm was run (INIT_CWD), not packages/storage", async () => {
    const run = await checkStore([basename(join(dir, "node"))], dir);
    expect(run.stderr).to.equal("");
    expect(run.code).to.equal(0);
    expect(JSON.parse(run.stdout)).to.include({ ok: true });
    const missing = await checkStore(["node"], join(dir, "elsewhere"));
    expect(missing.code).to.equal(2);
    expect(missing.stderr.split("\n")[0]).to.equal(
      `check:store: ${join(dir, "elsewhere", "node", "packs")} does not exist: give the node's data dir (the one holding packs/)`,
    );
  });

  it("a store in use is one line naming the process that holds it, exit 3, no stack trace", async () => {
    const dataDir = join(dir, "busy");
    await mkdir(dataDir);
    const store = await HeliaContentStore.create({ dataDir });
    try {
      const run = await checkStore([dataDir]);
      expect(run.code).to.equal(3);
      expect(run.stdout).to.equal("");
      expect(run.stderr.trimEnd().split("\n")).to.have.length(1);
      expect(run.stderr).to.match(/^check:store: .*in use by process \d+ on .*\[DATA_DIR_LOCKED\]\n$/);
    } finally {
      await store.close();
    }
  });
});
