// Package-internal access to an agent's Veramo instance and lifetime. Not exported from index.ts: other Hygeia
// packages use the IdentityAgent facade and never see Veramo types.
import type { ICredentialPlugin, IDIDManager, IKeyManager, IResolver, TAgent } from "@veramo/core";
import type { IdentityAgent } from "./agent.ts";
import type { Lifetime } from "./lifetime.ts";
import { InvalidIdentityInputError } from "../errors.ts";

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
  assertAgent(agent);
  return agents.get(agent)!;
}

/** The `agent` argument of the package's functions: an agent from IdentityAgent.create. */
export function assertAgent(agent: unknown): asserts agent is IdentityAgent {
  if (typeof agent !== "object" || agent === null || !agents.has(agent as IdentityAgent))
    throw new InvalidIdentityInputError(
      "agent",
      `${agent === undefined ? "missing" : "not an IdentityAgent"}: expected an agent from IdentityAgent.create`,
    );
}

export function veramoOf(agent: IdentityAgent): VeramoAgent {
  return internalsOf(agent).veramo;
}

/** Runs work that uses the agent within its lifetime: it fails with AgentClosedError once the agent closes. */
export function runInAgent<T>(agent: IdentityAgent, operation: string, work: () => Promise<T>): Promise<T> {
  return internalsOf(agent).lifetime.run(operation, work);
}
