// Wiring for the common case: a verifier that resolves DIDs through an agent and reads issuer trust from the
// deployment's TrustRegistry over the agent's own provider.
import { TrustRegistryClient } from "@hygeia/chain/browser";
import { isAddress, type ContractRunner } from "ethers";
import { InvalidIdentityInputError } from "../errors.ts";
import { objectArgument } from "../arguments.ts";
import { assertAgent } from "../did/internal.ts";
import type { IdentityAgent } from "../did/agent.ts";
import { ethrDidPrefix, validateEthrNetwork, type EthrNetwork } from "../did/network.ts";
import { MemoryChallengeStore } from "./challenges.ts";
import { CredentialVerifier, type CredentialVerifierOptions, type DidDocumentSource } from "./credential-verifier.ts";
import { wholeNumberOption } from "./options.ts";
import { IssuerTrust } from "./trust.ts";

export interface AgentVerifierOptions extends Omit<CredentialVerifierOptions, "resolver" | "trust"> {
  /** TrustRegistry address (deployment.contracts.TrustRegistry). */
  trustRegistry: string;
  /** Reuse of registry answers, ms (default 5 s). */
  trustCacheTtlMs?: number;
}

/**
 * A CredentialVerifier resolving DIDs through `agent` and reading issuer trust from the TrustRegistry at
 * `options.trustRegistry` over the agent's provider. Every option is validated here: InvalidIdentityInputError
 * naming the field for a missing agent, options or trustRegistry address, and for any option of the wrong type or
 * out of range (statusListOrigins not an array of origins or a function, a negative TTL, …).
 */
export function createAgentVerifier(agent: IdentityAgent, options: AgentVerifierOptions): CredentialVerifier {
  assertAgent(agent);
  objectArgument(options, "options", "{ trustRegistry: deployment.contracts.TrustRegistry, challenges?, … }");
  return createChainVerifier({
    ...options,
    resolver: agent.resolver,
    provider: agent.provider,
    network: agent.network,
  });
}

export interface ChainVerifierOptions extends AgentVerifierOptions {
  /** Resolves did:ethr documents (CachedDidResolver.create({ network, provider })). */
  resolver: DidDocumentSource;
  /** The chain the TrustRegistry is read on. */
  provider: ContractRunner;
  /** The did:ethr network: issuer DIDs on other networks are never trusted. */
  network: EthrNetwork;
}

/**
 * createAgentVerifier without an agent (a browser wallet has none): DIDs resolved through `options.resolver`,
 * issuer trust read from the TrustRegistry over `options.provider`. The same validation.
 */
export function createChainVerifier(options: ChainVerifierOptions): CredentialVerifier {
  objectArgument(options, "options", "{ trustRegistry, resolver, provider, network, challenges?, … }");
  if (typeof options.trustRegistry !== "string" || !isAddress(options.trustRegistry))
    throw new InvalidIdentityInputError(
      "trustRegistry",
      "must be the TrustRegistry address (deployment.contracts.TrustRegistry)",
    );
  const { trustRegistry, trustCacheTtlMs, provider, network, ...rest } = options;
  objectArgument(provider, "provider", "an ethers provider for the deployment's chain");
  validateEthrNetwork(network);
  // Every other option is checked by CredentialVerifier (and IssuerTrust) at construction, naming the field.
  wholeNumberOption(trustCacheTtlMs, "trustCacheTtlMs", 0, 60 * 60 * 1000, "milliseconds");
  return new CredentialVerifier({
    ...rest,
    // An explicit `challenges: undefined` means the default, not none (none would fail every presentation).
    challenges: rest.challenges ?? new MemoryChallengeStore(),
    trust: new IssuerTrust({
      registry: new TrustRegistryClient(trustRegistry, provider),
      didPrefix: ethrDidPrefix(network),
      ...(trustCacheTtlMs !== undefined ? { cacheTtlMs: trustCacheTtlMs } : {}),
    }),
  });
}
