// A verifier on the test chain's TrustRegistry with any CredentialVerifier option (the shared fixture's
// createVerifier passes only the status fetcher options), and a local HTTP server that records every request.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { TrustRegistryClient } from "@hygeia/chain";
import {
  CredentialVerifier,
  IssuerTrust,
  MemoryChallengeStore,
  ethrDidPrefix,
  type CredentialVerifierOptions,
  type IdentityAgent,
} from "../../src/index.ts";
import type { TestChain } from "./chain.ts";

export function verifierWith(
  testChain: TestChain,
  agent: IdentityAgent,
  options: Omit<CredentialVerifierOptions, "resolver" | "trust"> = {},
) {
  const challenges = new MemoryChallengeStore();
  const trust = new IssuerTrust({
    registry: new TrustRegistryClient(testChain.deployment.contracts.TrustRegistry, testChain.provider),
    didPrefix: ethrDidPrefix(testChain.network),
    cacheTtlMs: 0,
  });
  // The recording server is on 127.0.0.1 over plain http: opted in, as a local stack must be.
  const verifier = new CredentialVerifier({
    resolver: agent.resolver,
    trust,
    challenges,
    statusListHttpHosts: ["127.0.0.1"],
    ...options,
  });
  return { verifier, challenges };
}

/** Serves `served` (path -> body) on 127.0.0.1 and records every path asked for in `hits`. */
export interface RecordingServer {
  readonly base: string;
  readonly hits: string[];
  readonly served: Map<string, string>;
  close(): Promise<void>;
}

export async function recordingServer(): Promise<RecordingServer> {
  const hits: string[] = [];
  const served = new Map<string, string>();
  const server: Server = createServer((req, res) => {
    hits.push(req.url ?? "");
    const body = served.get(req.url ?? "");
    res.writeHead(body ? 200 : 404).end(body ?? "not found");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    served,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A fetcher over the network, as a service would write it. */
export const httpFetcher = async (url: string): Promise<string> => {
  const response = await fetch(url, { redirect: "error" });
  if (!response.ok) throw new Error(`HTTP ${response.status} from ${url}`);
  return response.text();
};
