// `npm run deploy -- [flags]`: deploys the Hygeia contracts to the chain at $HYGEIA_RPC_URL from
// the account whose private key is in $HYGEIA_DEPLOYER_KEY, and writes the deployment file.
// The key is read from the environment, never from a flag, so it stays out of shell history.
import { parseArgs } from "node:util";
import { JsonRpcProvider, Wallet, isAddress } from "ethers";
import { deployHygeia, writeDeployment } from "@hygeia/chain";

const USAGE = `usage: HYGEIA_RPC_URL=https://... HYGEIA_DEPLOYER_KEY=0x... npm run deploy -- [options]
  --out FILE            deployment file to write (default deployments/<chainId>.json)
  --governance ADDRESS  owner of TrustRegistry and AuditAnchor (default: the deployer)
  --gateway ADDRESS     authorize a gateway to anchor audit roots (repeatable; needs governance = deployer)
  --confirmations N     blocks to wait for each transaction (default 2)`;

function fail(message: string): never {
  console.error(`deploy: ${message}\n${USAGE}`);
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      out: { type: "string" },
      governance: { type: "string" },
      gateway: { type: "string", multiple: true, default: [] },
      confirmations: { type: "string", default: "2" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  }));
} catch (error) {
  fail((error as Error).message);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const rpcUrl = process.env["HYGEIA_RPC_URL"];
const key = process.env["HYGEIA_DEPLOYER_KEY"];
if (!rpcUrl || !/^(https?|wss?):\/\//.test(rpcUrl)) fail("set HYGEIA_RPC_URL to the chain's JSON-RPC URL");
if (!key || !/^(0x)?[0-9a-fA-F]{64}$/.test(key))
  fail("set HYGEIA_DEPLOYER_KEY to the deployer's 32-byte hex private key");
if (values.governance !== undefined && !isAddress(values.governance)) fail("--governance must be an address");
for (const gateway of values.gateway) if (!isAddress(gateway)) fail(`--gateway ${gateway} is not an address`);
const confirmations = Number(values.confirmations);
if (!Number.isInteger(confirmations) || confirmations < 1 || confirmations > 64) fail("--confirmations must be 1-64");

const provider = new JsonRpcProvider(rpcUrl, undefined, { cacheTimeout: -1 });
try {
  const network = await provider.getNetwork().catch((error: Error) => {
    throw new Error(`cannot reach ${rpcUrl}: ${error.message}`);
  });
  const deployer = new Wallet(key.startsWith("0x") ? key : `0x${key}`, provider);
  const balance = await provider.getBalance(deployer.address);
  console.error(`deploy: chain ${network.chainId}, deployer ${deployer.address}, balance ${balance} wei`);
  if (balance === 0n) throw new Error(`deployer ${deployer.address} has no funds for gas`);
  const deployment = await deployHygeia(deployer, {
    ...(values.governance === undefined ? {} : { governance: values.governance }),
    gateways: values.gateway,
    confirmations,
    onProgress: (message) => console.error(`deploy: ${message}`),
  });
  const out = values.out ?? `deployments/${deployment.chainId}.json`;
  await writeDeployment(out, deployment);
  console.log(JSON.stringify({ deploymentFile: out, ...deployment }));
} catch (error) {
  console.error(`deploy: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  provider.destroy();
}
