/** Typed ConsentRegistry events, shared by the client (receipts) and the indexer (logs). */
import { Interface, getAddress, type Log } from "ethers";
import { ConsentRegistryAbi } from "../generated/ConsentRegistry.ts";
import { parsePurpose, type Purpose } from "../purposes.ts";
import { logPosition, type LogPosition } from "./base.ts";

export const consentRegistryInterface = new Interface(ConsentRegistryAbi);

/** Topic0 of the events that write a consent slot. */
export const CONSENT_SLOT_TOPICS: readonly string[] = ["ConsentGranted", "ConsentRevoked", "EmergencyAccess"].map(
  (name) => consentRegistryInterface.getEvent(name)!.topicHash,
);

/**
 * Topic0 of every event that changes what isAllowed answers (what the indexer follows): the slot
 * events and EmergencyGranteeSet, which closes the grantee's open Emergency windows.
 */
export const CONSENT_STATE_TOPICS: readonly string[] = [
  ...CONSENT_SLOT_TOPICS,
  consentRegistryInterface.getEvent("EmergencyGranteeSet")!.topicHash,
];

interface SlotEventBase {
  readonly patient: string;
  readonly grantee: string;
  /** bytes32 scope id (lowercase hex). */
  readonly scope: string;
  readonly version: number;
  readonly position: LogPosition;
}

export interface ConsentGrantedEvent extends SlotEventBase {
  readonly type: "ConsentGranted";
  readonly purpose: Purpose;
  readonly expiry: bigint;
}

export interface ConsentRevokedEvent extends SlotEventBase {
  readonly type: "ConsentRevoked";
  readonly purpose: Purpose;
}

export interface EmergencyAccessEvent extends SlotEventBase {
  readonly type: "EmergencyAccess";
  readonly purpose: 3;
  readonly expiry: bigint;
}

/**
 * A new emergency registration of `grantee` (maxDuration > 0) or its removal (0). Either way every
 * Emergency window the grantee had on the patient's records is closed; the slots keep their versions.
 */
export interface EmergencyGranteeSetEvent {
  readonly type: "EmergencyGranteeSet";
  readonly patient: string;
  readonly grantee: string;
  /** Seconds; 0 means the grantee was removed. */
  readonly maxDuration: number;
  /** Merkle root of the registration's scopes (emergency.ts); the zero bytes32 for a removal. */
  readonly scopesRoot: string;
  readonly position: LogPosition;
}

/** An event that writes a consent slot. */
export type ConsentSlotEvent = ConsentGrantedEvent | ConsentRevokedEvent | EmergencyAccessEvent;
export type ConsentEvent = ConsentSlotEvent | EmergencyGranteeSetEvent;

/** The slot value an event leaves behind: a revoke is a tombstone with expiry 0. */
export function slotAfter(event: ConsentSlotEvent): { expiry: bigint; version: number } {
  return { expiry: event.type === "ConsentRevoked" ? 0n : event.expiry, version: event.version };
}

/** Parses a ConsentRegistry log; undefined for events not listed above (e.g. EIP712DomainChanged). */
export function parseConsentLog(log: Log): ConsentEvent | undefined {
  const parsed = consentRegistryInterface.parseLog({ topics: [...log.topics], data: log.data });
  if (!parsed) return undefined;
  const a = parsed.args;
  const position = logPosition(log);
  switch (parsed.name) {
    case "ConsentGranted":
      return {
        type: "ConsentGranted",
        patient: getAddress(a[0] as string),
        grantee: getAddress(a[1] as string),
        scope: (a[2] as string).toLowerCase(),
        purpose: parsePurpose(Number(a[3])),
        expiry: a[4] as bigint,
        version: Number(a[5]),
        position,
      };
    case "ConsentRevoked":
      return {
        type: "ConsentRevoked",
        patient: getAddress(a[0] as string),
        grantee: getAddress(a[1] as string),
        scope: (a[2] as string).toLowerCase(),
        purpose: parsePurpose(Number(a[3])),
        version: Number(a[4]),
        position,
      };
    case "EmergencyAccess":
      return {
        type: "EmergencyAccess",
        patient: getAddress(a[0] as string),
        grantee: getAddress(a[1] as string),
        scope: (a[2] as string).toLowerCase(),
        purpose: 3,
        expiry: a[3] as bigint,
        version: Number(a[4]),
        position,
      };
    case "EmergencyGranteeSet":
      return {
        type: "EmergencyGranteeSet",
        patient: getAddress(a[0] as string),
        grantee: getAddress(a[1] as string),
        maxDuration: Number(a[2]),
        scopesRoot: (a[3] as string).toLowerCase(),
        position,
      };
    default:
      return undefined;
  }
}

export function isSlotEvent(event: ConsentEvent): event is ConsentSlotEvent {
  return event.type !== "EmergencyGranteeSet";
}
