// The element rules of the Safe Harbor extract: each takes one FHIR element as the input holds it and returns what
// of it may leave the patient's wallet, or undefined (left out). An allowlist: an element no rule names is left
// out, so an identifier in a place nobody thought of (an extension, a contained resource, a narrative, a display
// text) cannot survive.
//
// What each rule keeps (45 CFR 164.514(b)(2)(i), identifiers A-R):
// - codes: only the system and code of a Coding from a known terminology, and only a code that passes that
//   terminology's check (format, check digit, or the system's list of codes); never `display` or `text` (free
//   text: (R));
// - dates (C): the year only; an `instant` (which cannot be a year) is left out; when the patient may be 90 or
//   older, a year that would say how much older is left out too;
// - ages and durations (C): whole years only; over 89 they become "90 or more" (value 90, comparator >=); under 90
//   they are kept only when the patient is known to be under 90 (with a year next to it, an age gives a birth year
//   away);
// - quantities: value (at most 7 significant digits: no phone, SSN or date fits), comparator and a UCUM unit from
//   a fixed list of clinical units (no free-text {annotations}); without such a unit the quantity is left out;
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
  /** Bundle full URLs, keyed `${bundle}\0${fullUrl}` -> the resource they name (a full URL counts in its Bundle). */
  readonly fullUrls: ReadonlyMap<string, Target>;
  /** The Bundle the resource being read came in (-1: none); its references resolve full URLs of that Bundle only. */
  bundle: number;
  /** Resource types an extract carries: a reference to any other type is left out. */
  readonly referenceTypes: ReadonlySet<string>;
}

/** What of an element may be kept; undefined leaves it out. */
export type Rule = (value: unknown, context: RuleContext) => unknown;

export const UCUM = "http://unitsofmeasure.org";

/** LOINC's mod-10 check digit (the digit after the dash), as LOINC computes it. */
function loincCheckDigitOk(code: string): boolean {
  const [body, check] = code.split("-") as [string, string];
  if (!/^\d+$/.test(body)) return true; // LP/LA part codes: no numeric check digit to test
  const digits = body.padStart(5, "0").split("").map(Number).reverse();
  let sum = 0;
  digits.forEach((digit, i) => {
    if (i % 2 === 0) {
      const doubled = digit * 2;
      sum += doubled > 9 ? doubled - 9 : doubled;
    } else sum += digit;
  });
  return (10 - (sum % 10)) % 10 === Number(check);
}

// Verhoeff tables (SNOMED CT identifiers end in a Verhoeff check digit).
const VERHOEFF_D = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
  [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
  [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
  [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
  [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
  [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
  [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
  [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
  [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const VERHOEFF_P = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
  [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
  [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
  [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
  [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
  [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
  [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
  [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/** A SNOMED CT concept id: Verhoeff check digit, and the partition of a concept (00 short, 10 extension). */
function sctidOk(code: string): boolean {
  const partition = code.slice(-3, -1);
  if (partition !== "00" && partition !== "10") return false;
  let c = 0;
  code
    .split("")
    .reverse()
    .forEach((digit, i) => {
      c = VERHOEFF_D[c]![VERHOEFF_P[i % 8]![Number(digit)]!]!;
    });
  return c === 0;
}

type CodeCheck = (code: string) => boolean;
const pattern =
  (regex: RegExp): CodeCheck =>
  (code) =>
    regex.test(code);
const codes = (...list: string[]): CodeCheck => {
  const set = new Set(list);
  return (code) => set.has(code);
};
const HL7 = "http://terminology.hl7.org/CodeSystem/";

/**
 * The terminologies whose codes are kept, each with a check of its codes: a code that is not in its system's
 * format, fails its check digit, or (HL7's small code systems) is not one of the system's codes is left out (an
 * identifier placed in a code field by a careless export).
 */
export const CODE_FORMATS: ReadonlyMap<string, CodeCheck> = new Map([
  ["http://loinc.org", (code) => /^(?:\d{1,7}|L[APG]\d{1,8})-\d$/.test(code) && loincCheckDigitOk(code)],
  // SCTID: 6 to 18 digits, no leading zero, Verhoeff check digit, concept partition.
  ["http://snomed.info/sct", (code) => /^[1-9]\d{5,17}$/.test(code) && sctidOk(code)],
  ["http://hl7.org/fhir/sid/icd-10", pattern(/^[A-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4})?$/)],
  ["http://hl7.org/fhir/sid/icd-10-cm", pattern(/^[A-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4})?$/)],
  ["http://hl7.org/fhir/sid/icd-9-cm", pattern(/^(?:\d{3}|V\d{2}|E\d{3})(?:\.\d{1,2})?$/)],
  ["http://www.nlm.nih.gov/research/umls/rxnorm", pattern(/^\d{1,7}$/)],
  ["http://hl7.org/fhir/sid/cvx", pattern(/^\d{1,3}$/)],
  // Language and region only (no private-use or extension subtags, which can carry anything).
  ["urn:ietf:bcp:47", pattern(/^[a-z]{2,3}(?:-(?:[A-Z]{2}|\d{3}))?$/)],
  [
    `${HL7}observation-category`,
    codes(
      "social-history",
      "vital-signs",
      "imaging",
      "laboratory",
      "procedure",
      "survey",
      "exam",
      "therapy",
      "activity",
    ),
  ],
  [
    `${HL7}v3-ObservationInterpretation`,
    codes(
      "H",
      "HH",
      "HU",
      "L",
      "LL",
      "LU",
      "N",
      "A",
      "AA",
      "<",
      ">",
      "I",
      "R",
      "S",
      "NEG",
      "POS",
      "IND",
      "DET",
      "ND",
      "E",
      "W",
      "U",
      "D",
      "B",
    ),
  ],
  [`${HL7}observation-interpretation`, codes("H", "HH", "L", "LL", "N", "A", "AA", "NEG", "POS")],
  [`${HL7}condition-clinical`, codes("active", "recurrence", "relapse", "inactive", "remission", "resolved")],
  [
    `${HL7}condition-ver-status`,
    codes("unconfirmed", "provisional", "differential", "confirmed", "refuted", "entered-in-error"),
  ],
  [`${HL7}condition-category`, codes("problem-list-item", "encounter-diagnosis")],
  [`${HL7}v3-ActCode`, codes("AMB", "EMER", "FLD", "HH", "IMP", "ACUTE", "NONAC", "OBSENC", "PRENC", "SS", "VR")],
  [`${HL7}v3-MaritalStatus`, codes("A", "D", "I", "L", "M", "P", "S", "T", "U", "W")],
  [`${HL7}medication-statement-category`, codes("inpatient", "outpatient", "community", "patientspecified")],
  [`${HL7}allergyintolerance-clinical`, codes("active", "inactive", "resolved")],
  [`${HL7}allergyintolerance-verification`, codes("unconfirmed", "confirmed", "refuted", "entered-in-error")],
  [
    `${HL7}referencerange-meaning`,
    codes(
      "type",
      "normal",
      "recommended",
      "treatment",
      "therapeutic",
      "pre",
      "post",
      "endocrine",
      "pre-puberty",
      "follicular",
      "midcycle",
      "luteal",
      "postmenopausal",
    ),
  ],
  [
    `${HL7}data-absent-reason`,
    codes(
      "unknown",
      "asked-unknown",
      "temp-unknown",
      "not-asked",
      "asked-declined",
      "masked",
      "not-applicable",
      "unsupported",
      "as-text",
      "error",
      "not-a-number",
      "negative-infinity",
      "positive-infinity",
      "not-performed",
      "not-permitted",
    ),
  ],
  [
    `${HL7}discharge-disposition`,
    codes("home", "alt-home", "other-hcf", "hosp", "long", "aadvice", "exp", "psy", "rehab", "snf", "oth"),
  ],
  [`${HL7}admit-source`, codes("hosp-trans", "emd", "outp", "born", "gp", "mp", "nursing", "psych", "rehab", "other")],
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
  const check = typeof system === "string" ? CODE_FORMATS.get(system) : undefined;
  if (check === undefined || typeof code !== "string" || code.length > 40 || !check(code)) return undefined;
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
  const found = yearOf(value);
  if (found === undefined) return undefined;
  if (!context.knownUnder90 && found < context.ageYear - 90) return undefined;
  return String(found).padStart(4, "0");
};

/** The year of a FHIR date or dateTime string, or undefined for anything else. */
export function yearOf(value: unknown): number | undefined {
  if (typeof value !== "string") return undefined;
  const match = DATE.exec(value);
  return match ? Number(match[1]) : undefined;
}

export const period = shape({ start: year, end: year });

const COMPARATORS: ReadonlySet<unknown> = new Set(["<", "<=", ">=", ">"]);

// UCUM units from a fixed list of atoms (the units of clinical measurement), joined by "." and "/" with an
// optional exponent: a unit outside it (a misspelt one, an {annotation} other than the few clinical ones, free
// text) makes the quantity unreadable, and it is left out whole (a bare number could be anything).
const UCUM_ATOMS = [
  "10\\*3",
  "10\\*6",
  "10\\*9",
  "10\\*12",
  "g",
  "mg",
  "ug",
  "ng",
  "pg",
  "kg",
  "L",
  "dL",
  "mL",
  "uL",
  "fL",
  "pL",
  "mol",
  "mmol",
  "umol",
  "nmol",
  "pmol",
  "meq",
  "mEq",
  "osm",
  "mosm",
  "U",
  "mU",
  "kU",
  "\\[IU\\]",
  "\\[iU\\]",
  "m",
  "cm",
  "mm",
  "um",
  "nm",
  "%",
  "Cel",
  "\\[degF\\]",
  "kPa",
  "Pa",
  "mm\\[Hg\\]",
  "cm\\[H2O\\]",
  "s",
  "min",
  "h",
  "d",
  "wk",
  "mo",
  "a",
  "\\{1\\.73_m2\\}",
  "\\{beats\\}",
  "\\{breaths\\}",
  "\\{cells\\}",
  "\\{score\\}",
  "\\[in_i\\]",
  "\\[lb_av\\]",
  "\\[oz_av\\]",
  "\\[ft_i\\]",
  "\\[pH\\]",
  "kcal",
  "cal",
  "\\[HPF\\]",
  "\\[LPF\\]",
  "1",
];
const UCUM_ATOM = `(?:${UCUM_ATOMS.join("|")})(?:-?[1-3])?`;
const UCUM_UNIT = new RegExp(`^(?:${UCUM_ATOM}|/${UCUM_ATOM})(?:[./]${UCUM_ATOM})*$`);

/** Years per UCUM time unit. */
const YEARS_PER = new Map([
  ["a", 1],
  ["mo", 1 / 12],
  ["wk", 7 / 365.25],
  ["d", 1 / 365.25],
  ["h", 1 / 8766],
  ["min", 1 / 525_960],
  ["s", 1 / 31_557_600],
]);
const NINETY_OR_MORE = { value: 90, comparator: ">=", unit: "a", system: UCUM, code: "a" } as const;

/** Whether a UCUM unit multiplies by a time atom (a time, not a rate such as /min): "a1", "d.1", "mg.h". */
function timeInNumerator(unit: string): boolean {
  return unit
    .split(/(?=[./])/)
    .filter((token) => !token.startsWith("/"))
    .some((token) => YEARS_PER.has(token.replace(/^\./, "").replace(/-?[1-3]$/, "")));
}

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
 * A Quantity: value, comparator and a UCUM unit from the list above; without one it is left out. A time (an age or
 * a duration) is kept in whole years only (days, weeks or hours next to a year would date an event finer than
 * the year); over 89 years it becomes "90 or more"; under 90 years it is kept only when the patient is known to be
 * under 90.
 */
export const quantity: Rule = (value, context) => {
  if (!isObject(value) || !plainMeasurement(value.value)) return undefined;
  if (value.system !== UCUM || typeof value.code !== "string" || value.code.length > 32 || !UCUM_UNIT.test(value.code))
    return undefined;
  const comparator = COMPARATORS.has(value.comparator) ? (value.comparator as string) : undefined;
  const perUnit = YEARS_PER.get(value.code);
  // A time in any other spelling (a1, d.1, mo.mo: a time atom multiplied in) is not converted, so it is not kept.
  if (perUnit === undefined && timeInNumerator(value.code)) return undefined;
  if (perUnit === undefined)
    return {
      value: value.value,
      ...(comparator ? { comparator } : {}),
      unit: value.code,
      system: UCUM,
      code: value.code,
    };
  const years = Math.floor(value.value * perUnit);
  if (years >= 90) return comparator === "<" || comparator === "<=" ? undefined : { ...NINETY_OR_MORE };
  if (!context.knownUnder90 || years < 0) return undefined;
  return { value: years, ...(comparator ? { comparator } : {}), unit: "a", system: UCUM, code: "a" };
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
  const inBundle = context.fullUrls.get(`${context.bundle}\0${reference}`);
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
