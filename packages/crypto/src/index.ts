// @hygeia/crypto: record encryption, DEK wrapping, key derivation. Platform-neutral (Node and browsers);
// the Node-only adapters (node:stream Transforms, decryptToFile) are in "@hygeia/crypto/node".
export * from "./errors.ts";
export {
  CHUNK_OVERHEAD_BYTES,
  DATA_KEY_BYTES,
  DEFAULT_CHUNK_SIZE,
  ENVELOPE_HEADER_BYTES,
  ENVELOPE_MAGIC,
  ENVELOPE_VERSION,
  EnvelopeAlgorithm,
  MAX_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
  chunkCount,
  encryptedSize,
  parseEnvelopeHeader,
} from "./envelope.ts";
export type { EnvelopeHeader } from "./envelope.ts";
export { assertDataKey, generateDataKey, wipe } from "./data-key.ts";
export { RecordEncryptor } from "./record-encryptor.ts";
export type { EncryptOptions } from "./record-encryptor.ts";
export { RecordDecryptor } from "./record-decryptor.ts";
export type { DecryptOptions } from "./record-decryptor.ts";
export { defaultSecretstream, libsodiumSecretstream, nativeSecretstream } from "./secretstream/default.ts";
export { SecretstreamTag } from "./secretstream/secretstream.ts";
export type {
  PulledFrame,
  Secretstream,
  SecretstreamPullState,
  SecretstreamPushState,
} from "./secretstream/secretstream.ts";
export { ACCEPTED_BYTE_INPUTS, byteChunks } from "./byte-input.ts";
export type { ByteChunk, ByteInput } from "./byte-input.ts";
export { decryptChunks, encryptChunks } from "./iterables.ts";
export type { ByteSource } from "./iterables.ts";
export { createDecryptTransformStream, createEncryptTransformStream } from "./web-streams.ts";
export { DEFAULT_MAX_BUFFERED_PLAINTEXT_BYTES, decryptToBuffer, encryptToBuffer } from "./buffers.ts";
export type { DecryptToBufferOptions } from "./buffers.ts";
export {
  X25519_KEY_BYTES,
  assertX25519PublicKey,
  generateX25519KeyPair,
  isCanonicalX25519PublicKey,
  x25519KeyPairFromSecretKey,
} from "./x25519.ts";
export type { AssertX25519PublicKeyOptions, X25519KeyPair } from "./x25519.ts";
export { WRAP_BYTES, WRAP_VERSION, WrapAlgorithm, unwrapKey, wrapKey, wrapKeyForRecipients } from "./key-wrap.ts";
export type { RecipientKey, WrapContext, WrappedKey } from "./key-wrap.ts";
export {
  x25519KeyFromVerificationMethod,
  x25519KeysFromDidDocument,
  x25519PublicKeyToBase64,
  x25519PublicKeyToJwk,
  x25519PublicKeyToMultibase,
} from "./did-keys.ts";
export type { X25519PublicJwk } from "./did-keys.ts";
export {
  KEY_DERIVATION_STATEMENT,
  assertKeyDerivationSignature,
  canonicalSignature,
  keyDerivationDigest,
  keyDerivationSignRequest,
  keyDerivationTypedData,
  keyDerivationTypedDataForEthers,
  recoverSignerAddress,
} from "./wallet-signature.ts";
export type {
  KeyDerivationDomain,
  KeyDerivationMessage,
  KeyDerivationSignRequest,
  KeyDerivationTypedData,
  KeyDerivationTypedDataForEthers,
  TypedDataField,
  WalletSignature,
} from "./wallet-signature.ts";
export {
  KEYSTORE_SECRET_INFO,
  KEY_DERIVATION_SALT,
  MIN_KEYSTORE_SECRET_BYTES,
  WALLET_SIGNATURE_INFO,
  assertDeterministicSigner,
  deriveKeyPairFromEip1193Wallet,
  deriveKeyPairFromKeystoreSecret,
  deriveKeyPairFromWalletSignature,
} from "./derive.ts";
export type { Eip1193DerivationOptions, Eip1193Provider, WalletDerivationOptions } from "./derive.ts";
export {
  CONSENT_ACCOUNT_SEED_BYTES,
  CONSENT_ACCOUNT_SEED_INFO,
  CONSENT_SECRET_BYTES,
  CONSENT_SECRET_KEYSTORE_INFO,
  CONSENT_SECRET_WALLET_SIGNATURE_INFO,
  SCOPE_KEY_BYTES,
  SCOPE_KEY_INFO,
  deriveConsentAccountSeed,
  deriveConsentSecretFromEip1193Wallet,
  deriveConsentSecretFromKeystoreSecret,
  deriveConsentSecretFromWalletSignature,
  deriveScopeKey,
  deriveStudyPseudonymKey,
  STUDY_PSEUDONYM_KEY_BYTES,
  STUDY_PSEUDONYM_KEY_INFO,
} from "./consent-secret.ts";
export type { ConsentSecretFromSignatureOptions } from "./consent-secret.ts";
export {
  MANIFEST_ANCHOR_ACCOUNT_INFO,
  MANIFEST_ANCHOR_POINTER_INFO,
  MANIFEST_POINTER_AAD,
  MAX_SEALED_MANIFEST_POINTER_BYTES,
  deriveManifestAnchorKeys,
  openManifestPointer,
  sealManifestPointer,
} from "./manifest-anchor.ts";
export type { ManifestAnchorKeys, ManifestPointer } from "./manifest-anchor.ts";
export {
  MAX_TALLY_CELLS,
  MAX_TALLY_COUNT,
  TALLY_CELL_BYTES,
  TALLY_POINT_BYTES,
  TallyProofError,
  addCells,
  combineTallyKeys,
  decryptCount,
  deriveTallyKeyShare,
  encryptFacts,
  partialDecrypt,
  proveTallyShare,
  subtractCells,
  verifyFacts,
  verifyPartialDecryption,
  verifyTallyShare,
} from "./tally.ts";
export type { EncryptedFacts, TallyKeyShare } from "./tally.ts";
