// De-identify a patient's FHIR records for one study, as the patient's wallet does on opt-in, and read what is
// shared and what is not. Run: node packages/research/examples/deidentify.ts
import assert from "node:assert/strict";
// #region deidentify
import { deriveConsentSecretFromKeystoreSecret, deriveStudyPseudonymKey } from "@hygeia/crypto";
import { deidentify, syntheticPatient } from "@hygeia/research";

// The wallet's consent secret (here from a keystore secret; a browser wallet derives it from a signature).
const consentSecret = deriveConsentSecretFromKeystoreSecret(new Uint8Array(32).fill(9));
const patient = syntheticPatient(42, { age: 61 }); // names, MRN, SSN, phones, notes, ... planted everywhere

const extract = deidentify(patient.resources, {
  pseudonymKey: deriveStudyPseudonymKey(consentSecret, "diabetes-2026"), // one key per study
  asOf: "2027-06-30", // the later of today and the study's end date: ages are counted at it
  resourceTypes: ["Patient", "Observation", "Condition"], // what the study asked for
});

console.log(extract.report.kept); // { Patient: 1, Observation: 6, Condition: 1 }
console.log(extract.report.omitted); // [{ resourceType: "Encounter", reason: "not-requested", count: 2 }, ...]
console.log(extract.report.removed); // { "Patient.name": 1, "Patient.telecom": 1, "Observation.note": 6, ... }
const lab = extract.resources.find((resource) => resource.resourceType === "Observation");
console.log(lab?.code, lab?.valueQuantity, lab?.effectiveDateTime); // LOINC code, value + UCUM unit, the year
// #endregion deidentify

assert.deepEqual(extract.report.kept, { Patient: 1, Observation: 6, Condition: 1 });
assert.equal(extract.report.removed["Observation.note"], 6);
const text = JSON.stringify(extract.resources);
for (const identifier of patient.identifiers) assert.ok(!text.includes(identifier), identifier);
assert.match(String(lab?.effectiveDateTime), /^\d{4}$/);
