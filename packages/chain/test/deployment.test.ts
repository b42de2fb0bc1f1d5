import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { Contract, HDNodeWallet, JsonRpcProvider, NonceManager } from "ethers";
import {
  AuditAnchorAbi,
  DeploymentError,
  LOCAL_MNEMONIC,
  deployHygeia,
  isDeployed,
  parseDeployment,
  readDeployment,
  StudyRegistryAbi,
  startLocalChain,
  upgradeDeployment,
  writeDeployment,
  type HygeiaDeployment,
  type LocalChain,
} from "../src/index.ts";

const wallet = (index: number) => HDNodeWallet.fromPhrase(LOCAL_MNEMONIC, undefined, `m/44'/60'/0'/0/${index}`);

describe("deployment", function () {
  this.timeout(60_000);
  let chain: LocalChain;
  let provider: JsonRpcProvider;
  let deployment: HygeiaDeployment;
  let dir: string;

  before(async () => {
    chain = await startLocalChain();
    provider = new JsonRpcProvider(chain.rpcUrl, undefined, { cacheTimeout: -1, staticNetwork: true });
    dir = await mkdtemp(join(tmpdir(), "hygeia-deploy-"));
    const progress: string[] = [];
    deployment = await deployHygeia(new NonceManager(wallet(0).connect(provider)), {
      gateways: [wallet(1).address],
      onProgress: (message) => progress.push(message),
    });
    expect(progress.filter((line) => line.startsWith("deployed"))).to.have.length(5);
  });
  after(async () => {
    provider.destroy();
    await chain.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("deploys every contract with code, records the first block, and authorizes gateways", async () => {
    expect(deployment.chainId).to.equal(31337);
    expect(deployment.governance).to.equal(wallet(0).address);
    const first = await provider.getBlock(deployment.deployedAt.block);
    expect(first?.hash).to.equal(deployment.deployedAt.blockHash);
    expect(await isDeployed(provider, deployment)).to.equal(true);
    const anchor = new Contract(deployment.contracts.AuditAnchor, AuditAnchorAbi, provider);
    const [authorized] = (await anchor.getFunction("gatewayOf")(wallet(1).address)) as [boolean];
    expect(authorized).to.equal(true);
    // StudyRegistry checks IRBs against this deployment's TrustRegistry.
    const studies = new Contract(deployment.contracts.StudyRegistry!, StudyRegistryAbi, provider);
    expect(await studies.getFunction("trustRegistry")()).to.equal(deployment.contracts.TrustRegistry);
  });

  it("a deployment file from before StudyRegistry still reads, and upgradeDeployment adds it once", async () => {
    const { StudyRegistry: _added, ...older } = deployment.contracts;
    const path = join(dir, "older.json");
    await writeDeployment(path, { ...deployment, contracts: older });
    const read = await readDeployment(path);
    expect(read.contracts).not.to.have.property("StudyRegistry");
    expect(await isDeployed(provider, read)).to.equal(true);
    const deployer = new NonceManager(wallet(0).connect(provider));
    const upgraded = await upgradeDeployment(deployer, read);
    expect(upgraded.contracts).to.include(older);
    expect(upgraded.contracts.StudyRegistry).to.match(/^0x[0-9a-fA-F]{40}$/);
    expect(await isDeployed(provider, upgraded)).to.equal(true);
    expect(await upgradeDeployment(deployer, upgraded)).to.equal(upgraded); // nothing left to add
  });

  it("isDeployed is false on another chain id or where an address has no code", async () => {
    expect(await isDeployed(provider, { ...deployment, chainId: 1 })).to.equal(false);
    const missing = { ...deployment.contracts, AuditAnchor: wallet(9).address };
    expect(await isDeployed(provider, { ...deployment, contracts: missing })).to.equal(false);
  });

  it("refuses to authorize gateways when governance is someone else", async () => {
    const deployer = new NonceManager(wallet(0).connect(provider));
    await expectReject(
      deployHygeia(deployer, { governance: wallet(5).address, gateways: [wallet(1).address] }),
      /governance is the deployer/,
    );
    await expectReject(deployHygeia(deployer, { governance: "0x1234" }), /governance must be an address/);
  });

  it("writes and reads the deployment file, and rejects malformed ones with a typed error", async () => {
    const path = join(dir, "nested", "deployment.json");
    await writeDeployment(path, deployment);
    expect(await readDeployment(path)).to.deep.equal(deployment);

    await writeFile(join(dir, "bad.json"), "{ not json");
    await expectReject(readDeployment(join(dir, "bad.json")), /not valid JSON/);
    await expectReject(readDeployment(join(dir, "absent.json")), /cannot read deployment file/);

    const raw = JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
    const broken: [unknown, RegExp][] = [
      [null, /not an object/],
      [{ ...raw, chainId: -1 }, /chainId/],
      [{ ...raw, deployedAt: { block: 1, blockHash: "0x12" } }, /blockHash/],
      [
        { ...raw, contracts: { ...(raw["contracts"] as object), ConsentRegistry: "nope" } },
        /contracts.ConsentRegistry/,
      ],
      [{ ...raw, governance: 42 }, /governance/],
    ];
    for (const [value, message] of broken) {
      expect(() => parseDeployment(value)).to.throw(DeploymentError, message);
    }
  });
});

async function expectReject(promise: Promise<unknown>, message: RegExp): Promise<void> {
  try {
    await promise;
  } catch (error) {
    expect((error as Error).message).to.match(message);
    return;
  }
  expect.fail(`expected a rejection matching ${message}`);
}
