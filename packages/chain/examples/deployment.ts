// Deployment on a local anvil chain with saved state: deploy, write the deployment file, restart, find it again.
// Run: node packages/chain/examples/deployment.ts
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = await mkdtemp(join(tmpdir(), "hygeia-deploy-"));
process.chdir(dir);
const progress: string[] = [];
const log = (line: string) => progress.push(line);
const gateway = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"; // account #1 of the local mnemonic

// #region deployment
import { HDNodeWallet, JsonRpcProvider } from "ethers";
import {
  LOCAL_MNEMONIC,
  deployHygeia,
  isDeployed,
  readDeployment,
  startLocalChain,
  writeDeployment,
} from "@hygeia/chain";

const chain = await startLocalChain({ stateFile: ".hygeia/chain-state.json" }); // anvil on 127.0.0.1, free port
const provider = new JsonRpcProvider(chain.rpcUrl, undefined, { cacheTimeout: -1, staticNetwork: true });
const deployer = HDNodeWallet.fromPhrase(LOCAL_MNEMONIC).connect(provider); // a plain Signer is enough
const deployment = await deployHygeia(deployer, { gateways: [gateway], onProgress: log });
await writeDeployment(".hygeia/deployment.json", deployment); // atomic: temp file + rename
await chain.stop(); // SIGINT to anvil, which dumps its state, then waits for it to exit

// later, after a restart with the same state file:
const again = await startLocalChain({ stateFile: ".hygeia/chain-state.json" });
const provider2 = new JsonRpcProvider(again.rpcUrl, undefined, { cacheTimeout: -1, staticNetwork: true });
const saved = await readDeployment(".hygeia/deployment.json"); // validated, DeploymentError otherwise
await isDeployed(provider2, saved); // true: same chain id and code at every address
// #endregion deployment

assert.deepEqual(saved, deployment);
assert.equal(await isDeployed(provider2, saved), true);
assert.equal(progress.filter((line) => line.startsWith("deployed")).length, 5); // StudyRegistry last
provider.destroy();
provider2.destroy();
await again.stop();
process.chdir(tmpdir());
await rm(dir, { recursive: true, force: true });
console.log("deployment: ok");
