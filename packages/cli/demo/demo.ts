// `npm run demo`: the whole story (demo/story.ts) against the stack `npm start` runs, narrated for a person
// watching, with every `hygeia` command shown as it runs. Options: --gateway URL, --rpc URL, --keep (keep the
// homes and files in the printed folder instead of removing them).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { HDNodeWallet, JsonRpcProvider, parseEther } from "ethers";
import { LOCAL_MNEMONIC } from "@hygeia/chain";
import { LOCAL_GATEWAY_URL, LOCAL_RPC_URL } from "@hygeia/sdk";
import { runStory, StoryStepError, type StoryEvent } from "./story.ts";

const USAGE = `usage: npm run demo [-- --gateway URL --rpc URL --keep]
Runs every role's journey through the hygeia command against a running local stack (start it first: npm start).`;

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        gateway: { type: "string", default: LOCAL_GATEWAY_URL },
        rpc: { type: "string", default: LOCAL_RPC_URL },
        keep: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    });
  } catch (error) {
    console.error(`demo: ${(error as Error).message}\n${USAGE}`);
    process.exit(1);
  }
})();
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

// The demo accounts npm start funds and accredits (its banner lists them): #0 governance, #4 clinic, #7 medical
// board, #9 insurer. Their keys are public: this only ever runs against a local chain.
const account = (index: number) => HDNodeWallet.fromPhrase(LOCAL_MNEMONIC, undefined, `m/44'/60'/0'/0/${index}`);
const provider = new JsonRpcProvider(values.rpc, undefined, { staticNetwork: true });

const bold = (text: string) => (process.stdout.isTTY ? `\x1b[1m${text}\x1b[0m` : text);
const dim = (text: string) => (process.stdout.isTTY ? `\x1b[2m${text}\x1b[0m` : text);
let stepNumber = 0;
function narrate(event: StoryEvent): void {
  if (event.kind === "step") {
    stepNumber++;
    console.log(`\n${bold(`${stepNumber}. ${event.title}`)}\n   ${event.text}`);
  } else if (event.kind === "command") {
    console.log(`   ${dim(`[${event.who}]`)} $ hygeia ${event.args.map(quote).join(" ")}`);
  } else {
    console.log(`   ${dim("→")} ${event.summary}`);
  }
}
function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`;
}

const workDir = await mkdtemp(join(tmpdir(), "hygeia-demo-"));
console.log(`Hygeia demo against the gateway at ${values.gateway} and the chain at ${values.rpc}`);
console.log(dim(`(each person's HYGEIA_HOME is a folder of ${workDir}; every command runs with --json)`));
try {
  const outcome = await runStory({
    gatewayUrl: values.gateway,
    rpcUrl: values.rpc,
    cast: {
      governance: account(0).privateKey,
      board: account(7).privateKey,
      insurer: account(9).privateKey,
      clinic: account(4).privateKey,
    },
    fundPatient: async (address) => {
      const funder = account(0).connect(provider);
      await (await funder.sendTransaction({ to: address, value: parseEther("0.05") })).wait();
    },
    workDir,
    narrate,
  });
  console.log(`\n${bold("Done.")}`);
  console.log(`   The clinic saw only ${JSON.stringify(outcome.checkIn.disclosed)} of the insurance card.`);
  console.log(
    `   It read ${outcome.fetchGranted.readable.length} record with consent, was refused ${outcome.fetchGranted.refused.length}, and after the revoke got ${outcome.fetchRevoked.error.code}.`,
  );
  console.log(
    `   The patient's audit log: ${outcome.audit.permits} permits and ${outcome.audit.denies} denies, ${outcome.audit.ok ? "every proof verified against the chain" : "NOT verified"}.`,
  );
  console.log(`   The laptop recovered ${outcome.recovered.records.length} records from the recovery phrase.`);
} catch (error) {
  if (error instanceof StoryStepError) console.error(`\ndemo: a step failed: ${error.message}`);
  else
    console.error(
      `\ndemo: ${(error as Error).message}\nIs the stack running? Start it in another terminal with: npm start`,
    );
  process.exitCode = 1;
} finally {
  provider.destroy();
  if (values.keep) console.log(dim(`kept: ${workDir}`));
  else await rm(workDir, { recursive: true, force: true });
}
