// Small-cell suppression of the aggregate counts a study may see without a dataset (counts of contributors by one
// category, histograms over fixed bins): pure, so the gateway's endpoint and its tests run the same rules.
//
// Rules, in order (k = 11 by default, the usual threshold: CMS and NCHS suppress counts of 1 to 10):
// 1. Deny by default: a cohort of fewer than k contributors gets no count at all, not even its total.
// 2. Primary suppression: a cell of 1 to k-1 contributors is withheld (null). Zero cells are shown: a zero names
//    nobody, and a zero is no help to hide another cell (see 4).
// 3. Over time: a cell (or the total) whose count differs from a count of it released before by 1 to k-1 is
//    withheld, so comparing two answers cannot single out the few patients who joined or left in between.
// 4. Complementary suppression: the cohort's size is known to the researcher (every dataset pull says it), so the
//    withheld cells' sum is always derivable. Withheld cells must therefore be none, or at least two whose sum
//    is at least k (no one of them can be pinned down from the others); the smallest shown non-zero cells are
//    withheld until that holds.
// 5. Rounding, when asked for, comes after all of the above, on the shown cells only: a raw 10 is withheld even
//    when it would round to 10, a raw 11 shown even when it rounds to 10.
//
// One dimension per table: tables are partitions of one cohort into fixed cells (categories, or bins fixed by the
// caller, never chosen per query), so two tables of one cohort cannot be differenced into a smaller cell. Cross
// tabulations are not offered: their complementary suppression is the general cell-suppression problem.

/** Contributors per cell (a category, or a histogram bin's label). */
export type CellCounts = Readonly<Record<string, number>>;

/** A table as released: a count, or null where withheld. */
export interface ReleasedCounts {
  cells: Record<string, number | null>;
  total: number | null;
}

export interface SuppressionOptions {
  /** The smallest count shown (default 11). */
  k?: number;
  /** Earlier releases of this same table (same study, same cells), for rule 3. */
  history?: readonly ReleasedCounts[];
  /** Round shown counts to a multiple of this, after suppression (default 1: no rounding). */
  roundTo?: number;
}

export interface SuppressedCounts extends ReleasedCounts {
  /** Why each withheld cell is withheld. */
  withheld: Record<string, "small" | "changed" | "complementary" | "cohort">;
}

export const DEFAULT_MIN_CELL = 11;

export class AggregateInputError extends Error {
  override name = "AggregateInputError";
  readonly code = "INVALID_AGGREGATE_INPUT";
}

/** The table `counts` as it may be released under the rules above. */
export function suppressSmallCells(counts: CellCounts, options: SuppressionOptions = {}): SuppressedCounts {
  const k = options.k ?? DEFAULT_MIN_CELL;
  const roundTo = options.roundTo ?? 1;
  if (!Number.isSafeInteger(k) || k < 2) throw new AggregateInputError(`k must be an integer >= 2, got ${k}`);
  if (!Number.isSafeInteger(roundTo) || roundTo < 1)
    throw new AggregateInputError(`roundTo must be a positive integer, got ${roundTo}`);
  const labels = Object.keys(counts).sort();
  let total = 0;
  for (const label of labels) {
    const count = counts[label];
    if (!Number.isSafeInteger(count) || count! < 0)
      throw new AggregateInputError(`the count of ${JSON.stringify(label)} must be a non-negative integer`);
    total += count!;
  }
  const history = options.history ?? [];
  const withheld: SuppressedCounts["withheld"] = {};

  if (total < k) {
    for (const label of labels) withheld[label] = "cohort";
    return { cells: Object.fromEntries(labels.map((label) => [label, null])), total: null, withheld };
  }
  const changedBySmallStep = (now: number, before: (release: ReleasedCounts) => number | null | undefined) =>
    history.some((release) => {
      const earlier = before(release);
      if (earlier === null || earlier === undefined) return false;
      const step = Math.abs(now - earlier);
      return step > 0 && step < k;
    });

  for (const label of labels) {
    const count = counts[label]!;
    if (count > 0 && count < k) withheld[label] = "small";
    else if (changedBySmallStep(count, (release) => release.cells[label])) withheld[label] = "changed";
  }
  const totalShown = !changedBySmallStep(total, (release) => release.total);

  // Complementary: at least two withheld, summing to at least k; add the smallest shown non-zero cells.
  const withheldSum = () => labels.reduce((sum, label) => sum + (label in withheld ? counts[label]! : 0), 0);
  const withheldCount = () => Object.keys(withheld).length;
  while (withheldCount() > 0 && (withheldCount() < 2 || withheldSum() < k)) {
    const next = labels
      .filter((label) => !(label in withheld) && counts[label]! > 0)
      .sort((a, b) => counts[a]! - counts[b]! || (a < b ? -1 : 1))[0];
    if (next === undefined) {
      // Nothing left to hide it with: withhold everything, zeros included.
      for (const label of labels) withheld[label] ??= "complementary";
      break;
    }
    withheld[next] = "complementary";
  }

  const round = (count: number) => Math.round(count / roundTo) * roundTo;
  return {
    cells: Object.fromEntries(labels.map((label) => [label, label in withheld ? null : round(counts[label]!)])),
    total: totalShown ? round(total) : null,
    withheld,
  };
}

/** Contributors per category: `categoryOf` gives each contributor's category (one each). */
export function countBy<T>(items: Iterable<T>, categoryOf: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) {
    const category = categoryOf(item);
    counts[category] = (counts[category] ?? 0) + 1;
  }
  return counts;
}

/**
 * Contributors per bin of fixed `edges` (ascending): bins [e0, e1), [e1, e2), ..., [e(n-1), e(n)], labelled
 * "e0-e1". Values outside [e0, en] are counted in "below" and "above", so the bins still partition the cohort.
 */
export function histogram(values: Iterable<number>, edges: readonly number[]): Record<string, number> {
  if (edges.length < 2 || edges.some((edge, i) => !Number.isFinite(edge) || (i > 0 && edge <= edges[i - 1]!)))
    throw new AggregateInputError("edges must be at least two finite numbers, strictly ascending");
  const labels = edges.slice(1).map((edge, i) => `${edges[i]}-${edge}`);
  const counts: Record<string, number> = { below: 0, above: 0 };
  for (const label of labels) counts[label] = 0;
  const last = edges[edges.length - 1]!;
  for (const value of values) {
    if (!Number.isFinite(value)) throw new AggregateInputError("values must be finite numbers");
    if (value < edges[0]!) counts.below! += 1;
    else if (value > last) counts.above! += 1;
    else {
      let bin = edges.findIndex((edge) => value < edge) - 1;
      if (bin < 0) bin = labels.length - 1; // value === last: the closed last bin
      counts[labels[bin]!]! += 1;
    }
  }
  return counts;
}
