// @hygeia/sdk, browser entry: what the web wallet needs (the shared core, the patient's client, the patient side of
// a check-in, audit verification), and nothing that needs Node.
//
// Rules (packages/sdk/test/browser-bundle.test.ts enforces them by bundling this file for the browser):
// - No module reachable from here imports a Node built-in (`node:*`, or bare `fs`, `crypto`, …), directly or through
//   a package: import `@hygeia/chain/browser`, `@hygeia/storage/browser`, `@hygeia/crypto/browser` (or the
//   platform-neutral `@hygeia/crypto`, `@hygeia/audit`), never those packages' main entries, which reach anvil,
//   node:fs, Helia and node:sqlite. Node-only helpers live in files named `*.node.ts` and are never listed here.
// - The bundle is built without Node polyfills: a module that needs one does not belong here.
//
// The clinic's reading side (records.ts, browser-client.ts) is here for the web clinic page; ClinicClient (credentials,
// check-ins through the identity agent) is Node's.
//
// Listed: every browser-bound module (the bundle test names the chain of imports when one reaches Node). The
// check-in imports `@hygeia/identity/browser`; a browser wallet uses `keyCheckInWallet(connection, holder)`.
export * from "./errors.ts";
export * from "./progress.ts";
export * from "./transport.ts";
export * from "./session.ts";
export * from "./connection.ts";
export * from "./wallet.ts";
export type { PatientContext, PatientKeys, RecordSharing } from "./patient/context.ts";
export * from "./patient/keys.ts";
export * from "./patient/did-key.ts";
export * from "./patient/anchor.ts";
export * from "./patient/consent.ts";
export * from "./patient/emergency.ts";
export * from "./patient/audit.ts";
export * from "./patient/notifications.ts";
export * from "./study-view.ts";
export * from "./patient/studies.ts";
export * from "./patient/records.ts";
export * from "./patient/client.ts";
export * from "./clinic/errors.ts";
export * from "./clinic/records.ts";
export * from "./clinic/browser-client.ts";
export * from "./checkin/patient.ts";
