// Small-cell suppression of the aggregate counts a study may see without a dataset (counts of contributors by one
// category, histograms over fixed bins): pure, so the gateway's endpoint and its tests run the same rules.
//
// Rules, in order (k = 11 by default, the usual threshold: CMS and NCHS suppress counts of 1 to 10):
// 1. Deny by default: a cohort of fewer than k contributors gets no count at all, not even its total.
// 2. Primary suppression: a cell of 1 to k-1 contributors is withheld (null). Zero cells are shown: a zero names
//    nobody, and a zero is no help to hide another cell (see 4).
// 3. Over time, against every earlier release of the same table (`history`: the releases themselves, which the
//    researcher has too): a cell that moved by 1 to k-1 from a value shown before is withheld, so comparing two
//    answers cannot single out the few patients who joined or left. Only what was released counts: a rule that
//    consulted earlier hidden counts would leak them through what it lets through later (a third review solved
//    a withheld 3 from "moved by k or more" constraints).
// 4. Complementary suppression, all of the table: the cohort's size is known to the researcher (every dataset pull
//    says it), so the withheld cells' sum is always derivable, and the rules above are public. Withholding only a
//    few more cells (the smallest shown ones) let an attacker who knows the rule solve for the hidden cells (a
//    break-it review pinned {a: 11, b: 10, c: 10} from its release); so when any cell is withheld, every cell is,
//    and the release says only the total.
// 5. Rounding, when asked for, comes after all of the above, on the shown cells only: a raw 10 is withheld even
//    when it would round to 10, a raw 11 shown even when it rounds to 10.
//
// What is released says only which cells are withheld, never why (a "small" reason would point at the small
// cell). One dimension per table: tables are partitions of one cohort into fixed cells (categories, or bins fixed
// by the caller, never chosen per query), so two tables of one cohort cannot be differenced into a smaller cell.
// Cross tabulations are not offered: their complementary suppression is the general cell-suppression problem.

/** Contributors per cell (a category, or a histogram bin's label). */
export type CellCounts = Readonly<Record<string, number>>;

/** A table as released to the study: a count, or null where withheld, and the k it was released under. */
export interface ReleasedCounts {
  cells: Record<string, number | null>;
  total: number | null;
  k: number;
}

export type WithheldReason = "cohort" | "small" | "changed" | "complementary";

export interface SuppressionOptions {
  /** The smallest count shown (default 11). */
  k?: number;
  /** The earlier releases of this same table (same study, same cells), for rule 3. */
  history?: readonly ReleasedCounts[];
  /** Round shown counts to a multiple of this, after suppression (default 1: no rounding). */
  roundTo?: number;
}

export interface Suppression {
  /** What the study may see; keep it too, and pass it in `history` next time. */
  release: ReleasedCounts;
  /** Why each withheld cell is withheld: for the releasing side's logs, never for the study (it would point at the
   * small cell). */
  withheld: Record<string, WithheldReason>;
}

export const DEFAULT_MIN_CELL = 11;

export class AggregateInputError extends Error {
  override name = "AggregateInputError";
  readonly code = "INVALID_AGGREGATE_INPUT";
  /** Which input: "counts", "options.history[0]", ... */
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

/** The table `counts` as it may be released under the rules above (and, privately, why cells are withheld). */
export function suppressSmallCells(counts: CellCounts, options: SuppressionOptions = {}): Suppression {
  const k = options.k ?? DEFAULT_MIN_CELL;
  const roundTo = options.roundTo ?? 1;
  // k = 2 makes a withheld table of two cells with a total of 2 say "1 and 1": the smallest useful k is 3.
  if (!Number.isSafeInteger(k) || k < 3) throw new AggregateInputError("options.k", `an integer >= 3, got ${k}`);
  if (!Number.isSafeInteger(roundTo) || roundTo < 1)
    throw new AggregateInputError("options.roundTo", `a positive integer, got ${roundTo}`);
  const table = checkedCounts(counts, "counts");
  const labels = Object.keys(table).sort();
  const total = labels.reduce((sum, label) => sum + table[label]!, 0);
  const history = checkedHistory(options.history, k);
  const withheld: Record<string, WithheldReason> = {};

  if (total < k) {
    for (const label of labels) withheld[label] = "cohort";
    return { release: { cells: Object.fromEntries(labels.map((label) => [label, null])), total: null, k }, withheld };
  }
  for (const label of labels) {
    const count = table[label]!;
    if (count > 0 && count < k) {
      withheld[label] = "small";
      continue;
    }
    const moved = history.some((earlier) => {
      const shown = earlier.cells[label];
      if (shown === null || shown === undefined) return false;
      const step = Math.abs(count - shown);
      return step > 0 && step < k;
    });
    if (moved) withheld[label] = "changed";
  }
  const totalShown = history.every((earlier) => {
    if (earlier.total === null) return true;
    const step = Math.abs(total - earlier.total);
    return step === 0 || step >= k;
  });

  // Complementary: one withheld cell withholds the whole table (see rule 4).
  if (Object.keys(withheld).length > 0) for (const label of labels) withheld[label] ??= "complementary";

  const round = (count: number) => Math.round(count / roundTo) * roundTo;
  return {
    release: {
      cells: Object.fromEntries(
        labels.map((label) => [label, Object.hasOwn(withheld, label) ? null : round(table[label]!)]),
      ),
      total: totalShown ? round(total) : null,
      k,
    },
    withheld,
  };
}

function checkedCounts(counts: unknown, field: string): Record<string, number> {
  if (typeof counts !== "object" || counts === null || Array.isArray(counts) || counts instanceof Map)
    throw new AggregateInputError(field, "expected an object of cell label -> count (countBy or histogram makes one)");
  const out: Record<string, number> = {};
  for (const [label, count] of Object.entries(counts)) {
    if (!Number.isSafeInteger(count) || (count as number) < 0)
      throw new AggregateInputError(`${field}.${label}`, "a count must be a non-negative integer");
    out[label] = count as number;
  }
  return out;
}

function checkedHistory(history: unknown, k: number): ReleasedCounts[] {
  if (history === undefined) return [];
  if (!Array.isArray(history))
    throw new AggregateInputError("options.history", "expected an array of the `release`s earlier calls returned");
  return history.map((entry: unknown, i) => {
    const field = `options.history[${i}]`;
    const value = entry as Partial<ReleasedCounts> | null;
    if (typeof value !== "object" || value === null || typeof value.cells !== "object" || value.cells === null)
      throw new AggregateInputError(field, "expected the `release` an earlier suppressSmallCells call returned");
    if (value.k !== k)
      throw new AggregateInputError(`${field}.k`, `was released with k = ${String(value.k)}, this table uses ${k}`);
    const cells: Record<string, number | null> = {};
    for (const [label, cell] of Object.entries(value.cells)) {
      if (cell !== null && (!Number.isSafeInteger(cell) || cell < 0))
        throw new AggregateInputError(`${field}.cells.${label}`, "a released count is a non-negative integer or null");
      cells[label] = cell;
    }
    const total = value.total ?? null;
    if (total !== null && (!Number.isSafeInteger(total) || total < 0))
      throw new AggregateInputError(`${field}.total`, "a released total is a non-negative integer or null");
    return { cells, total, k };
  });
}

/**
 * Contributors per category: `categoryOf` gives each contributor's one category. With `categories`, the table
 * has exactly those cells (zeros included, so every release of it has the same cells); a contributor outside
 * them is refused.
 */
export function countBy<T>(
  items: Iterable<T>,
  categoryOf: (item: T) => string,
  categories?: readonly string[],
): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const category of categories ?? []) counts[category] = 0;
  for (const item of items) {
    const category = categoryOf(item);
    if (categories !== undefined && !(category in counts))
      throw new AggregateInputError("categories", `${JSON.stringify(category)} is not one of the table's categories`);
    counts[category] = (counts[category] ?? 0) + 1;
  }
  return counts;
}

/**
 * Contributors per bin of fixed `edges` (ascending), one value per contributor: bins [e0, e1), [e1, e2), ...,
 * [e(n-1), e(n)] (the last one closed), labelled "e0-e1". Values outside [e0, en] are counted in "below" and
 * "above", so the bins partition the cohort.
 */
export function histogram(values: Iterable<number>, edges: readonly number[]): Record<string, number> {
  if (edges.length < 2 || edges.some((edge, i) => !Number.isFinite(edge) || (i > 0 && edge <= edges[i - 1]!)))
    throw new AggregateInputError("edges", "at least two finite numbers, strictly ascending");
  const labels = edges.slice(1).map((edge, i) => `${edges[i]}-${edge}`);
  const counts: Record<string, number> = { below: 0, above: 0 };
  for (const label of labels) counts[label] = 0;
  const last = edges[edges.length - 1]!;
  for (const value of values) {
    if (!Number.isFinite(value)) throw new AggregateInputError("values", "values must be finite numbers");
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

/**
 * Rule 0, decided on who is counted, never on their categories: whether the contributors counted now differ from
 * those of any earlier release of the same table (shown or withheld) by 1 to k-1 contributors. When they do, the
 * whole table and its total are withheld: comparing the two releases would single those few out (their categories,
 * or a cell withheld before), and whether a table is shown would itself depend on their categories. `current` and
 * each earlier entry name contributions (e.g. hashes of their CIDs: a replaced contribution is a new member).
 */
export function cohortMoved(current: readonly string[], earlier: readonly (readonly string[])[], k: number): boolean {
  if (!Number.isSafeInteger(k) || k < 3) throw new AggregateInputError("k", `an integer >= 3, got ${k}`);
  const now = new Set(current);
  return earlier.some((members) => {
    const before = new Set(members);
    let difference = 0;
    for (const member of now) if (!before.has(member)) difference += 1;
    for (const member of before) if (!now.has(member)) difference += 1;
    return difference > 0 && difference < k;
  });
}
