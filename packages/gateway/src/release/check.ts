// The consent question asked of the chain, at this moment: the indexer (default) or the contract (`strict`).
//
// Safety rules:
// - Fail closed: an index that cannot vouch for its state (IndexerStaleError) or a chain node that cannot answer
//   is never read as "no consent" silently, nor as "consent": the caller gets a typed unavailability, writes a
//   deny event with that reason, and answers 503 naming the part.
// - strict mode reads the ConsentRegistry directly, never the indexer, under the indexer's rules (strictAccess):
//   a scope id allows only if its slot (consentOf, Emergency windows too) allows at the confirmed block
//   (head - confirmations: a grant counts once confirmed) AND at the latest block (a mined revoke or shortening
//   bites at once), with `expiry > now` where now = max(wall clock, latest head timestamp). Never the contract's
//   isAllowed at latest alone: it compares with that block's time (stale on a chain that mines only on demand)
//   and counts a grant with no block on top.
import {
  ChainRequestError,
  ChainUnavailableError,
  HygeiaChainError,
  IndexerStaleError,
  askNode,
  checkRecordQuery,
  networkFailureReason,
  recordAccessFrom,
  type ConsentSlot,
  type Purpose,
  type RecordAccess,
  type RecordAccessQuery,
} from "@hygeia/chain";
import { DependencyUnavailableError } from "../errors.ts";
import type { ChainServices } from "../context.ts";

/** How strict mode reads the chain: the indexer's confirmation depth and the gateway's clock (unix ms). */
export interface StrictRules {
  confirmations: number;
  now: () => number;
}

/** The head block's number and timestamp (unix seconds), asked of the node itself (no ethers cache), bounded. */
async function latestHead(chain: ChainServices): Promise<{ number: number; timestamp: number }> {
  const operation = "strict consent check: latest block";
  const block = await askNode(
    chain.provider.send("eth_getBlockByNumber", ["latest", false]) as Promise<unknown>,
    chain.registry.readTimeoutMs,
    operation,
  ).catch((error: unknown) => {
    if (error instanceof HygeiaChainError) throw error;
    const reason = networkFailureReason(error);
    throw reason
      ? new ChainUnavailableError(`${operation}: the chain node is unavailable (${reason})`, { cause: error })
      : new ChainRequestError(operation, "node error", error instanceof Error ? error.message : String(error), {
          cause: error,
        });
  });
  const { number, timestamp } = (block ?? {}) as { number?: unknown; timestamp?: unknown };
  if (typeof number !== "string" || typeof timestamp !== "string")
    throw new ChainRequestError(operation, "no block", "the node answered without a latest block");
  return { number: Number(BigInt(number)), timestamp: Number(BigInt(timestamp)) };
}

/** Whether a slot allows at `now` (unix seconds), as the contract compares: expiry > now. */
const allows = (slot: ConsentSlot, now: number): boolean => slot.expiry > BigInt(now);

/**
 * The contract's answer under the indexer's rules: for each of the record's scope ids (read at two pinned blocks),
 * allowed only if the slot allows both at the confirmed block and at the latest block, at max(wall clock, head time).
 */
export async function strictAccess(
  chain: ChainServices,
  rules: StrictRules,
  query: RecordAccessQuery,
): Promise<RecordAccess> {
  const q = checkRecordQuery(query);
  const head = await latestHead(chain);
  const now = Math.max(Math.floor(rules.now() / 1000), head.timestamp);
  const confirmed = head.number - rules.confirmations;
  // Nothing is confirmed yet below the first blocks: nothing allows.
  if (confirmed < 0)
    return recordAccessFrom(
      q.scopes,
      q.scopes.map(() => false),
    );
  const answers = await Promise.all(
    q.scopes.map(async (scope) => {
      const key = { patient: q.patient, grantee: q.grantee, scope, purpose: q.purpose };
      const [atLatest, atConfirmed] = await Promise.all([
        chain.registry.consentOf(key, head.number),
        chain.registry.consentOf(key, confirmed),
      ]);
      return allows(atLatest, now) && allows(atConfirmed, now);
    }),
  );
  return recordAccessFrom(q.scopes, answers);
}

export interface ConsentQuery {
  /** The consent address the grants are from (the patient's main address or its linked pairwise account). */
  consentAddress: string;
  grantee: string;
  scopeIds: readonly string[];
  purpose: Purpose;
}

export type ConsentAnswer =
  | { ok: true; access: RecordAccess }
  | {
      ok: false;
      /** The audit reason: INDEXER_STALE, CHAIN_UNAVAILABLE, ... (the chain error's code). */
      reason: string;
      /** What the caller throws after auditing the deny. */
      error: DependencyUnavailableError;
    };

/** `strict`: the rules strict mode reads the contract under; null asks the indexer. */
export async function askConsent(
  chain: ChainServices,
  strict: StrictRules | null,
  query: ConsentQuery,
): Promise<ConsentAnswer> {
  const recordQuery = {
    patient: query.consentAddress,
    grantee: query.grantee,
    record: { scopeIds: query.scopeIds },
    purpose: query.purpose,
  };
  try {
    const access = strict
      ? await strictAccess(chain, strict, recordQuery)
      : chain.indexer.checkRecordAccess(recordQuery);
    return { ok: true, access };
  } catch (error) {
    if (error instanceof IndexerStaleError) {
      return {
        ok: false,
        reason: "INDEXER_STALE",
        error: new DependencyUnavailableError(
          "indexer",
          "INDEXER_STALE",
          "the consent index is not fresh enough to vouch for consent; no key is released until it catches up (see /readyz)",
          { cause: error, retryAfterSeconds: 2 },
        ),
      };
    }
    if (error instanceof HygeiaChainError && error.code !== "INVALID_INPUT" && error.code !== "INVALID_SCOPE") {
      return {
        ok: false,
        reason: error.code,
        error: new DependencyUnavailableError(
          "chain",
          error.code === "CHAIN_UNAVAILABLE" ? "CHAIN_UNAVAILABLE" : "CHAIN_REQUEST_FAILED",
          `the chain could not answer the consent check (${error.code}); no key is released until it does`,
          { cause: error, retryAfterSeconds: 2 },
        ),
      };
    }
    throw error;
  }
}

/** The strict-mode rules of this gateway (its indexer's confirmation depth, its clock), or null: ask the indexer. */
export function strictRules(app: {
  config: { chain: { strict: boolean; confirmations: number } };
  services: { now: () => number };
}): StrictRules | null {
  return app.config.chain.strict ? { confirmations: app.config.chain.confirmations, now: app.services.now } : null;
}
