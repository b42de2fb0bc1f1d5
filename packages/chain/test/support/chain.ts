/** Test helpers: an anvil chain with the Hygeia contracts deployed, funded wallets, time control. */
import { HDNodeWallet, JsonRpcProvider, NonceManager } from "ethers";
import {
  LOCAL_MNEMONIC,
  deployHygeia,
  startLocalChain,
  type HygeiaDeployment,
  type LocalChain,
} from "../../src/index.ts";

export const walletAt = (index: number): HDNodeWallet =>
  HDNodeWallet.fromPhrase(LOCAL_MNEMONIC, undefined, `m/44'/60'/0'/0/${index}`);

export function connectProvider(rpcUrl: string): JsonRpcProvider {
  return new JsonRpcProvider(rpcUrl, undefined, { cacheTimeout: -1, staticNetwork: true });
}

export interface TestChain {
  readonly chain: LocalChain;
  readonly provider: JsonRpcProvider;
  readonly deployment: HygeiaDeployment;
  /** Account `index` of the local mnemonic, connected to the provider. */
  signer(index: number): HDNodeWallet;
  stop(): Promise<void>;
}

/** Account 0 deploys and governs; account 1 is an authorized audit gateway. */
export async function startTestChain(options: { accounts?: number } = {}): Promise<TestChain> {
  const chain = await startLocalChain({ accounts: options.accounts ?? 10 });
  const provider = connectProvider(chain.rpcUrl);
  try {
    const deployment = await deployHygeia(new NonceManager(walletAt(0).connect(provider)), {
      gateways: [walletAt(1).address],
    });
    return {
      chain,
      provider,
      deployment,
      signer: (index) => walletAt(index).connect(provider),
      async stop() {
        provider.destroy();
        await chain.stop();
      },
    };
  } catch (error) {
    provider.destroy();
    await chain.stop();
    throw error;
  }
}

export async function latestTimestamp(provider: JsonRpcProvider): Promise<number> {
  const block = await provider.getBlock("latest");
  if (!block) throw new Error("no latest block");
  return block.timestamp;
}

export async function mine(provider: JsonRpcProvider, blocks = 1): Promise<void> {
  for (let i = 0; i < blocks; i++) await provider.send("evm_mine", []);
}

/** Moves chain time forward and mines a block carrying the new time. */
export async function advanceTime(provider: JsonRpcProvider, seconds: number): Promise<void> {
  await provider.send("evm_increaseTime", [seconds]);
  await provider.send("evm_mine", []);
}
