// One real anvil chain with Hygeia deployed, shared by a test file.
import { HDNodeWallet, JsonRpcProvider, NonceManager, type Signer } from "ethers";
import {
  LOCAL_MNEMONIC,
  TrustRegistryClient,
  deployHygeia,
  startLocalChain,
  type HygeiaDeployment,
  type LocalChain,
} from "@hygeia/chain";
import { ethrNetworkFromDeployment, type EthrNetwork } from "../../src/index.ts";

export interface TestChain {
  chain: LocalChain;
  provider: JsonRpcProvider;
  deployment: HygeiaDeployment;
  network: EthrNetwork;
  governance: Signer;
  trust: TrustRegistryClient;
  wallet(index: number): HDNodeWallet;
  stop(): Promise<void>;
}

export function localWallet(index: number): HDNodeWallet {
  return HDNodeWallet.fromPhrase(LOCAL_MNEMONIC, undefined, `m/44'/60'/0'/0/${index}`);
}

export async function startTestChain(): Promise<TestChain> {
  const chain = await startLocalChain();
  const provider = new JsonRpcProvider(chain.rpcUrl, undefined, { cacheTimeout: -1, staticNetwork: true });
  const governance = new NonceManager(localWallet(0).connect(provider));
  const deployment = await deployHygeia(governance);
  const trust = new TrustRegistryClient(deployment.contracts.TrustRegistry, governance);
  return {
    chain,
    provider,
    deployment,
    network: ethrNetworkFromDeployment(deployment, chain.rpcUrl),
    governance,
    trust,
    wallet: (index) => localWallet(index).connect(provider),
    async stop() {
      provider.destroy();
      await chain.stop();
    },
  };
}

/** Sends ETH for gas to a DID owner created by an agent (fresh keys start empty). */
export async function fund(testChain: TestChain, address: string, eth = 1n): Promise<void> {
  const tx = await testChain.governance.sendTransaction({ to: address, value: eth * 10n ** 18n });
  await tx.wait();
}
