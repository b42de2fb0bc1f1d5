// Helpers of the audit tests: what a patient's verifier fetches (over HTTP from the gateway, anchors from the
// chain), and emitting events the way route handlers do.
import { expect } from "chai";
import { Interface, zeroPadValue, type Provider } from "ethers";
import { AuditAnchorAbi } from "@hygeia/chain";
import type { AnchorInput, VerifyAuditLogInput } from "@hygeia/audit";
import type { AuditEventInput } from "../../src/audit/types.ts";
import { request, type HasUrl } from "../support/http.ts";

const anchorInterface = new Interface(AuditAnchorAbi);

/** AuditRootAnchored events of `gateway`, oldest first, read from the chain (not from the gateway). */
export async function anchorsOnChain(
  provider: Provider,
  auditAnchor: string,
  gateway: string,
): Promise<(AnchorInput & { root: string; firstIndex: number })[]> {
  const logs = await provider.getLogs({
    address: auditAnchor,
    topics: [anchorInterface.getEvent("AuditRootAnchored")!.topicHash, null, zeroPadValue(gateway, 32)],
    fromBlock: 0,
    toBlock: "latest",
  });
  return logs.map((log) => {
    const parsed = anchorInterface.parseLog({ topics: [...log.topics], data: log.data })!;
    const [root, , firstIndex, count] = parsed.args as unknown as [string, string, bigint, bigint];
    return { root: root.toLowerCase(), firstIndex: Number(firstIndex), count: Number(count) };
  });
}

export interface EventsPageJson {
  patient: string;
  events: {
    index: number;
    seq: number | null;
    event: string;
    inclusion: { size: number; proof: string[] } | null;
    latest: { size: number; proof: string[] } | null;
  }[];
  anchoredHead: { size: number; rootHash: string; note: string } | null;
  latestHead: { size: number; rootHash: string; note: string } | null;
  next: string | null;
}

export interface CheckpointsPageJson {
  origin: string;
  verifierKey: string;
  checkpoints: {
    size: number;
    rootHash: string;
    note: string;
    createdAt: number;
    anchor: { txHash: string; blockNumber: number; firstIndex: number; count: number } | null;
    consistency: { from: number; to: number; proof: string[] };
  }[];
  next: string | null;
}

/** Everything a patient fetches to verify their log: all their events (every page), all checkpoints, the anchors on chain. */
export async function patientView(
  stack: HasUrl & { provider: Provider; deployment: { contracts: { AuditAnchor: string } } },
  token: string,
  gateway: string,
): Promise<VerifyAuditLogInput & { pages: EventsPageJson[] }> {
  const pages: EventsPageJson[] = [];
  let after: string | null = null;
  do {
    const res = await request(stack, "GET", `/v1/audit/events?limit=50${after === null ? "" : `&after=${after}`}`, {
      token,
    });
    expect(res.status, res.text).to.equal(200);
    const page = res.json as EventsPageJson;
    pages.push(page);
    after = page.next;
  } while (after !== null);
  const checkpoints: CheckpointsPageJson["checkpoints"] = [];
  let origin = "";
  let verifierKey = "";
  let cursor: string | null = null;
  do {
    const res = await request(
      stack,
      "GET",
      `/v1/audit/checkpoints?limit=500${cursor === null ? "" : `&after=${cursor}`}`,
    );
    expect(res.status, res.text).to.equal(200);
    const page = res.json as CheckpointsPageJson;
    checkpoints.push(...page.checkpoints);
    origin = page.origin;
    verifierKey = page.verifierKey;
    cursor = page.next;
  } while (cursor !== null);
  const anchored = checkpoints.filter((c) => c.anchor !== null);
  const events = pages.flatMap((page) => page.events);
  return {
    pages,
    patient: pages[0]!.patient,
    verifierKey,
    origin,
    events: events
      .filter((e) => e.inclusion !== null)
      .map((e) => ({ index: e.index, event: e.event, inclusion: e.inclusion! })),
    // The anchored heads (the ones a patient relies on), linked each to the previous anchored one.
    checkpoints: anchored.map((c) => ({ note: c.note, size: c.size, rootHash: c.rootHash })),
    consistency: await linkHeads(
      stack,
      anchored.map((c) => c.size),
    ),
    anchors: await anchorsOnChain(stack.provider, stack.deployment.contracts.AuditAnchor, gateway),
  };
}

/** Consistency proofs between consecutive sizes, from the gateway's proof route. */
export async function linkHeads(stack: HasUrl, sizes: number[]): Promise<VerifyAuditLogInput["consistency"]> {
  const out: { from: number; to: number; proof: string[] }[] = [];
  for (let i = 1; i < sizes.length; i++) {
    const res = await request(stack, "GET", `/v1/audit/proofs/consistency?from=${sizes[i - 1]}&to=${sizes[i]}`);
    expect(res.status, res.text).to.equal(200);
    const body = res.json as { from: number; to: number; proof: string[] };
    out.push({ from: body.from, to: body.to, proof: body.proof });
  }
  return out;
}

let counter = 0;

/** An event as a key-release handler would log it. */
export function releaseEvent(patient: string, actor: string, decision: "permit" | "deny" = "permit"): AuditEventInput {
  counter += 1;
  return {
    type: decision === "permit" ? "key_release" : "access_denied",
    decision,
    actor: actor.toLowerCase(),
    patient: patient.toLowerCase(),
    reason: decision === "permit" ? "CONSENT_GRANTED" : "NO_CONSENT",
    request: `audit-test-${counter}`,
    purpose: 1,
  };
}

/** Polls until `check` holds (or fails after `ms`). */
export async function eventually(check: () => Promise<boolean>, ms = 60_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
