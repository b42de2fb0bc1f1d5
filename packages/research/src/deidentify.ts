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
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";
import { hasModifierExtension, isObject, yearOf, type RuleContext, type Target } from "./elements.ts";
import { PSEUDONYM_KEY_BYTES, Pseudonymizer } from "./pseudonym.ts";
import { CHOICE_PREFIXES, RESOURCE_RULES, SUPPORTED_RESOURCE_TYPES } from "./resources.ts";
import { RESTRICTED_ZIP3 } from "./restricted-zip3.ts";

/** The extension that says a patient's age is 90 or more (their birth year is then left out). */
export const AGE_GROUP_EXTENSION = "https://hygeia.dev/fhir/StructureDefinition/age-group";

export interface DeidentifyOptions {
  /** The study's pseudonym key, 32 bytes: deriveStudyPseudonymKey(consentSecret, studyId) of @hygeia/crypto. */
  pseudonymKey: Uint8Array;
  /**
   * The day ages are counted at (YYYY-MM-DD): pass the later of today and the study's end date, so a patient who
   * turns 90 while the study holds their data is "90 or more" in every extract of it. Ages are never counted
   * before the newest date in the records themselves.
   */
  asOf: string;
  /** The resource types the study asked for; others are left out. Default: every supported type. */
  resourceTypes?: readonly string[];
  /** More three-digit ZIP codes to report as 000 (newer Census data); RESTRICTED_ZIP3 always applies. */
  restrictedZip3?: ReadonlySet<string>;
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
  /**
   * Elements of kept resources that were left out, as "Type.element" -> how many resources had one: "your notes
   * (Observation.note) were not shared". Element names only, never their content.
   */
  removed: Record<string, number>;
  /** The patient is 90 or older: their birth year is left out and the age group given instead. */
  ageGrouped: boolean;
}

export interface DeidentifiedExtract {
  resources: DeidentifiedResource[];
  report: DeidentifyReport;
}

/** @hygeia/crypto's marks on the wallet's other secrets (Symbol.for, so no dependency on that package). */
const WALLET_SECRETS: readonly (readonly [symbol, string])[] = [
  [Symbol.for("hygeia.consentSecret"), "consent secret"],
  [Symbol.for("hygeia.scopeKey"), "scope key"],
  [Symbol.for("hygeia.consentAccountSeed"), "consent-account seed"],
];

/** Most resources one extract reads (one patient's records for one study). */
const MAX_RESOURCES = 100_000;
const ELEMENT_NAME = /^_?[a-z][A-Za-z0-9]{0,63}$/;
const AS_OF = /^(\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const BIRTH_YEAR = /^(\d{4})(?:-|$)/;

interface Input {
  resource: Record<string, unknown>;
  type: string;
  /** The logical id the pseudonym is computed from: "Type/id", else the Bundle full URL, else "Type/#index". */
  logicalId: string;
  /** The Bundle entry's full URL, when it came in a Bundle with one. */
  fullUrl?: string;
  /** Which Bundle of the input it came in (-1: none): full URLs resolve within their own Bundle. */
  bundle: number;
}

/**
 * The Safe Harbor extract of `resources` (FHIR R4 resources, or Bundles of them) for one study. Throws
 * DeidentifyInputError for input that is not FHIR resources or for bad options; never returns part of a resource
 * it could not read.
 */
export function deidentify(resources: readonly unknown[], options: DeidentifyOptions): DeidentifiedExtract {
  const requested = requestedTypes(options?.resourceTypes);
  const plain = plainJson(resources);
  const inputs = flatten(plain);
  const base = optionsOf(options);
  const ageYear = Math.max(base.asOfYear, newestYear(plain));
  const birthYears = inputs.filter((input) => input.type === "Patient").map((input) => birthYearOf(input.resource));
  const knownBirthYears = birthYears.filter((birth): birth is number => birth !== undefined);
  const grouped = knownBirthYears.some((birth) => ageYear - birth >= 90);
  const context: RuleContext = {
    pseudonyms: base.pseudonyms,
    restrictedZip3: base.restrictedZip3,
    ageYear,
    knownUnder90: knownBirthYears.length > 0 && !grouped,
    fullUrls: new Map(
      inputs.flatMap(({ fullUrl, type, logicalId, bundle }) =>
        fullUrl === undefined ? [] : [[`${bundle}\0${fullUrl}`, { type, logicalId } satisfies Target] as const],
      ),
    ),
    bundle: -1,
    referenceTypes: new Set(SUPPORTED_RESOURCE_TYPES),
  };

  const out: DeidentifiedResource[] = [];
  const kept: Record<string, number> = {};
  const omitted = new Map<string, { resourceType: string; reason: OmitReason; count: number }>();
  const omit = (resourceType: string, reason: OmitReason) => {
    const key = `${resourceType}\0${reason}`;
    const entry = omitted.get(key) ?? { resourceType, reason, count: 0 };
    entry.count += 1;
    omitted.set(key, entry);
  };
  const removed: Record<string, number> = {};
  for (const { resource, type, logicalId, bundle } of inputs) {
    context.bundle = bundle;
    const rules = RESOURCE_RULES[type];
    if (rules === undefined) {
      omit(KNOWN_TYPES.has(type) ? type : "other", "unsupported-type");
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
    const choices = new Set<string>();
    for (const [name, rule] of Object.entries(rules.elements)) {
      if (!Object.hasOwn(resource, name)) continue;
      const choice = CHOICE_PREFIXES.find(
        (prefix) => name.startsWith(prefix) && /^[A-Z]/.test(name.slice(prefix.length)),
      );
      if (choice !== undefined && choices.has(choice)) continue;
      const value = rule(resource[name], context);
      if (value === undefined) continue;
      result[name] = value;
      if (choice !== undefined) choices.add(choice);
    }
    if (type === "Patient") {
      const birth = birthYearOf(resource);
      if (grouped) result.extension = [{ url: AGE_GROUP_EXTENSION, valueCode: "90-or-more" }];
      else if (birth !== undefined) result.birthDate = String(birth).padStart(4, "0");
    }
    if (rules.required.some((name) => result[name] === undefined)) {
      omit(type, "incomplete");
      continue;
    }
    out.push(result);
    kept[type] = (kept[type] ?? 0) + 1;
    for (const name of Object.keys(resource)) {
      if (name === "resourceType" || name === "id" || Object.hasOwn(result, name)) continue;
      // Element names as FHIR spells them; any other key (which could be any text) is counted as "(other)".
      const element = `${type}.${ELEMENT_NAME.test(name) ? name : "(other)"}`;
      removed[element] = (removed[element] ?? 0) + 1;
    }
  }
  return { resources: out, report: { kept, omitted: [...omitted.values()], removed, ageGrouped: grouped } };
}

/**
 * Safe Harbor (C): a patient who may be over 89 at the year ages are counted at (with the year alone, someone born
 * in ageYear - 90 may already be 90) gets the age group 90+ and no birth year: the year itself is "indicative of
 * such age". Returns the birth year, or undefined when there is none to read.
 */
function birthYearOf(patient: Record<string, unknown>): number | undefined {
  const match = typeof patient.birthDate === "string" ? BIRTH_YEAR.exec(patient.birthDate) : null;
  return match ? Number(match[1]) : undefined;
}

/** The newest year any date of the records names (ages are never counted before it); same date rule as elements. */
function newestYear(value: unknown): number {
  let newest = 0;
  const visit = (node: unknown) => {
    if (typeof node === "string") {
      const year = yearOf(node);
      if (year !== undefined && year > newest) newest = year;
    } else if (Array.isArray(node)) node.forEach(visit);
    else if (isObject(node)) for (const member of Object.values(node)) visit(member);
  };
  visit(value);
  return newest;
}

/** Most JSON values read from one call's input (a Bundle reusing one object many times must not multiply). */
const MAX_JSON_VALUES = 5_000_000;

/**
 * The input as plain JSON data, read once: getters run once, prototypes and symbols are gone, a cycle or a value
 * JSON cannot hold is refused with a typed error, and a shared object is counted each time it appears.
 */
function plainJson(resources: readonly unknown[]): unknown[] {
  if (!Array.isArray(resources)) throw new DeidentifyInputError("resources", "expected an array of FHIR resources");
  let values = 0;
  let json: string;
  try {
    json = JSON.stringify(resources, (_key, value: unknown) => {
      if (++values > MAX_JSON_VALUES)
        throw new DeidentifyInputError("resources", `more than ${MAX_JSON_VALUES} JSON values`);
      return value;
    });
  } catch (error) {
    if (error instanceof DeidentifyInputError) throw error;
    throw new DeidentifyInputError(
      "resources",
      `not JSON data (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  return JSON.parse(json) as unknown[];
}

/** FHIR R4 resource types reported by name when left out; any other name is reported as "other". */
const KNOWN_TYPES: ReadonlySet<string> = new Set([
  "Practitioner",
  "PractitionerRole",
  "Organization",
  "RelatedPerson",
  "Person",
  "Location",
  "DocumentReference",
  "Binary",
  "Media",
  "Device",
  "Specimen",
  "ImagingStudy",
  "Coverage",
  "Claim",
  "ExplanationOfBenefit",
  "CarePlan",
  "CareTeam",
  "Goal",
  "ServiceRequest",
  "Provenance",
  "Composition",
  "QuestionnaireResponse",
  "Consent",
  "Account",
  "Appointment",
  "Communication",
  "FamilyMemberHistory",
]);

function optionsOf(
  options: DeidentifyOptions,
): Pick<RuleContext, "pseudonyms" | "restrictedZip3"> & { asOfYear: number } {
  if (!isObject(options)) throw new DeidentifyInputError("options", "expected { pseudonymKey, asOf, ... }");
  const { pseudonymKey, asOf } = options;
  if (!(pseudonymKey instanceof Uint8Array) || pseudonymKey.length !== PSEUDONYM_KEY_BYTES)
    throw new DeidentifyInputError(
      "options.pseudonymKey",
      `expected the study's ${PSEUDONYM_KEY_BYTES}-byte key (deriveStudyPseudonymKey in @hygeia/crypto)`,
    );
  const derived = WALLET_SECRETS.find(([mark]) => (pseudonymKey as unknown as Record<symbol, unknown>)[mark] === true);
  if (derived !== undefined)
    throw new DeidentifyInputError(
      "options.pseudonymKey",
      `this is the ${derived[1]}, not a study key: pass deriveStudyPseudonymKey(consentSecret, studyId) ` +
        "(one key per study; the same key in every study would link them)",
    );
  const date = typeof asOf === "string" ? AS_OF.exec(asOf) : null;
  if (date === null) throw new DeidentifyInputError("options.asOf", "expected the extraction day as YYYY-MM-DD");
  const extra = options.restrictedZip3 ?? new Set<string>();
  if (!(extra instanceof Set) || [...extra].some((zip) => typeof zip !== "string" || !/^\d{3}$/.test(zip)))
    throw new DeidentifyInputError("options.restrictedZip3", "expected a Set of three-digit strings");
  return {
    pseudonyms: new Pseudonymizer(pseudonymKey),
    asOfYear: Number(date[1]),
    restrictedZip3: new Set([...RESTRICTED_ZIP3, ...extra]),
  };
}

function requestedTypes(types: readonly string[] | undefined): ReadonlySet<string> {
  if (types === undefined) return new Set(SUPPORTED_RESOURCE_TYPES);
  if (!Array.isArray(types) || types.some((type) => typeof type !== "string"))
    throw new DeidentifyInputError("options.resourceTypes", "expected an array of FHIR resource type names");
  const unknown = types.find((type) => !SUPPORTED_RESOURCE_TYPES.includes(type));
  if (unknown !== undefined)
    throw new DeidentifyInputError(
      "options.resourceTypes",
      `${JSON.stringify(unknown)} is not a type an extract carries (${SUPPORTED_RESOURCE_TYPES.join(", ")})`,
    );
  return new Set(types);
}

/** The resources, Bundles opened (entries in order, nested Bundles too), each with the id its pseudonym uses. */
function flatten(resources: readonly unknown[]): Input[] {
  const out: Input[] = [];
  let bundles = 0;
  const visit = (value: unknown, field: string, fullUrl: string | undefined, depth: number, bundle: number) => {
    if (!isObject(value) || typeof value.resourceType !== "string" || !/^[A-Z][A-Za-z]{1,63}$/.test(value.resourceType))
      throw new DeidentifyInputError(field, "expected a FHIR resource (an object with a resourceType)");
    const type = value.resourceType;
    if (type === "Bundle") {
      if (depth >= 4) throw new DeidentifyInputError(field, "Bundles nested more than 4 deep");
      const entries = value.entry === undefined ? [] : value.entry;
      if (!Array.isArray(entries)) throw new DeidentifyInputError(`${field}.entry`, "expected an array");
      const id = bundles++;
      entries.forEach((entry: unknown, i) => {
        if (!isObject(entry) || entry.resource === undefined) return; // a request-only entry carries no data
        const url = typeof entry.fullUrl === "string" ? entry.fullUrl : undefined;
        visit(entry.resource, `${field}.entry[${i}].resource`, url, depth + 1, id);
      });
      return;
    }
    const id = typeof value.id === "string" && /^[A-Za-z0-9.-]{1,64}$/.test(value.id) ? value.id : undefined;
    // Without an id, the resource's own content names it: the same resource gets the same pseudonym in every
    // extract of the study, and two different ones never share one (a position in the input would do both wrong).
    const logicalId =
      id !== undefined ? `${type}/${id}` : `${type}/#${bytesToHex(sha256(utf8ToBytes(JSON.stringify(value))))}`;
    out.push({ resource: value, type, logicalId, bundle, ...(fullUrl === undefined ? {} : { fullUrl }) });
  };
  resources.forEach((resource, i) => visit(resource, `resources[${i}]`, undefined, 0, -1));
  if (out.length > MAX_RESOURCES) throw new DeidentifyInputError("resources", `more than ${MAX_RESOURCES} resources`);
  return out;
}
