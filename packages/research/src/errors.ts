/** An input `deidentify` cannot read (not a FHIR resource, a bad key or date): nothing is returned for it. */
export class DeidentifyInputError extends Error {
  override name = "DeidentifyInputError";
  readonly code = "INVALID_DEIDENTIFY_INPUT";
  /** Which input: "resources[3]", "options.pseudonymKey", ... */
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}
