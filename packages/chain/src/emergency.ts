/**
 * Break-glass registrations: the duration rule and the named scopes.
 *
 * A patient registers an emergency grantee with a maximum duration (at most 7 days) and the list of
 * scopes it may open. The contract stores only the Merkle root of that list (an OpenZeppelin
 * StandardMerkleTree of `[bytes32 scopeId]` leaves); the grantee proves each scope it opens with a
 * proof computed from the full list, which it learns from the patient (e.g. on the emergency card).
 * The list holds the patient's keyed scope ids (PatientScopes), so neither the root, the proofs nor the card
 * tell anyone which categories they are: the grantee breaks the glass without the patient's key.
 * The tree sorts its leaves, so the root depends on the set of scopes only, not on their order.
 */
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { ZeroHash, hexlify, randomBytes } from "ethers";
import { InvalidInputError, InvalidScopeError, describe, millisecondsHint, requireSmallUint } from "./errors.ts";
import { toScopeId } from "./scopes.ts";

/** Break-glass windows are capped by the contract at 7 days. */
export const MAX_EMERGENCY_DURATION_SECONDS = 7 * 24 * 60 * 60;

/**
 * Most scopes one registration may name. The contract has no limit (a proof grows with log2 of the
 * list); this bound keeps a list a person can review and a card or QR code can carry.
 */
export const MAX_EMERGENCY_SCOPES = 256;

/** The bytes32 zero: the scopes root of a removal. */
export const ZERO_SCOPES_ROOT = ZeroHash;

/** The scopes of a registration: distinct ids (sorted), the root the contract stores, and proofs. */
export interface EmergencyScopes {
  /** Distinct bytes32 scope ids, sorted. */
  readonly scopeIds: readonly string[];
  /** What setEmergencyGrantee stores. */
  readonly root: string;
  /** The proof breakGlass takes for `scope` (a bytes32 scope id); InvalidInputError if not listed. */
  proof(scope: string): string[];
}

/**
 * A maximum duration in seconds: 1..7 days, or 0 where `allowZero` (a removal). A value that would
 * fit once divided by 1000 is named as milliseconds.
 */
export function requireEmergencyDuration(value: unknown, field: string, allowZero: boolean): number {
  const duration = requireSmallUint(value, 32, field);
  if (duration > MAX_EMERGENCY_DURATION_SECONDS) {
    const hint = millisecondsHint(duration, 0, MAX_EMERGENCY_DURATION_SECONDS);
    throw new InvalidInputError(
      field,
      `at most ${MAX_EMERGENCY_DURATION_SECONDS} seconds (7 days), got ${duration}${hint}`,
    );
  }
  if (duration === 0 && !allowZero)
    throw new InvalidInputError(field, "must be at least 1 second; to remove a grantee use removeEmergencyGrantee");
  return duration;
}

/**
 * The tree of a registration's scopes: a non-empty list (at most MAX_EMERGENCY_SCOPES distinct) of
 * bytes32 scope ids (the patient's keyed ids; a canonical string is refused, see toScopeId). Repeats
 * are merged (a scope is either listed or not).
 */
export function emergencyScopes(scopes: readonly string[], field = "scopes"): EmergencyScopes {
  if (!Array.isArray(scopes))
    throw new InvalidInputError(field, `expected a list of scopes, got ${describe(scopes as unknown)}`);
  if (scopes.length === 0) {
    throw new InvalidInputError(
      field,
      'name at least one scope id the grantee may open in an emergency (the patient\'s keyed ids, e.g. PatientScopes.ids(["category:allergy"]))',
    );
  }
  const ids = new Set<string>();
  scopes.forEach((scope, index) => {
    ids.add(toScopeId(scope, `${field}[${index}]`));
    if (ids.size > MAX_EMERGENCY_SCOPES) {
      throw new InvalidInputError(
        field,
        `at most ${MAX_EMERGENCY_SCOPES} distinct scopes per registration; name categories rather than single records`,
      );
    }
  });
  const scopeIds = [...ids].sort();
  const tree = StandardMerkleTree.of(
    scopeIds.map((id) => [id]),
    ["bytes32"],
  );
  return {
    scopeIds,
    root: tree.root,
    proof(scope: string): string[] {
      const id = toScopeId(scope);
      if (!ids.has(id)) {
        throw new InvalidScopeError(
          "scope",
          `${scope} is not among the registration's ${scopeIds.length} scopes; the patient did not name it`,
        );
      }
      return tree.getProof([id]);
    },
  };
}

/** The root setEmergencyGrantee stores for `scopes` (see emergencyScopes). */
export function emergencyScopesRoot(scopes: readonly string[]): string {
  return emergencyScopes(scopes).root;
}

/**
 * A registration's scope ids plus one random blinding id: what to register and print on the emergency card.
 * The root is an unsalted function of the id set, and a patient's ids also appear in its grants, so without it an
 * observer could try subsets of those ids until one hashes to the registered root and learn exactly which ids the
 * card names. The random id makes that search hopeless; opening it (breakGlass on it) covers no record. It uses
 * one of the MAX_EMERGENCY_SCOPES places.
 */
export function blindEmergencyScopes(scopeIds: readonly string[]): string[] {
  const ids = emergencyScopes(scopeIds).scopeIds;
  if (ids.length >= MAX_EMERGENCY_SCOPES)
    throw new InvalidInputError(
      "scopes",
      `at most ${MAX_EMERGENCY_SCOPES - 1} distinct scopes leave room for the blinding id, got ${ids.length}`,
    );
  const blinding = hexlify(randomBytes(32));
  return [...ids, blinding];
}
