// The authorization matrix's oracle: what each role may do, written from the design of record (the issue,
// the design document docs/architecture.md, the gateway README's API), not from the gateway's code. It evaluates consent from
// a model of what the test itself wrote on chain (grants, revokes, expiries, emergency registrations and
// break-glass windows), so a gateway that decides from anything else disagrees with it.

export type RoleName =
  | "anonymous"
  | "patient"
  | "otherPatient"
  | "clinicWithConsent"
  | "clinicWithoutConsent"
  | "researcher"
  | "revokedClinic"
  | "emergencyBeforeBreakGlass"
  | "emergencyAfterBreakGlass";

export const ROLES: readonly RoleName[] = [
  "anonymous",
  "patient",
  "otherPatient",
  "clinicWithConsent",
  "clinicWithoutConsent",
  "researcher",
  "revokedClinic",
  "emergencyBeforeBreakGlass",
  "emergencyAfterBreakGlass",
];

export type ConsentState = "none" | "active" | "expired" | "revoked" | "otherScope" | "otherPurpose";

export const CONSENT_STATES: readonly ConsentState[] = [
  "none",
  "active",
  "expired",
  "revoked",
  "otherScope",
  "otherPurpose",
];

export type PurposeName = "Treatment" | "Research" | "Emergency";

export interface GrantFact {
  patient: string;
  grantee: string;
  scope: string;
  purpose: PurposeName;
  /** Unix seconds. */
  expiry: number;
  revoked: boolean;
}

export interface EmergencyFact {
  patient: string;
  grantee: string;
  /** The scope ids the grantee opened with breakGlass (none before it breaks the glass). */
  opened: string[];
  /** Unix seconds; 0 before the glass is broken. */
  windowEnd: number;
}

export interface ChainModel {
  grants: GrantFact[];
  emergencies: EmergencyFact[];
}

export interface RecordFact {
  owner: string;
  cid: string;
  /** The record's scope ids under the owner's main address (no pairwise links in this matrix). */
  scopeIds: string[];
  /** Addresses the patient wrapped the record's DEK to (besides itself). */
  wrappedTo: string[];
}

export interface Caller {
  /** Lowercase address; null for anonymous. */
  address: string | null;
  /** Roles the caller proved and still holds (a revoked accreditation holds none). */
  roles: ReadonlySet<"clinic" | "researcher">;
}

/** Consent on chain for (grantee, any of the record's ids, purpose) at `now`: a live grant, or an open emergency window. */
export function consentAllows(
  model: ChainModel,
  grantee: string,
  record: RecordFact,
  purpose: PurposeName,
  now: number,
): boolean {
  if (purpose === "Emergency") {
    return model.emergencies.some(
      (e) =>
        e.patient === record.owner &&
        e.grantee === grantee &&
        e.windowEnd > now &&
        e.opened.some((id) => record.scopeIds.includes(id)),
    );
  }
  return model.grants.some(
    (g) =>
      g.patient === record.owner &&
      g.grantee === grantee &&
      g.purpose === purpose &&
      !g.revoked &&
      g.expiry > now &&
      record.scopeIds.includes(g.scope),
  );
}

/** May the caller have the record's key (and its ciphertext) now? The owner always; a grantee with consent and a wrap. */
export function mayRelease(
  model: ChainModel,
  caller: Caller,
  record: RecordFact,
  purpose: PurposeName,
  now: number,
): boolean {
  if (caller.address === null) return false;
  if (caller.address === record.owner) return true;
  return record.wrappedTo.includes(caller.address) && consentAllows(model, caller.address, record, purpose, now);
}

/**
 * The expected status of one request. Route kinds:
 * - public: anyone, signed in or not;
 * - session: any signed-in caller, about its own data;
 * - owner-record: the record's owner only; to anyone else the record does not exist (404);
 * - release: the key or the ciphertext, under `mayRelease`; a refusal never tells whether the record exists (403);
 * - grantee-list: any signed-in caller gets 200 (the list's content is checked against `mayRelease` apart);
 * - clinic-role: a session holding a live clinic role (201 for a creation);
 * - not-found-for-all: an id nobody holds: 404 for everyone allowed to ask (401 before that when `secured`).
 */
export type RouteKind =
  | { kind: "public"; ok: number }
  | { kind: "session"; ok: number }
  | { kind: "owner-record"; ok: number }
  | { kind: "release"; purpose: PurposeName }
  | { kind: "grantee-list" }
  | { kind: "clinic-role"; ok: number }
  | { kind: "researcher-role"; ok: number }
  | { kind: "refused-for-all"; status: number; secured: boolean }
  | { kind: "opener-only"; ok: number };

export function expectedStatus(
  route: RouteKind,
  caller: Caller,
  context: { model: ChainModel; record: RecordFact; now: number; opener?: string },
): number {
  const signedIn = caller.address !== null;
  switch (route.kind) {
    case "public":
      return route.ok;
    case "session":
      return signedIn ? route.ok : 401;
    case "owner-record":
      if (!signedIn) return 401;
      return caller.address === context.record.owner ? route.ok : 404;
    case "release":
      if (!signedIn) return 401;
      return mayRelease(context.model, caller, context.record, route.purpose, context.now) ? 200 : 403;
    case "grantee-list":
      return signedIn ? 200 : 401;
    case "clinic-role":
      if (!signedIn) return 401;
      return caller.roles.has("clinic") ? route.ok : 403;
    case "researcher-role":
      if (!signedIn) return 401;
      return caller.roles.has("researcher") ? route.ok : 403;
    case "refused-for-all":
      return route.secured && !signedIn ? 401 : route.status;
    case "opener-only":
      if (!signedIn) return 401;
      return caller.address === context.opener ? route.ok : 404;
  }
}
