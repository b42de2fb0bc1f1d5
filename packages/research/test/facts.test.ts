// deriveFacts: the wallet's category per aggregate dimension, from its own de-identified extract.
import { expect } from "chai";
import {
  AggregateInputError,
  deidentify,
  deriveFacts,
  parseAggregateScope,
  syntheticPatient,
  type DeidentifiedResource,
} from "../src/index.ts";

const key = new Uint8Array(32).fill(7);
const SEX = parseAggregateScope("aggregate:sex:female,male,other,unknown");
const AGE = parseAggregateScope("aggregate:age:0-17,18-64,65-89,90+");
const SITE = parseAggregateScope("aggregate:site:north,south");

function extractOf(age: number): DeidentifiedResource[] {
  return deidentify(syntheticPatient(5, { age, asOf: "2026-12-01" }).resources, {
    pseudonymKey: key,
    asOf: "2026-12-01",
  }).resources;
}

describe("research: deriveFacts", function () {
  it("places sex and age from the extract, and a given label for another dimension", function () {
    const extract = extractOf(40);
    const gender = extract.find((r) => r.resourceType === "Patient")!.gender as string;
    const facts = deriveFacts(extract, [SEX, AGE, SITE], { asOf: "2026-12-01", given: { site: "south" } });
    expect(facts.sex).to.equal(SEX.categories.indexOf(gender));
    expect(facts.age).to.equal(1);
    expect(facts.site).to.equal(1);
  });

  it("counts a patient whose birth year is grouped as 90 or more", function () {
    expect(deriveFacts(extractOf(95), [AGE], { asOf: "2026-12-01" }).age).to.equal(3);
  });

  it("refuses what it cannot place: a missing label, a label not listed, an age no band holds", function () {
    const extract = extractOf(40);
    expect(() => deriveFacts(extract, [SITE], { asOf: "2026-12-01" })).to.throw(AggregateInputError, /give/);
    expect(() => deriveFacts(extract, [SITE], { asOf: "2026-12-01", given: { site: "east" } })).to.throw(
      AggregateInputError,
    );
    const adults = parseAggregateScope("aggregate:age:18-64,65-89");
    expect(() => deriveFacts(extractOf(10), [adults], { asOf: "2026-12-01" })).to.throw(AggregateInputError, /band/);
    expect(() => deriveFacts([], [AGE], { asOf: "2026-12-01" })).to.throw(AggregateInputError, /birth year/);
  });
});
