/**
 * A throwaway local deployment in one call: anvil on a free port, a provider, Hygeia deployed by
 * account #0 of the public test mnemonic (governance), and the funded accounts. For examples,
 * tests and demos: it is what each of them otherwise wrote again (chain, provider, wallets, deploy).
 * The persistent local stack with demo accreditations is `npm start` (scripts/start.ts).
 */
import { HDNodeWallet, JsonRpcProvider } from "ethers";
import { deployHygeia, type HygeiaDeployment } from "./deploy.ts";
import { InvalidInputError } from "./errors.ts";
import {
  LOCAL_MNEMONIC,
  checkLocalChainOptions,
  startLocalChain,
  type LocalChain,
  type LocalChainOptions,
} from "./local-chain.ts";

export interface LocalDeploymentOptions extends LocalChainOptions {
  /** Accounts authorized on AuditAnchor to anchor audit roots (indexes into the test mnemonic). Default none. */
  gatewayAccounts?: readonly number[];
}

export interface LocalDeployment {
  readonly chain: LocalChain;
  readonly rpcUrl: string;
  /** One provider (ethers caching off, network fixed): share it, nonces are tracked per provider. */
  readonly provider: JsonRpcProvider;
  readonly deployment: HygeiaDeployment;
  /** Account `index` of the public test mnemonic, connected to the provider; #0 deployed and governs. */
  account(index: number): HDNodeWallet;
  /** Destroys the provider and stops anvil. Idempotent. */
  stop(): Promise<void>;
}

/** Starts anvil and deploys Hygeia on it; stops anvil again if the deployment fails. */
export async function startLocalDeployment(options: LocalDeploymentOptions = {}): Promise<LocalDeployment> {
  const { gatewayAccounts = [], ...chainOptions } = options;
  const accountCount = checkLocalChainOptions(chainOptions).accounts;
  const checkIndex = (index: number, field: string) => {
    if (!Number.isSafeInteger(index) || index < 0 || index >= accountCount)
      throw new InvalidInputError(field, `expected an account index from 0 to ${accountCount - 1}, got ${index}`);
    return index;
  };
  gatewayAccounts.forEach((index, i) => checkIndex(index, `gatewayAccounts[${i}]`));

  const chain = await startLocalChain(chainOptions);
  const provider = new JsonRpcProvider(chain.rpcUrl, undefined, { cacheTimeout: -1, staticNetwork: true });
  const wallets = new Map<number, HDNodeWallet>();
  const account = (index: number): HDNodeWallet => {
    checkIndex(index, "index");
    let wallet = wallets.get(index);
    if (!wallet) {
      wallet = HDNodeWallet.fromPhrase(LOCAL_MNEMONIC, undefined, `m/44'/60'/0'/0/${index}`).connect(provider);
      wallets.set(index, wallet);
    }
    return wallet;
  };
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      provider.destroy();
      await chain.stop();
    })();
    return stopping;
  };
  try {
    const deployment = await deployHygeia(account(0), {
      gateways: gatewayAccounts.map((index) => account(index).address),
    });
    return { chain, rpcUrl: chain.rpcUrl, provider, deployment, account, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
