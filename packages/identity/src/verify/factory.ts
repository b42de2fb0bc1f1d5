// Wiring for the common case: a verifier that resolves DIDs through an agent and reads issuer trust from the
// deployment's TrustRegistry over the agent's own provider.
import { TrustRegistryClient } from "@hygeia/chain";
import type { IdentityAgent } from "../did/agent.ts";
import { ethrDidPrefix } from "../did/network.ts";
import { MemoryChallengeStore } from "./challenges.ts";
import { CredentialVerifier, type CredentialVerifierOptions } from "./credential-verifier.ts";
import { IssuerTrust } from "./trust.ts";

export interface AgentVerifierOptions extends Omit<CredentialVerifierOptions, "resolver" | "trust"> {
  /** TrustRegistry address (deployment.contracts.TrustRegistry). */
  trustRegistry: string;
  /** Reuse of registry answers, ms (default 5 s). */
  trustCacheTtlMs?: number;
}

export function createAgentVerifier(agent: IdentityAgent, options: AgentVerifierOptions): CredentialVerifier {
  const { trustRegistry, trustCacheTtlMs, ...rest } = options;
  return new CredentialVerifier({
    challenges: new MemoryChallengeStore(),
    ...rest,
    resolver: agent.resolver,
    trust: new IssuerTrust({
      registry: new TrustRegistryClient(trustRegistry, agent.provider),
      didPrefix: ethrDidPrefix(agent.network),
      ...(trustCacheTtlMs !== undefined ? { cacheTtlMs: trustCacheTtlMs } : {}),
    }),
  });
}
