// The issuer's part of @hygeia/sdk (Node only: it signs with an @hygeia/identity agent). See README.md "IssuerClient".
export * from "./client.ts";
export { NotGovernanceError, StatusChangeRefusedError } from "./errors.ts";
export { IssuerStateFile } from "./state-file.node.ts";
export {
  BITSTRING_LIST_SIZE,
  TOKEN_LIST_SIZE,
  newIssuerState,
  parseIssuerState,
  type StatusFormat,
  type StatusGroupState,
  type StatusListState,
} from "./status-state.ts";
