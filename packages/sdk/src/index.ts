// @hygeia/sdk: one typed client per role over one shared transport (see README.md). This entry is for Node; the
// browser-safe subset (patient, patient-side check-in, audit verification) is `@hygeia/sdk/browser`.
export * from "./errors.ts";
export * from "./progress.ts";
export * from "./transport.ts";
export * from "./session.ts";
export * from "./connection.ts";
export * from "./wallet.ts";
export * from "./patient/context.ts";
export * from "./patient/keys.ts";
export * from "./patient/did-key.ts";
export * from "./patient/records.ts";
export * from "./patient/anchor.ts";
export * from "./patient/consent.ts";
export * from "./patient/emergency.ts";
export * from "./patient/audit.ts";
export * from "./patient/client.ts";
export * from "./issuer/index.ts";
export * from "./clinic/errors.ts";
export * from "./clinic/role.ts";
export * from "./clinic/status-lists.ts";
export * from "./clinic/records.ts";
export * from "./clinic/checkins.ts";
export * from "./clinic/client.ts";
export * from "./researcher/client.ts";
export * from "./checkin/patient.ts";
