// Release a count table of a study's cohort with small-cell suppression, then again after some patients left.
// Run: node packages/research/examples/aggregates.ts
import assert from "node:assert/strict";
// #region aggregates
import { histogram, suppressSmallCells, type ReleasedCounts } from "@hygeia/research";

// One value per contributor (here each patient's latest HbA1c, %), in fixed bins.
const hba1c = [5.2, 5.4, 5.5, 5.9, 6.1, 6.3, 6.8, 7.4, 8.1, 9.0];
const cohort = Array.from({ length: 60 }, (_, i) => hba1c[i % hba1c.length]! + (i % 3) * 0.1);
const bins = [4, 5.7, 6.5, 20]; // normal, prediabetes, diabetes

const first = suppressSmallCells(histogram(cohort, bins)); // k = 11 by default
console.log(first.release); // { cells: { "4-5.7": 16, "5.7-6.5": 18, "6.5-20": 26, above: 0, below: 0 }, total: 60 }
const history: ReleasedCounts[] = [first.release]; // every release of this table so far

// Three patients left; comparing the two answers must not single them out.
const second = suppressSmallCells(histogram(cohort.slice(3), bins), { history });
console.log(second.release); // every cell null: the 4-5.7 bin moved by 3 (< k), so the table is withheld
// #endregion aggregates

assert.equal(first.release.total, 60);
assert.ok(Object.values(second.release.cells).every((cell) => cell === null));
assert.equal(second.withheld["4-5.7"], "changed"); // why: the releasing side's log only
