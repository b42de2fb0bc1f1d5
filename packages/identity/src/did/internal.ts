// Package-internal access to an agent's Veramo instance. Not exported from index.ts: other Hygeia packages
// use the IdentityAgent facade and never see Veramo types.
import type { ICredentialPlugin, IDIDManager, IKeyManager, IResolver, TAgent } from "@veramo/core";
import type { IdentityAgent } from "./agent.ts";

export type VeramoAgent = TAgent<IKeyManager & IDIDManager & IResolver & ICredentialPlugin>;

const agents = new WeakMap<IdentityAgent, VeramoAgent>();

export function registerVeramo(agent: IdentityAgent, veramo: VeramoAgent): void {
  agents.set(agent, veramo);
}

export function veramoOf(agent: IdentityAgent): VeramoAgent {
  const veramo = agents.get(agent);
  if (!veramo) throw new Error("not an IdentityAgent created by IdentityAgent.create");
  return veramo;
}
