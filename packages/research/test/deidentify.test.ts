import { expect } from "chai";
import fc from "fast-check";
import {
  AGE_GROUP_EXTENSION,
  DeidentifyInputError,
  RESTRICTED_ZIP3,
  deidentify,
  syntheticPatient,
  syntheticPatients,
  type DeidentifiedResource,
} from "../src/index.ts";

const AS_OF = "2026-12-01";
const KEY_A = new Uint8Array(32).fill(1);
const KEY_B = new Uint8Array(32).fill(2);
const PSEUDONYM = /\b[0-9a-f]{32}\b/g;
const UCUM = "http://unitsofmeasure.org";

/** The extract as text, with every pseudonym masked: what is left are element names, codes, years and numbers. */
function maskedText(resources: DeidentifiedResource[]): string {
  return JSON.stringify(resources).replace(PSEUDONYM, "<id>");
}

/** Every id and reference (the pseudonyms) of an extract. */
function pseudonymsOf(resources: DeidentifiedResource[]): Set<string> {
  return new Set(JSON.stringify(resources).match(PSEUDONYM) ?? []);
}

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

describe("deidentify (HIPAA Safe Harbor)", function () {
  it("no identifier planted in 300 synthetic patients survives anywhere in the serialized extract", function () {
    for (const patient of syntheticPatients(300, 1, { asOf: AS_OF })) {
      const { resources } = deidentify(patient.resources, { pseudonymKey: KEY_A, asOf: AS_OF });
      const text = maskedText(resources).toLowerCase();
      for (const identifier of patient.identifiers) {
        expect(text, `${identifier} survived`).not.to.include(identifier.toLowerCase());
      }
      // No date finer than a year, no time, no 5-digit ZIP, no e-mail, no URL other than code systems.
      expect(text).not.to.match(/\d{4}-\d{2}|\d{2}-\d{2}-|t\d{2}:\d{2}/);
      expect(text).not.to.match(/"postalcode":"\d{4,}/);
      expect(text).not.to.include("@");
      expect(text).not.to.match(/example\.org|patients\./);
      // Nothing of the free text, narrative, extensions, identifiers, telecom or contained resources.
      for (const element of ["text", "div", "note", "display", "identifier", "telecom", "name", "contained", "photo"])
        expect(text).not.to.include(`"${element}"`);
    }
  });

  it("the same property on random seeds and ages (fast-check)", function () {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 0, max: 110 }), (seed, age) => {
        const patient = syntheticPatient(seed, { asOf: AS_OF, age, observations: 2 });
        const text = maskedText(deidentify(patient.resources, { pseudonymKey: KEY_A, asOf: AS_OF }).resources);
        return patient.identifiers.every((identifier) => !text.toLowerCase().includes(identifier.toLowerCase()));
      }),
      { numRuns: 200 },
    );
  });

  it("keeps what research needs: coded labs with values and ranges, years, state and ZIP3", function () {
    const patient = syntheticPatient(7, { asOf: AS_OF, age: 54 });
    const { resources, report } = deidentify(patient.resources, { pseudonymKey: KEY_A, asOf: AS_OF });
    const source = patient.resources[0] as { birthDate: string; address: { postalCode: string; state: string }[] };
    const [person] = resources;
    expect(person).to.include({ resourceType: "Patient", birthDate: source.birthDate.slice(0, 4) });
    const zip3 = source.address[0]!.postalCode.slice(0, 3);
    expect(person!.address).to.deep.equal([
      { state: source.address[0]!.state, country: "US", postalCode: RESTRICTED_ZIP3.has(zip3) ? "000" : zip3 },
    ]);
    const labs = resources.filter((r) => r.resourceType === "Observation");
    expect(labs).to.have.length(6);
    for (const lab of labs) {
      expect(lab.code).to.have.nested.property("coding[0].system", "http://loinc.org");
      expect(lab.valueQuantity).to.have.property("value").that.is.a("number");
      expect(lab.referenceRange).to.have.length(1);
      expect(lab.effectiveDateTime).to.match(/^\d{4}$/);
      expect(lab).not.to.have.property("issued"); // an instant cannot be a year
    }
    expect(report.kept).to.deep.equal({
      Patient: 1,
      Encounter: 2,
      Observation: 6,
      Condition: 1,
      MedicationStatement: 1,
    });
    expect(report.omitted).to.deep.equal([
      { resourceType: "DocumentReference", reason: "unsupported-type", count: 1 },
      { resourceType: "Device", reason: "unsupported-type", count: 1 },
    ]);
    expect(report.ageGrouped).to.equal(false);
  });

  it("a patient over 89 gets an age group, no birth year, and onset ages of 90 or more", function () {
    const patient = syntheticPatient(11, { asOf: AS_OF, age: 97 });
    const { resources, report } = deidentify(patient.resources, { pseudonymKey: KEY_A, asOf: AS_OF });
    expect(report.ageGrouped).to.equal(true);
    expect(resources[0]).not.to.have.property("birthDate");
    expect(resources[0]!.extension).to.deep.equal([{ url: AGE_GROUP_EXTENSION, valueCode: "90-or-more" }]);
    expect(maskedText(resources)).not.to.include(String(2026 - 97));
    // Its onset age: "90 or more", or (under 90, next to a year) left out; never a number under 90.
    const condition = resources.find((r) => r.resourceType === "Condition")!;
    if (condition.onsetAge !== undefined) expect(condition.onsetAge).to.deep.include({ value: 90, comparator: ">=" });
    // Born in asOf - 90: may be 90 already, so grouped too; asOf - 89: the year is kept.
    const at90 = deidentify([{ resourceType: "Patient", id: "a", birthDate: "1936-12-31" }], {
      pseudonymKey: KEY_A,
      asOf: AS_OF,
    });
    expect(at90.report.ageGrouped).to.equal(true);
    const at89 = deidentify([{ resourceType: "Patient", id: "a", birthDate: "1937-01-01" }], {
      pseudonymKey: KEY_A,
      asOf: AS_OF,
    });
    expect(at89.resources[0]).to.include({ birthDate: "1937" });
  });

  it("ages: over 89 grouped in every unit and element; under 90 kept only for a patient known to be under 90", function () {
    const condition = {
      resourceType: "Condition",
      subject: { reference: "Patient/a" },
      code: { coding: [{ system: "http://snomed.info/sct", code: "44054006" }] },
      onsetAge: { value: 1100, system: UCUM, code: "mo" }, // 91 years
      abatementAge: { value: 89.9, system: UCUM, code: "a" },
    };
    const ageObservation = {
      resourceType: "Observation",
      status: "final",
      code: { coding: [{ system: "http://loinc.org", code: "30525-0" }] },
      valueQuantity: { value: 97, system: UCUM, code: "a" },
      component: [
        {
          code: { coding: [{ system: "http://loinc.org", code: "30525-0" }] },
          valueQuantity: { value: 35000, system: UCUM, code: "d" },
        },
      ],
      valueInteger: 97,
    };
    const young = { resourceType: "Patient", id: "a", birthDate: "1970-02-03" };
    const withYoung = deidentify([young, condition, ageObservation], { pseudonymKey: KEY_A, asOf: AS_OF }).resources;
    expect(withYoung[1]!.onsetAge).to.deep.equal({ value: 90, comparator: ">=", unit: "a", system: UCUM, code: "a" });
    expect(withYoung[1]!.abatementAge).to.deep.equal({ value: 89, unit: "a", system: UCUM, code: "a" }); // whole years
    expect(withYoung[2]!.valueQuantity).to.deep.include({ value: 90, comparator: ">=" });
    expect(withYoung[2]!.component).to.deep.equal([
      {
        code: ageObservation.component[0]!.code,
        valueQuantity: { value: 90, comparator: ">=", unit: "a", system: UCUM, code: "a" },
      },
    ]);
    expect(withYoung[2]).not.to.have.property("valueInteger"); // an integer could be an age or any number
    // No Patient (age unknown): ages under 90 are left out, "90 or more" stays.
    const unknown = deidentify([condition], { pseudonymKey: KEY_A, asOf: AS_OF }).resources[0]!;
    expect(unknown.onsetAge).to.deep.include({ value: 90, comparator: ">=" });
    expect(unknown).not.to.have.property("abatementAge");
    // "<100 years" is not "90 or more"; an age range over 89 keeps only its low bound, at 90.
    const bounds = deidentify(
      [
        young,
        { ...condition, onsetAge: { value: 100, comparator: "<", system: UCUM, code: "a" }, abatementAge: undefined },
        {
          ...condition,
          onsetAge: undefined,
          onsetRange: { low: { value: 95, system: UCUM, code: "a" }, high: { value: 99, system: UCUM, code: "a" } },
        },
      ],
      { pseudonymKey: KEY_A, asOf: AS_OF },
    ).resources;
    expect(bounds[1]).not.to.have.property("onsetAge");
    expect(bounds[2]!.onsetRange).to.deep.equal({ low: { value: 90, unit: "a", system: UCUM, code: "a" } });
  });

  it("a patient of 90 or more: no age under 90 and no year before their possible birth year survives", function () {
    const patient = { resourceType: "Patient", id: "old", birthDate: "1936-05-01", deceasedDateTime: "1935-01-01" };
    const procedure = {
      resourceType: "Procedure",
      status: "completed",
      subject: { reference: "Patient/old" },
      performedAge: { value: 70, system: UCUM, code: "a" },
      performedDateTime: "2006-04-04",
    };
    const condition = {
      resourceType: "Condition",
      subject: { reference: "Patient/old" },
      code: { coding: [{ system: "http://snomed.info/sct", code: "44054006" }] },
      onsetDateTime: "1934-06-01",
      onsetAge: { value: 0, system: UCUM, code: "d" },
    };
    const { resources, report } = deidentify([patient, procedure, condition], { pseudonymKey: KEY_A, asOf: AS_OF });
    expect(report.ageGrouped).to.equal(true);
    expect(resources[0]).not.to.have.property("deceasedDateTime"); // 1935 < 2026 - 90
    expect(resources[1]).not.to.have.property("performedAge");
    expect(resources[1]).to.include({ performedDateTime: "2006" }); // a year after 1936 says nothing more
    expect(resources[2]).not.to.have.property("onsetDateTime");
    expect(resources[2]).not.to.have.property("onsetAge");
    // One choice branch only: an Age next to a dateTime of the same element keeps the first kept.
    const both = deidentify(
      [
        { resourceType: "Patient", id: "y", birthDate: "1980" },
        { ...procedure, subject: { reference: "Patient/y" } },
      ],
      { pseudonymKey: KEY_A, asOf: AS_OF },
    ).resources[1]!;
    expect(Object.keys(both).filter((key) => key.startsWith("performed"))).to.deep.equal(["performedDateTime"]);
    // Ages are counted at the newest date in the records when asOf is earlier: born 1920 is 105 in 2025.
    const early = deidentify(
      [
        { resourceType: "Patient", id: "p", birthDate: "1920" },
        { ...procedure, subject: { reference: "Patient/p" }, performedDateTime: "2025-01-01", performedAge: undefined },
      ],
      { pseudonymKey: KEY_A, asOf: "1990-01-01" },
    );
    expect(early.report.ageGrouped).to.equal(true);
    expect(early.resources[0]).not.to.have.property("birthDate");
  });

  it("ZIP codes: three digits, 000 for every restricted area, nothing for a non-US code", function () {
    const zipOf = (postalCode: string) =>
      deidentify([{ resourceType: "Patient", id: "z", address: [{ postalCode, state: "VT" }] }], {
        pseudonymKey: KEY_A,
        asOf: AS_OF,
      }).resources[0]!.address;
    for (const zip3 of RESTRICTED_ZIP3) {
      expect(zipOf(`${zip3}42`)).to.deep.equal([{ state: "VT", postalCode: "000" }]);
      expect(zipOf(`${zip3}42-1234`)).to.deep.equal([{ state: "VT", postalCode: "000" }]);
    }
    expect(RESTRICTED_ZIP3.size).to.equal(17);
    expect(zipOf("02139")).to.deep.equal([{ state: "VT", postalCode: "021" }]);
    expect(zipOf("SW1A 1AA")).to.deep.equal([{ state: "VT" }]);
    expect(zipOf("0213")).to.deep.equal([{ state: "VT" }]);
  });

  it("pseudonyms link one patient's resources within a study and nothing across studies", function () {
    const patient = syntheticPatient(21, { asOf: AS_OF });
    const a = deidentify(patient.resources, { pseudonymKey: KEY_A, asOf: AS_OF }).resources;
    const b = deidentify(patient.resources, { pseudonymKey: KEY_B, asOf: AS_OF }).resources;
    // Within a study: every subject names the Patient's pseudonymous id, every encounter reference a kept Encounter.
    for (const extract of [a, b]) {
      const patientRef = `Patient/${extract[0]!.id}`;
      const encounters = new Set(extract.filter((r) => r.resourceType === "Encounter").map((r) => `Encounter/${r.id}`));
      for (const resource of extract.slice(1)) {
        expect(resource.subject).to.deep.equal({ reference: patientRef });
        if (resource.encounter !== undefined)
          expect(encounters.has((resource.encounter as { reference: string }).reference)).to.equal(true);
      }
    }
    // Across studies: no pseudonym in common, and the same shape otherwise.
    const inA = pseudonymsOf(a);
    for (const id of pseudonymsOf(b)) expect(inA.has(id), id).to.equal(false);
    expect(maskedText(a)).to.equal(maskedText(b));
    // Deterministic: the same key and input give the same bytes (a re-upload is the same extract).
    expect(JSON.stringify(deidentify(patient.resources, { pseudonymKey: KEY_A, asOf: AS_OF }).resources)).to.equal(
      JSON.stringify(a),
    );
  });

  it("opens Bundles and resolves urn:uuid references to the same pseudonyms as the resources'", function () {
    const bundle = {
      resourceType: "Bundle",
      type: "collection",
      entry: [
        {
          fullUrl: "urn:uuid:5f0e0c1a-0000-4000-8000-000000000001",
          resource: { resourceType: "Patient", gender: "female" },
        },
        {
          fullUrl: "urn:uuid:5f0e0c1a-0000-4000-8000-000000000002",
          resource: {
            resourceType: "Observation",
            status: "final",
            code: { coding: [{ system: "http://loinc.org", code: "718-7" }] },
            subject: { reference: "urn:uuid:5f0e0c1a-0000-4000-8000-000000000001" },
            hasMember: [{ reference: "urn:uuid:ffffffff-0000-4000-8000-000000000009" }],
          },
        },
        { request: { method: "DELETE", url: "Patient/x" } },
      ],
    };
    const { resources } = deidentify([bundle], { pseudonymKey: KEY_A, asOf: AS_OF });
    expect(resources.map((r) => r.resourceType)).to.deep.equal(["Patient", "Observation"]);
    expect(resources[1]!.subject).to.deep.equal({ reference: `Patient/${resources[0]!.id}` });
    expect(resources[1]).not.to.have.property("hasMember"); // a reference to nothing in the extract
  });

  it("leaves out whole: unsupported and unrequested types, modifier extensions, resources without their code", function () {
    const code = { coding: [{ system: "http://loinc.org", code: "718-7" }] };
    const { resources, report } = deidentify(
      [
        { resourceType: "Practitioner", name: [{ text: "Dr Who" }] },
        { resourceType: "Condition", subject: { reference: "Patient/a" }, code },
        { resourceType: "Observation", status: "final", code, modifierExtension: [{ url: "x", valueBoolean: true }] },
        {
          resourceType: "Observation",
          status: "final",
          code: { coding: [{ system: "https://local.example/codes", code: "x1" }], text: "glucose" },
        },
        {
          resourceType: "Observation",
          status: "final",
          code: { coding: [{ system: "http://loinc.org", code: "has space" }] },
        },
        {
          resourceType: "Observation",
          status: "final",
          code,
          component: [{ code, modifierExtension: [{ url: "y" }] }],
        },
      ],
      { pseudonymKey: KEY_A, asOf: AS_OF, resourceTypes: ["Observation"] },
    );
    expect(resources).to.have.length(1);
    expect(resources[0]).not.to.have.property("component"); // the modified component only
    expect(report.omitted).to.deep.equal([
      { resourceType: "Practitioner", reason: "unsupported-type", count: 1 },
      { resourceType: "Condition", reason: "not-requested", count: 1 },
      { resourceType: "Observation", reason: "modifier-extension", count: 1 },
      { resourceType: "Observation", reason: "incomplete", count: 2 },
    ]);
  });

  it("refuses what is not FHIR, and bad options, with a typed error naming the input", function () {
    const options = { pseudonymKey: KEY_A, asOf: AS_OF };
    const cases: [() => unknown, string][] = [
      [() => deidentify("x" as never, options), "resources"],
      [() => deidentify([{ id: "no type" }], options), "resources[0]"],
      [() => deidentify([null], options), "resources[0]"],
      [
        () => deidentify([{ resourceType: "Bundle", entry: [{ resource: 7 }] }], options),
        "resources[0].entry[0].resource",
      ],
      [() => deidentify([], { ...options, pseudonymKey: new Uint8Array(16) }), "options.pseudonymKey"],
      [() => deidentify([], { ...options, asOf: "2026-13-01" }), "options.asOf"],
      [() => deidentify([], { ...options, restrictedZip3: new Set(["12"]) }), "options.restrictedZip3"],
      [() => deidentify([], { ...options, resourceTypes: "Patient" as never }), "options.resourceTypes"],
      [() => deidentify([], null as never), "options"],
    ];
    for (const [run, field] of cases) {
      const error = thrown(run);
      expect(error).to.be.instanceOf(DeidentifyInputError);
      expect(error).to.include({ field, code: "INVALID_DEIDENTIFY_INPUT" });
    }
    let nested: unknown = { resourceType: "Patient" };
    for (let i = 0; i < 6; i++) nested = { resourceType: "Bundle", entry: [{ resource: nested }] };
    expect(thrown(() => deidentify([nested], options))).to.be.instanceOf(DeidentifyInputError);
  });

  describe("what a careless or hostile export puts where it does not belong", function () {
    const options = { pseudonymKey: KEY_A, asOf: AS_OF };
    const observation = (code: unknown, extra: Record<string, unknown> = {}) => ({
      resourceType: "Observation",
      status: "final",
      code: { coding: [code] },
      ...extra,
    });

    it("a code not in its terminology's format is left out (SSN, date, IP, MRN under LOINC; private-use language tags)", function () {
      for (const code of ["123-45-6789", "2024-05-02T09:30:00", "192.0.2.15", "MRN000123456", "4548-44"])
        expect(deidentify([observation({ system: "http://loinc.org", code })], options).resources).to.deep.equal([]);
      const kept = deidentify([observation({ system: "http://loinc.org", code: "4548-4" })], options).resources;
      expect(kept).to.have.length(1);
      const language = (code: string) =>
        deidentify(
          [
            {
              resourceType: "Patient",
              id: "l",
              communication: [{ language: { coding: [{ system: "urn:ietf:bcp:47", code }] } }],
            },
          ],
          options,
        ).resources[0]!.communication;
      expect(language("en-x-smith")).to.equal(undefined);
      expect(language("en-US")).to.deep.equal([
        { language: { coding: [{ system: "urn:ietf:bcp:47", code: "en-US" }] } },
      ]);
    });

    it("units are UCUM without annotations; values that could be a phone, SSN or date are left out", function () {
      const value = (valueQuantity: Record<string, unknown>) =>
        deidentify([observation({ system: "http://loinc.org", code: "2345-7" }, { valueQuantity })], options)
          .resources[0]!.valueQuantity;
      // A unit outside the clinical list leaves the quantity out whole: a bare number could be anything.
      for (const code of ["{Margarethe.Okonkwo}", "[Okonkwo]", "yr", "year", "a_j", "beats/min"])
        expect(value({ value: 5, system: UCUM, code }), code).to.equal(undefined);
      expect(value({ value: 5 })).to.equal(undefined);
      expect(value({ value: 72, system: UCUM, code: "{beats}/min" })).to.deep.include({ unit: "{beats}/min" });
      expect(value({ value: 90, system: UCUM, code: "mL/min/{1.73_m2}" })).to.deep.include({
        unit: "mL/min/{1.73_m2}",
      });
      expect(value({ value: 120, system: UCUM, code: "mm[Hg]" })).to.deep.include({ unit: "mm[Hg]" });
      expect(value({ value: 250, system: UCUM, code: "10*3/uL" })).to.deep.include({ unit: "10*3/uL" });
      for (const digits of [123456789, 6175550142, 20240502, 1.23456789])
        expect(value({ value: digits, system: UCUM, code: "mg/dL" })).to.equal(undefined);
      expect(value({ value: 98.6, system: UCUM, code: "[degF]" })).to.deep.include({ value: 98.6 });
    });

    it("a non-US postal code is left out, not cut to three digits; the restricted list can only grow", function () {
      const address = (entry: Record<string, unknown>, restrictedZip3?: Set<string>) =>
        deidentify([{ resourceType: "Patient", id: "z", address: [entry] }], {
          ...options,
          ...(restrictedZip3 ? { restrictedZip3 } : {}),
        }).resources[0]!.address;
      expect(address({ postalCode: "01067", country: "DE" })).to.deep.equal([{ country: "DE" }]);
      expect(address({ postalCode: "02139", country: "USA" })).to.deep.equal([{ country: "USA", postalCode: "021" }]);
      expect(address({ postalCode: "05901" }, new Set())).to.deep.equal([{ postalCode: "000" }]);
      expect(address({ postalCode: "02139" }, new Set(["021"]))).to.deep.equal([{ postalCode: "000" }]);
      const notAString = { toString: () => "036" } as unknown as string;
      expect(() => address({ postalCode: "03601" }, new Set([notAString]))).to.throw(DeidentifyInputError);
    });

    it("pseudonyms: id-less resources by content (stable, distinct), no full-URL impersonation, no other types", function () {
      const a = observation({ system: "http://loinc.org", code: "2345-7" }, { valueQuantity: { value: 90 } });
      const b = observation({ system: "http://loinc.org", code: "2345-7" }, { valueQuantity: { value: 91 } });
      const first = deidentify([a], options).resources[0]!.id;
      expect(deidentify([b], options).resources[0]!.id).not.to.equal(first); // same position, another resource
      expect(deidentify([b, a], options).resources[1]!.id).to.equal(first); // same resource, another position
      const bundle = {
        resourceType: "Bundle",
        entry: [
          { resource: { resourceType: "Patient", id: "1", gender: "male" } },
          { fullUrl: "Patient/1", resource: a },
          {
            resource: {
              resourceType: "Condition",
              subject: { reference: "Patient/1" },
              code: { coding: [{ system: "http://snomed.info/sct", code: "44054006" }] },
              recorder: { reference: "Practitioner/npi1234567890" },
              encounter: { reference: "Practitioner/npi1234567890" },
            },
          },
        ],
      };
      const resources = deidentify([bundle], options).resources;
      expect(resources[2]!.subject).to.deep.equal({ reference: `Patient/${resources[0]!.id}` });
      expect(resources[1]!.id).not.to.equal(resources[0]!.id);
      expect(resources[2]).not.to.have.property("encounter"); // a reference to a type no extract carries
    });

    it("JSON data only: getters are read once, cycles, BigInt and multiplied shared objects are refused with a typed error", function () {
      let reads = 0;
      const sneaky = {
        resourceType: "Observation",
        status: "final",
        code: { coding: [{ system: "http://loinc.org", code: "2345-7" }] },
        get valueQuantity() {
          reads += 1;
          return reads === 1
            ? { value: 5, system: UCUM, code: "mg/dL" }
            : { value: "Margarethe Okonkwo 123-45-6789", system: UCUM, code: "mg/dL" };
        },
      };
      expect(deidentify([sneaky], options).resources[0]!.valueQuantity).to.deep.include({ value: 5 });
      const cyclic: Record<string, unknown> = { resourceType: "Patient" };
      cyclic.self = cyclic;
      expect(thrown(() => deidentify([cyclic], options))).to.be.instanceOf(DeidentifyInputError);
      expect(thrown(() => deidentify([{ resourceType: "Patient", x: 1n }], options))).to.be.instanceOf(
        DeidentifyInputError,
      );
      let shared: unknown = { resourceType: "Patient", id: "s" };
      for (let i = 0; i < 30; i++)
        shared = { resourceType: "Bundle", entry: [{ resource: shared }, { resource: shared }] };
      expect(thrown(() => deidentify([shared], options))).to.be.instanceOf(DeidentifyInputError);
    });

    it("the report names only FHIR resource types it knows; any other name is 'other'", function () {
      const { report } = deidentify(
        [{ resourceType: "MargaretheOkonkwoLivesAtQuarryHollowLane" }, { resourceType: "Practitioner" }],
        options,
      );
      expect(report.omitted).to.deep.equal([
        { resourceType: "other", reason: "unsupported-type", count: 1 },
        { resourceType: "Practitioner", reason: "unsupported-type", count: 1 },
      ]);
    });
    it("second review: times in whole years only, codes checked against their terminology, Bundles scoped", function () {
      const young = { resourceType: "Patient", id: "n", birthDate: "2023" };
      const age = (valueQuantity: Record<string, unknown>) =>
        deidentify(
          [
            young,
            observation(
              { system: "http://loinc.org", code: "30525-0" },
              { subject: { reference: "Patient/n" }, valueQuantity, effectiveDateTime: "2024" },
            ),
          ],
          options,
        ).resources[1]!.valueQuantity;
      // 3 days old in 2024: kept as 0 years (days next to a year would date the birth finer than the year).
      expect(age({ value: 3, system: UCUM, code: "d" })).to.deep.equal({
        value: 0,
        unit: "a",
        system: UCUM,
        code: "a",
      });
      expect(age({ value: 820_000, system: UCUM, code: "h" })).to.deep.include({ value: 90, comparator: ">=" });
      // A time spelt otherwise (an exponent, a product) is not converted, so it is not kept; rates are.
      for (const code of ["a1", "d.1", "mo1", "h.h"])
        expect(age({ value: 95, system: UCUM, code }), code).to.equal(undefined);
      expect(age({ value: 60, system: UCUM, code: "/min" })).to.deep.include({ value: 60, unit: "/min" });
      // SNOMED: check digit and partition; an SSN or a phone number is not a concept id.
      const condition = (code: string) =>
        deidentify(
          [
            young,
            {
              resourceType: "Condition",
              subject: { reference: "Patient/n" },
              code: { coding: [{ system: "http://snomed.info/sct", code }] },
            },
          ],
          options,
        ).resources.length;
      expect(condition("44054006")).to.equal(2);
      for (const code of ["123456789", "6175551234", "44054007"]) expect(condition(code), code).to.equal(1);
      // LOINC check digit; HL7 code systems by their code lists; R4's interpretation system is kept.
      expect(
        deidentify([observation({ system: "http://loinc.org", code: "4548-5" })], options).resources,
      ).to.deep.equal([]);
      const flagged = deidentify(
        [
          observation(
            { system: "http://loinc.org", code: "4548-4" },
            {
              interpretation: [
                {
                  coding: [{ system: "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", code: "H" }],
                },
              ],
              category: [
                {
                  coding: [
                    {
                      system: "http://terminology.hl7.org/CodeSystem/observation-category",
                      code: "JaneDoe-MRN-00123456",
                    },
                  ],
                },
              ],
            },
          ),
        ],
        options,
      ).resources[0]!;
      expect(flagged.interpretation).to.have.length(1);
      expect(flagged).not.to.have.property("category");
      // A urn:uuid resolves within its own Bundle only.
      const bundle = (gender: string, withObservation: boolean) => ({
        resourceType: "Bundle",
        entry: [
          { fullUrl: "urn:uuid:1", resource: { resourceType: "Patient", gender } },
          ...(withObservation
            ? [
                {
                  resource: observation(
                    { system: "http://loinc.org", code: "4548-4" },
                    { subject: { reference: "urn:uuid:1" } },
                  ),
                },
              ]
            : []),
        ],
      });
      const resources = deidentify([bundle("male", true), bundle("female", false)], options).resources;
      expect(resources[1]!.subject).to.deep.equal({ reference: `Patient/${resources[0]!.id}` });
      expect(resources[0]!.gender).to.equal("male");
    });

    it("refuses the wallet's other secrets as the study key and unknown resource types; reports removed elements", async function () {
      const { deriveConsentSecretFromKeystoreSecret, deriveScopeKey } = await import("@hygeia/crypto");
      const consentSecret = deriveConsentSecretFromKeystoreSecret(new Uint8Array(32).fill(3));
      for (const key of [consentSecret, deriveScopeKey(consentSecret)])
        expect(thrown(() => deidentify([], { ...options, pseudonymKey: key }))).to.include({
          field: "options.pseudonymKey",
        });
      expect(thrown(() => deidentify([], { ...options, resourceTypes: ["Observaton"] })))
        .to.be.instanceOf(DeidentifyInputError)
        .and.to.have.property("message")
        .that.matches(/Observaton.*Observation/);
      const patient = syntheticPatient(5, { asOf: AS_OF, age: 40, observations: 2 });
      const { report } = deidentify(patient.resources, options);
      expect(report.removed).to.include({
        "Patient.name": 1,
        "Patient.telecom": 1,
        "Observation.note": 2,
        "Observation.issued": 2,
      });
      expect(JSON.stringify(report)).not.to.include(patient.identifiers[0]!);
      const odd = deidentify(
        [{ resourceType: "Patient", id: "o", "Margarethe Okonkwo 617-555-0142": 1 }],
        options,
      ).report;
      expect(odd.removed).to.deep.equal({ "Patient.(other)": 1 });
    });

    it("a date with a long time part still counts for the age (the scan and the date rule agree)", function () {
      const { report } = deidentify(
        [
          { resourceType: "Patient", id: "p", birthDate: "1937" },
          observation(
            { system: "http://loinc.org", code: "4548-4" },
            { effectiveDateTime: `2031-01-01T00:00:00.${"0".repeat(40)}Z` },
          ),
        ],
        options,
      );
      expect(report.ageGrouped).to.equal(true);
    });
  });
});
