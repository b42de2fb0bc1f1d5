import type { RecordMetadata } from "../../src/index.ts";

/** Metadata of a lab result, the record most storage tests add. */
export const LAB: RecordMetadata = {
  kind: "fhir",
  type: "Observation",
  category: "laboratory",
  created: "2026-11-21T13:00:00Z",
};
