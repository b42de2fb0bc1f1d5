// The chain a did:ethr lives on: where its ERC-1056 registry is and how to reach it.
import { JsonRpcProvider } from "ethers";
import type { HygeiaDeployment } from "@hygeia/chain";
import { InvalidIdentityInputError } from "../errors.ts";

export interface EthrNetwork {
  readonly chainId: number;
  readonly rpcUrl: string;
  /** Address of the ERC-1056 EthereumDIDRegistry. */
  readonly registry: string;
}

/** Network settings from a Hygeia deployment (chain id and registry) plus the RPC URL to reach it. */
export function ethrNetworkFromDeployment(deployment: HygeiaDeployment, rpcUrl: string): EthrNetwork {
  return { chainId: deployment.chainId, rpcUrl, registry: deployment.contracts.EthereumDIDRegistry };
}

/** The did:ethr network segment Veramo and ethr-did-resolver use for a chain without a registered name. */
export function ethrDidPrefix(network: EthrNetwork): string {
  return `did:ethr:0x${network.chainId.toString(16)}`;
}

export function validateEthrNetwork(network: EthrNetwork): EthrNetwork {
  if (!Number.isSafeInteger(network.chainId) || network.chainId <= 0)
    throw new InvalidIdentityInputError("network.chainId", "must be a positive integer");
  if (!/^https?:\/\//.test(network.rpcUrl)) throw new InvalidIdentityInputError("network.rpcUrl", "must be http(s)");
  if (!/^0x[0-9a-fA-F]{40}$/.test(network.registry))
    throw new InvalidIdentityInputError("network.registry", "must be an address");
  return network;
}

/** A provider that never serves cached block numbers (a local chain mines on demand) and fails fast. */
export function networkProvider(network: EthrNetwork): JsonRpcProvider {
  return new JsonRpcProvider(network.rpcUrl, network.chainId, {
    cacheTimeout: -1,
    staticNetwork: true,
    pollingInterval: 250,
  });
}
