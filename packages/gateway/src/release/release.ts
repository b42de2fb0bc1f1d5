// Key release, in the order the promise needs: session (the route) -> record lookup -> consent check NOW ->
// durable audit event -> response. Nothing leaves before its event is durable; a deny is audited too.
//
// Safety rules:
// - The decision is decideRelease's (pure); this file only gathers its facts and carries it out.
// - A consent check that cannot be answered (stale index, chain down) is a deny event with that reason and a 503;
//   an audit log that cannot be written is a 503 and no wrap.
// - Notifications never delay or fail a release: the new-grantee note and the delivery run after the response.
import type { FastifyBaseLogger, FastifyInstance } from "fastify";
import { Purpose, type RecordAccess } from "@hygeia/chain";
import { ForbiddenError } from "../errors.ts";
import type { AuditEventInput, RecordedAuditEvent } from "../audit/types.ts";
import { askConsent, strictRules } from "./check.ts";
import { consentTarget, decideRelease, needsConsentCheck, type ReleaseDecision } from "./decide.ts";

export interface ReleaseRequest {
  /** The request id (it goes into the audit event). */
  requestId: string;
  caller: string;
  patient: string;
  cid: string;
  purpose: Purpose;
}

export interface Release {
  cid: string;
  /** The caller's wrap (base64url). */
  wrap: string;
  scope: string | null;
  consentAddress: string;
  purpose: Purpose;
  auditIndex: number;
  /** The origin of the audit log holding that event (this gateway's own). */
  auditLog: string;
  emergency: boolean;
}

/** Carries out one key release; throws ForbiddenError (403) or DependencyUnavailableError (503) on refusal. */
export async function releaseKey(
  app: FastifyInstance,
  request: ReleaseRequest,
  log?: FastifyBaseLogger,
): Promise<Release> {
  const { store, chain } = app.services;
  const { caller, patient, cid, purpose } = request;
  const [record, link, wrap] = await Promise.all([
    store.getRecord(patient, cid),
    caller === patient ? undefined : store.getConsentLink(patient, caller),
    store.getWrap(cid, caller),
  ]);

  let access: RecordAccess | undefined;
  if (record !== undefined && needsConsentCheck({ caller, patient, record, link })) {
    const target = consentTarget({ patient, record, link });
    const answer = await askConsent(chain, strictRules(app), {
      consentAddress: target.consentAddress,
      grantee: caller,
      scopeIds: target.scopeIds,
      purpose,
    });
    if (!answer.ok) {
      const event = releaseEvent(request, {
        decision: "deny",
        reason: answer.reason,
        consentAddress: target.consentAddress,
        scope: null,
        emergency: purpose === Purpose.Emergency,
      });
      const logged = await app.audit.record(event);
      notify(app, request, logged, false, log);
      throw answer.error;
    }
    access = answer.access;
  }

  const decision = decideRelease({ caller, patient, purpose, record, link, wrap, access });
  const event = releaseEvent(request, {
    decision: decision.decision,
    reason: decision.reason,
    consentAddress: decision.consentAddress,
    scope: decision.decision === "permit" ? decision.scope : null,
    emergency: decision.emergency,
  });
  const logged = await app.audit.record(event);
  notify(app, request, logged, decision.decision === "permit", log);

  if (decision.decision === "deny") throw denial(decision);
  return {
    cid,
    wrap: decision.wrap.wrap,
    scope: decision.scope,
    consentAddress: decision.consentAddress,
    purpose,
    auditIndex: logged.index,
    auditLog: app.audit.origin,
    emergency: decision.emergency,
  };
}

function releaseEvent(
  request: ReleaseRequest,
  outcome: {
    decision: "permit" | "deny";
    reason: string;
    consentAddress: string | null;
    scope: string | null;
    emergency: boolean;
  },
): AuditEventInput {
  return {
    type: outcome.decision === "deny" ? "access_denied" : outcome.emergency ? "emergency_release" : "key_release",
    decision: outcome.decision,
    actor: request.caller,
    patient: request.patient,
    reason: outcome.reason,
    request: request.requestId,
    record: request.cid,
    ...(outcome.consentAddress === null ? {} : { consentAddress: outcome.consentAddress }),
    ...(outcome.scope === null ? {} : { scope: outcome.scope }),
    purpose: request.purpose,
  };
}

function denial(decision: Extract<ReleaseDecision, { decision: "deny" }>): ForbiddenError {
  if (decision.code === "KEY_NOT_SHARED") {
    return new ForbiddenError(
      "KEY_NOT_SHARED",
      "consent holds, but the patient has not wrapped this record's key to you yet; the patient's wallet adds it (POST /v1/records/{cid}/wraps)",
    );
  }
  // One answer for "no such record", "no ids for you" and "no consent": a caller without consent learns nothing.
  return new ForbiddenError(
    "CONSENT_REQUIRED",
    "no live consent of this patient covers this record for you and this purpose (or there is no such record)",
  );
}

/**
 * Tells the patient (SSE, webhook) about an access to its data, after the event is durable. The owner reading its
 * own key is not news. The first release to a grantee is flagged (store.noteGrantee), off the response path.
 */
function notify(
  app: FastifyInstance,
  request: ReleaseRequest,
  logged: RecordedAuditEvent,
  permitted: boolean,
  log?: FastifyBaseLogger,
): void {
  if (request.caller === request.patient) return;
  const { index, event } = logged;
  const emergency = request.purpose === Purpose.Emergency;
  const publish = (newGrantee: boolean) => {
    try {
      app.notifier.publish(request.patient, { log: app.audit.origin, index, event, newGrantee, emergency });
    } catch (error) {
      log?.warn({ err: error }, "notification not published");
    }
  };
  if (!permitted) {
    publish(false);
    return;
  }
  const known = knownGranteesOf(app.services.store);
  const pair = `${request.patient}:${request.caller}`;
  // Noted before: no write transaction per release (the store's answer would be false).
  if (known.has(pair)) {
    publish(false);
    return;
  }
  app.services.store.noteGrantee(request.patient, request.caller, event.time).then(
    (isNew) => {
      remember(known, pair);
      publish(isNew);
    },
    (error: unknown) => {
      log?.warn({ err: error }, "noteGrantee failed; notifying without the new-grantee flag");
      publish(false);
    },
  );
}

/**
 * (patient, grantee) pairs this process saw the store note (store.noteGrantee resolved): the grantees table only
 * ever gains rows, so a pair noted once answers false forever after. Per store; bounded by clearing when full (a
 * cleared pair costs one more idempotent write, never a wrong flag).
 */
const KNOWN_GRANTEES = new WeakMap<object, Set<string>>();
const KNOWN_GRANTEES_MAX = 100_000;

function knownGranteesOf(store: object): Set<string> {
  let known = KNOWN_GRANTEES.get(store);
  if (known === undefined) KNOWN_GRANTEES.set(store, (known = new Set()));
  return known;
}

function remember(known: Set<string>, pair: string): void {
  if (known.size >= KNOWN_GRANTEES_MAX) known.clear();
  known.add(pair);
}
