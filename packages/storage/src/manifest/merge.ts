// Merging concurrent manifest updates: entries, and the recipients of each entry, are only ever added, so the
// union of both sides loses nothing. For a CID on both sides the first side's entry wins (both name the same
// ciphertext; only their wraps differ, and either wrap opens to the same DEK), with both sides' shares.
import type { ManifestEntry, RecordShare } from "./manifest-format.ts";
import { shareKey, sortEntries, sortShares } from "./manifest-format.ts";

function unionShares(first: readonly RecordShare[], second: readonly RecordShare[]): RecordShare[] {
  const byKey = new Map<string, RecordShare>();
  for (const share of [...first, ...second]) if (!byKey.has(shareKey(share))) byKey.set(shareKey(share), share);
  return sortShares([...byKey.values()]);
}

export function mergeEntries(first: readonly ManifestEntry[], second: readonly ManifestEntry[]): ManifestEntry[] {
  const byCid = new Map<string, ManifestEntry>();
  for (const entry of [...first, ...second]) {
    const key = entry.cid.toString();
    const known = byCid.get(key);
    byCid.set(
      key,
      known === undefined ? entry : { ...known, sharedWith: unionShares(known.sharedWith, entry.sharedWith) },
    );
  }
  return sortEntries([...byCid.values()]);
}

/** Entries of `candidate` whose CID is not in `existing`. */
export function newEntries(existing: readonly ManifestEntry[], candidate: readonly ManifestEntry[]): ManifestEntry[] {
  const known = new Set(existing.map((entry) => entry.cid.toString()));
  return candidate.filter((entry) => !known.has(entry.cid.toString()));
}

/** Entries of `candidate` that would change `existing`: a new CID, or a recipient the CID is not shared with yet. */
export function changingEntries(
  existing: readonly ManifestEntry[],
  candidate: readonly ManifestEntry[],
): ManifestEntry[] {
  const byCid = new Map(existing.map((entry) => [entry.cid.toString(), entry]));
  return candidate.filter((entry) => {
    const known = byCid.get(entry.cid.toString());
    if (known === undefined) return true;
    const shared = new Set(known.sharedWith.map(shareKey));
    return entry.sharedWith.some((share) => !shared.has(shareKey(share)));
  });
}
