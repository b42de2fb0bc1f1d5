// Live consents as FHIR R4 Consent resources, and a Bundle of them: the gateway's export
// (GET /v1/consents/fhir) and, with scope labels, the wallet's (the SDK reuses these pure functions).
//
// Rules:
// - PHI-free: people and organisations appear only as DIDs (did:ethr:<chain>:<address>) in identifiers,
//   never by name; the data class is the opaque scope id unless the caller passes the label (only the
//   patient's wallet, which holds the scope key, can).
// - Exactly the consent the chain holds: one resource per live slot (consent address, grantee, scope,
//   purpose), permit, ending at its expiry; purposes as HL7 v3 ActReason codes.
// - Valid against the official FHIR R4 JSON schema (tested), with the Consent invariants kept: a policy rule
//   (ppc-1) and a patient for the privacy scope (ppc-2).
import type { Bundle, BundleEntry, CodeableConcept, Coding, Consent, ConsentProvision, Identifier } from "fhir/r4.js";

/** One live consent, as the indexer lists it, with whose it is. */
export interface ConsentForFhir {
  /** The patient's main address (lowercase 0x). */
  patient: string;
  /** The address that signed the consent on chain: the patient's main address or a pairwise consent account. */
  consentAddress: string;
  grantee: string;
  /** bytes32 scope id (opaque to everyone but the patient's wallet). */
  scope: string;
  /** 1 Treatment, 2 Research, 3 Emergency, 4 Payment, 5 Public health (the chain's Purpose). */
  purpose: number;
  /** Unix seconds. */
  expiry: number;
  /** The slot's version on chain. */
  version: number;
  chainId: number;
  /** The ConsentRegistry's address. */
  registry: string;
}

export interface ConsentToFhirOptions {
  /**
   * What the scope id means, as the patient's wallet labels it (`PatientScopes.label`): "fhir:Observation"
   * becomes the provision's class (a FHIR resource type); any other label ("category:laboratory",
   * "record:bafy…") its code, as text. Without it only the opaque id is exported.
   */
  scopeLabel?: string;
  /** When the export was made (the resource's dateTime), unix ms; default now. */
  now?: number;
}

export const CONSENT_SCOPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentscope";
export const LOINC_SYSTEM = "http://loinc.org";
export const ACT_REASON_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason";
export const ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
export const PARTICIPATION_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
export const CONSENT_ACTION_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentaction";
export const RESOURCE_TYPES_SYSTEM = "http://hl7.org/fhir/resource-types";
/** Identifiers that are URIs (DIDs, URNs). */
export const URI_SYSTEM = "urn:ietf:rfc:3986";
/** The extension carrying a provision's opaque scope id (what the consent covers, as the chain names it). */
export const SCOPE_ID_EXTENSION = "urn:hygeia:fhir:StructureDefinition:consent-scope-id";

/** Purposes of use as HL7 v3 ActReason codes. */
export const PURPOSE_OF_USE: Readonly<Record<number, Coding>> = {
  1: { system: ACT_REASON_SYSTEM, code: "TREAT", display: "treatment" },
  2: { system: ACT_REASON_SYSTEM, code: "HRESCH", display: "healthcare research" },
  3: { system: ACT_REASON_SYSTEM, code: "ETREAT", display: "Emergency Treatment" },
  4: { system: ACT_REASON_SYSTEM, code: "HPAYMT", display: "healthcare payment" },
  5: { system: ACT_REASON_SYSTEM, code: "PUBHLTH", display: "public health" },
};

/** The did:ethr of an address on a chain, in identity's form (chain id in hex, address lowercase). */
export function didEthr(chainId: number, address: string): string {
  return `did:ethr:0x${chainId.toString(16)}:${address.toLowerCase()}`;
}

function didIdentifier(chainId: number, address: string): Identifier {
  return { system: URI_SYSTEM, value: didEthr(chainId, address) };
}

function isoSeconds(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString();
}

/** The provision's data class: the opaque id always (extension), the wallet's label when given. */
type DataClass = Partial<Pick<ConsentProvision, "class" | "code" | "extension">>;

function dataClass(scope: string, label: string | undefined): DataClass {
  const out: DataClass = {
    extension: [{ url: SCOPE_ID_EXTENSION, valueString: scope.toLowerCase() }],
  };
  if (label === undefined) return out;
  const resourceType = /^fhir:([A-Z][A-Za-z]{1,63})$/.exec(label)?.[1];
  if (resourceType !== undefined) out.class = [{ system: RESOURCE_TYPES_SYSTEM, code: resourceType }];
  else out.code = [{ text: label } satisfies CodeableConcept];
  return out;
}

/** One live consent as a FHIR R4 Consent (status active, permit, until its expiry). */
export function consentToFhir(consent: ConsentForFhir, options: ConsentToFhirOptions = {}): Consent {
  const purpose = PURPOSE_OF_USE[consent.purpose];
  if (purpose === undefined) throw new RangeError(`purpose ${consent.purpose} is not 1..5`);
  const patient = didIdentifier(consent.chainId, consent.patient);
  const signer = didIdentifier(consent.chainId, consent.consentAddress);
  return {
    resourceType: "Consent",
    identifier: [
      {
        system: URI_SYSTEM,
        // The slot on chain: which registry, which consent address, grantee, scope and purpose, which version.
        value:
          `urn:hygeia:consent:${consent.chainId}:${consent.registry.toLowerCase()}:${consent.consentAddress.toLowerCase()}:` +
          `${consent.grantee.toLowerCase()}:${consent.scope.toLowerCase()}:${consent.purpose}:${consent.version}`,
      },
    ],
    status: "active",
    scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: "patient-privacy", display: "Privacy Consent" }] },
    category: [{ coding: [{ system: LOINC_SYSTEM, code: "59284-0", display: "Patient Consent" }] }],
    patient: { identifier: patient },
    dateTime: new Date(options.now ?? Date.now()).toISOString(),
    // The consent address signed it: the patient itself, or its pairwise account for this grantee.
    performer: [{ identifier: signer }],
    policyRule: { coding: [{ system: ACT_CODE_SYSTEM, code: "OPTIN", display: "opt-in" }] },
    provision: {
      type: "permit",
      period: { end: isoSeconds(consent.expiry) },
      actor: [
        {
          role: { coding: [{ system: PARTICIPATION_TYPE_SYSTEM, code: "IRCP", display: "information recipient" }] },
          reference: { identifier: didIdentifier(consent.chainId, consent.grantee) },
        },
      ],
      action: [{ coding: [{ system: CONSENT_ACTION_SYSTEM, code: "access", display: "Access" }] }],
      purpose: [purpose],
      ...dataClass(consent.scope, options.scopeLabel),
    },
  };
}

/** A Bundle (type collection) of Consent resources. */
export function consentBundle(
  consents: readonly ConsentForFhir[],
  options: { now?: number; scopeLabel?: (scope: string) => string | undefined } = {},
): Bundle<Consent> & { type: "collection" } {
  const now = options.now ?? Date.now();
  const entry: BundleEntry<Consent>[] = consents.map((consent) => {
    const label = options.scopeLabel?.(consent.scope);
    return { resource: consentToFhir(consent, { now, ...(label === undefined ? {} : { scopeLabel: label }) }) };
  });
  return { resourceType: "Bundle", type: "collection", timestamp: new Date(now).toISOString(), entry };
}
