// Hygeia's credential types: their subjects, JSON schemas, and which TrustRegistry role may issue each.
import { TrustRole, type TrustRoleName } from "@hygeia/chain/browser";

export const CredentialType = {
  PatientIdentity: "PatientIdentityCredential",
  HealthInsurance: "HealthInsuranceCredential",
  ClinicAccreditation: "ClinicAccreditationCredential",
  Researcher: "ResearcherCredential",
  EthicsApproval: "EthicsApprovalCredential",
  /** Wraps a FHIR R4 Bundle, in the spirit of SMART Health Cards. */
  HealthRecord: "HealthRecordCredential",
} as const;
export type CredentialTypeName = (typeof CredentialType)[keyof typeof CredentialType];

export const CREDENTIAL_TYPES: readonly CredentialTypeName[] = Object.values(CredentialType);

export function isCredentialType(value: unknown): value is CredentialTypeName {
  return typeof value === "string" && (CREDENTIAL_TYPES as readonly string[]).includes(value);
}

export interface PatientIdentitySubject {
  id: string;
  givenName: string;
  familyName: string;
  /** YYYY-MM-DD */
  birthDate: string;
  nationalIdentifier?: string;
  address?: { locality?: string; region?: string; postalCode?: string; country?: string };
}

export interface HealthInsuranceSubject {
  id: string;
  insurerName: string;
  memberId: string;
  planName: string;
  coverageStart?: string;
  coverageEnd?: string;
}

export interface ClinicAccreditationSubject {
  id: string;
  clinicName: string;
  accreditationNumber: string;
  specialties: string[];
  /** A virtual (metaverse / telehealth) clinic. */
  virtual: boolean;
  jurisdiction: string;
}

export interface ResearcherSubject {
  id: string;
  name: string;
  institution: string;
  orcid?: string;
}

export interface EthicsApprovalSubject {
  /** The principal investigator's DID. */
  id: string;
  /** The study slug, as in the `study:<id>` consent scope. */
  studyId: string;
  protocolTitle: string;
  approvalNumber: string;
  approvedUntil?: string;
  /**
   * keccak256 of the approved protocol document (0x-hex bytes32): the StudyRegistry's `protocolHash`, which a
   * gateway requires to match before it serves the study.
   */
  protocolHash?: string;
  /**
   * The canonical scopes the IRB approved (`fhir:Observation`, `aggregate:site:north,south`, ...): when present, a
   * gateway serves the study only if it was registered with exactly these.
   */
  scopes?: string[];
}

export interface HealthRecordSubject {
  id: string;
  fhirVersion: "4.0.1";
  fhirBundle: { resourceType: "Bundle"; type: string; entry?: Array<{ resource: Record<string, unknown> }> };
}

export interface CredentialSubjects {
  PatientIdentityCredential: PatientIdentitySubject;
  HealthInsuranceCredential: HealthInsuranceSubject;
  ClinicAccreditationCredential: ClinicAccreditationSubject;
  ResearcherCredential: ResearcherSubject;
  EthicsApprovalCredential: EthicsApprovalSubject;
  HealthRecordCredential: HealthRecordSubject;
}

/**
 * Roles whose accreditation makes an issuer trusted for a type (any one suffices). Each role accredits one thing,
 * so that no party can vouch for its own kind:
 * - medical-board: accredits clinics (ClinicAccreditationCredential) and researchers (ResearcherCredential, a
 *   person vouched for by a board); governance gives it to boards only, never to clinics;
 * - clinic: issues health records (HealthRecordCredential) after a visit, and nothing else: a clinic (or whoever
 *   holds one clinic's key) cannot accredit another clinic or a researcher;
 * - irb: approves studies (EthicsApprovalCredential) but does not vouch for researchers, so a study reaches
 *   patient data only when two independent accreditors agree (a board on the person, an IRB on the study);
 * - identity-issuer and insurer: identity and insurance credentials.
 * A verification request can narrow these (RequestedCredential.trustedRoles).
 */
export const DEFAULT_TRUSTED_ROLES: Readonly<Record<CredentialTypeName, readonly TrustRoleName[]>> = {
  PatientIdentityCredential: [TrustRole.IdentityIssuer],
  HealthInsuranceCredential: [TrustRole.Insurer],
  ClinicAccreditationCredential: [TrustRole.MedicalBoard],
  ResearcherCredential: [TrustRole.MedicalBoard],
  EthicsApprovalCredential: [TrustRole.Irb],
  HealthRecordCredential: [TrustRole.Clinic],
};

/**
 * Accreditation credentials must be revocable and must lapse: issuing one without a revocation status entry and an
 * expiry is refused, and the check-in refuses a clinic whose accreditation lacks either.
 */
export const ACCREDITATION_CREDENTIAL_TYPES: readonly CredentialTypeName[] = [CredentialType.ClinicAccreditation];

const DID = { type: "string", pattern: "^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$", maxLength: 256 } as const;
const DATE = { type: "string", pattern: "^\\d{4}-\\d{2}-\\d{2}$" } as const;
const TEXT = { type: "string", minLength: 1, maxLength: 256 } as const;

/** JSON schemas (draft-07) of each type's credentialSubject, checked when issuing and when verifying. */
export const CREDENTIAL_SUBJECT_SCHEMAS: Readonly<Record<CredentialTypeName, object>> = {
  PatientIdentityCredential: {
    type: "object",
    required: ["id", "givenName", "familyName", "birthDate"],
    additionalProperties: false,
    properties: {
      id: DID,
      givenName: TEXT,
      familyName: TEXT,
      birthDate: DATE,
      nationalIdentifier: TEXT,
      address: {
        type: "object",
        additionalProperties: false,
        properties: { locality: TEXT, region: TEXT, postalCode: TEXT, country: TEXT },
      },
    },
  },
  HealthInsuranceCredential: {
    type: "object",
    required: ["id", "insurerName", "memberId", "planName"],
    additionalProperties: false,
    properties: { id: DID, insurerName: TEXT, memberId: TEXT, planName: TEXT, coverageStart: DATE, coverageEnd: DATE },
  },
  ClinicAccreditationCredential: {
    type: "object",
    required: ["id", "clinicName", "accreditationNumber", "specialties", "virtual", "jurisdiction"],
    additionalProperties: false,
    properties: {
      id: DID,
      clinicName: TEXT,
      accreditationNumber: TEXT,
      specialties: { type: "array", items: TEXT, maxItems: 64 },
      virtual: { type: "boolean" },
      jurisdiction: TEXT,
    },
  },
  ResearcherCredential: {
    type: "object",
    required: ["id", "name", "institution"],
    additionalProperties: false,
    properties: {
      id: DID,
      name: TEXT,
      institution: TEXT,
      orcid: { type: "string", pattern: "^\\d{4}-\\d{4}-\\d{4}-\\d{3}[\\dX]$" },
    },
  },
  EthicsApprovalCredential: {
    type: "object",
    required: ["id", "studyId", "protocolTitle", "approvalNumber"],
    additionalProperties: false,
    properties: {
      id: DID,
      studyId: { type: "string", pattern: "^(?!0x)[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$" },
      protocolTitle: TEXT,
      approvalNumber: TEXT,
      approvedUntil: DATE,
      protocolHash: { type: "string", pattern: "^0x[0-9a-f]{64}$" },
      scopes: {
        type: "array",
        minItems: 1,
        maxItems: 32,
        uniqueItems: true,
        items: { type: "string", minLength: 1, maxLength: 200, pattern: "^\\S+$" },
      },
    },
  },
  HealthRecordCredential: {
    type: "object",
    required: ["id", "fhirVersion", "fhirBundle"],
    additionalProperties: false,
    properties: {
      id: DID,
      fhirVersion: { const: "4.0.1" },
      fhirBundle: {
        type: "object",
        required: ["resourceType", "type"],
        properties: {
          resourceType: { const: "Bundle" },
          type: { enum: ["collection", "document", "searchset"] },
          entry: {
            type: "array",
            maxItems: 1000,
            items: {
              type: "object",
              required: ["resource"],
              properties: {
                resource: { type: "object", required: ["resourceType"], properties: { resourceType: TEXT } },
              },
            },
          },
        },
      },
    },
  },
};
