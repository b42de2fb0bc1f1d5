// A study's aggregate scopes: what counts an IRB approved, written as the study's registered scope strings
//   aggregate:<dimension>:<category>,<category>,...      e.g. aggregate:sex:female,male,other,unknown
// so the chain's scope hashes pin each dimension's categories, in order. A study answers counts only over the
// dimensions it registered (deny by default); any other scope kind (fhir:, category:, ...) is row-level data.
import { AggregateInputError } from "./aggregates.ts";

export interface AggregateDimension {
  /** [a-z0-9-], 1 to 32 characters. */
  name: string;
  /** 2 to 64 distinct labels, in the order the scope lists them: the cells of the encrypted one-hot vector. */
  categories: string[];
}

const PREFIX = "aggregate:";
const NAME = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
const CATEGORY = /^[A-Za-z0-9._+<>=-]{1,32}$/;

/** Whether a scope string is an aggregate scope (then parseAggregateScope must accept it). */
export const isAggregateScope = (scope: string): boolean => scope.startsWith(PREFIX);

/** The dimension an `aggregate:` scope defines; throws AggregateInputError naming what is wrong. */
export function parseAggregateScope(scope: string): AggregateDimension {
  if (typeof scope !== "string" || !scope.startsWith(PREFIX))
    throw new AggregateInputError("scope", `an aggregate scope starts with "${PREFIX}"`);
  const rest = scope.slice(PREFIX.length);
  const colon = rest.indexOf(":");
  const name = colon < 0 ? rest : rest.slice(0, colon);
  if (!NAME.test(name))
    throw new AggregateInputError("scope", `the dimension name must be 1-32 of [a-z0-9-], got "${name}"`);
  // Names become object keys: one of Object.prototype's (constructor, toString, ...) would read as present.
  if (name in Object.prototype) throw new AggregateInputError("scope", `"${name}" is a reserved name`);
  const categories = colon < 0 ? [] : rest.slice(colon + 1).split(",");
  if (categories.length < 2 || categories.length > 64)
    throw new AggregateInputError("scope", `dimension ${name} must list 2 to 64 categories after a colon`);
  for (const category of categories) {
    if (!CATEGORY.test(category))
      throw new AggregateInputError("scope", `category "${category}" of ${name} must be 1-32 of [A-Za-z0-9._+<>=-]`);
    if (category in Object.prototype) throw new AggregateInputError("scope", `"${category}" is a reserved name`);
  }
  if (new Set(categories).size !== categories.length)
    throw new AggregateInputError("scope", `dimension ${name} lists a category twice`);
  return { name, categories };
}

/** The aggregate dimensions among a study's scopes (each parsed; two scopes of one name are refused). */
export function aggregateDimensions(scopes: readonly string[]): AggregateDimension[] {
  const dimensions = scopes.filter(isAggregateScope).map(parseAggregateScope);
  const names = new Set(dimensions.map((d) => d.name));
  if (names.size !== dimensions.length)
    throw new AggregateInputError("scopes", "two aggregate scopes name one dimension");
  return dimensions;
}

/** The context a patient's encrypted facts for one dimension are bound to (their proofs name it). */
export function factsContext(studyId: string, dimension: string, patient: string): string {
  return `hygeia:facts:${studyId.toLowerCase()}:${dimension}:${patient.toLowerCase()}`;
}

/** The context a study's tally key share proof is bound to. */
export function tallyShareContext(studyId: string): string {
  return `hygeia:tally-share:${studyId.toLowerCase()}`;
}

/** The context a researcher's partial decryption of one cell of one aggregate query is bound to. */
export function partialContext(queryId: string, cell: number): string {
  return `hygeia:tally-partial:${queryId}:${cell}`;
}

/** The label the researcher derives its tally key share with from the study's X25519 secret key (deriveTallyKeyShare). */
export function researcherTallyLabel(studyId: string): string {
  return `hygeia:researcher-tally:${studyId.toLowerCase()}`;
}
