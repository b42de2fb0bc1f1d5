/**
 * Consent scopes: the canonical strings a patient consents to, and the bytes32 ids the ConsentRegistry stores.
 *
 *   fhir:<ResourceType>   a FHIR R4 resource type, exact case       fhir:Observation
 *   category:<code>       one of CONSENT_CATEGORIES (lowercase)     category:laboratory
 *   record:<cid>          one record, CIDv1 in base32 (lowercase)   record:bafkrei...
 *   study:<id>            slug [a-z0-9-]{1,64} or 0x + 64 hex       study:diabetes-2026
 *
 * A scope never goes on chain as itself or as a plain hash: the vocabulary is small and public, so anyone could
 * hash it and read `category:mental-health` off a ConsentGranted event. The id the contract stores is the
 * patient's keyed id (PatientScopes, private-scopes.ts), which only the patient's wallet can compute or read.
 * Contract calls therefore take bytes32 ids only (toScopeId refuses a canonical string).
 *
 * Parsing is strict (no case folding, no trimming): two spellings of one scope would be two ids, and a grant
 * under one would silently not match a check under the other.
 *
 * There is deliberately no wildcard scope. The contract matches scopes exactly, so a wildcard would
 * need every checker to also test it, and "everything" would silently include sensitive categories
 * (mental health, substance use, ...) that patients should opt into one by one. To grant broadly,
 * grant several scopes in one grantBatch; to check a record, test each of its scope ids.
 */
import { InvalidScopeError, describe } from "./errors.ts";

/** All concrete resource types of FHIR R4 (4.0.1); abstract Resource and DomainResource excluded. */
// prettier-ignore
export const FHIR_R4_RESOURCE_TYPES = [
  "Account", "ActivityDefinition", "AdverseEvent", "AllergyIntolerance", "Appointment", "AppointmentResponse",
  "AuditEvent", "Basic", "Binary", "BiologicallyDerivedProduct", "BodyStructure", "Bundle", "CapabilityStatement",
  "CarePlan", "CareTeam", "CatalogEntry", "ChargeItem", "ChargeItemDefinition", "Claim", "ClaimResponse",
  "ClinicalImpression", "CodeSystem", "Communication", "CommunicationRequest", "CompartmentDefinition", "Composition",
  "ConceptMap", "Condition", "Consent", "Contract", "Coverage", "CoverageEligibilityRequest",
  "CoverageEligibilityResponse", "DetectedIssue", "Device", "DeviceDefinition", "DeviceMetric", "DeviceRequest",
  "DeviceUseStatement", "DiagnosticReport", "DocumentManifest", "DocumentReference", "EffectEvidenceSynthesis",
  "Encounter", "Endpoint", "EnrollmentRequest", "EnrollmentResponse", "EpisodeOfCare", "EventDefinition", "Evidence",
  "EvidenceVariable", "ExampleScenario", "ExplanationOfBenefit", "FamilyMemberHistory", "Flag", "Goal",
  "GraphDefinition", "Group", "GuidanceResponse", "HealthcareService", "ImagingStudy", "Immunization",
  "ImmunizationEvaluation", "ImmunizationRecommendation", "ImplementationGuide", "InsurancePlan", "Invoice", "Library",
  "Linkage", "List", "Location", "Measure", "MeasureReport", "Media", "Medication", "MedicationAdministration",
  "MedicationDispense", "MedicationKnowledge", "MedicationRequest", "MedicationStatement", "MedicinalProduct",
  "MedicinalProductAuthorization", "MedicinalProductContraindication", "MedicinalProductIndication",
  "MedicinalProductIngredient", "MedicinalProductInteraction", "MedicinalProductManufactured",
  "MedicinalProductPackaged", "MedicinalProductPharmaceutical", "MedicinalProductUndesirableEffect",
  "MessageDefinition", "MessageHeader", "MolecularSequence", "NamingSystem", "NutritionOrder", "Observation",
  "ObservationDefinition", "OperationDefinition", "OperationOutcome", "Organization", "OrganizationAffiliation",
  "Parameters", "Patient", "PaymentNotice", "PaymentReconciliation", "Person", "PlanDefinition", "Practitioner",
  "PractitionerRole", "Procedure", "Provenance", "Questionnaire", "QuestionnaireResponse", "RelatedPerson",
  "RequestGroup", "ResearchDefinition", "ResearchElementDefinition", "ResearchStudy", "ResearchSubject",
  "RiskAssessment", "RiskEvidenceSynthesis", "Schedule", "SearchParameter", "ServiceRequest", "Slot", "Specimen",
  "SpecimenDefinition", "StructureDefinition", "StructureMap", "Subscription", "Substance", "SubstanceNucleicAcid",
  "SubstancePolymer", "SubstanceProtein", "SubstanceReferenceInformation", "SubstanceSourceMaterial",
  "SubstanceSpecification", "SupplyDelivery", "SupplyRequest", "Task", "TerminologyCapabilities", "TestReport",
  "TestScript", "ValueSet", "VerificationResult", "VisionPrescription",
] as const;
export type FhirResourceType = (typeof FHIR_R4_RESOURCE_TYPES)[number];

/**
 * Clinical categories a patient can consent to, independent of FHIR resource types (a lab result
 * may be an Observation, a DiagnosticReport or a PDF). Codes follow FHIR's observation-category
 * and US Core wording where one exists. Keep this list short and stable: a new code is a new
 * scope id, and old grants do not cover it.
 */
export const CONSENT_CATEGORIES = [
  "demographics",
  "allergy",
  "condition",
  "encounter",
  "clinical-note",
  "laboratory",
  "imaging",
  "vital-signs",
  "medication",
  "immunization",
  "procedure",
  "care-plan",
  "family-history",
  "social-history",
  "billing",
  // Sensitive: special legal protection in many jurisdictions (e.g. 42 CFR Part 2, GINA); UIs should
  // ask for these one by one and never pre-select them.
  "genomics",
  "mental-health",
  "reproductive-health",
  "sexual-health",
  "substance-use",
] as const;
export type ConsentCategory = (typeof CONSENT_CATEGORIES)[number];

export const SENSITIVE_CATEGORIES: ReadonlySet<ConsentCategory> = new Set<ConsentCategory>([
  "genomics",
  "mental-health",
  "reproductive-health",
  "sexual-health",
  "substance-use",
]);

export type ScopeKind = "fhir" | "category" | "record" | "study";

interface ScopeBase {
  /** The canonical string, e.g. "fhir:Observation". */
  readonly canonical: string;
}
export type Scope =
  | (ScopeBase & { readonly kind: "fhir"; readonly value: FhirResourceType })
  | (ScopeBase & { readonly kind: "category"; readonly value: ConsentCategory })
  | (ScopeBase & { readonly kind: "record"; readonly value: string })
  | (ScopeBase & { readonly kind: "study"; readonly value: string });

const MAX_SCOPE_LENGTH = 200;
const FHIR_TYPES: ReadonlySet<string> = new Set(FHIR_R4_RESOURCE_TYPES);
const CATEGORIES: ReadonlySet<string> = new Set(CONSENT_CATEGORIES);
const STUDY_SLUG = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
const STUDY_HEX = /^0x[0-9a-f]{64}$/;

/** Parses and validates a canonical scope string; throws InvalidScopeError saying what is wrong. */
export function parseScope(input: unknown, field = "scope"): Scope {
  if (typeof input !== "string") throw new InvalidScopeError(field, `expected a scope string, got ${describe(input)}`);
  if (input.length > MAX_SCOPE_LENGTH) throw new InvalidScopeError(field, `longer than ${MAX_SCOPE_LENGTH} characters`);
  const colon = input.indexOf(":");
  if (colon < 0) {
    throw new InvalidScopeError(field, `${describe(input)} has no kind; expected fhir:, category:, record: or study:`);
  }
  const kind = input.slice(0, colon);
  const value = input.slice(colon + 1);
  switch (kind) {
    case "fhir":
      return build("fhir", checkFhirType(value, field));
    case "category":
      return build("category", checkCategory(value, field));
    case "record":
      return build("record", checkCid(value, field));
    case "study":
      return build("study", checkStudyId(value, field));
    default:
      throw new InvalidScopeError(
        field,
        `unknown scope kind ${describe(kind)}; expected fhir, category, record or study`,
      );
  }
}

export function isScope(input: unknown): boolean {
  try {
    parseScope(input);
    return true;
  } catch {
    return false;
  }
}

/**
 * What contract calls take: a scope id, 0x-prefixed bytes32 (lowercased). A canonical scope string is refused
 * rather than hashed in public: its plain hash would tell every chain observer what the patient consented to.
 * The patient's wallet turns scopes into ids with PatientScopes.id; everyone else handles ids only. The zero id
 * is refused, as the contract does.
 */
export function toScopeId(scopeOrId: unknown, field = "scope"): string {
  if (typeof scopeOrId === "string" && !scopeOrId.startsWith("0x") && isScope(scopeOrId)) {
    throw new InvalidScopeError(
      field,
      `${describe(scopeOrId)} is a scope, not a scope id; a plain hash of it would be readable by anyone on chain: ` +
        `use the patient's keyed id, PatientScopes.id(${JSON.stringify(scopeOrId)})`,
    );
  }
  if (typeof scopeOrId === "string" && !scopeOrId.startsWith("0x") && scopeOrId.includes(":")) {
    // A misspelt scope ("fhir:observation"): keep the parser's hint, and say where the id comes from.
    let why = "";
    try {
      parseScope(scopeOrId, field);
    } catch (error) {
      if (error instanceof InvalidScopeError) why = error.detail;
    }
    throw new InvalidScopeError(
      field,
      `expected a scope id (0x-prefixed 32-byte hex), got the scope string ${describe(scopeOrId)} (${why}); ` +
        `a scope becomes an id only in the patient's wallet, PatientScopes.id(scope)`,
    );
  }
  if (typeof scopeOrId !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(scopeOrId)) {
    throw new InvalidScopeError(field, `expected a scope id (0x-prefixed 32-byte hex), got ${describe(scopeOrId)}`);
  }
  const id = scopeOrId.toLowerCase();
  if (/^0x0{64}$/.test(id)) throw new InvalidScopeError(field, "the zero scope id is not allowed");
  return id;
}

export function fhirScope(resourceType: FhirResourceType | string): string {
  return `fhir:${checkFhirType(resourceType, "resourceType")}`;
}

export function categoryScope(category: ConsentCategory | string): string {
  return `category:${checkCategory(category, "category")}`;
}

export function recordScope(cid: string): string {
  return `record:${checkCid(cid, "cid")}`;
}

export function studyScope(studyId: string): string {
  return `study:${checkStudyId(studyId, "studyId")}`;
}

export function isSensitiveCategory(category: string): boolean {
  return SENSITIVE_CATEGORIES.has(category as ConsentCategory);
}

export interface RecordDescriptor {
  /** CIDv1 base32 of the record's ciphertext. */
  cid?: string;
  resourceType?: FhirResourceType | string;
  categories?: readonly (ConsentCategory | string)[];
}

/**
 * The canonical scopes any one of which covers a record (record itself, its resource type, its
 * categories). A grantee may access the record when it holds consent for at least one of them. The patient's
 * wallet turns them into the record's scope ids (PatientScopes.forRecord) and hands those to the gateway, which
 * checks each exactly. Duplicates are removed; order is record, fhir, categories.
 */
export function scopesForRecord(record: RecordDescriptor): string[] {
  if (typeof record !== "object" || record === null)
    throw new InvalidScopeError("record", `expected { cid?, resourceType?, categories? }, got ${describe(record)}`);
  const scopes: string[] = [];
  if (record.cid !== undefined) scopes.push(`record:${recordField(record.cid, "cid", "record:", checkCid)}`);
  if (record.resourceType !== undefined)
    scopes.push(`fhir:${recordField(record.resourceType, "resourceType", "fhir:", checkFhirType)}`);
  const categories: unknown = record.categories;
  if (categories !== undefined) {
    if (!Array.isArray(categories))
      throw new InvalidScopeError("categories", `expected an array of categories, got ${describe(categories)}`);
    // An index loop, not forEach: a hole in a sparse array is refused like any other non-string.
    for (let index = 0; index < categories.length; index++)
      scopes.push(`category:${recordField(categories[index], `categories[${index}]`, "category:", checkCategory)}`);
  }
  return [...new Set(scopes)];
}

// ---------------------------------------------------------------------------------------------

/**
 * One field of a record, named as the caller wrote it (categories[i], not the parser's "category"), with a hint for a
 * canonical prefix where the bare value belongs ("category:laboratory" for "laboratory").
 */
function recordField<T>(value: unknown, field: string, prefix: string, check: (value: string, field: string) => T): T {
  if (typeof value !== "string") throw new InvalidScopeError(field, `expected a string, got ${describe(value)}`);
  if (value.startsWith(prefix)) {
    throw new InvalidScopeError(
      field,
      `${describe(value)} has the scope prefix: a record names bare values, e.g. ${JSON.stringify(value.slice(prefix.length))}`,
    );
  }
  return check(value, field);
}

function build<K extends ScopeKind>(kind: K, value: string): Scope {
  const canonical = `${kind}:${value}`;
  return { kind, value, canonical } as Scope;
}

function checkFhirType(value: string, field: string): FhirResourceType {
  if (FHIR_TYPES.has(value)) return value as FhirResourceType;
  const folded = value.toLowerCase();
  const near = FHIR_R4_RESOURCE_TYPES.find((type) => type.toLowerCase() === folded);
  throw new InvalidScopeError(
    field,
    near
      ? `FHIR resource types are case-sensitive: use fhir:${near}`
      : `${describe(value)} is not a FHIR R4 resource type`,
  );
}

function checkCategory(value: string, field: string): ConsentCategory {
  if (CATEGORIES.has(value)) return value as ConsentCategory;
  const folded = value.toLowerCase().replace(/[_ ]/g, "-");
  const hint = CATEGORIES.has(folded) ? `use category:${folded}` : `expected one of ${CONSENT_CATEGORIES.join(", ")}`;
  throw new InvalidScopeError(field, `unknown category ${describe(value)}; ${hint}`);
}

function checkStudyId(value: string, field: string): string {
  // A slug may not start with "0x", so a truncated hex id is refused rather than taken as a slug.
  if (value.startsWith("0x") ? STUDY_HEX.test(value) : STUDY_SLUG.test(value)) return value;
  throw new InvalidScopeError(
    field,
    `study id ${describe(value)} must be 1-64 of [a-z0-9-] (not starting with "0x" or "-", not ending with "-") or 0x + 64 lowercase hex`,
  );
}

// --- CIDv1 base32 --------------------------------------------------------------------------------
// Decoded here (a few lines) instead of pulling in multiformats: the chain package keeps ethers as
// its only runtime dependency. We check structure, not the codec table.

const BASE32_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
const MIN_DIGEST_BYTES = 20;
const MAX_DIGEST_BYTES = 64;
const MAX_CID_LENGTH = 128;

function checkCid(value: string, field: string): string {
  const fail: (why: string) => never = (why) => {
    throw new InvalidScopeError(field, `record CID ${why}; expected a CIDv1 in lowercase base32 (bafy..., bafk...)`);
  };
  if (value.startsWith("Qm")) fail("is CIDv0; convert it with `ipfs cid format -v 1 -b base32`");
  if (value.length > MAX_CID_LENGTH) fail(`is longer than ${MAX_CID_LENGTH} characters`);
  if (!/^b[a-z2-7]+$/.test(value)) fail(`${describe(value)} is not lowercase base32 with the "b" multibase prefix`);
  const bytes = decodeBase32(value.slice(1));
  if (!bytes) fail("has non-zero padding bits (not canonical base32)");
  const reader = { bytes, at: 0 };
  if (readVarint(reader) !== 1) fail("is not version 1");
  if (readVarint(reader) === undefined) fail("has a truncated codec");
  const hashCode = readVarint(reader);
  if (hashCode === undefined) fail("has a truncated multihash");
  // The identity "hash" (0x00) would embed the content itself: never acceptable for a record.
  if (hashCode === 0) fail("uses the identity multihash, which embeds content in clear");
  const digestLength = readVarint(reader);
  if (digestLength === undefined || digestLength < MIN_DIGEST_BYTES || digestLength > MAX_DIGEST_BYTES) {
    fail(`has a digest length outside ${MIN_DIGEST_BYTES}..${MAX_DIGEST_BYTES} bytes`);
  }
  if (reader.bytes.length - reader.at !== digestLength) fail("has a digest whose length does not match its header");
  return value;
}

/** RFC 4648 base32, lowercase, unpadded. Undefined when the trailing bits are not zero. */
function decodeBase32(text: string): Uint8Array | undefined {
  const out = new Uint8Array(Math.floor((text.length * 5) / 8));
  let buffer = 0;
  let bits = 0;
  let index = 0;
  for (const char of text) {
    buffer = (buffer << 5) | BASE32_ALPHABET.indexOf(char);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[index++] = (buffer >> bits) & 0xff;
    }
    buffer &= (1 << bits) - 1;
  }
  // Leftover bits must be zero and fewer than 5, or the text is not the canonical encoding.
  return bits >= 5 || buffer !== 0 ? undefined : out;
}

/** Unsigned LEB128 as multiformats uses it: at most 9 bytes, minimally encoded. */
function readVarint(reader: { bytes: Uint8Array; at: number }): number | undefined {
  let result = 0;
  for (let i = 0; i < 9; i++) {
    const byte = reader.bytes[reader.at++];
    if (byte === undefined) return undefined;
    result += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return i > 0 && byte === 0 ? undefined : result;
  }
  return undefined;
}
