// Package-internal access to an agent's Veramo instance and lifetime. Not exported from index.ts: other Hygeia
// packages use the IdentityAgent facade and never see Veramo types.
import type { ICredentialPlugin, IDIDManager, IKeyManager, IResolver, TAgent } from "@veramo/core";
import type { IdentityAgent } from "./agent.ts";
import type { Lifetime } from "./lifetime.ts";

export type VeramoAgent = TAgent<IKeyManager & IDIDManager & IResolver & ICredentialPlugin>;

interface AgentInternals {
  readonly veramo: VeramoAgent;
  readonly lifetime: Lifetime;
}

const agents = new WeakMap<IdentityAgent, AgentInternals>();

export function registerVeramo(agent: IdentityAgent, veramo: VeramoAgent, lifetime: Lifetime): void {
  agents.set(agent, { veramo, lifetime });
}

function internalsOf(agent: IdentityAgent): AgentInternals {
  const internals = agents.get(agent);
  if (!internals) throw new TypeError("not an IdentityAgent created by IdentityAgent.create");
  return internals;
}

export function veramoOf(agent: IdentityAgent): VeramoAgent {
  return internalsOf(agent).veramo;
}

/** Runs work that uses the agent within its lifetime: it fails with AgentClosedError once the agent closes. */
export function runInAgent<T>(agent: IdentityAgent, operation: string, work: () => Promise<T>): Promise<T> {
  return internalsOf(agent).lifetime.run(operation, work);
}
