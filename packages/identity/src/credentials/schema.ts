// Validates credential subjects against their type's JSON schema (ajv, compiled once per type).
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { InvalidIdentityInputError, SchemaViolationError, truncate } from "../errors.ts";
import { CREDENTIAL_SUBJECT_SCHEMAS, isCredentialType, type CredentialTypeName } from "./types.ts";

const ajv = new Ajv({ allErrors: true, strict: true });
const validators = new Map<string, ValidateFunction>();

function validatorFor(type: CredentialTypeName, partial: boolean): ValidateFunction {
  const key = `${type}:${partial}`;
  let validate = validators.get(key);
  if (!validate) {
    const schema = CREDENTIAL_SUBJECT_SCHEMAS[type] as { required?: string[] };
    // Selective disclosure: each disclosed claim must be valid, but required claims may be withheld.
    validate = ajv.compile(partial ? { ...schema, required: [] } : schema);
    validators.set(key, validate);
  }
  return validate;
}

/**
 * The schema violations of `subject` for `type`; empty when valid. `partial` accepts a subset of the claims
 * (selectively disclosed SD-JWT claims).
 */
export function subjectViolations(type: string, subject: unknown, options: { partial?: boolean } = {}): string[] {
  if (!isCredentialType(type)) return [`unknown credential type ${String(JSON.stringify(type)).slice(0, 80)}`];
  const validate = validatorFor(type, options.partial ?? false);
  if (validate(subject)) return [];
  return (validate.errors ?? []).slice(0, 10).map(describeViolation);
}

/**
 * One ajv error as a sentence that names what to fix: ajv's own messages leave out the offending property for
 * `additionalProperties` and the allowed values for `enum` / `const`; they are in `params`. Names and values come
 * from the checked subject (possibly a presenter's), so they are quoted and shortened.
 */
function describeViolation(error: ErrorObject): string {
  const at = `credentialSubject${error.instancePath}`;
  const params = error.params as Record<string, unknown>;
  const quoted = (value: unknown) => JSON.stringify(truncate(String(value), 60));
  switch (error.keyword) {
    case "additionalProperties":
      return `${at} must NOT have additional property ${quoted(params.additionalProperty)} (remove it)`;
    case "required":
      return `${at} must have required property ${quoted(params.missingProperty)}`;
    case "enum":
      return `${at} must be one of ${(Array.isArray(params.allowedValues) ? params.allowedValues : []).map((v) => JSON.stringify(v)).join(", ")}`;
    case "const":
      return `${at} must be ${JSON.stringify(params.allowedValue)}`;
    default:
      return `${at} ${error.message ?? "invalid"}`;
  }
}

export function assertSubjectMatchesSchema(type: string, subject: unknown): void {
  const violations = subjectViolations(type, subject);
  if (violations.length > 0) throw new SchemaViolationError(type, violations);
}

/** The top-level claims a subject of `type` can have (its schema's properties). */
export function subjectClaimNames(type: CredentialTypeName): string[] {
  if (!isCredentialType(type))
    throw new InvalidIdentityInputError(
      "type",
      `must be a Hygeia credential type (${Object.keys(CREDENTIAL_SUBJECT_SCHEMAS).join(", ")})`,
    );
  const schema = CREDENTIAL_SUBJECT_SCHEMAS[type] as { properties?: Record<string, unknown> };
  return Object.keys(schema.properties ?? {});
}
