// @hygeia/identity: the package's single public entry.
export * from "./errors.ts";
export * from "./did/network.ts";
export * from "./did/resolver.ts";
export * from "./did/agent.ts";
export * from "./credentials/types.ts";
export * from "./credentials/schema.ts";
export * from "./credentials/issue.ts";
export {
  MAX_CHALLENGE_LENGTH,
  MAX_DOMAIN_LENGTH,
  MIN_CHALLENGE_LENGTH,
  credentialTime,
  type CredentialTime,
} from "./credentials/inputs.ts";
export * from "./status/bitstring.ts";
export * from "./status/status-list.ts";
export * from "./status/token-status-list.ts";
export * from "./status/publish.ts";
export * from "./status/verify-list.ts";
export { classifyAddress, isNonPublicAddress } from "./status/url-policy.ts";
export * from "./verify/result.ts";
export * from "./verify/jwt.ts";
export * from "./verify/challenges.ts";
export * from "./verify/trust.ts";
export * from "./verify/es256k.ts";
export * from "./verify/credential-verifier.ts";
export * from "./sdjwt/sd-jwt.ts";
export * from "./checkin/mutual.ts";
export {
  SEALED_CHECK_IN_PADDING,
  SEALED_CHECK_IN_TYPE,
  SEALED_CHECK_IN_VERSION,
  verifyCheckIn,
  type SealedCheckIn,
  type VerifyCheckInParams,
} from "./checkin/sealed.ts";
export * from "./verify/factory.ts";
