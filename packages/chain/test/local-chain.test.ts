import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { JsonRpcProvider } from "ethers";
import {
  AuditAnchorClient,
  InvalidInputError,
  LocalChainError,
  isDeployed,
  startLocalChain,
  startLocalDeployment,
} from "../src/index.ts";
import { dropExtraGenesisBlocks } from "../src/anvil-state.ts";

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

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

  it("serves the same genesis, the one block 1 links to, after every restart from its state file", async () => {
    // anvil adds a fresh genesis to its dump at each start; unrepaired, a later restart can serve one block 1
    // does not link to (a consent indexer anchored there then saw the chain reorganize without end).
    const stateFile = join(dir, "genesis-state.json");
    let genesis: string | undefined;
    for (let start = 0; start < 5; start++) {
      // A genesis is stamped in whole seconds: start in a new second, so each start's own genesis differs.
      await new Promise((resolve) => setTimeout(resolve, 1_050 - (Date.now() % 1_000)));
      const chain = await startLocalChain({ stateFile });
      const provider = new JsonRpcProvider(chain.rpcUrl, undefined, { cacheTimeout: -1, staticNetwork: true });
      try {
        await provider.send("evm_mine", []);
        const [zero, one] = await Promise.all([provider.getBlock(0), provider.getBlock(1)]);
        expect(one!.parentHash, `restart ${start}`).to.equal(zero!.hash);
        genesis ??= zero!.hash!;
        expect(zero!.hash, `restart ${start}`).to.equal(genesis);
      } finally {
        provider.destroy();
        await chain.stop();
      }
    }
    const dumped = JSON.parse(await readFile(stateFile, "utf8")) as { blocks: { header: { number: string } }[] };
    expect(dumped.blocks.filter((block) => BigInt(block.header.number) === 0n)).to.have.length.at.most(2);
  });

  it("dropExtraGenesisBlocks keeps the oldest genesis and leaves files it cannot read exactly alone", async () => {
    const block = (number: string, timestamp: string) => ({ header: { number, timestamp } });
    const path = join(dir, "crafted-state.json");
    const blocks = [block("0x0", "0x30"), block("0x1", "0x11"), block("0x0", "0x10"), block("0x0", "0x20")];
    await writeFile(path, JSON.stringify({ best_block_number: 1, blocks }));
    expect(await dropExtraGenesisBlocks(path)).to.equal(2);
    const repaired = JSON.parse(await readFile(path, "utf8")) as { best_block_number: number; blocks: unknown[] };
    expect(repaired).to.deep.equal({ best_block_number: 1, blocks: [block("0x1", "0x11"), block("0x0", "0x10")] });
    expect(await dropExtraGenesisBlocks(path)).to.equal(0);

    const unsafe = `{"big":123456789012345678901,"blocks":${JSON.stringify(blocks)}}`;
    for (const text of [unsafe, "{not json", JSON.stringify({ blocks: "none" })]) {
      await writeFile(path, text);
      expect(await dropExtraGenesisBlocks(path)).to.equal(0);
      expect(await readFile(path, "utf8")).to.equal(text);
    }
    expect(await dropExtraGenesisBlocks(join(dir, "missing.json"))).to.equal(0);
  });

  it("fails with a typed error naming the cause when the port is taken", async () => {
    const first = await startLocalChain();
    const port = Number(new URL(first.rpcUrl).port);
    try {
      await startLocalChain({ port });
      expect.fail("a second node on the same port must not start");
    } catch (error) {
      expect(error).to.be.instanceOf(LocalChainError);
      expect((error as LocalChainError).code).to.equal("LOCAL_CHAIN_FAILED");
      expect((error as Error).message).to.match(/exited|in use/i);
    } finally {
      await first.stop();
    }
  });

  it("stops anvil again when onSpawn throws (the caller could not record it)", async () => {
    let spawned = 0;
    const failure = new Error("could not write the lock");
    await startLocalChain({
      onSpawn: (pid) => {
        spawned = pid;
        throw failure;
      },
    }).then(
      () => expect.fail("must reject"),
      (error: unknown) => expect(error).to.equal(failure),
    );
    expect(spawned).to.be.greaterThan(0);
    expect(isRunning(spawned), `anvil ${spawned} still running`).to.equal(false);
  });

  it("does not outlive the process that started it, even when that process forgets to stop it", async () => {
    // A program that starts a chain and then dies of an uncaught error, as an example with a failed assertion does.
    const script = [
      'import { startLocalChain } from "@hygeia/chain";',
      "const chain = await startLocalChain();",
      "console.log(chain.pid);",
      'throw new Error("an assertion failed");',
    ].join("\n");
    const output = await new Promise<string>((resolve) => {
      execFile(process.execPath, ["--input-type=module", "-e", script], { cwd: process.cwd() }, (_error, stdout) =>
        resolve(stdout),
      );
    });
    const pid = Number(output.trim());
    expect(pid).to.be.greaterThan(0);
    for (let i = 0; i < 50 && isRunning(pid); i++) await new Promise((r) => setTimeout(r, 100));
    expect(isRunning(pid), `anvil ${pid} still running after its parent exited`).to.equal(false);
  });
});

describe("local chain options", function () {
  this.timeout(60_000);

  /** The InvalidInputError startLocalChain rejects with, after checking that anvil was never spawned. */
  async function refusal(options: Parameters<typeof startLocalChain>[0]): Promise<InvalidInputError> {
    let spawned = false;
    const error = await startLocalChain({ ...options, onSpawn: () => (spawned = true) }).then(
      async (chain) => {
        await chain.stop();
        return expect.fail(`expected ${JSON.stringify(options)} to be refused`);
      },
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(InvalidInputError);
    expect(spawned, "anvil must not be started").to.equal(false);
    return error as InvalidInputError;
  }

  it("refuses a blockTime of 1000 as milliseconds: blockTime is whole seconds", async () => {
    const error = await refusal({ blockTime: 1000 });
    expect(error.field).to.equal("blockTime");
    expect(error.code).to.equal("INVALID_INPUT");
    expect(error.message).to.match(/1000 looks like milliseconds: divide by 1000 \(1 s\)/);
  });

  it("refuses a fractional, negative or over-an-hour blockTime, naming the range", async () => {
    expect((await refusal({ blockTime: 0.5 })).message).to.match(
      /blockTime: expected a whole number \(seconds\) from 0 to 3600, got 0\.5/,
    );
    expect((await refusal({ blockTime: -1 })).field).to.equal("blockTime");
    const hour = await refusal({ blockTime: 3601 });
    expect(hour.message).to.match(/expected seconds from 0 to 3600, got 3601$/);
  });

  it("refuses a port, accounts count, chain id, state interval or host out of range", async () => {
    expect((await refusal({ port: 70_000 })).field).to.equal("port");
    expect((await refusal({ port: -1 })).field).to.equal("port");
    expect((await refusal({ accounts: 0 })).field).to.equal("accounts");
    expect((await refusal({ accounts: 1001 })).field).to.equal("accounts");
    expect((await refusal({ chainId: 0 })).field).to.equal("chainId");
    expect((await refusal({ stateFile: join(tmpdir(), "never.json"), stateIntervalSeconds: 0 })).field).to.equal(
      "stateIntervalSeconds",
    );
    expect((await refusal({ stateIntervalSeconds: 10 })).message).to.match(/stateIntervalSeconds: needs stateFile/);
    expect((await refusal({ host: "" })).field).to.equal("host");
    expect((await refusal({ startTimeoutMs: 0 })).field).to.equal("startTimeoutMs");
  });

  it("startLocalDeployment checks the chain options before starting anything", async () => {
    const error = await startLocalDeployment({ accounts: 0, gatewayAccounts: [1] }).then(
      () => expect.fail("must refuse"),
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(InvalidInputError).with.property("field", "accounts");
  });

  it("blockTime: 1 mines a block every second without transactions", async () => {
    const chain = await startLocalChain({ blockTime: 1 });
    const provider = new JsonRpcProvider(chain.rpcUrl, undefined, { cacheTimeout: -1, staticNetwork: true });
    try {
      const first = await provider.getBlockNumber();
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      expect(await provider.getBlockNumber()).to.be.at.least(first + 2);
    } finally {
      provider.destroy();
      await chain.stop();
    }
  });
});

describe("local deployment (startLocalDeployment)", function () {
  this.timeout(60_000);

  it("starts anvil, deploys every contract, hands out the funded accounts, and stops idempotently", async () => {
    const local = await startLocalDeployment({ gatewayAccounts: [1] });
    try {
      expect(await isDeployed(local.provider, local.deployment)).to.equal(true);
      expect(local.deployment.governance).to.equal(local.account(0).address);
      expect(local.account(2)).to.equal(local.account(2)); // one wallet object per account
      expect(await local.provider.getBalance(local.account(9).address)).to.be.greaterThan(0n);
      const anchors = new AuditAnchorClient(local.deployment.contracts.AuditAnchor, local.provider);
      expect((await anchors.gatewayOf(local.account(1).address)).authorized).to.equal(true);
      expect((await anchors.gatewayOf(local.account(2).address)).authorized).to.equal(false);
      expect(() => local.account(10)).to.throw(InvalidInputError, /0 to 9/);
    } finally {
      await Promise.all([local.stop(), local.stop()]);
    }
    expect(isRunning(local.chain.pid)).to.equal(false);
  });

  it("refuses a gateway account outside the mnemonic's funded accounts before starting anything", async () => {
    await startLocalDeployment({ gatewayAccounts: [12] }).then(
      () => expect.fail("must refuse"),
      (error: unknown) =>
        expect(error).to.be.instanceOf(InvalidInputError).with.property("field", "gatewayAccounts[0]"),
    );
  });
});
