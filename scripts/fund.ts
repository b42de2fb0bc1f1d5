/**
 * `npm run fund -- <address> [--eth 1] [--rpc http://127.0.0.1:8545]`: sends test ETH on the LOCAL stack to a new
 * wallet (publishing an encryption key or sending consent directly costs gas; everything else is relayed).
 *
 * The ETH comes from demo account #9 of the public test mnemonic (@hygeia/chain LOCAL_MNEMONIC; the demo's insurer,
 * 10,000 ETH, which sends no transaction of its own). Refused on any chain but a local one (chain id 31337), so this
 * can never spend on a real network. Exit codes as the CLI's: 0 sent, 1 usage, 3 chain unreachable.
 */
import { parseArgs } from "node:util";
import { HDNodeWallet, JsonRpcProvider, Mnemonic, formatEther, isAddress, getAddress, parseEther } from "ethers";
import { LOCAL_MNEMONIC } from "@hygeia/chain";

const LOCAL_CHAIN_ID = 31337n;
/** Accounts 0-9 of the mnemonic are funded by every local chain. */
const DONOR_INDEX = 9;

function fail(code: number, message: string): never {
  process.stderr.write(`fund: ${message}\n`);
  process.exit(code);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      eth: { type: "string", default: "1" },
      rpc: { type: "string", default: process.env.HYGEIA_RPC_URL ?? "http://127.0.0.1:8545" },
    },
  });
} catch (error) {
  fail(1, `${(error as Error).message} (usage: npm run fund -- <address> [--eth 1] [--rpc <url>])`);
}
const [target, ...extra] = parsed.positionals;
if (target === undefined || extra.length > 0 || !isAddress(target))
  fail(1, "give one Ethereum address (0x + 40 hex digits): npm run fund -- <address> [--eth 1]");
let amount: bigint;
try {
  amount = parseEther(parsed.values.eth);
} catch {
  fail(1, `--eth ${JSON.stringify(parsed.values.eth)} is not an amount of ETH`);
}
if (amount <= 0n || amount > parseEther("100")) fail(1, "--eth must be more than 0 and at most 100");

const provider = new JsonRpcProvider(parsed.values.rpc, undefined, { staticNetwork: true });
try {
  let chainId: bigint;
  try {
    chainId = BigInt(await provider.send("eth_chainId", []));
  } catch (error) {
    fail(3, `the chain at ${parsed.values.rpc} cannot be reached (${(error as Error).message}): is npm start running?`);
  }
  if (chainId !== LOCAL_CHAIN_ID)
    fail(1, `the chain at ${parsed.values.rpc} is chain ${chainId}, not the local stack's ${LOCAL_CHAIN_ID}: refused`);
  const donor = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(LOCAL_MNEMONIC), `m/44'/60'/0'/0/${DONOR_INDEX}`).connect(
    provider,
  );
  const sent = await donor.sendTransaction({ to: getAddress(target), value: amount });
  await sent.wait();
  const balance = await provider.getBalance(target);
  process.stdout.write(
    `sent ${formatEther(amount)} ETH to ${getAddress(target)} (balance ${formatEther(balance)} ETH)\n`,
  );
} finally {
  provider.destroy();
}
