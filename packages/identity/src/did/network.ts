// The chain a did:ethr lives on: where its ERC-1056 registry is and how to reach it.
import { Interface, JsonRpcProvider, isError } from "ethers";
import { EthereumDIDRegistryAbi, type HygeiaDeployment } from "@hygeia/chain/browser";
import { InvalidIdentityInputError, RegistryNotFoundError, WrongChainError } from "../errors.ts";

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
  if (typeof network !== "object" || network === null)
    throw new InvalidIdentityInputError(
      "network",
      "missing: expected { chainId, rpcUrl, registry } (ethrNetworkFromDeployment(deployment, rpcUrl))",
    );
  if (!Number.isSafeInteger(network.chainId) || network.chainId <= 0)
    throw new InvalidIdentityInputError("network.chainId", "must be a positive integer");
  if (typeof network.rpcUrl !== "string" || !/^https?:\/\//.test(network.rpcUrl))
    throw new InvalidIdentityInputError("network.rpcUrl", "must be http(s)");
  if (typeof network.registry !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(network.registry))
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

const registryInterface = new Interface(EthereumDIDRegistryAbi);
/** An identity whose key nobody holds: ERC-1056 answers that it owns itself (no owner change can be signed). */
const PROBE_IDENTITY = "0x0000000000000000000000000000000000000001";

/**
 * Whether the node behind a provider is the network's: its chain id is `network.chainId` and the registry is an
 * ERC-1056 registry there (it has code, and a view call answers like one). The provider is static (it never asks the node its chain on its own), so without this an agent
 * pointed at the wrong chain would read another chain's registry and sign transactions the node refuses.
 *
 * Checked lazily, at the first call that needs the chain (IdentityAgent.create works offline: a wallet opens its
 * key store, signs and issues without a node). A successful check is kept; a failed one (wrong chain, no
 * registry, node unreachable) is made again by the next call, so fixing the node needs no new agent.
 */
export class ChainCheck {
  private readonly network: EthrNetwork;
  private readonly provider: JsonRpcProvider;
  private verified: Promise<void> | undefined;

  constructor(network: EthrNetwork, provider: JsonRpcProvider) {
    this.network = network;
    this.provider = provider;
  }

  /** Resolves once the node is known to be the network's; WrongChainError / RegistryNotFoundError otherwise. */
  ensure(): Promise<void> {
    this.verified ??= this.verify().catch((error: unknown) => {
      this.verified = undefined;
      throw error;
    });
    return this.verified;
  }

  private async verify(): Promise<void> {
    // Asked of the node itself: the static provider's getNetwork() answers from the settings.
    const chainId = Number(await this.provider.send("eth_chainId", []));
    if (chainId !== this.network.chainId) throw new WrongChainError(this.network.rpcUrl, chainId, this.network.chainId);
    if ((await this.provider.getCode(this.network.registry)) === "0x")
      throw new RegistryNotFoundError(this.network.registry, chainId);
    // Another contract (the ConsentRegistry, say) has code too: every resolve would then fail as "execution
    // reverted". One view call tells them apart; a network failure is thrown as it came.
    let owner: unknown;
    try {
      const data = registryInterface.encodeFunctionData("identityOwner", [PROBE_IDENTITY]);
      const answer = await this.provider.call({ to: this.network.registry, data });
      owner = registryInterface.decodeFunctionResult("identityOwner", answer)[0];
    } catch (error) {
      if (!isError(error, "CALL_EXCEPTION") && !isError(error, "BAD_DATA")) throw error;
    }
    if (typeof owner !== "string" || owner.toLowerCase() !== PROBE_IDENTITY)
      throw new RegistryNotFoundError(
        this.network.registry,
        chainId,
        "the contract there does not answer identityOwner(address) as an ERC-1056 registry does",
      );
  }
}
