// Which elements of each supported FHIR R4 resource type a Safe Harbor extract keeps (elements.ts says how). A
// resource type not listed here is left out of an extract whole (Practitioner, RelatedPerson, DocumentReference,
// Device, Media, ...: they hold identifiers or free text by design). `required` names what a kept resource must
// still have to mean something (an Observation without its code is no lab value); one that lost it is left out.
import {
  address,
  age,
  ageRange,
  boolean,
  coding,
  concept,
  concepts,
  list,
  oneOf,
  period,
  quantity,
  range,
  reference,
  references,
  shape,
  smallCount,
  year,
  type Rule,
} from "./elements.ts";

export interface ResourceRules {
  readonly elements: Readonly<Record<string, Rule>>;
  readonly required: readonly string[];
}

/**
 * The choice elements (value[x], onset[x], ...): a resource holds one branch of each. An input holding two (an
 * onsetAge next to an onsetDateTime) keeps only the first kept in rule order: two branches side by side can give
 * away more than either (an age and a year make a birth year).
 */
export const CHOICE_PREFIXES: readonly string[] = [
  "value",
  "effective",
  "onset",
  "abatement",
  "performed",
  "deceased",
  "multipleBirth",
  "occurrence",
  "medication",
];

const referenceRange = list(
  shape({ low: quantity, high: quantity, type: concept, appliesTo: concepts, age: ageRange }),
);

const observationValue = {
  valueQuantity: quantity,
  valueCodeableConcept: concept,
  valueBoolean: boolean,
  valueRange: range,
  dataAbsentReason: concept,
  interpretation: concepts,
  referenceRange,
};

const dosage = list(
  shape({
    route: concept,
    site: concept,
    doseAndRate: list(shape({ type: concept, doseQuantity: quantity, rateQuantity: quantity })),
  }),
);

export const RESOURCE_RULES: Readonly<Record<string, ResourceRules>> = {
  Patient: {
    // birthDate is the deidentify's own (the year, or an age group); address through the ZIP rule.
    elements: {
      gender: oneOf("male", "female", "other", "unknown"),
      deceasedBoolean: boolean,
      deceasedDateTime: year,
      address: list(address),
      maritalStatus: concept,
      communication: list(shape({ language: concept, preferred: boolean })),
      multipleBirthBoolean: boolean,
      multipleBirthInteger: smallCount,
    },
    required: [],
  },
  Observation: {
    elements: {
      status: oneOf(
        "registered",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "cancelled",
        "entered-in-error",
        "unknown",
      ),
      category: concepts,
      code: concept,
      subject: reference,
      encounter: reference,
      effectiveDateTime: year,
      effectivePeriod: period,
      ...observationValue,
      bodySite: concept,
      method: concept,
      hasMember: references,
      derivedFrom: references,
      component: list(shape({ code: concept, ...observationValue })),
    },
    required: ["status", "code"],
  },
  Condition: {
    elements: {
      clinicalStatus: concept,
      verificationStatus: concept,
      category: concepts,
      severity: concept,
      code: concept,
      bodySite: concepts,
      subject: reference,
      encounter: reference,
      onsetDateTime: year,
      onsetAge: age,
      onsetPeriod: period,
      onsetRange: ageRange,
      abatementDateTime: year,
      abatementAge: age,
      abatementPeriod: period,
      abatementRange: ageRange,
      abatementBoolean: boolean,
      recordedDate: year,
      stage: list(shape({ summary: concept, type: concept })),
      evidence: list(shape({ code: concepts })),
    },
    required: ["subject", "code"],
  },
  Encounter: {
    elements: {
      status: oneOf(
        "planned",
        "arrived",
        "triaged",
        "in-progress",
        "onleave",
        "finished",
        "cancelled",
        "entered-in-error",
        "unknown",
      ),
      class: coding,
      type: concepts,
      serviceType: concept,
      priority: concept,
      subject: reference,
      period,
      reasonCode: concepts,
      hospitalization: shape({ admitSource: concept, reAdmission: concept, dischargeDisposition: concept }),
    },
    required: ["status", "class"],
  },
  MedicationStatement: {
    elements: {
      status: oneOf(
        "active",
        "completed",
        "entered-in-error",
        "intended",
        "stopped",
        "on-hold",
        "unknown",
        "not-taken",
      ),
      category: concept,
      medicationCodeableConcept: concept,
      subject: reference,
      context: reference,
      effectiveDateTime: year,
      effectivePeriod: period,
      dateAsserted: year,
      reasonCode: concepts,
      dosage,
    },
    required: ["status", "medicationCodeableConcept", "subject"],
  },
  MedicationRequest: {
    elements: {
      status: oneOf("active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft", "unknown"),
      intent: oneOf(
        "proposal",
        "plan",
        "order",
        "original-order",
        "reflex-order",
        "filler-order",
        "instance-order",
        "option",
      ),
      category: concepts,
      medicationCodeableConcept: concept,
      subject: reference,
      encounter: reference,
      authoredOn: year,
      reasonCode: concepts,
      dosageInstruction: dosage,
    },
    required: ["status", "intent", "medicationCodeableConcept", "subject"],
  },
  AllergyIntolerance: {
    elements: {
      clinicalStatus: concept,
      verificationStatus: concept,
      type: oneOf("allergy", "intolerance"),
      category: list(oneOf("food", "medication", "environment", "biologic")),
      criticality: oneOf("low", "high", "unable-to-assess"),
      code: concept,
      patient: reference,
      onsetDateTime: year,
      onsetAge: age,
      recordedDate: year,
      reaction: list(
        shape({ substance: concept, manifestation: concepts, severity: oneOf("mild", "moderate", "severe") }),
      ),
    },
    required: ["patient"],
  },
  Immunization: {
    elements: {
      status: oneOf("completed", "entered-in-error", "not-done"),
      vaccineCode: concept,
      patient: reference,
      encounter: reference,
      occurrenceDateTime: year,
      primarySource: boolean,
      site: concept,
      route: concept,
      doseQuantity: quantity,
    },
    required: ["status", "vaccineCode", "patient"],
  },
  Procedure: {
    elements: {
      status: oneOf(
        "preparation",
        "in-progress",
        "not-done",
        "on-hold",
        "stopped",
        "completed",
        "entered-in-error",
        "unknown",
      ),
      category: concept,
      code: concept,
      subject: reference,
      encounter: reference,
      performedDateTime: year,
      performedPeriod: period,
      performedAge: age,
      reasonCode: concepts,
      bodySite: concepts,
      outcome: concept,
    },
    required: ["status", "subject"],
  },
  DiagnosticReport: {
    elements: {
      status: oneOf(
        "registered",
        "partial",
        "preliminary",
        "final",
        "amended",
        "corrected",
        "appended",
        "cancelled",
        "entered-in-error",
        "unknown",
      ),
      category: concepts,
      code: concept,
      subject: reference,
      encounter: reference,
      effectiveDateTime: year,
      effectivePeriod: period,
      result: references,
      conclusionCode: concepts,
    },
    required: ["status", "code"],
  },
};

/** Resource types a Safe Harbor extract can carry. */
export const SUPPORTED_RESOURCE_TYPES: readonly string[] = Object.keys(RESOURCE_RULES);
