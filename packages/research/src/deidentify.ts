// HIPAA Safe Harbor de-identification of a patient's FHIR R4 resources for one study (45 CFR 164.514(b)(2)):
// pure, no I/O, deterministic (the same input, key and date give the same bytes), so the wallet can run it in a
// browser and a test can run it a thousand times.
//
// How the 18 identifiers are removed: by allowlist (resources.ts, elements.ts), never by searching for them. Each
// supported resource type keeps a fixed set of coded, numeric and date elements; everything else is left out:
// names, telecom, identifiers, narrative, notes, display texts, extensions, contained resources, photos, meta.
// Dates keep their year; ages over 89 (and the birth year of a patient over 89) become "90 or more"; addresses
// keep state, country and ZIP3 (000 in the restricted areas); resource ids and references become pseudonyms
// under the study's key (pseudonym.ts), so one patient's resources link within the study and nowhere else.
import { DeidentifyInputError } from "./errors.ts";
import {
  DEFAULT_CODE_SYSTEMS,
  UCUM,
  hasModifierExtension,
  isObject,
  type RuleContext,
  type Target,
} from "./elements.ts";
import { PSEUDONYM_KEY_BYTES, Pseudonymizer } from "./pseudonym.ts";
import { RESOURCE_RULES, SUPPORTED_RESOURCE_TYPES } from "./resources.ts";
import { RESTRICTED_ZIP3 } from "./restricted-zip3.ts";

/** The extension that says a patient's age is 90 or more (their birth year is then left out). */
export const AGE_GROUP_EXTENSION = "https://hygeia.dev/fhir/StructureDefinition/age-group";

export interface DeidentifyOptions {
  /** The study's pseudonym key, 32 bytes: deriveStudyPseudonymKey(consentSecret, studyId) of @hygeia/crypto. */
  pseudonymKey: Uint8Array;
  /** The day of the extraction (YYYY-MM-DD): ages are computed at that date. */
  asOf: string;
  /** The resource types the study asked for; others are left out. Default: every supported type. */
  resourceTypes?: readonly string[];
  /** Three-digit ZIP codes reported as 000. Default: RESTRICTED_ZIP3 (HHS, 2000 Census). */
  restrictedZip3?: ReadonlySet<string>;
  /** Code systems whose codes are kept. Default: DEFAULT_CODE_SYSTEMS (LOINC, SNOMED CT, ICD-10, RxNorm, ...). */
  codeSystems?: ReadonlySet<string>;
}

/** A de-identified resource: its type, its pseudonymous id, and the elements Safe Harbor lets through. */
export interface DeidentifiedResource {
  resourceType: string;
  id: string;
  [element: string]: unknown;
}

export type OmitReason =
  | "unsupported-type" // a type no rule covers (Practitioner, DocumentReference, ...)
  | "not-requested" // a type the study did not ask for
  | "modifier-extension" // its meaning depends on an extension, and extensions are never kept
  | "incomplete"; // what is left has lost an element the type needs (an Observation without a usable code)

export interface DeidentifyReport {
  /** Resources kept, by type. */
  kept: Record<string, number>;
  /** Resources left out, by type and reason: what the patient is told is not shared. */
  omitted: { resourceType: string; reason: OmitReason; count: number }[];
  /** The patient is 90 or older: their birth year is left out and the age group given instead. */
  ageGrouped: boolean;
}

export interface DeidentifiedExtract {
  resources: DeidentifiedResource[];
  report: DeidentifyReport;
}

const AS_OF = /^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const BIRTH_YEAR = /^(\d{4})(?:-|$)/;

interface Input {
  resource: Record<string, unknown>;
  type: string;
  /** The logical id the pseudonym is computed from: "Type/id", else the Bundle full URL, else "Type/#index". */
  logicalId: string;
  /** The Bundle entry's full URL, when it came in a Bundle with one. */
  fullUrl?: string;
}

/**
 * The Safe Harbor extract of `resources` (FHIR R4 resources, or Bundles of them) for one study. Throws
 * DeidentifyInputError for input that is not FHIR resources or for bad options; never returns part of a resource
 * it could not read.
 */
export function deidentify(resources: readonly unknown[], options: DeidentifyOptions): DeidentifiedExtract {
  const context = contextOf(options);
  const requested = requestedTypes(options.resourceTypes);
  const inputs = flatten(resources);
  const fullUrls = context.fullUrls as Map<string, Target>;
  for (const { fullUrl, type, logicalId } of inputs)
    if (fullUrl !== undefined) fullUrls.set(fullUrl, { type, logicalId });

  const out: DeidentifiedResource[] = [];
  const kept: Record<string, number> = {};
  const omitted = new Map<string, { resourceType: string; reason: OmitReason; count: number }>();
  const omit = (resourceType: string, reason: OmitReason) => {
    const key = `${resourceType}\0${reason}`;
    const entry = omitted.get(key) ?? { resourceType, reason, count: 0 };
    entry.count += 1;
    omitted.set(key, entry);
  };
  let ageGrouped = false;

  for (const { resource, type, logicalId } of inputs) {
    const rules = RESOURCE_RULES[type];
    if (rules === undefined) {
      omit(type, "unsupported-type");
      continue;
    }
    if (!requested.has(type)) {
      omit(type, "not-requested");
      continue;
    }
    if (hasModifierExtension(resource)) {
      omit(type, "modifier-extension");
      continue;
    }
    const result: DeidentifiedResource = { resourceType: type, id: context.pseudonyms.of(logicalId) };
    for (const [name, rule] of Object.entries(rules.elements)) {
      if (!Object.hasOwn(resource, name)) continue;
      const value = rule(resource[name], context);
      if (value !== undefined) result[name] = value;
    }
    if (type === "Patient" && birthYearOrGroup(resource.birthDate, result, context.asOfYear)) ageGrouped = true;
    if (rules.required.some((name) => result[name] === undefined)) {
      omit(type, "incomplete");
      continue;
    }
    out.push(result);
    kept[type] = (kept[type] ?? 0) + 1;
  }
  return { resources: out, report: { kept, omitted: [...omitted.values()], ageGrouped } };
}

/**
 * Safe Harbor (C) for the birth date: the year, unless the patient may be over 89 at the extraction date (then
 * the year itself is "indicative of such age": left out, and the age group 90+ given). Returns whether grouped.
 */
function birthYearOrGroup(birthDate: unknown, result: DeidentifiedResource, asOfYear: number): boolean {
  if (typeof birthDate !== "string") return false;
  const match = BIRTH_YEAR.exec(birthDate);
  if (!match) return false;
  // With the year alone, someone born in asOfYear - 90 may already be 90: counted as 90 or more.
  if (asOfYear - Number(match[1]) >= 90) {
    result.extension = [{ url: AGE_GROUP_EXTENSION, valueCode: "90-or-more" }];
    return true;
  }
  result.birthDate = match[1];
  return false;
}

function contextOf(options: DeidentifyOptions): RuleContext {
  if (!isObject(options)) throw new DeidentifyInputError("options", "expected { pseudonymKey, asOf, ... }");
  const { pseudonymKey, asOf } = options;
  if (!(pseudonymKey instanceof Uint8Array) || pseudonymKey.length !== PSEUDONYM_KEY_BYTES)
    throw new DeidentifyInputError(
      "options.pseudonymKey",
      `expected the study's ${PSEUDONYM_KEY_BYTES}-byte key (deriveStudyPseudonymKey in @hygeia/crypto)`,
    );
  const date = typeof asOf === "string" ? AS_OF.exec(asOf) : null;
  if (date === null) throw new DeidentifyInputError("options.asOf", "expected the extraction day as YYYY-MM-DD");
  const restrictedZip3 = options.restrictedZip3 ?? RESTRICTED_ZIP3;
  if (!(restrictedZip3 instanceof Set) || [...restrictedZip3].some((zip) => !/^\d{3}$/.test(String(zip))))
    throw new DeidentifyInputError("options.restrictedZip3", "expected a Set of three-digit strings");
  const codeSystems = options.codeSystems ?? DEFAULT_CODE_SYSTEMS;
  if (!(codeSystems instanceof Set) || [...codeSystems].some((system) => typeof system !== "string"))
    throw new DeidentifyInputError("options.codeSystems", "expected a Set of code system URIs");
  return {
    pseudonyms: new Pseudonymizer(pseudonymKey),
    asOfYear: Number(date[1]),
    restrictedZip3,
    codeSystems: new Set([...codeSystems, UCUM]),
    fullUrls: new Map(),
  };
}

function requestedTypes(types: readonly string[] | undefined): ReadonlySet<string> {
  if (types === undefined) return new Set(SUPPORTED_RESOURCE_TYPES);
  if (!Array.isArray(types) || types.some((type) => typeof type !== "string"))
    throw new DeidentifyInputError("options.resourceTypes", "expected an array of FHIR resource type names");
  return new Set(types);
}

/** The resources, Bundles opened (entries in order, nested Bundles too), each with the id its pseudonym uses. */
function flatten(resources: readonly unknown[]): Input[] {
  if (!Array.isArray(resources)) throw new DeidentifyInputError("resources", "expected an array of FHIR resources");
  const out: Input[] = [];
  const visit = (value: unknown, field: string, fullUrl: string | undefined, depth: number) => {
    if (!isObject(value) || typeof value.resourceType !== "string" || !/^[A-Z][A-Za-z]{1,63}$/.test(value.resourceType))
      throw new DeidentifyInputError(field, "expected a FHIR resource (an object with a resourceType)");
    const type = value.resourceType;
    if (type === "Bundle") {
      if (depth >= 4) throw new DeidentifyInputError(field, "Bundles nested more than 4 deep");
      const entries = value.entry === undefined ? [] : value.entry;
      if (!Array.isArray(entries)) throw new DeidentifyInputError(`${field}.entry`, "expected an array");
      entries.forEach((entry: unknown, i) => {
        if (!isObject(entry) || entry.resource === undefined) return; // a request-only entry carries no data
        const url = typeof entry.fullUrl === "string" ? entry.fullUrl : undefined;
        visit(entry.resource, `${field}.entry[${i}].resource`, url, depth + 1);
      });
      return;
    }
    const id = typeof value.id === "string" && /^[A-Za-z0-9.-]{1,64}$/.test(value.id) ? value.id : undefined;
    const logicalId = id !== undefined ? `${type}/${id}` : fullUrl !== undefined ? fullUrl : `${type}/#${out.length}`;
    out.push({ resource: value, type, logicalId, ...(fullUrl === undefined ? {} : { fullUrl }) });
  };
  resources.forEach((resource, i) => visit(resource, `resources[${i}]`, undefined, 0));
  return out;
}
