import { expect } from "chai";
import fc from "fast-check";
import {
  AggregateInputError,
  countBy,
  histogram,
  suppressSmallCells,
  type CellCounts,
  type ReleaseRecord,
  type ReleasedCounts,
} from "../src/index.ts";

/** Every table of `labels` with this total (small tables only: the brute force behind the soundness property). */
function tablesWithTotal(labels: readonly string[], total: number): Record<string, number>[] {
  if (labels.length === 1) return [{ [labels[0]!]: total }];
  const out: Record<string, number>[] = [];
  for (let first = 0; first <= total; first++)
    for (const rest of tablesWithTotal(labels.slice(1), total - first)) out.push({ [labels[0]!]: first, ...rest });
  return out;
}

/**
 * What an attacker who knows the rules, the cohort's size, k and every release (not the private records) can tell
 * of each withheld cell: the values it takes over every table, and history of tables, that gives the same
 * releases. Brute force over the last table only (earlier true tables are the history given).
 */
function feasibleValues(
  truth: CellCounts,
  history: ReleaseRecord[],
  released: ReleasedCounts,
  k: number,
): Record<string, Set<number>> {
  const labels = Object.keys(truth).sort();
  const total = Object.values(truth).reduce((sum, count) => sum + count, 0);
  const feasible: Record<string, Set<number>> = Object.fromEntries(labels.map((label) => [label, new Set<number>()]));
  for (const candidate of tablesWithTotal(labels, total)) {
    const again = suppressSmallCells(candidate, { k, history }).release;
    if (JSON.stringify(again) !== JSON.stringify(released)) continue;
    for (const label of labels) feasible[label]!.add(candidate[label]!);
  }
  return feasible;
}

describe("aggregates: small-cell suppression", function () {
  it("deny by default: a cohort smaller than k gets nothing, not even its total", function () {
    const { release, record } = suppressSmallCells({ diabetic: 6, other: 4 });
    expect(release).to.deep.equal({ cells: { diabetic: null, other: null }, total: null });
    expect(record.withheld).to.deep.equal({ diabetic: "cohort", other: "cohort" });
    expect(suppressSmallCells({}).release.total).to.equal(null);
  });

  it("no small cell: everything shown; one small cell: the whole table withheld, the total shown", function () {
    expect(suppressSmallCells({ a: 40, b: 25, c: 0 }).release).to.deep.equal({
      cells: { a: 40, b: 25, c: 0 },
      total: 65,
    });
    const { release, record } = suppressSmallCells({ a: 40, b: 25, c: 3 });
    expect(release).to.deep.equal({ cells: { a: null, b: null, c: null }, total: 68 });
    // The reasons stay in the private record: a released "small" would point at the small cell.
    expect(record.withheld).to.deep.equal({ a: "complementary", b: "complementary", c: "small" });
    expect(JSON.stringify(release)).not.to.include("small");
  });

  it("the review's case {a: 11, b: 10, c: 10} cannot be solved from its release", function () {
    const truth = { a: 11, b: 10, c: 10 };
    const { release } = suppressSmallCells(truth);
    const feasible = feasibleValues(truth, [], release, 11);
    for (const label of ["a", "b", "c"]) expect(feasible[label]!.size, label).to.be.greaterThan(1);
  });

  it("over time: a cell that moved by 1 to k-1, or was withheld before and moved less than k, withholds the table", function () {
    const first = suppressSmallCells({ a: 40, b: 30, c: 20 });
    expect(first.release.cells).to.deep.equal({ a: 40, b: 30, c: 20 });
    const second = suppressSmallCells({ a: 39, b: 30, c: 20 }, { history: [first.record] });
    expect(second.release).to.deep.equal({ cells: { a: null, b: null, c: null }, total: null });
    expect(second.record.withheld.a).to.equal("changed");
    // Eleven more joined a (against the first release): the step is k, shown again; but the second release
    // withheld b and c, which have not moved: showing them would give their hidden values away.
    const third = suppressSmallCells({ a: 51, b: 30, c: 20 }, { history: [first.record, second.record] });
    expect(third.release.cells).to.deep.equal({ a: null, b: null, c: null });
    expect(third.record.withheld).to.include({ b: "withheld-before", c: "withheld-before" });
    const fourth = suppressSmallCells({ a: 51, b: 30, c: 20 }, { history: [first.record] });
    expect(fourth.release).to.deep.equal({ cells: { a: 51, b: 30, c: 20 }, total: 101 });
  });

  it("the review's two-release case cannot be solved: {a: 0, b: 0, c: 50} then {a: 1, b: 11, c: 40}", function () {
    const first = suppressSmallCells({ a: 0, b: 0, c: 50 });
    const truth = { a: 1, b: 11, c: 40 };
    const { release } = suppressSmallCells(truth, { history: [first.record] });
    const feasible = feasibleValues(truth, [first.record], release, 11);
    for (const label of ["a", "b", "c"]) expect(feasible[label]!.size, label).to.be.greaterThan(1);
  });

  it("rounding comes after suppression: a raw 11 is shown as 10, a raw 10 withholds the table", function () {
    expect(suppressSmallCells({ a: 11, b: 40 }, { roundTo: 5 }).release.cells).to.deep.equal({ a: 10, b: 40 });
    expect(suppressSmallCells({ a: 10, b: 40 }, { roundTo: 5 }).release.cells).to.deep.equal({ a: null, b: null });
  });

  it("refuses bad input with a typed error naming it", function () {
    const cases: [() => unknown, string][] = [
      [() => suppressSmallCells({ a: -1 }), "counts.a"],
      [() => suppressSmallCells({ a: 1.5 }), "counts.a"],
      [() => suppressSmallCells(new Map() as never), "counts"],
      [() => suppressSmallCells({ a: 20 }, { k: 1 }), "options.k"],
      [() => suppressSmallCells({ a: 20 }, { roundTo: 0 }), "options.roundTo"],
      [() => suppressSmallCells({ a: 20 }, { history: [{ a: 20 }] as never }), "options.history[0]"],
      [() => suppressSmallCells({ a: 20 }, { history: {} as never }), "options.history"],
      [
        () => suppressSmallCells({ a: 20 }, { k: 5, history: [suppressSmallCells({ a: 20 }).record] }),
        "options.history[0].k",
      ],
      [() => histogram([1], [1]), "edges"],
      [() => histogram([1], [2, 1]), "edges"],
      [() => histogram([Number.NaN], [0, 1]), "values"],
      [() => countBy(["x"], (item) => item, ["y"]), "categories"],
    ];
    for (const [run, field] of cases) {
      let error: unknown;
      try {
        run();
      } catch (caught) {
        error = caught;
      }
      expect(error, field).to.be.instanceOf(AggregateInputError);
      expect((error as AggregateInputError).field).to.equal(field);
    }
  });

  it("property: shown cells are 0 or at least k and moved 0 or k+ since every earlier release; no withheld cell is determined", function () {
    const labels = ["a", "b", "c"];
    fc.assert(
      fc.property(
        fc.tuple(...labels.map(() => fc.integer({ min: 0, max: 14 }))),
        fc.tuple(...labels.map(() => fc.integer({ min: 0, max: 14 }))),
        fc.integer({ min: 2, max: 6 }),
        (earlierValues, nowValues, k) => {
          const earlier = Object.fromEntries(labels.map((label, i) => [label, earlierValues[i]!]));
          const now = Object.fromEntries(labels.map((label, i) => [label, nowValues[i]!]));
          const first = suppressSmallCells(earlier, { k });
          const { release } = suppressSmallCells(now, { k, history: [first.record] });
          for (const label of labels) {
            const cell = release.cells[label];
            if (cell === null || cell === undefined) continue;
            const step = Math.abs(cell - earlier[label]!);
            if (!(cell === 0 || cell >= k) || !(step === 0 || step >= k)) return false;
            if (label in first.record.withheld && step < k) return false;
          }
          const withheld = labels.filter((label) => release.cells[label] === null);
          if (withheld.length === 0 || release.total === null) return true;
          const feasible = feasibleValues(now, [first.record], release, k);
          return withheld.every((label) => feasible[label]!.size > 1);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("countBy (with fixed categories, zeros included) and histogram partition a cohort into fixed cells", function () {
    expect(countBy(["x", "y", "x"], (item) => item)).to.deep.equal({ x: 2, y: 1 });
    expect(countBy(["x", "x"], (item) => item, ["x", "y"])).to.deep.equal({ x: 2, y: 0 });
    expect(histogram([4.9, 5, 6.5, 7, 12, 3], [5, 6, 7])).to.deep.equal({ below: 2, above: 1, "5-6": 1, "6-7": 2 });
  });
});
