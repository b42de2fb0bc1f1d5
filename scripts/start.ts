// `npm start`: the local Hygeia stack. For now: an anvil JSON-RPC node on 127.0.0.1 whose state
// survives restarts (<data-dir>/chain-state.json), the contracts deployed once (reused on the
// next start), governance set up with demo accreditations, and funded demo accounts printed.
// Ctrl-C stops anvil with SIGINT, which makes it dump its state, and waits for it to exit.
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { HDNodeWallet, JsonRpcProvider, NonceManager } from "ethers";
import {
  LOCAL_MNEMONIC,
  TrustRegistryClient,
  TrustRole,
  deployHygeia,
  isDeployed,
  readDeployment,
  startLocalChain,
  writeDeployment,
  type HygeiaDeployment,
  type LocalChain,
  type TrustRoleName,
} from "@hygeia/chain";

const USAGE = `usage: npm start -- [--port N] [--host ADDR] [--data-dir DIR] [--fresh]
  --port N        JSON-RPC port (default 8545; 0 picks a free one)
  --host ADDR     interface to bind (default 127.0.0.1)
  --data-dir DIR  where chain state and deployment.json live (default .hygeia)
  --fresh         discard the saved chain state and deploy anew`;

/** Demo roles, in the order of the test mnemonic's accounts. */
const DEMO_ROLES = [
  "deployer / governance",
  "gateway (audit anchoring)",
  "patient Alice",
  "patient Bob",
  "clinic",
  "virtual clinic",
  "researcher",
  "medical board (accredits clinics)",
  "IRB (ethics approvals)",
  "insurer",
] as const;
const ROLE_ACCOUNT = { medicalBoard: 7, irb: 8, insurer: 9 } as const;

function fail(message: string): never {
  console.error(`start: ${message}\n${USAGE}`);
  process.exit(2);
}

function parseOptions() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: "string", default: "8545" },
        host: { type: "string", default: "127.0.0.1" },
        "data-dir": { type: "string", default: ".hygeia" },
        fresh: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    fail((error as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65_535) fail(`--port must be an integer 0-65535, got "${values.port}"`);
  if (!values.host) fail("--host must not be empty");
  return { port, host: values.host, dataDir: resolve(values["data-dir"]), fresh: values.fresh };
}

function demoWallet(index: number): HDNodeWallet {
  return HDNodeWallet.fromPhrase(LOCAL_MNEMONIC, undefined, `m/44'/60'/0'/0/${index}`);
}

async function setUpGovernance(deployment: HygeiaDeployment, provider: JsonRpcProvider): Promise<void> {
  const governance = new NonceManager(demoWallet(0).connect(provider));
  const trust = new TrustRegistryClient(deployment.contracts.TrustRegistry, governance);
  const now = BigInt((await provider.getBlock("latest"))!.timestamp);
  const year = 365n * 24n * 3600n;
  const accreditations: [number, TrustRoleName][] = [
    [ROLE_ACCOUNT.medicalBoard, TrustRole.MedicalBoard],
    [ROLE_ACCOUNT.irb, TrustRole.Irb],
    [ROLE_ACCOUNT.insurer, TrustRole.Insurer],
    [0, TrustRole.IdentityIssuer],
  ];
  for (const [account, role] of accreditations) {
    await trust.accredit({ issuer: demoWallet(account).address, role, validFrom: now, validUntil: now + year });
  }
}

async function main(): Promise<void> {
  const options = parseOptions();
  const stateFile = join(options.dataDir, "chain-state.json");
  const deploymentFile = join(options.dataDir, "deployment.json");
  if (options.fresh) {
    await rm(stateFile, { force: true });
    await rm(deploymentFile, { force: true });
  }

  let chain: LocalChain | undefined;
  let provider: JsonRpcProvider | undefined;
  let shuttingDown = false;
  const shutdown = async (code: number) => {
    if (shuttingDown) return;
    shuttingDown = true;
    console.error("\nstopping the local chain (saving its state)...");
    provider?.destroy();
    await chain?.stop();
    console.error(`stopped; state saved in ${stateFile}`);
    process.exit(code);
  };
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      if (shuttingDown) process.exit(130); // a second Ctrl-C: do not wait
      void shutdown(0);
    });
  }

  try {
    chain = await startLocalChain({ host: options.host, port: options.port, stateFile, stateIntervalSeconds: 10 });
    provider = new JsonRpcProvider(chain.rpcUrl, undefined, { cacheTimeout: -1, staticNetwork: true });

    let deployment: HygeiaDeployment | undefined;
    if (existsSync(deploymentFile)) {
      const saved = await readDeployment(deploymentFile);
      if (await isDeployed(provider, saved)) deployment = saved;
      else console.error("start: saved deployment is not on this chain (state was reset); deploying anew");
    }
    if (!deployment) {
      const deployer = new NonceManager(demoWallet(0).connect(provider));
      deployment = await deployHygeia(deployer, {
        gateways: [demoWallet(1).address],
        onProgress: (message) => console.error(`deploy: ${message}`),
      });
      await setUpGovernance(deployment, provider);
      await writeDeployment(deploymentFile, deployment);
    } else {
      console.error(`start: reusing the deployment in ${deploymentFile}`);
    }

    const lines = [
      "",
      `Hygeia local chain: ${chain.rpcUrl} (chain id ${deployment.chainId}), state in ${stateFile}`,
      `Deployment file: ${deploymentFile}`,
      "",
      "Contracts:",
      ...Object.entries(deployment.contracts).map(([name, address]) => `  ${name.padEnd(20)} ${address}`),
      "",
      "Demo accounts (10,000 ETH each; PUBLIC test keys, never use them on a real network):",
      ...DEMO_ROLES.map((role, index) => {
        const wallet = demoWallet(index);
        return `  #${index} ${role.padEnd(34)} ${wallet.address}  ${wallet.privateKey}`;
      }),
      "",
      "Press Ctrl-C to stop (the chain state is kept for the next start; --fresh discards it).",
    ];
    console.log(lines.join("\n"));
    // One machine-readable line for scripts and tests.
    console.log(
      `HYGEIA_READY ${JSON.stringify({ rpcUrl: chain.rpcUrl, deploymentFile, pid: process.pid, anvilPid: chain.pid })}`,
    );
  } catch (error) {
    console.error(`start: ${(error as Error).message}`);
    await shutdown(1);
  }
}

await main();
