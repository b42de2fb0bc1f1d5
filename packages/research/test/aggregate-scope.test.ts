// Aggregate scopes: the registered scope strings that define what a study may count.
import { expect } from "chai";
import { AggregateInputError, aggregateDimensions, isAggregateScope, parseAggregateScope } from "../src/index.ts";

describe("research: aggregate scopes", function () {
  it("parses a dimension and its categories in order", function () {
    expect(parseAggregateScope("aggregate:sex:female,male,other,unknown")).to.deep.equal({
      name: "sex",
      categories: ["female", "male", "other", "unknown"],
    });
    expect(parseAggregateScope("aggregate:age:0-17,18-64,65-89,90+").categories).to.deep.equal([
      "0-17",
      "18-64",
      "65-89",
      "90+",
    ]);
  });

  it("tells aggregate scopes from row-level ones, and lists a study's dimensions", function () {
    expect(isAggregateScope("fhir:Observation")).to.equal(false);
    expect(aggregateDimensions(["fhir:Patient", "aggregate:site:north,south"]).map((d) => d.name)).to.deep.equal([
      "site",
    ]);
    expect(aggregateDimensions(["fhir:Patient"])).to.deep.equal([]);
  });

  it("refuses malformed scopes, one category, a repeated category, and one dimension twice", function () {
    for (const scope of [
      "fhir:Patient",
      "aggregate:",
      "aggregate:sex",
      "aggregate:sex:female",
      "aggregate:Sex:a,b",
      "aggregate:sex:a,a",
      "aggregate:sex:a,,b",
      "aggregate:sex:a b,c",
      "aggregate:constructor:a,b",
      "aggregate:sex:toString,valueOf",
      `aggregate:big:${Array.from({ length: 65 }, (_, i) => `c${i}`).join(",")}`,
    ])
      expect(() => parseAggregateScope(scope), scope).to.throw(AggregateInputError);
    expect(() => aggregateDimensions(["aggregate:sex:a,b", "aggregate:sex:c,d"])).to.throw(
      AggregateInputError,
      /one dimension/,
    );
  });
});
