// Lab values out of FHIR Observations, for the chart: what is charted, what is skipped, and that a patient's real
// volume of data (a glucose monitor's year, ~105k readings) or a hostile nesting neither freezes nor crashes the page.
import { expect } from "chai";
import { MAX_BUNDLE_DEPTH, chartPoints, labSeries, labValuesOf } from "../src/patient/observations.ts";

function glucose(value: number, time: string, unit = "mg/dL") {
  return {
    resourceType: "Observation",
    code: { coding: [{ system: "http://loinc.org", code: "2345-7" }], text: "Glucose" },
    effectiveDateTime: time,
    valueQuantity: { value, unit },
    referenceRange: [{ low: { value: 70 }, high: { value: 99 } }],
  };
}

describe("web: lab values from FHIR Observations", function () {
  it("charts a numeric Observation with its range, and skips what cannot be placed on a trend line", function () {
    const [charted, ...rest] = labValuesOf(glucose(95, "2026-01-10T08:00:00Z"));
    expect(rest).to.deep.equal([]);
    expect(charted).to.include({ value: 95, unit: "mg/dL", low: 70, high: 99, label: "Glucose" });
    const skipped = [
      { ...glucose(95, "2026-01-10T08:00:00Z"), valueQuantity: { value: "95" } },
      { ...glucose(95, "not a date") },
      { ...glucose(95, "2026-01-10T08:00:00Z"), code: {} },
      { resourceType: "Patient" },
      null,
      "Observation",
    ];
    for (const resource of skipped) expect(labValuesOf(resource)).to.deep.equal([]);
  });

  it("reads a Bundle's Observations in order, follows nested Bundles only so deep, and survives any nesting", function () {
    const bundle = {
      resourceType: "Bundle",
      entry: [{ resource: glucose(90, "2026-01-01T00:00:00Z") }, { resource: glucose(91, "2026-01-02T00:00:00Z") }],
    };
    expect(labValuesOf(bundle).map((value) => value.value)).to.deep.equal([90, 91]);
    let nested: Record<string, unknown> = glucose(1, "2026-01-01T00:00:00Z");
    for (let depth = 0; depth < 5000; depth++) nested = { resourceType: "Bundle", entry: [{ resource: nested }] };
    expect(labValuesOf(nested)).to.deep.equal([]); // too deep to follow, and no stack overflow
    let shallow: Record<string, unknown> = glucose(2, "2026-01-01T00:00:00Z");
    for (let depth = 0; depth < MAX_BUNDLE_DEPTH; depth++)
      shallow = { resourceType: "Bundle", entry: [{ resource: shallow }] };
    expect(labValuesOf(shallow).map((value) => value.value)).to.deep.equal([2]);
  });

  it("groups by test and unit, oldest first, and draws a year of monitor readings as at most 400 points keeping the extremes", function () {
    const start = Date.parse("2026-01-01T00:00:00Z");
    const readings = Array.from({ length: 105_000 }, (_, index) =>
      glucose(100 + (index % 97), new Date(start + index * 300_000).toISOString()),
    );
    readings[52_000]!.valueQuantity.value = 400; // one dangerous peak
    readings[77_000]!.valueQuantity.value = 40; // one dangerous dip
    const values = readings.flatMap((reading) => labValuesOf(reading));
    const series = labSeries([...values, ...labValuesOf(glucose(5.5, "2026-01-01T00:00:00Z", "mmol/L"))]);
    expect(series.map((one) => [one.unit, one.points.length])).to.deep.equal([
      ["mg/dL", 105_000],
      ["mmol/L", 1],
    ]);
    const drawn = chartPoints(series[0]!.points);
    expect(drawn.length).to.be.at.most(400);
    expect(drawn.map((point) => point.value)).to.include.members([400, 40]);
    const times = drawn.map((point) => point.time.getTime());
    expect(times).to.deep.equal([...times].sort((a, b) => a - b));
    expect(chartPoints(series[1]!.points)).to.have.length(1);
  });
});
