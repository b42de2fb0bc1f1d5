// `npm run deploy` against a real JSON-RPC node, as an operator would use it for a real network.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { JsonRpcProvider } from "ethers";
import { isDeployed, readDeployment, startLocalChain, type LocalChain } from "@hygeia/chain";
import { runScript, type ScriptRun } from "./support/run-script.ts";

const DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"; // anvil account #0 (public)

function runDeploy(args: string[], env: Record<string, string>): Promise<ScriptRun> {
  return runScript("scripts/deploy.ts", args, env);
}

describe("scripts/deploy.ts", function () {
  this.timeout(60_000);
  let chain: LocalChain;
  let dir: string;
  before(async () => {
    chain = await startLocalChain();
    dir = await mkdtemp(join(tmpdir(), "hygeia-deploy-script-"));
  });
  after(async () => {
    await chain.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("deploys from the env key and writes the deployment file", async () => {
    const out = join(dir, "deployment.json");
    const gateway = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
    const result = await runDeploy(["--out", out, "--confirmations", "1", "--gateway", gateway], {
      HYGEIA_RPC_URL: chain.rpcUrl,
      HYGEIA_DEPLOYER_KEY: DEPLOYER_KEY,
    });
    expect(result.code, result.stderr).to.equal(0);
    expect(JSON.parse(result.stdout).deploymentFile).to.equal(out);
    const deployment = await readDeployment(out);
    const provider = new JsonRpcProvider(chain.rpcUrl, undefined, { cacheTimeout: -1, staticNetwork: true });
    expect(await isDeployed(provider, deployment)).to.equal(true);
    provider.destroy();
  });

  it("rejects missing or malformed configuration with exit code 2 before touching the chain", async () => {
    const cases: [string[], Record<string, string>, RegExp][] = [
      [[], { HYGEIA_DEPLOYER_KEY: DEPLOYER_KEY }, /HYGEIA_RPC_URL/],
      [[], { HYGEIA_RPC_URL: chain.rpcUrl, HYGEIA_DEPLOYER_KEY: "0x1234" }, /HYGEIA_DEPLOYER_KEY/],
      [["--gateway", "nope"], { HYGEIA_RPC_URL: chain.rpcUrl, HYGEIA_DEPLOYER_KEY: DEPLOYER_KEY }, /--gateway nope/],
      [
        ["--confirmations", "0"],
        { HYGEIA_RPC_URL: chain.rpcUrl, HYGEIA_DEPLOYER_KEY: DEPLOYER_KEY },
        /--confirmations/,
      ],
      [["--bogus"], { HYGEIA_RPC_URL: chain.rpcUrl, HYGEIA_DEPLOYER_KEY: DEPLOYER_KEY }, /Unknown option/],
    ];
    for (const [args, env, message] of cases) {
      const result = await runDeploy(args, env);
      expect(result.code).to.equal(2);
      expect(result.stderr).to.match(message);
    }
  });

  it("says so when the chain cannot be reached", async () => {
    const result = await runDeploy([], { HYGEIA_RPC_URL: "http://127.0.0.1:1", HYGEIA_DEPLOYER_KEY: DEPLOYER_KEY });
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(/cannot reach http:\/\/127\.0\.0\.1:1/);
  });
});
