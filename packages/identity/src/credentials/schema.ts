// Validates credential subjects against their type's JSON schema (ajv, compiled once per type).
import { Ajv, type ValidateFunction } from "ajv";
import { SchemaViolationError } from "../errors.ts";
import { CREDENTIAL_SUBJECT_SCHEMAS, isCredentialType, type CredentialTypeName } from "./types.ts";

const ajv = new Ajv({ allErrors: true, strict: true });
const validators = new Map<CredentialTypeName, ValidateFunction>();

function validatorFor(type: CredentialTypeName): ValidateFunction {
  let validate = validators.get(type);
  if (!validate) {
    validate = ajv.compile(CREDENTIAL_SUBJECT_SCHEMAS[type]);
    validators.set(type, validate);
  }
  return validate;
}

/** The schema violations of `subject` for `type`; empty when valid. */
export function subjectViolations(type: string, subject: unknown): string[] {
  if (!isCredentialType(type)) return [`unknown credential type ${JSON.stringify(type).slice(0, 80)}`];
  const validate = validatorFor(type);
  if (validate(subject)) return [];
  return (validate.errors ?? [])
    .slice(0, 10)
    .map((e) => `credentialSubject${e.instancePath} ${e.message ?? "invalid"}`);
}

export function assertSubjectMatchesSchema(type: string, subject: unknown): void {
  const violations = subjectViolations(type, subject);
  if (violations.length > 0) throw new SchemaViolationError(type, violations);
}
