// FHIR R4 Consent export: the pure mapping (src/fhir/consent.ts) checked against the official R4 JSON
// schema for every purpose, with and without the wallet's scope labels, and the Bundle around them.
import { expect } from "chai";
import {
  ACT_REASON_SYSTEM,
  PURPOSE_OF_USE,
  SCOPE_ID_EXTENSION,
  consentBundle,
  consentToFhir,
  didEthr,
  type ConsentForFhir,
} from "../../src/fhir/consent.ts";
import { fhirR4Validator, type FhirValidator } from "./fhir-validator.ts";

const PATIENT = "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc";
const ACCOUNT = "0x90f79bf6eb2c4f870365e785982e1f101e93b906";
const CLINIC = "0x15d34aaf54267db7d7c367839aaf71a00a2c6a65";
const REGISTRY = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const SCOPE = "0x5c3b1d2e9a1f0c4b7d6e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c";

function consent(overrides: Partial<ConsentForFhir> = {}): ConsentForFhir {
  return {
    patient: PATIENT,
    consentAddress: ACCOUNT,
    grantee: CLINIC,
    scope: SCOPE,
    purpose: 1,
    expiry: 1_798_761_600,
    version: 3,
    chainId: 31337,
    registry: REGISTRY,
    ...overrides,
  };
}

describe("gateway FHIR export: live consents as R4 Consent resources", function () {
  let validator: FhirValidator;

  before(function () {
    this.timeout(60_000);
    validator = fhirR4Validator();
  });

  it("maps every purpose to its v3-ActReason code in a Consent the official R4 schema accepts", function () {
    const expected = { 1: "TREAT", 2: "HRESCH", 3: "ETREAT", 4: "HPAYMT", 5: "PUBHLTH" } as const;
    for (const [purpose, code] of Object.entries(expected)) {
      const resource = consentToFhir(consent({ purpose: Number(purpose) }), { now: Date.UTC(2026, 11, 1) });
      expect(validator.validate(resource), `purpose ${purpose}`).to.deep.equal([]);
      expect(resource.provision?.purpose).to.deep.equal([PURPOSE_OF_USE[Number(purpose)]]);
      expect(resource.provision?.purpose?.[0]).to.include({ system: ACT_REASON_SYSTEM, code });
    }
    // The schema is not vacuous: a Consent with an unknown status or a provision type it does not know fails.
    const resource = consentToFhir(consent());
    expect(validator.validate({ ...resource, status: "granted" })).not.to.deep.equal([]);
    expect(validator.validate({ ...resource, provision: { ...resource.provision, type: "allow" } })).not.to.deep.equal(
      [],
    );
  });

  it("names people only by DID, permits the grantee as information recipient until the expiry, and carries the scope id", function () {
    const resource = consentToFhir(consent(), { now: Date.UTC(2026, 11, 1) });
    expect(resource).to.include({ resourceType: "Consent", status: "active" });
    expect(resource.scope.coding?.[0]).to.include({ code: "patient-privacy" });
    expect(resource.category[0]?.coding?.[0]).to.include({ system: "http://loinc.org", code: "59284-0" });
    expect(resource.patient?.identifier?.value).to.equal(didEthr(31337, PATIENT));
    expect(resource.patient?.identifier?.value).to.equal(`did:ethr:0x7a69:${PATIENT}`);
    expect(resource.performer?.[0]?.identifier?.value).to.equal(didEthr(31337, ACCOUNT));
    expect(resource.policyRule?.coding?.[0]?.code).to.equal("OPTIN"); // FHIR invariant ppc-1
    expect(resource.provision?.type).to.equal("permit");
    expect(resource.provision?.period).to.deep.equal({ end: "2027-01-01T00:00:00.000Z" });
    expect(resource.provision?.actor?.[0]?.role.coding?.[0]?.code).to.equal("IRCP");
    expect(resource.provision?.actor?.[0]?.reference.identifier?.value).to.equal(didEthr(31337, CLINIC));
    expect(resource.provision?.extension).to.deep.equal([{ url: SCOPE_ID_EXTENSION, valueString: SCOPE }]);
    expect(resource.provision).not.to.have.property("class");
    expect(resource.provision).not.to.have.property("code");
    expect(JSON.stringify(resource)).not.to.match(/"(name|given|family|telecom|address|birthDate)"/);
  });

  it("fills the data class from the wallet's scope label: a FHIR resource type as class, anything else as code text", function () {
    const typed = consentToFhir(consent(), { scopeLabel: "fhir:Observation" });
    expect(typed.provision?.class).to.deep.equal([
      { system: "http://hl7.org/fhir/resource-types", code: "Observation" },
    ]);
    expect(validator.validate(typed)).to.deep.equal([]);
    const category = consentToFhir(consent(), { scopeLabel: "category:laboratory" });
    expect(category.provision?.code).to.deep.equal([{ text: "category:laboratory" }]);
    expect(validator.validate(category)).to.deep.equal([]);
  });

  it("wraps the consents in a collection Bundle the R4 schema accepts, empty or not", function () {
    const bundle = consentBundle([consent(), consent({ purpose: 2, grantee: ACCOUNT })], {
      now: Date.UTC(2026, 11, 1),
      scopeLabel: (scope) => (scope === SCOPE ? "fhir:Immunization" : undefined),
    });
    expect(bundle).to.include({ resourceType: "Bundle", type: "collection" });
    expect(bundle.entry).to.have.length(2);
    expect(validator.validate(bundle)).to.deep.equal([]);
    for (const entry of bundle.entry ?? []) expect(validator.validate(entry.resource)).to.deep.equal([]);
    expect(validator.validate(consentBundle([]))).to.deep.equal([]);
  });

  it("refuses a purpose outside the chain's 1..5", function () {
    expect(() => consentToFhir(consent({ purpose: 9 }))).to.throw(RangeError);
  });
});
