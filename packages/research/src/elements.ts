// The element rules of the Safe Harbor extract: each takes one FHIR element as the input holds it and returns what
// of it may leave the patient's wallet, or undefined (left out). An allowlist: an element no rule names is left
// out, so an identifier in a place nobody thought of (an extension, a contained resource, a narrative, a display
// text) cannot survive.
//
// What each rule keeps (45 CFR 164.514(b)(2)(i), identifiers A-R):
// - codes: only the system and code of a Coding from a known terminology, and only a code in that terminology's
//   own format (a LOINC code looks like 4548-4, never like an SSN); never `display` or `text` (free text: (R));
// - dates (C): the year only; an `instant` (which cannot be a year) is left out; when the patient may be 90 or
//   older, a year that would say how much older is left out too;
// - ages (C): ages over 89 become "90 or more" (value 90, comparator >=); an age under 90 is kept only when the
//   patient is known to be under 90 (with a year next to it, it would give a birth year away);
// - quantities: value (at most 7 significant digits: no phone, SSN or date fits), comparator and a UCUM unit
//   from a fixed grammar (no {annotations}: free text); the unit is written from the code, not copied;
// - references: "Type/<pseudonym>" of a resource type an extract can carry; no display, no identifier;
//   references into contained resources, and references that cannot be resolved, are left out;
// - addresses (B): the state (a two-letter code), the country and, for a US address, the first three digits of
//   the ZIP code, or 000 for the restricted areas.
import type { Pseudonymizer } from "./pseudonym.ts";

export interface RuleContext {
  readonly pseudonyms: Pseudonymizer;
  /** The year ages are counted at: the later of the extraction day and the newest date in the records. */
  readonly ageYear: number;
  /** The patient's birth year is known and they are under 90 at ageYear: ages under 90 say nothing more. */
  readonly knownUnder90: boolean;
  readonly restrictedZip3: ReadonlySet<string>;
  /** Bundle full URLs (urn:uuid:..., absolute URLs) -> the resource they name. */
  readonly fullUrls: ReadonlyMap<string, Target>;
  /** Resource types an extract carries: a reference to any other type is left out. */
  readonly referenceTypes: ReadonlySet<string>;
}

/** What of an element may be kept; undefined leaves it out. */
export type Rule = (value: unknown, context: RuleContext) => unknown;

export const UCUM = "http://unitsofmeasure.org";

const HL7_CODE = /^[A-Za-z][A-Za-z0-9-]{0,39}$/;

/**
 * The terminologies whose codes are kept, each with the format of its codes: a code not in its system's format
 * is left out (an identifier placed in a code field by a careless export).
 */
export const CODE_FORMATS: ReadonlyMap<string, RegExp> = new Map([
  ["http://loinc.org", /^(?:\d{1,7}|L[APG]\d{1,8})-\d$/],
  // SCTID: 6 to 18 digits, no leading zero.
  ["http://snomed.info/sct", /^[1-9]\d{5,17}$/],
  ["http://hl7.org/fhir/sid/icd-10", /^[A-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4})?$/],
  ["http://hl7.org/fhir/sid/icd-10-cm", /^[A-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4})?$/],
  ["http://hl7.org/fhir/sid/icd-9-cm", /^(?:\d{3}|V\d{2}|E\d{3})(?:\.\d{1,2})?$/],
  ["http://www.nlm.nih.gov/research/umls/rxnorm", /^\d{1,7}$/],
  ["http://hl7.org/fhir/sid/cvx", /^\d{1,3}$/],
  // Language and region only (no private-use or extension subtags, which can carry anything).
  ["urn:ietf:bcp:47", /^[a-z]{2,3}(?:-(?:[A-Z]{2}|\d{3}))?$/],
  ...[
    "observation-category",
    "observation-interpretation",
    "condition-clinical",
    "condition-ver-status",
    "condition-category",
    "v3-ActCode",
    "v3-MaritalStatus",
    "medication-statement-category",
    "allergyintolerance-clinical",
    "allergyintolerance-verification",
    "referencerange-meaning",
    "data-absent-reason",
    "discharge-disposition",
    "admit-source",
  ].map((name) => [`http://terminology.hl7.org/CodeSystem/${name}`, HL7_CODE] as const),
]);

/** The code systems whose codes are kept. */
export const DEFAULT_CODE_SYSTEMS: ReadonlySet<string> = new Set(CODE_FORMATS.keys());

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const DATE = /^(\d{4})(?:-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01])(?:T[\d:.]+(?:Z|[+-]\d{2}:\d{2})?)?)?)?$/;
const RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;
const RESOURCE_ID = /^[A-Za-z0-9.-]{1,64}$/;

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
/** A small count (a birth order): integers that could be an age or a number are not kept anywhere else. */
export const smallCount: Rule = (value) =>
  Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) < 10 ? value : undefined;

/** One of the listed codes (status, gender, ...). */
export function oneOf(...codes: string[]): Rule {
  const allowed = new Set(codes);
  return (value) => (typeof value === "string" && allowed.has(value) ? value : undefined);
}

export const coding: Rule = (value) => {
  if (!isObject(value)) return undefined;
  const { system, code } = value;
  const format = typeof system === "string" ? CODE_FORMATS.get(system) : undefined;
  if (format === undefined || typeof code !== "string" || !format.test(code)) return undefined;
  return { system, code };
};

export const concept: Rule = (value, context) => {
  if (!isObject(value)) return undefined;
  const codings = list(coding)(value.coding, context);
  return codings === undefined ? undefined : { coding: codings };
};

export const concepts = list(concept);

/**
 * The year of a FHIR date or dateTime ("2024-05-02T09:30:00Z" -> "2024"). When the patient may be 90 or older, a
 * year before the one they may have been born in is left out: it would say they are older still.
 */
export const year: Rule = (value, context) => {
  if (typeof value !== "string") return undefined;
  const match = DATE.exec(value);
  if (!match) return undefined;
  if (!context.knownUnder90 && Number(match[1]) < context.ageYear - 90) return undefined;
  return match[1];
};

export const period = shape({ start: year, end: year });

const COMPARATORS: ReadonlySet<unknown> = new Set(["<", "<=", ">=", ">"]);

// UCUM units from a fixed grammar: atoms of at most 4 letters (g, mg, dL, mmol, ...), powers of ten (10*3), the
// bracketed units of clinical use, and one annotation ({1.73_m2}, eGFR's); joined by "." and "/", with exponents.
// Annotations in general ({anything}) are free text and are refused.
const UCUM_ATOM = String.raw`(?:10\*-?\d{1,2}|[A-Za-z]{1,4}|%|mm\[Hg\]|\[(?:IU|iU|lb_av|oz_av|in_i|ft_i|degF|pH|HPF|LPF|drp)\]|\{1\.73_m2\})-?\d?`;
const UCUM_UNIT = new RegExp(String.raw`^(?:${UCUM_ATOM}|1)?(?:[./]${UCUM_ATOM})*$`);

/** Years per UCUM time unit (ages and durations). */
const YEARS_PER = new Map([
  ["a", 1],
  ["mo", 1 / 12],
  ["wk", 7 / 365.25],
  ["d", 1 / 365.25],
]);
const NINETY_OR_MORE = { value: 90, comparator: ">=", unit: "a", system: UCUM, code: "a" } as const;

/** A number that cannot be a phone, SSN, account number or a date written as digits: at most 7 significant digits. */
function plainMeasurement(value: unknown): value is number {
  return (
    typeof value === "number" &&
    Number.isFinite(value) &&
    Math.abs(value) < 1e7 &&
    Number(value.toPrecision(7)) === value
  );
}

/**
 * A Quantity: value, comparator and UCUM unit. A time over 89 years becomes "90 or more"; a time in years or months
 * under 90 years (an age, as often as not) is kept only when the patient is known to be under 90.
 */
export const quantity: Rule = (value, context) => {
  if (!isObject(value) || !plainMeasurement(value.value)) return undefined;
  const out: Record<string, unknown> = { value: value.value };
  if (COMPARATORS.has(value.comparator)) out.comparator = value.comparator;
  if (
    value.system === UCUM &&
    typeof value.code === "string" &&
    value.code.length <= 32 &&
    UCUM_UNIT.test(value.code)
  ) {
    out.unit = value.code;
    out.system = UCUM;
    out.code = value.code;
    const perUnit = YEARS_PER.get(value.code);
    if (perUnit !== undefined) {
      const years = Math.floor(value.value * perUnit);
      if (years >= 90) return out.comparator === "<" || out.comparator === "<=" ? undefined : { ...NINETY_OR_MORE };
      if (!context.knownUnder90 && (value.code === "a" || value.code === "mo")) return undefined;
    }
  }
  return out;
};

export const range = shape({ low: quantity, high: quantity });

/**
 * An Age: kept in its UCUM time unit; over 89 years it becomes "90 or more"; under 90 it is kept only when the
 * patient is known to be under 90 (an age of 70 next to an event's year gives a 90-year-old's birth year away).
 */
export const age: Rule = (value, context) => {
  if (!isObject(value) || typeof value.code !== "string" || !YEARS_PER.has(value.code)) return undefined;
  const kept = quantity(value, context) as Record<string, unknown> | undefined;
  if (kept === undefined) return undefined;
  if (kept.comparator === ">=" && kept.value === 90 && kept.code === "a") return kept;
  return context.knownUnder90 ? kept : undefined;
};

/** A Range of ages: a low bound over 89 years becomes 90 years (a high bound over 89, none: unbounded). */
export const ageRange: Rule = (value, context) => {
  if (!isObject(value) || hasModifierExtension(value)) return undefined;
  const low = age(value.low, context) as Record<string, unknown> | undefined;
  const high = age(value.high, context) as Record<string, unknown> | undefined;
  const over = (bound: Record<string, unknown> | undefined) => bound?.comparator === ">=";
  const out: Record<string, unknown> = {};
  if (low !== undefined) out.low = over(low) ? { value: 90, unit: "a", system: UCUM, code: "a" } : low;
  if (high !== undefined && !over(high)) out.high = high;
  return Object.keys(out).length === 0 ? undefined : out;
};

/** What a reference names: the resource's type and the logical id its pseudonym is computed from. */
export interface Target {
  type: string;
  logicalId: string;
}

/**
 * The resource a reference names, or undefined (contained, unresolvable, malformed, a type no extract carries).
 * A Bundle full URL answers only for a resource of the type the reference itself names, so an entry whose full
 * URL imitates "Patient/1" cannot take Patient/1's references.
 */
export function referenceTarget(reference: string, context: RuleContext): Target | undefined {
  const inBundle = context.fullUrls.get(reference);
  if (reference.startsWith("urn:")) return inBundle;
  if (reference.startsWith("#")) return undefined;
  const parts = reference.split("/");
  const history = parts.lastIndexOf("_history");
  const path = history >= 2 ? parts.slice(0, history) : parts;
  const type = path[path.length - 2];
  const id = path[path.length - 1];
  if (type === undefined || id === undefined || !RESOURCE_TYPE.test(type) || !RESOURCE_ID.test(id)) return undefined;
  if (!context.referenceTypes.has(type)) return undefined;
  if (inBundle !== undefined && inBundle.type === type) return inBundle;
  return { type, logicalId: `${type}/${id}` };
}

export const reference: Rule = (value, context) => {
  if (!isObject(value) || typeof value.reference !== "string") return undefined;
  const target = referenceTarget(value.reference, context);
  if (target === undefined || !context.referenceTypes.has(target.type)) return undefined;
  return { reference: `${target.type}/${context.pseudonyms.of(target.logicalId)}` };
};

export const references = list(reference);

const US_ZIP = /^(\d{3})\d{2}(?:-?\d{4})?$/;
const STATE = /^[A-Z]{2}$/;
const COUNTRY = /^[A-Z]{2,3}$/;
const US = new Set(["US", "USA"]);

/** Safe Harbor (B): state, country, and for a US address the first three digits of the ZIP (000 where small). */
export const address: Rule = (value, context) => {
  if (!isObject(value)) return undefined;
  const out: Record<string, unknown> = {};
  if (typeof value.state === "string" && STATE.test(value.state)) out.state = value.state;
  const country = typeof value.country === "string" && COUNTRY.test(value.country) ? value.country : undefined;
  if (country !== undefined) out.country = country;
  // A postal code of another country is left out: its first digits are no ZIP3, and no restricted list covers it.
  const american = value.country === undefined || (country !== undefined && US.has(country));
  if (american && typeof value.postalCode === "string") {
    const zip3 = US_ZIP.exec(value.postalCode.trim())?.[1];
    if (zip3 !== undefined) out.postalCode = context.restrictedZip3.has(zip3) ? "000" : zip3;
  }
  return Object.keys(out).length === 0 ? undefined : out;
};
