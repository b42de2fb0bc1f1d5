import { expect } from "chai";
import fc from "fast-check";
import {
  AggregateInputError,
  cohortMoved,
  countBy,
  histogram,
  suppressSmallCells,
  type ReleasedCounts,
} from "../src/index.ts";

/** Every table of `labels` with this total (small tables only: the brute force behind the soundness checks). */
function tablesWithTotal(labels: readonly string[], total: number): Record<string, number>[] {
  if (labels.length === 1) return [{ [labels[0]!]: total }];
  const out: Record<string, number>[] = [];
  for (let first = 0; first <= total; first++)
    for (const rest of tablesWithTotal(labels.slice(1), total - first)) out.push({ [labels[0]!]: first, ...rest });
  return out;
}

/**
 * The attacker of the research issue: knows the rules, k, every true total (dataset pulls say the cohort size) and
 * every release, and none of the true tables. Returns, for each release, the values each cell takes over every
 * sequence of tables that gives the same releases.
 */
function feasibleValues(
  labels: readonly string[],
  totals: readonly number[],
  releases: readonly ReleasedCounts[],
  k: number,
) {
  const feasible = releases.map(() => Object.fromEntries(labels.map((label) => [label, new Set<number>()])));
  const walk = (step: number, history: ReleasedCounts[], chosen: Record<string, number>[]) => {
    if (step === releases.length) {
      chosen.forEach((table, i) => labels.forEach((label) => feasible[i]![label]!.add(table[label]!)));
      return;
    }
    for (const table of tablesWithTotal(labels, totals[step]!)) {
      const { release } = suppressSmallCells(table, { k, history });
      if (JSON.stringify(release) !== JSON.stringify(releases[step])) continue;
      walk(step + 1, [...history, release], [...chosen, table]);
    }
  };
  walk(0, [], []);
  return feasible;
}

/** Releases `tables` one after the other, each with the earlier releases as history. */
function releaseAll(tables: readonly Record<string, number>[], k: number): ReleasedCounts[] {
  const history: ReleasedCounts[] = [];
  for (const table of tables) history.push(suppressSmallCells(table, { k, history }).release);
  return history;
}

/** No withheld cell of any release is pinned to one value. */
function noWithheldCellSolved(tables: readonly Record<string, number>[], k: number): boolean {
  const labels = Object.keys(tables[0]!).sort();
  const releases = releaseAll(tables, k);
  const totals = tables.map((table) => Object.values(table).reduce((sum, count) => sum + count, 0));
  const feasible = feasibleValues(labels, totals, releases, k);
  return releases.every((release, i) =>
    labels.every((label) => release.cells[label] !== null || feasible[i]![label]!.size > 1 || totals[i] === 0),
  );
}

describe("aggregates: small-cell suppression", function () {
  it("deny by default: a cohort smaller than k gets nothing, not even its total", function () {
    const { release, withheld } = suppressSmallCells({ diabetic: 6, other: 4 });
    expect(release).to.deep.equal({ cells: { diabetic: null, other: null }, total: null, k: 11 });
    expect(withheld).to.deep.equal({ diabetic: "cohort", other: "cohort" });
    expect(suppressSmallCells({}).release.total).to.equal(null);
  });

  it("no small cell: everything shown; one small cell: the whole table withheld, the total shown", function () {
    expect(suppressSmallCells({ a: 40, b: 25, c: 0 }).release).to.deep.equal({
      cells: { a: 40, b: 25, c: 0 },
      total: 65,
      k: 11,
    });
    const { release, withheld } = suppressSmallCells({ a: 40, b: 25, c: 3 });
    expect(release).to.deep.equal({ cells: { a: null, b: null, c: null }, total: 68, k: 11 });
    // Why is the releasing side's to log, never the study's to read: a "small" would point at the small cell.
    expect(withheld).to.deep.equal({ a: "complementary", b: "complementary", c: "small" });
    expect(JSON.stringify(release)).not.to.include("small");
  });

  it("over time: a cell that moved by 1 to k-1 from a value shown before withholds the table", function () {
    const first = suppressSmallCells({ a: 40, b: 30, c: 20 }).release;
    expect(first.cells).to.deep.equal({ a: 40, b: 30, c: 20 });
    const second = suppressSmallCells({ a: 39, b: 30, c: 20 }, { history: [first] });
    expect(second.release).to.deep.equal({ cells: { a: null, b: null, c: null }, total: null, k: 11 });
    expect(second.withheld.a).to.equal("changed");
    // Eleven more joined a: the step from the shown 40 is k, shown again.
    const third = suppressSmallCells({ a: 51, b: 30, c: 20 }, { history: [first, second.release] });
    expect(third.release).to.deep.equal({ cells: { a: 51, b: 30, c: 20 }, total: 101, k: 11 });
  });

  it("the reviews' cases cannot be solved by an attacker who knows the rules and every total", function () {
    expect(noWithheldCellSolved([{ a: 11, b: 10, c: 10 }], 11)).to.equal(true);
    expect(
      noWithheldCellSolved(
        [
          { a: 0, b: 0, c: 50 },
          { a: 1, b: 11, c: 40 },
        ],
        11,
      ),
    ).to.equal(true);
    expect(
      noWithheldCellSolved(
        [
          { a: 3, b: 20 },
          { a: 14, b: 31 },
        ],
        11,
      ),
    ).to.equal(true);
    expect(
      noWithheldCellSolved(
        [
          { a: 0, b: 5 },
          { a: 11, b: 16 },
        ],
        11,
      ),
    ).to.equal(true);
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
      [() => suppressSmallCells({ a: 20 }, { k: 2 }), "options.k"],
      [() => suppressSmallCells({ a: 20 }, { roundTo: 0 }), "options.roundTo"],
      [() => suppressSmallCells({ a: 20 }, { history: [{ a: 20 }] as never }), "options.history[0]"],
      [() => suppressSmallCells({ a: 20 }, { history: {} as never }), "options.history"],
      [
        () => suppressSmallCells({ a: 20 }, { k: 5, history: [suppressSmallCells({ a: 20 }).release] }),
        "options.history[0].k",
      ],
      [
        () => suppressSmallCells({ a: 20 }, { history: [{ cells: { a: -2 }, total: 1, k: 11 }] }),
        "options.history[0].cells.a",
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

  it("property: shown cells are 0 or at least k and moved 0 or k+ from every value shown before", function () {
    const labels = ["a", "b", "c"];
    const table = fc.tuple(...labels.map(() => fc.integer({ min: 0, max: 40 })));
    fc.assert(
      fc.property(fc.array(table, { minLength: 1, maxLength: 4 }), fc.integer({ min: 3, max: 12 }), (rows, k) => {
        const tables = rows.map((row) => Object.fromEntries(labels.map((label, i) => [label, row[i]!])));
        const releases = releaseAll(tables, k);
        return releases.every((release, i) =>
          labels.every((label) => {
            const cell = release.cells[label];
            if (cell === null || cell === undefined) return true;
            if (!(cell === 0 || cell >= k)) return false;
            return releases.slice(0, i).every((earlier) => {
              const shown = earlier.cells[label];
              return shown === null || shown === undefined || cell === shown || Math.abs(cell - shown) >= k;
            });
          }),
        );
      }),
      { numRuns: 500 },
    );
  });

  it("property, by brute force: no withheld cell of two releases can be solved for (small tables, small k)", function () {
    const labels = ["a", "b"];
    const table = fc.tuple(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 12 }));
    fc.assert(
      fc.property(fc.array(table, { minLength: 1, maxLength: 2 }), fc.integer({ min: 3, max: 5 }), (rows, k) =>
        noWithheldCellSolved(
          rows.map((row) => Object.fromEntries(labels.map((label, i) => [label, row[i]!]))),
          k,
        ),
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

describe("research: cohortMoved (rule 0)", function () {
  it("withholds when the counted contributors differ from any earlier release's by 1 to k-1", function () {
    const base = ["a", "b", "c", "d", "e", "f"];
    expect(cohortMoved(base, [base], 3)).to.equal(false); // the same people: nothing new to learn
    expect(cohortMoved(base.slice(1), [base], 3)).to.equal(true); // one left
    expect(cohortMoved([...base.slice(1), "g"], [base], 3)).to.equal(true); // a swap: two changes
    expect(cohortMoved([...base, "g", "h", "i"], [base], 3)).to.equal(false); // k joined together
    expect(cohortMoved([...base, "g", "h", "i"], [base, [...base, "g"]], 3)).to.equal(true); // vs a withheld one too
    expect(cohortMoved(base, [], 3)).to.equal(false);
    expect(() => cohortMoved(base, [base], 2)).to.throw(AggregateInputError);
  });
});
