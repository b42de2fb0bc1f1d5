// The element rules of the Safe Harbor extract: each takes one FHIR element as the input holds it and returns what
// of it may leave the patient's wallet, or undefined (left out). An allowlist: an element no rule names is left
// out, so an identifier in a place nobody thought of (an extension, a contained resource, a narrative, a display
// text) cannot survive.
//
// What each rule keeps (45 CFR 164.514(b)(2)(i), identifiers A-R):
// - codes: only the system and code of a Coding from a known terminology (LOINC, SNOMED CT, ICD-10, RxNorm, ...);
//   never `display` or `text` (free text: (R)), never a code that is not a plain token;
// - dates (C): the year only; an `instant` (which cannot be a year) is left out;
// - ages (C): ages over 89 become "90 or more" (value 90, comparator >=);
// - quantities: value, comparator and the UCUM code (the unit is written from the code, not copied);
// - references: "Type/<pseudonym>" only (no display, no identifier); references into contained resources, and
//   references that cannot be resolved, are left out;
// - addresses (B): the state (a two-letter code), the country and the first three digits of a US ZIP code, or
//   000 for the restricted areas.
import type { Pseudonymizer } from "./pseudonym.ts";

export interface RuleContext {
  readonly pseudonyms: Pseudonymizer;
  /** The extraction year (ages are computed against it). */
  readonly asOfYear: number;
  readonly restrictedZip3: ReadonlySet<string>;
  readonly codeSystems: ReadonlySet<string>;
  /** Bundle full URLs (urn:uuid:..., absolute URLs) -> the resource they name: its type and logical id. */
  readonly fullUrls: ReadonlyMap<string, Target>;
}

/** What of an element may be kept; undefined leaves it out. */
export type Rule = (value: unknown, context: RuleContext) => unknown;

export const UCUM = "http://unitsofmeasure.org";

/** The terminologies whose codes are kept by default. */
export const DEFAULT_CODE_SYSTEMS: ReadonlySet<string> = new Set([
  "http://loinc.org",
  "http://snomed.info/sct",
  "http://hl7.org/fhir/sid/icd-10",
  "http://hl7.org/fhir/sid/icd-10-cm",
  "http://hl7.org/fhir/sid/icd-9-cm",
  "http://www.nlm.nih.gov/research/umls/rxnorm",
  "http://hl7.org/fhir/sid/cvx",
  "http://hl7.org/fhir/sid/ndc",
  UCUM,
  "urn:ietf:bcp:47",
  // HL7's own code systems (observation-category, condition-clinical, v3-ActCode, ...).
  "http://terminology.hl7.org/CodeSystem/observation-category",
  "http://terminology.hl7.org/CodeSystem/observation-interpretation",
  "http://terminology.hl7.org/CodeSystem/condition-clinical",
  "http://terminology.hl7.org/CodeSystem/condition-ver-status",
  "http://terminology.hl7.org/CodeSystem/condition-category",
  "http://terminology.hl7.org/CodeSystem/v3-ActCode",
  "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
  "http://terminology.hl7.org/CodeSystem/medication-statement-category",
  "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
  "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
  "http://terminology.hl7.org/CodeSystem/referencerange-meaning",
  "http://terminology.hl7.org/CodeSystem/data-absent-reason",
  "http://terminology.hl7.org/CodeSystem/discharge-disposition",
  "http://terminology.hl7.org/CodeSystem/admit-source",
]);

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// A FHIR code, narrowed to a plain token (FHIR allows single inner spaces; a code with spaces is left out rather
// than risk free text in a code field).
const CODE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;
const DATE = /^(\d{4})(?:-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01])(?:T[\d:.]+(?:Z|[+-]\d{2}:\d{2})?)?)?)?$/;
const RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;

/** An object with only the named elements, each through its rule; undefined when nothing is left. */
export function shape(fields: Readonly<Record<string, Rule>>): Rule {
  const entries = Object.entries(fields);
  return (value, context) => {
    if (!isObject(value) || hasModifierExtension(value)) return undefined;
    const out: Record<string, unknown> = {};
    for (const [name, rule] of entries) {
      if (!Object.hasOwn(value, name)) continue;
      const kept = rule(value[name], context);
      if (kept !== undefined) out[name] = kept;
    }
    return Object.keys(out).length === 0 ? undefined : out;
  };
}

/**
 * An element whose meaning a modifier extension changes (a negation, a "not done") cannot be read without it, and
 * extensions are never kept: such an element is left out whole rather than kept with its meaning reversed.
 */
export function hasModifierExtension(value: Record<string, unknown>): boolean {
  const modifiers = value.modifierExtension;
  return Array.isArray(modifiers) ? modifiers.length > 0 : modifiers !== undefined;
}

/** Each item through `rule`; the items it leaves out are dropped; undefined when none is left. */
export function list(rule: Rule): Rule {
  return (value, context) => {
    if (!Array.isArray(value)) return undefined;
    const out = [];
    for (const item of value) {
      const kept = rule(item, context);
      if (kept !== undefined) out.push(kept);
    }
    return out.length === 0 ? undefined : out;
  };
}

export const boolean: Rule = (value) => (typeof value === "boolean" ? value : undefined);
export const integer: Rule = (value) => (Number.isSafeInteger(value) ? value : undefined);
export const decimal: Rule = (value) => (typeof value === "number" && Number.isFinite(value) ? value : undefined);

/** One of the listed codes (status, gender, ...). */
export function oneOf(...codes: string[]): Rule {
  const allowed = new Set(codes);
  return (value) => (typeof value === "string" && allowed.has(value) ? value : undefined);
}

export const coding: Rule = (value, context) => {
  if (!isObject(value)) return undefined;
  const { system, code } = value;
  if (typeof system !== "string" || !context.codeSystems.has(system)) return undefined;
  if (typeof code !== "string" || !CODE.test(code)) return undefined;
  return { system, code };
};

export const concept: Rule = (value, context) => {
  if (!isObject(value)) return undefined;
  const codings = list(coding)(value.coding, context);
  return codings === undefined ? undefined : { coding: codings };
};

export const concepts = list(concept);

/** The year of a FHIR date or dateTime ("2024-05-02T09:30:00Z" -> "2024"). */
export const year: Rule = (value) => {
  if (typeof value !== "string") return undefined;
  const match = DATE.exec(value);
  return match ? match[1] : undefined;
};

export const period = shape({ start: year, end: year });

const COMPARATORS: ReadonlySet<unknown> = new Set(["<", "<=", ">=", ">"]);

/** A Quantity with a UCUM code: value, comparator, and the unit written from the code. */
export const quantity: Rule = (value) => {
  if (!isObject(value) || typeof value.value !== "number" || !Number.isFinite(value.value)) return undefined;
  const out: Record<string, unknown> = { value: value.value };
  if (COMPARATORS.has(value.comparator)) out.comparator = value.comparator;
  if (value.system === UCUM && typeof value.code === "string" && CODE_OR_UCUM.test(value.code)) {
    out.unit = value.code;
    out.system = UCUM;
    out.code = value.code;
  }
  return out;
};
// UCUM codes use a few symbols plain codes do not (mg/dL, 10*3/uL, %, mm[Hg]).
const CODE_OR_UCUM = /^[A-Za-z0-9%*/.[\]{}^'-]{1,32}$/;

export const range = shape({ low: quantity, high: quantity });

const YEARS_PER: Readonly<Record<string, number>> = { a: 1, mo: 1 / 12, wk: 7 / 365.25, d: 1 / 365.25 };
const NINETY_OR_MORE = { value: 90, comparator: ">=", unit: "a", system: UCUM, code: "a" } as const;

/** An Age: kept in its UCUM unit, except that an age over 89 years becomes "90 or more" (Safe Harbor (C)). */
export const age: Rule = (value, context) => {
  const kept = quantity(value, context) as Record<string, unknown> | undefined;
  if (kept === undefined || typeof kept.code !== "string") return undefined;
  const perUnit = YEARS_PER[kept.code];
  if (perUnit === undefined) return undefined;
  return Math.floor((kept.value as number) * perUnit) >= 90 ? { ...NINETY_OR_MORE } : kept;
};

/** A Range of ages: each bound over 89 years becomes 90 years. */
export const ageRange: Rule = (value, context) => {
  const bound = (quantityValue: unknown) => {
    const kept = age(quantityValue, context) as Record<string, unknown> | undefined;
    return kept?.comparator === ">=" && kept.value === 90 ? { value: 90, unit: "a", system: UCUM, code: "a" } : kept;
  };
  return shape({ low: bound, high: bound })(value, context);
};

/** What a reference names: the resource's type and the logical id its pseudonym is computed from. */
export interface Target {
  type: string;
  logicalId: string;
}

/** The resource a reference names, or undefined (contained, unresolvable, malformed). */
export function referenceTarget(reference: string, context: RuleContext): Target | undefined {
  const inBundle = context.fullUrls.get(reference);
  if (inBundle !== undefined) return inBundle;
  if (reference.startsWith("urn:") || reference.startsWith("#")) return undefined;
  const parts = reference.split("/");
  const history = parts.lastIndexOf("_history");
  const path = history >= 2 ? parts.slice(0, history) : parts;
  const type = path[path.length - 2];
  const id = path[path.length - 1];
  if (type === undefined || id === undefined || !RESOURCE_TYPE.test(type) || !/^[A-Za-z0-9.-]{1,64}$/.test(id))
    return undefined;
  return { type, logicalId: `${type}/${id}` };
}

export const reference: Rule = (value, context) => {
  if (!isObject(value) || typeof value.reference !== "string") return undefined;
  const target = referenceTarget(value.reference, context);
  if (target === undefined) return undefined;
  return { reference: `${target.type}/${context.pseudonyms.of(target.logicalId)}` };
};

export const references = list(reference);

const US_ZIP = /^(\d{3})\d{2}(?:-?\d{4})?$/;
const STATE = /^[A-Z]{2}$/;
const COUNTRY = /^[A-Z]{2,3}$/;

/** Safe Harbor (B): state, country, and the first three digits of a US ZIP (000 where the area is small). */
export const address: Rule = (value, context) => {
  if (!isObject(value)) return undefined;
  const out: Record<string, unknown> = {};
  if (typeof value.state === "string" && STATE.test(value.state)) out.state = value.state;
  if (typeof value.country === "string" && COUNTRY.test(value.country)) out.country = value.country;
  if (typeof value.postalCode === "string") {
    const zip3 = US_ZIP.exec(value.postalCode.trim())?.[1];
    if (zip3 !== undefined) out.postalCode = context.restrictedZip3.has(zip3) ? "000" : zip3;
  }
  return Object.keys(out).length === 0 ? undefined : out;
};
