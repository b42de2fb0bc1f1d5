// The clinic's reading of a patient's records (record-access.ts): the public part, for the package's entries.
export {
  fetchRecord,
  listCoveredRecords,
  patientAddress,
  type CoveredRecord,
  type FetchRecordOptions,
  type FetchedRecord,
  type FetchedRecordFile,
  type ListRecordsOptions,
  type RefusedRecord,
} from "./record-access.ts";
