import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { JsonRpcProvider } from "ethers";
import { LocalChainError, startLocalChain } from "../src/index.ts";

describe("local chain (anvil)", function () {
  this.timeout(60_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "hygeia-anvil-"));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it("listens on loopback, keeps state in its file across a stop/start, and stop is idempotent", async () => {
    const stateFile = join(dir, "state.json");
    const first = await startLocalChain({ stateFile });
    expect(first.rpcUrl).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    const provider = new JsonRpcProvider(first.rpcUrl, undefined, { cacheTimeout: -1, staticNetwork: true });
    await provider.send("evm_mine", []);
    await provider.send("evm_mine", []);
    expect(await provider.getBlockNumber()).to.equal(2);
    provider.destroy();
    await Promise.all([first.stop(), first.stop()]);
    expect(existsSync(stateFile)).to.equal(true);

    const second = await startLocalChain({ stateFile });
    const provider2 = new JsonRpcProvider(second.rpcUrl, undefined, { cacheTimeout: -1, staticNetwork: true });
    expect(await provider2.getBlockNumber()).to.equal(2);
    provider2.destroy();
    await second.stop();
  });

  it("fails with a typed error naming the cause when the port is taken", async () => {
    const first = await startLocalChain();
    const port = Number(new URL(first.rpcUrl).port);
    try {
      await startLocalChain({ port });
      expect.fail("a second node on the same port must not start");
    } catch (error) {
      expect(error).to.be.instanceOf(LocalChainError);
      expect((error as Error).message).to.match(/exited|in use/i);
    } finally {
      await first.stop();
    }
  });
});
