// The SDK as the CLI uses it. @hygeia/sdk's entry does not export the role clients yet (they are being written in
// parallel); they are re-exported here from their files until it does, so only this file changes then.
export * from "@hygeia/sdk";
export * from "../../sdk/src/wallet.ts";
export { derivePatientKeys, deriveEncryptionKey } from "../../sdk/src/patient/keys.ts";
export { didOf, addressOf, encryptionKeysOf, type EncryptionKey } from "../../sdk/src/patient/did-key.ts";
export { PatientClient } from "../../sdk/src/patient/client.ts";
export type { PatientRecord, AddedRecord, StreamInput, RecordInput } from "../../sdk/src/patient/records.ts";
export {
  AuditIntegrityError,
  type AuditReport,
  type AuditEntry,
  type VerifiedAuditEntry,
} from "../../sdk/src/patient/audit.ts";
export type { ListedConsent, GrantResult, RevokeResult, ConsentMode } from "../../sdk/src/patient/consent.ts";
export type { EmergencyGrantee, EmergencyRegistrationResult } from "../../sdk/src/patient/emergency.ts";
export {
  IssuerClient,
  IssuerStateFile,
  type AccreditationChange,
  type AccreditationStanding,
  type IssuedCredential,
  type StatusChange,
} from "../../sdk/src/issuer/index.ts";
export { ClinicClient } from "../../sdk/src/clinic/client.ts";
export type { CheckInResult, OpenedCheckIn } from "../../sdk/src/clinic/checkins.ts";
export type { RoleGranted } from "../../sdk/src/clinic/role.ts";
