// Merging concurrent manifest updates: entries are only ever added, so the union by CID of both sides
// loses nothing. For a CID on both sides the first side's entry wins (both name the same ciphertext; only
// their wraps differ, and either wrap opens to the same DEK).
import type { ManifestEntry } from "./manifest-format.ts";
import { sortEntries } from "./manifest-format.ts";

export function mergeEntries(first: readonly ManifestEntry[], second: readonly ManifestEntry[]): ManifestEntry[] {
  const byCid = new Map<string, ManifestEntry>();
  for (const entry of [...first, ...second]) {
    const key = entry.cid.toString();
    if (!byCid.has(key)) byCid.set(key, entry);
  }
  return sortEntries([...byCid.values()]);
}

/** Entries of `candidate` whose CID is not in `existing`. */
export function newEntries(existing: readonly ManifestEntry[], candidate: readonly ManifestEntry[]): ManifestEntry[] {
  const known = new Set(existing.map((entry) => entry.cid.toString()));
  return candidate.filter((entry) => !known.has(entry.cid.toString()));
}
