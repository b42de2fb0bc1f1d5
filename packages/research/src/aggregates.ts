// Small-cell suppression of the aggregate counts a study may see without a dataset (counts of contributors by one
// category, histograms over fixed bins): pure, so the gateway's endpoint and its tests run the same rules.
//
// Rules, in order (k = 11 by default, the usual threshold: CMS and NCHS suppress counts of 1 to 10):
// 1. Deny by default: a cohort of fewer than k contributors gets no count at all, not even its total.
// 2. Primary suppression: a cell of 1 to k-1 contributors is withheld (null). Zero cells are shown: a zero names
//    nobody, and a zero is no help to hide another cell (see 4).
// 3. Over time, against every earlier release of the same table (the caller keeps their private records): a cell
//    whose true count moved by 1 to k-1 is withheld, so comparing two answers cannot single out the few patients
//    who joined or left; a cell withheld before stays withheld until its count has moved by k or more, since
//    showing it unchanged would give its earlier hidden value away.
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

/** A table as released to the study: a count, or null where withheld. Safe to send. */
export interface ReleasedCounts {
  cells: Record<string, number | null>;
  total: number | null;
}

export type WithheldReason = "cohort" | "small" | "changed" | "withheld-before" | "complementary";

/** What the releasing side keeps of a release, privately, to pass back as `history`: never sent to the study. */
export interface ReleaseRecord {
  /** The true counts of the release. */
  counts: Record<string, number>;
  /** Why each withheld cell was withheld. */
  withheld: Record<string, WithheldReason>;
  k: number;
}

export interface SuppressionOptions {
  /** The smallest count shown (default 11). */
  k?: number;
  /** The records of earlier releases of this same table (same study, same cells), for rule 3. */
  history?: readonly ReleaseRecord[];
  /** Round shown counts to a multiple of this, after suppression (default 1: no rounding). */
  roundTo?: number;
}

export interface Suppression {
  /** What the study may see. */
  release: ReleasedCounts;
  /** What to keep, privately, and pass in `history` next time. */
  record: ReleaseRecord;
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

/** The table `counts` as it may be released under the rules above, and the record to keep for the next one. */
export function suppressSmallCells(counts: CellCounts, options: SuppressionOptions = {}): Suppression {
  const k = options.k ?? DEFAULT_MIN_CELL;
  const roundTo = options.roundTo ?? 1;
  if (!Number.isSafeInteger(k) || k < 2) throw new AggregateInputError("options.k", `an integer >= 2, got ${k}`);
  if (!Number.isSafeInteger(roundTo) || roundTo < 1)
    throw new AggregateInputError("options.roundTo", `a positive integer, got ${roundTo}`);
  const table = checkedCounts(counts, "counts");
  const labels = Object.keys(table).sort();
  const total = labels.reduce((sum, label) => sum + table[label]!, 0);
  const history = checkedHistory(options.history, k);
  const withheld: Record<string, WithheldReason> = {};
  const record = (): ReleaseRecord => ({ counts: { ...table }, withheld: { ...withheld }, k });

  if (total < k) {
    for (const label of labels) withheld[label] = "cohort";
    return {
      release: { cells: Object.fromEntries(labels.map((label) => [label, null])), total: null },
      record: record(),
    };
  }
  for (const label of labels) {
    const count = table[label]!;
    if (count > 0 && count < k) {
      withheld[label] = "small";
      continue;
    }
    for (const earlier of history) {
      const before = earlier.counts[label] ?? 0;
      const step = Math.abs(count - before);
      if (step > 0 && step < k) withheld[label] = "changed";
      else if (step < k && label in earlier.withheld) withheld[label] = "withheld-before";
      else continue;
      break;
    }
  }
  const totalShown = history.every((earlier) => {
    const before = Object.values(earlier.counts).reduce((sum, count) => sum + count, 0);
    const step = Math.abs(total - before);
    return step === 0 || step >= k;
  });

  // Complementary: one withheld cell withholds the whole table (see rule 4).
  if (Object.keys(withheld).length > 0) for (const label of labels) withheld[label] ??= "complementary";

  const round = (count: number) => Math.round(count / roundTo) * roundTo;
  return {
    release: {
      cells: Object.fromEntries(labels.map((label) => [label, label in withheld ? null : round(table[label]!)])),
      total: totalShown ? round(total) : null,
    },
    record: record(),
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

function checkedHistory(history: unknown, k: number): ReleaseRecord[] {
  if (history === undefined) return [];
  if (!Array.isArray(history))
    throw new AggregateInputError("options.history", "expected an array of the `record`s earlier calls returned");
  return history.map((entry: unknown, i) => {
    const field = `options.history[${i}]`;
    const value = entry as Partial<ReleaseRecord> | null;
    if (typeof value !== "object" || value === null || typeof value.withheld !== "object" || value.withheld === null)
      throw new AggregateInputError(field, "expected the `record` an earlier suppressSmallCells call returned");
    if (value.k !== k)
      throw new AggregateInputError(`${field}.k`, `was released with k = ${String(value.k)}, this table uses ${k}`);
    return { counts: checkedCounts(value.counts, `${field}.counts`), withheld: value.withheld, k };
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
