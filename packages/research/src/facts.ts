// A patient's category in each of a study's aggregate dimensions, derived by the wallet from its own de-identified
// extract (so what is counted is what the extract says, nothing more), or given by the patient for a dimension
// no rule covers. Pure; the result indexes the dimension's categories (what @hygeia/crypto encryptFacts takes).
//
// Rules by dimension name:
// - sex: the Patient's gender (female, male, other, unknown); absent -> "unknown".
// - age: whole years at `asOf` from the birth year alone (asOf year - birth year: the extract keeps years only),
//   "90 or more" for a grouped birth year; categories are bands "a-b" or "a+" (e.g. 0-17,18-64,65-89,90+).
// - any other: the label the patient gives in `given`.
// A value with no category among the dimension's is refused: never counted in a wrong cell.
import { AGE_GROUP_EXTENSION, type DeidentifiedResource } from "./deidentify.ts";
import { AggregateInputError } from "./aggregates.ts";
import type { AggregateDimension } from "./aggregate-scope.ts";

export interface FactsOptions {
  /** The day ages are counted at (YYYY-MM-DD): the same as the extract's. */
  asOf: string;
  /** Labels for dimensions no rule derives, by dimension name. */
  given?: Readonly<Record<string, string>>;
}

const BAND = /^(\d{1,3})(?:-(\d{1,3})|\+)$/;

function patientOf(extract: readonly DeidentifiedResource[]): DeidentifiedResource | undefined {
  return extract.find((resource) => resource.resourceType === "Patient");
}

function ageOf(patient: DeidentifiedResource | undefined, asOf: string): number | undefined {
  if (patient === undefined) return undefined;
  const grouped = Array.isArray(patient.extension)
    ? (patient.extension as { url?: unknown }[]).some((e) => e.url === AGE_GROUP_EXTENSION)
    : false;
  if (grouped) return 90;
  const year = typeof patient.birthDate === "string" ? Number(patient.birthDate.slice(0, 4)) : NaN;
  return Number.isInteger(year) ? Number(asOf.slice(0, 4)) - year : undefined;
}

function bandIndex(categories: readonly string[], age: number): number {
  return categories.findIndex((label) => {
    const match = BAND.exec(label);
    if (!match) return false;
    const low = Number(match[1]);
    const high = match[2] === undefined ? Infinity : Number(match[2]);
    return age >= low && age <= high;
  });
}

/** The category index per dimension; throws AggregateInputError naming a dimension it cannot place. */
export function deriveFacts(
  extract: readonly DeidentifiedResource[],
  dimensions: readonly AggregateDimension[],
  options: FactsOptions,
): Record<string, number> {
  if (typeof options?.asOf !== "string" || !/^\d{4}-\d{2}-\d{2}$/.test(options.asOf))
    throw new AggregateInputError("options.asOf", "expected YYYY-MM-DD");
  const patient = patientOf(extract);
  const out: Record<string, number> = {};
  for (const { name, categories } of dimensions) {
    const field = `facts.${name}`;
    let index: number;
    if (name === "sex") {
      const gender = typeof patient?.gender === "string" ? patient.gender : "unknown";
      index = categories.indexOf(gender);
      if (index < 0)
        throw new AggregateInputError(
          field,
          `the study's sex categories have no "${gender}" (${categories.join(", ")})`,
        );
    } else if (name === "age") {
      const age = ageOf(patient, options.asOf);
      if (age === undefined) throw new AggregateInputError(field, "the extract has no birth year to count an age from");
      index = bandIndex(categories, age);
      if (index < 0)
        throw new AggregateInputError(field, `no age band of the study (${categories.join(", ")}) holds ${age}`);
    } else {
      const label = options.given?.[name];
      if (label === undefined)
        throw new AggregateInputError(field, `the wallet derives only sex and age: give the patient's ${name}`);
      index = categories.indexOf(label);
      if (index < 0)
        throw new AggregateInputError(
          field,
          `"${label}" is not one of ${name}'s categories (${categories.join(", ")})`,
        );
    }
    out[name] = index;
  }
  return out;
}
