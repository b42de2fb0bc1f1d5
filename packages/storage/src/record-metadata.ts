// What the manifest says about a record besides its CID. Validated on the way in (putRecord) and on the way
// out (manifest decoding), so a malformed or oversized field never reaches a consumer.
import { InvalidArgumentError } from "./errors.ts";

export type RecordKind = "fhir" | "file";

export interface RecordMetadata {
  /** `fhir`: an HL7 FHIR R4 JSON resource; `file`: an opaque file (PDF, DICOM, …). */
  kind: RecordKind;
  /** FHIR resource type (`Observation`) for `fhir`, media type (`application/dicom`) for `file`. */
  type: string;
  /** Clinical category used for consent scopes, e.g. `laboratory`, `imaging`, `vital-signs`. */
  category: string;
  /** When the record was created, ISO 8601 with a time zone (`2026-11-21T13:00:00Z`). */
  created: string;
}

const FHIR_RESOURCE_TYPE = /^[A-Z][A-Za-z]{0,63}$/;
const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;
const CATEGORY = /^[a-z0-9][a-z0-9._:-]{0,63}$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;
const KEYS = new Set(["kind", "type", "category", "created"]);

/** Throws InvalidArgumentError unless `value` is a well-formed RecordMetadata; returns a clean copy. */
export function validateRecordMetadata(value: unknown): RecordMetadata {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError("record metadata must be an object { kind, type, category, created }", {
      field: "metadata",
    });
  }
  const record = value as Record<string, unknown>;
  const unknownKey = Object.keys(record).find((key) => !KEYS.has(key));
  if (unknownKey !== undefined)
    throw new InvalidArgumentError(
      `unknown record metadata field ${JSON.stringify(unknownKey)}: metadata has kind, type, category and created only`,
      { field: `metadata.${unknownKey}` },
    );
  const { kind, type, category, created } = record;
  if (kind !== "fhir" && kind !== "file")
    throw new InvalidArgumentError('metadata.kind must be "fhir" or "file"', { field: "metadata.kind" });
  if (typeof type !== "string" || !(kind === "fhir" ? FHIR_RESOURCE_TYPE : MEDIA_TYPE).test(type)) {
    throw new InvalidArgumentError(
      kind === "fhir"
        ? 'metadata.type must be a FHIR resource type ("Observation")'
        : 'metadata.type must be a lower-case media type ("application/pdf")',
      { field: "metadata.type" },
    );
  }
  if (typeof category !== "string" || !CATEGORY.test(category)) {
    throw new InvalidArgumentError('metadata.category must match [a-z0-9][a-z0-9._:-]{0,63} ("laboratory")', {
      field: "metadata.category",
    });
  }
  if (typeof created !== "string" || !TIMESTAMP.test(created) || Number.isNaN(Date.parse(created))) {
    throw new InvalidArgumentError(
      'metadata.created must be an ISO 8601 date-time with a time zone ("2026-11-21T13:00:00Z", new Date().toISOString())',
      { field: "metadata.created" },
    );
  }
  return { kind, type, category, created };
}
