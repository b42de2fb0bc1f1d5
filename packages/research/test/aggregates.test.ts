import { expect } from "chai";
import fc from "fast-check";
import { AggregateInputError, countBy, histogram, suppressSmallCells, type ReleasedCounts } from "../src/index.ts";

describe("aggregates: small-cell suppression", function () {
  it("deny by default: a cohort smaller than k gets nothing, not even its total", function () {
    const released = suppressSmallCells({ diabetic: 6, other: 4 });
    expect(released).to.deep.equal({
      cells: { diabetic: null, other: null },
      total: null,
      withheld: { diabetic: "cohort", other: "cohort" },
    });
    expect(suppressSmallCells({}).total).to.equal(null);
  });

  it("a small cell is withheld with the smallest other cell, so the total cannot give it back", function () {
    // 3 is small; alone it would be total - 40 - 25; with 25 also withheld, 28 could be split any way.
    const released = suppressSmallCells({ a: 40, b: 25, c: 3 });
    expect(released.cells).to.deep.equal({ a: 40, b: null, c: null });
    expect(released.total).to.equal(68);
    expect(released.withheld).to.deep.equal({ b: "complementary", c: "small" });
  });

  it("two small cells whose sum is under k take a third with them; zeros are shown and never used to hide", function () {
    const released = suppressSmallCells({ a: 50, b: 30, c: 4, d: 3, e: 0 });
    expect(released.cells).to.deep.equal({ a: 50, b: null, c: null, d: null, e: 0 });
    expect(released.withheld).to.deep.equal({ b: "complementary", c: "small", d: "small" });
  });

  it("when nothing is left to hide a cell with, everything is withheld", function () {
    // a moved by 5 since the last answer; b is zero and cannot hide it: all withheld, the zero too.
    const released = suppressSmallCells({ a: 20, b: 0 }, { history: [{ cells: { a: 25, b: 0 }, total: 25 }] });
    expect(released.cells).to.deep.equal({ a: null, b: null });
    expect(released.withheld).to.deep.equal({ a: "changed", b: "complementary" });
  });

  it("a count that moved by 1 to k-1 since an earlier release is withheld (two answers cannot single anyone out)", function () {
    const first = suppressSmallCells({ a: 40, b: 30, c: 20 });
    expect(first.cells).to.deep.equal({ a: 40, b: 30, c: 20 });
    // One patient with a in the first answer left.
    const second = suppressSmallCells({ a: 39, b: 30, c: 20 }, { history: [first] });
    expect(second.cells.a).to.equal(null);
    expect(second.withheld.a).to.equal("changed");
    expect(second.total).to.equal(null); // 90 -> 89
    expect(Object.values(second.cells).filter((cell) => cell === null)).to.have.length.of.at.least(2);
    // Eleven more joined a: the step is k, shown again.
    const third = suppressSmallCells({ a: 51, b: 30, c: 20 }, { history: [first] });
    expect(third.cells).to.deep.equal({ a: 51, b: 30, c: 20 });
    expect(third.total).to.equal(101);
  });

  it("rounding comes after suppression: a raw 10 is withheld, a raw 11 shown as 10", function () {
    const released = suppressSmallCells({ a: 11, b: 10, c: 9, d: 40 }, { roundTo: 5 });
    expect(released.cells).to.deep.equal({ a: 10, b: null, c: null, d: 40 });
    expect(released.withheld).to.deep.equal({ b: "small", c: "small" });
    expect(released.total).to.equal(70);
  });

  it("refuses bad input with a typed error", function () {
    for (const run of [
      () => suppressSmallCells({ a: -1 }),
      () => suppressSmallCells({ a: 1.5 }),
      () => suppressSmallCells({ a: 20 }, { k: 1 }),
      () => suppressSmallCells({ a: 20 }, { roundTo: 0 }),
      () => histogram([1], [1]),
      () => histogram([1], [2, 1]),
      () => histogram([Number.NaN], [0, 1]),
    ])
      expect(run).to.throw(AggregateInputError);
  });

  it("property: shown cells are 0 or at least k, withheld ones at least two summing to k or more, steps since history 0 or at least k", function () {
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom("a", "b", "c", "d", "e", "f"), fc.integer({ min: 0, max: 60 }), { minKeys: 1 }),
        fc.dictionary(fc.constantFrom("a", "b", "c", "d", "e", "f"), fc.integer({ min: 0, max: 60 })),
        fc.integer({ min: 2, max: 20 }),
        (counts, earlier, k) => {
          const history: ReleasedCounts[] = [{ cells: earlier, total: null }];
          const released = suppressSmallCells(counts, { k, history });
          const total = Object.values(counts).reduce((sum, count) => sum + count, 0);
          if (total < k) return released.total === null && Object.values(released.cells).every((cell) => cell === null);
          const withheld = Object.keys(counts).filter((label) => released.cells[label] === null);
          const withheldSum = withheld.reduce((sum, label) => sum + counts[label]!, 0);
          const everything = withheld.length === Object.keys(counts).length;
          const shownOk = Object.entries(released.cells).every(([label, cell]) => {
            if (cell === null) return true;
            const step = earlier[label] === undefined ? 0 : Math.abs(cell - earlier[label]!);
            return (cell === 0 || cell >= k) && (step === 0 || step >= k);
          });
          const withheldOk = withheld.length === 0 || everything || (withheld.length >= 2 && withheldSum >= k);
          return shownOk && withheldOk;
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("countBy and histogram partition a cohort into fixed cells", function () {
    expect(countBy(["x", "y", "x"], (item) => item)).to.deep.equal({ x: 2, y: 1 });
    expect(histogram([4.9, 5, 6.5, 7, 12, 3], [5, 6, 7])).to.deep.equal({ below: 2, above: 1, "5-6": 1, "6-7": 2 });
  });
});
