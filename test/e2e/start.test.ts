// `npm start` as a user runs it: the local chain comes up, contracts are deployed, Ctrl-C stops
// everything without orphans, and the next start reuses the same chain state and deployment.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { expect } from "chai";
import { Contract, HDNodeWallet, JsonRpcProvider, id } from "ethers";
import { ConsentRegistryAbi, LOCAL_MNEMONIC, TrustRegistryAbi, readDeployment } from "@hygeia/chain";

interface Ready {
  rpcUrl: string;
  deploymentFile: string;
  pid: number;
  anvilPid: number;
}

type StackProcess = ChildProcessByStdio<null, Readable, Readable>;

function startStack(dataDir: string): Promise<{ child: StackProcess; ready: Ready; output: () => string }> {
  const child = spawn(process.execPath, ["scripts/start.ts", "--port", "0", "--data-dir", dataDir], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`stack did not become ready:\n${output}`)), 60_000);
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const line = /^HYGEIA_READY (.+)$/m.exec(output);
      if (line) {
        clearTimeout(timer);
        resolve({ child, ready: JSON.parse(line[1]!) as Ready, output: () => output });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`stack exited with ${code}:\n${output}`));
    });
  });
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopStack(child: StackProcess): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  child.kill("SIGINT");
  return exited;
}

describe("npm start (local stack)", function () {
  this.timeout(120_000);
  let dataDir: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "hygeia-start-"));
  });
  after(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("deploys, persists chain state across a Ctrl-C restart, and leaves no process behind", async () => {
    const first = await startStack(dataDir);
    const deployment = await readDeployment(first.ready.deploymentFile);
    expect(first.output()).to.contain(deployment.contracts.ConsentRegistry);
    expect(first.output()).to.contain("patient Alice");

    const provider = new JsonRpcProvider(first.ready.rpcUrl, undefined, { cacheTimeout: -1, staticNetwork: true });
    for (const address of Object.values(deployment.contracts)) {
      expect(await provider.getCode(address)).to.not.equal("0x");
    }
    const trust = new Contract(deployment.contracts.TrustRegistry, TrustRegistryAbi, provider);
    const medicalBoard = HDNodeWallet.fromPhrase(LOCAL_MNEMONIC, undefined, "m/44'/60'/0'/0/7").address;
    expect(await trust.getFunction("isTrusted")(medicalBoard, id("hygeia.role.medical-board"))).to.equal(true);

    // A patient grants consent; it must survive the restart.
    const alice = HDNodeWallet.fromPhrase(LOCAL_MNEMONIC, undefined, "m/44'/60'/0'/0/2").connect(provider);
    const clinic = HDNodeWallet.fromPhrase(LOCAL_MNEMONIC, undefined, "m/44'/60'/0'/0/4").address;
    const scope = id("fhir:Observation");
    const expiry = BigInt(Math.floor(Date.now() / 1000) + 86_400);
    const consent = new Contract(deployment.contracts.ConsentRegistry, ConsentRegistryAbi, alice);
    await (await consent.getFunction("grant")(clinic, scope, 1, expiry)).wait();
    provider.destroy();

    expect(await stopStack(first.child)).to.equal(0);
    expect(isRunning(first.ready.anvilPid), "anvil must not outlive npm start").to.equal(false);
    expect(existsSync(join(dataDir, "chain-state.json"))).to.equal(true);

    const second = await startStack(dataDir);
    try {
      expect(second.output()).to.contain("reusing the deployment");
      const again = await readDeployment(second.ready.deploymentFile);
      expect(again.contracts).to.deep.equal(deployment.contracts);
      const provider2 = new JsonRpcProvider(second.ready.rpcUrl, undefined, { cacheTimeout: -1, staticNetwork: true });
      const consent2 = new Contract(deployment.contracts.ConsentRegistry, ConsentRegistryAbi, provider2);
      expect(await consent2.getFunction("isAllowed")(alice.address, clinic, scope, 1)).to.equal(true);
      provider2.destroy();
    } finally {
      expect(await stopStack(second.child)).to.equal(0);
    }
    expect(isRunning(second.ready.anvilPid)).to.equal(false);
    expect(JSON.parse(await readFile(join(dataDir, "deployment.json"), "utf8")).chainId).to.equal(31337);
  });

  it("rejects unknown flags with usage and exit code 2", async () => {
    const child = spawn(process.execPath, ["scripts/start.ts", "--prot", "1"], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).to.equal(2);
    expect(stderr).to.match(/Unknown option '--prot'/);
    expect(stderr).to.contain("usage: npm start");
  });
});
