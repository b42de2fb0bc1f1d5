// startLocalChain({ ownProcessGroup: true }): a terminal's Ctrl-C (SIGINT to the whole foreground group) reaches
// only the process that started anvil, which stops it when it chooses; and anvil still never outlives that
// process, whether it exits, throws, or dies of a signal it does not handle.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { InvalidInputError, startLocalChain } from "../src/index.ts";

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Program {
  pid: number;
  /** Lines printed so far. */
  lines: () => string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs `script` (ESM) in its own process group, as a terminal runs a foreground command. */
function runInOwnGroup(script: string): Program {
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    cwd: process.cwd(),
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr.resume(); // a thrown error's trace is expected in one test; not printed
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  return { pid: child.pid!, lines: () => output.split("\n").filter(Boolean), exited };
}

async function waitForLines(program: Program, count: number): Promise<string[]> {
  for (let i = 0; i < 600 && program.lines().length < count; i++) await sleep(50);
  expect(program.lines(), "the program's output").to.have.length.of.at.least(count);
  return program.lines();
}

describe("local chain in its own process group", function () {
  this.timeout(60_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "hygeia-anvil-group-"));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it("a SIGINT to the starter's whole process group does not reach anvil: the starter stops it, and the state is dumped", async () => {
    const stateFile = join(dir, "group-sigint.json");
    const program = runInOwnGroup(
      [
        'import { startLocalChain } from "@hygeia/chain";',
        `const chain = await startLocalChain({ stateFile: ${JSON.stringify(stateFile)}, ownProcessGroup: true });`,
        "process.on('SIGINT', async () => {",
        "  await new Promise((r) => setTimeout(r, 500));", // the starter's own work first (npm start: the gateway)
        "  let alive = true; try { process.kill(chain.pid, 0); } catch { alive = false; }",
        "  console.log(alive ? 'alive' : 'gone');",
        "  await chain.stop();",
        "  process.exit(0);",
        "});",
        "console.log(chain.pid);",
      ].join("\n"),
    );
    const [pidLine] = await waitForLines(program, 1);
    const anvilPid = Number(pidLine);
    expect(anvilPid).to.be.greaterThan(0);
    process.kill(-program.pid, "SIGINT"); // what a terminal's Ctrl-C does
    expect(await program.exited).to.deep.equal({ code: 0, signal: null });
    expect(program.lines()[1], "anvil still ran while its starter handled the Ctrl-C").to.equal("alive");
    expect(isRunning(anvilPid)).to.equal(false);
    expect(existsSync(stateFile), "stop() dumped the state").to.equal(true);
  });

  it("when the starter has no SIGINT listener it still dies of the SIGINT, and anvil is stopped with it (state dumped)", async () => {
    const stateFile = join(dir, "no-listener.json");
    const program = runInOwnGroup(
      [
        'import { startLocalChain } from "@hygeia/chain";',
        `const chain = await startLocalChain({ stateFile: ${JSON.stringify(stateFile)}, ownProcessGroup: true });`,
        "console.log(chain.pid);",
        "setInterval(() => {}, 1000);",
      ].join("\n"),
    );
    const anvilPid = Number((await waitForLines(program, 1))[0]);
    process.kill(-program.pid, "SIGINT");
    expect(await program.exited).to.deep.equal({ code: null, signal: "SIGINT" });
    for (let i = 0; i < 100 && isRunning(anvilPid); i++) await sleep(100);
    expect(isRunning(anvilPid), `anvil ${anvilPid} outlived its starter`).to.equal(false);
    expect(existsSync(stateFile), "anvil got SIGINT, so it dumped its state").to.equal(true);
  });

  it("when the starter dies of an uncaught error, anvil does not outlive it", async () => {
    const program = runInOwnGroup(
      [
        'import { startLocalChain } from "@hygeia/chain";',
        "const chain = await startLocalChain({ ownProcessGroup: true });",
        "console.log(chain.pid);",
        "setTimeout(() => { throw new Error('an assertion failed'); }, 100);",
      ].join("\n"),
    );
    const anvilPid = Number((await waitForLines(program, 1))[0]);
    expect((await program.exited).code).to.equal(1);
    for (let i = 0; i < 50 && isRunning(anvilPid); i++) await sleep(100);
    expect(isRunning(anvilPid), `anvil ${anvilPid} outlived its starter`).to.equal(false);
  });

  it("refuses an ownProcessGroup that is not a boolean before spawning anything", async () => {
    let spawned = false;
    const error = await startLocalChain({
      ownProcessGroup: "yes" as unknown as boolean,
      onSpawn: () => (spawned = true),
    }).then(
      () => expect.fail("must be refused"),
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(InvalidInputError);
    expect((error as InvalidInputError).field).to.equal("ownProcessGroup");
    expect(spawned).to.equal(false);
  });
});
