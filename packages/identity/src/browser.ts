// @hygeia/identity/browser: the part of @hygeia/identity that bundles for browsers (the web wallet's check-in and
// credential verification). Everything of the main entry except its Node-only modules:
//
// - did/agent.ts (IdentityAgent: Veramo's key manager and DID store in node:sqlite, loaded through node:module),
// - verify/challenges-sqlite.ts (SqliteChallengeStore: node:sqlite).
//
// The rest has no Node built-in on its paths. Two leaves differ by platform, chosen by package.json's "imports"
// map under the "node" condition (a browser bundler takes "default"): ES256K verification and SHA-256 (`#native`:
// node:crypto in Node, @noble elsewhere, same results) and did:key resolution (`#did-key-resolver`: Veramo's
// in Node; none in browsers, which resolve did:ethr only). A browser wallet signs with a HolderKey
// (privateKeyHolderKey, or its own), verifies with createChainVerifier and answers a clinic with answerClinic.
// packages/sdk/test/browser-bundle.test.ts bundles this entry for the browser, fails on any Node built-in, and
// checks that it exports every name of the main entry but those of the two modules above.
export * from "./errors.ts";
export * from "./did/network.ts";
export * from "./did/resolver.ts";
export type { EncryptionKeyRef } from "./did/encryption-keys.ts";
export * from "./credentials/types.ts";
export * from "./credentials/schema.ts";
export * from "./credentials/holder.ts";
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
export {
  DEFAULT_MAX_LIVE_CHALLENGES,
  MemoryChallengeStore,
  type ChallengeState,
  type ChallengeStore,
  type ChallengeStoreOptions,
  type ConsumeOutcome,
} from "./verify/challenges.ts";
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
