// `npm run fund`: test ETH for a new wallet on the local stack, against a real anvil; refused on any other chain.
import { expect } from "chai";
import { JsonRpcProvider, Wallet, parseEther } from "ethers";
import { startLocalChain, type LocalChain } from "@hygeia/chain";
import { runScript, type ScriptRun } from "./support/run-script.ts";

function runFund(args: string[]): Promise<ScriptRun> {
  return runScript("scripts/fund.ts", args);
}

describe("scripts/fund.ts", function () {
  this.timeout(60_000);
  let local: LocalChain;
  let other: LocalChain;

  before(async function () {
    [local, other] = await Promise.all([startLocalChain(), startLocalChain({ chainId: 8453 })]);
  });
  after(async function () {
    await Promise.all([local?.stop(), other?.stop()]);
  });

  it("sends the amount asked for to a new wallet on the local chain", async function () {
    const fresh = Wallet.createRandom().address;
    const run = await runFund([fresh, "--eth", "0.5", "--rpc", local.rpcUrl]);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.include(`sent 0.5 ETH to ${fresh}`);
    const provider = new JsonRpcProvider(local.rpcUrl);
    try {
      expect(await provider.getBalance(fresh)).to.equal(parseEther("0.5"));
    } finally {
      provider.destroy();
    }
  });

  it("refuses another chain, a bad address or amount (exit 1) and names an unreachable chain (exit 3)", async function () {
    const fresh = Wallet.createRandom().address;
    const elsewhere = await runFund([fresh, "--rpc", other.rpcUrl]);
    expect(elsewhere.code).to.equal(1);
    expect(elsewhere.stderr).to.match(/is chain 8453, not the local stack's 31337: refused/);
    expect((await runFund(["0x1234", "--rpc", local.rpcUrl])).code).to.equal(1);
    expect((await runFund([fresh, "--eth", "lots", "--rpc", local.rpcUrl])).code).to.equal(1);
    expect((await runFund([fresh, "--eth", "1000", "--rpc", local.rpcUrl])).code).to.equal(1);
    const down = await runFund([fresh, "--rpc", "http://127.0.0.1:1"]);
    expect(down.code).to.equal(3);
    expect(down.stderr).to.match(/the chain at http:\/\/127\.0\.0\.1:1 cannot be reached/);
  });
});
