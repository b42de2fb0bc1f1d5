// A verifier on the test chain's TrustRegistry that may fetch status lists from the local recording server, and
// that server: a local HTTP server that records every request.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  Bitstring,
  issueStatusListCredential,
  type CredentialVerifierOptions,
  type IdentityAgent,
} from "../../src/index.ts";
import type { TestChain } from "./chain.ts";
import { createVerifier } from "./fixtures.ts";

/** createVerifier with the recording server's 127.0.0.1 opted in over plain http, as a local stack must be. */
export function verifierWith(
  testChain: TestChain,
  agent: IdentityAgent,
  options: Omit<CredentialVerifierOptions, "resolver" | "trust"> = {},
) {
  return createVerifier(testChain, agent, { statusListHttpHosts: ["127.0.0.1"], ...options });
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

/** Serves `list` as `issuer`'s revocation list at `path` of `server`, signed in `agent`; returns its URL. */
export async function publishList(
  server: RecordingServer,
  agent: IdentityAgent,
  issuer: string,
  path: string,
  list = new Bitstring(),
  validForSeconds?: number,
): Promise<string> {
  const url = `${server.base}${path}`;
  server.served.set(
    path,
    await issueStatusListCredential(agent, {
      issuer,
      url,
      purpose: "revocation",
      list,
      ...(validForSeconds ? { validForSeconds } : {}),
    }),
  );
  return url;
}

/** A fetcher over the network, as a service would write it. */
export const httpFetcher = async (url: string): Promise<string> => {
  const response = await fetch(url, { redirect: "error" });
  if (!response.ok) throw new Error(`HTTP ${response.status} from ${url}`);
  return response.text();
};
