// Access notifications to patients (the events plugin decorates `app.notifier`): Server-Sent Events and an
// optional webhook per patient. The first access by a new grantee and every emergency access are flagged.
import type { AuditEvent } from "@hygeia/audit";

export interface AccessNotification {
  /** The origin of the audit log holding the event (with several gateways, the deciding gateway's). */
  log: string;
  /** The audit event's index in that log (the patient can fetch it with its proof). */
  index: number;
  /** The event exactly as logged (the patient can match it, byte for byte, to its audit view and proof). */
  event: AuditEvent;
  /** The first release of this patient's data to this grantee. */
  newGrantee: boolean;
  emergency: boolean;
}

export interface Notifier {
  /** Never throws and never delays the caller: delivery is best effort and asynchronous. */
  publish(patient: string, notification: AccessNotification): void;
  /**
   * Makes sure accesses to `patient`'s data decided at the other gateways of the store reach this one (a live stream
   * of the patient is about to open here); resolves once they will, as far as best effort goes.
   */
  watch(patient: string): Promise<void>;
  close(): Promise<void>;
}

declare module "fastify" {
  interface FastifyInstance {
    notifier: Notifier;
  }
}
