export {
  AGE_GROUP_EXTENSION,
  deidentify,
  type DeidentifiedExtract,
  type DeidentifiedResource,
  type DeidentifyOptions,
  type DeidentifyReport,
  type OmitReason,
} from "./deidentify.ts";
export { CODE_FORMATS, DEFAULT_CODE_SYSTEMS } from "./elements.ts";
export { DeidentifyInputError } from "./errors.ts";
export { PSEUDONYM_KEY_BYTES, PSEUDONYM_LABEL, Pseudonymizer } from "./pseudonym.ts";
export { SUPPORTED_RESOURCE_TYPES } from "./resources.ts";
export { RESTRICTED_ZIP3, RESTRICTED_ZIP3_SOURCE } from "./restricted-zip3.ts";
export { syntheticPatient, syntheticPatients, type SyntheticOptions, type SyntheticPatient } from "./synthetic.ts";
export {
  AggregateInputError,
  DEFAULT_MIN_CELL,
  cohortMoved,
  countBy,
  histogram,
  suppressSmallCells,
  type CellCounts,
  type ReleasedCounts,
  type Suppression,
  type SuppressionOptions,
  type WithheldReason,
} from "./aggregates.ts";
export {
  PULL_MANIFEST_HEADER,
  PullManifestError,
  contributionLeaf,
  contributionsRoot,
  formatPullManifest,
  openPullManifest,
  parsePullManifest,
  verifyPull,
  type PullContribution,
  type PullManifest,
  type PullManifestErrorCode,
} from "./pull-manifest.ts";
export { contributionWrapContext } from "./contribution.ts";
export {
  aggregateDimensions,
  factsContext,
  isAggregateScope,
  parseAggregateScope,
  partialContext,
  researcherTallyLabel,
  tallyShareContext,
  type AggregateDimension,
} from "./aggregate-scope.ts";
export { deriveFacts, type FactsOptions } from "./facts.ts";
