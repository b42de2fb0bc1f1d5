// Which studies this gateway serves, and the checks that keep serving honest.
//
// Safety rules:
// - A study is served only after its researcher showed the EthicsApprovalCredential the registration names, and
//   it verified (signature, expiry, status list, issuer trusted as IRB at issuance and now) and matched the
//   registration (approval.ts). Nothing about a study is served before that.
// - It stays served only while the chain says it is open (not closed, not ended, its IRB still accredited: the
//   contract's isOpen) and its approval still verifies: re-checked when older than the status-list TTL. A revoked
//   approval (status list) or an IRB that lost its accreditation since issuance withdraws the study for good
//   (the withdrawal is stored, never cleared); an approval that cannot be checked (chain or list unreachable)
//   answers 503 for that request (fail closed) and is retried on the next.
import { TrustRole, type StudyRegistryClient } from "@hygeia/chain";
import type { FastifyInstance } from "fastify";
import { DependencyUnavailableError, GatewayError, NotFoundError } from "../../errors.ts";
import type { StudyRow } from "../../store/types.ts";
import type { StudyViewType } from "./schemas.ts";
import { dimensionsOf, type StudyTallies } from "./tally.ts";

export function studyRegistry(app: FastifyInstance): StudyRegistryClient {
  const studies = app.services.chain.studies;
  if (studies === null)
    throw new DependencyUnavailableError(
      "chain",
      "STUDY_REGISTRY_NOT_DEPLOYED",
      "this gateway's deployment has no StudyRegistry: upgrade the deployment (npm start upgrades its own) to serve studies",
    );
  return studies;
}

export function studyNotServed(): NotFoundError {
  return new NotFoundError(
    "STUDY_NOT_SERVED",
    "no study with this id is served here: its researcher has not presented its ethics approval (POST /v1/studies)",
    { field: "params.studyId" },
  );
}

function studyGone(code: string, message: string, reason?: string): GatewayError {
  return new GatewayError(code, 410, message, reason === undefined ? {} : { extensions: { reason } });
}

/**
 * The study if it is served now: stored, never withdrawn, open on chain, its approval re-verified when due.
 * Throws 404 STUDY_NOT_SERVED, 410 STUDY_CLOSED / STUDY_WITHDRAWN, or 503 when the chain or a status list
 * cannot answer.
 */
export async function servedStudy(app: FastifyInstance, studyId: string): Promise<StudyRow> {
  const { store, now } = app.services;
  const row = await store.getStudy(studyId);
  if (row === undefined) throw studyNotServed();
  if (row.withdrawnAt !== null)
    throw studyGone(
      "STUDY_WITHDRAWN",
      "this study is no longer served: its ethics approval was revoked or its IRB lost its accreditation",
      row.withdrawnReason ?? undefined,
    );
  if (!(await studyRegistry(app).isOpen(studyId)))
    throw studyGone(
      "STUDY_CLOSED",
      "this study is not open on chain: closed by its researcher or IRB, past its end, or its IRB not accredited now",
    );
  const at = now();
  if (at - row.checkedAt < app.config.identity.statusListTtlMs) return row;
  const verifier = await app.roleVerifier();
  const { outcome } = await verifier.verifyIssued(row.approval, [TrustRole.Irb]);
  if (outcome === "unavailable")
    throw new DependencyUnavailableError(
      "status-list",
      "APPROVAL_CHECK_UNAVAILABLE",
      "the study's ethics approval could not be re-checked (its status list or the trust registry did not answer); nothing is served until it can be",
      { retryAfterSeconds: 2 },
    );
  if (outcome === "invalid") {
    await store.setStudyCheck(studyId, at, { at, reason: "APPROVAL_NO_LONGER_VALID" });
    throw studyGone(
      "STUDY_WITHDRAWN",
      "this study is no longer served: its ethics approval no longer verifies (revoked, expired, or its IRB is no longer trusted)",
      "APPROVAL_NO_LONGER_VALID",
    );
  }
  await store.setStudyCheck(studyId, at, null);
  return { ...row, checkedAt: at };
}

/** What a study looks like to patients and researchers. */
export function studyView(row: StudyRow, tallies: StudyTallies): StudyViewType {
  const joint = tallies.jointKey(row);
  return {
    studyId: row.studyId,
    title: row.title,
    researcher: row.researcher,
    irb: row.irb,
    scopes: row.scopes,
    encryptionKey: Buffer.from(row.encryptionKey.slice(2), "hex").toString("base64url"),
    endsAt: row.endsAt,
    approval: row.approval,
    checkedAt: row.checkedAt,
    aggregates: dimensionsOf(row),
    tallyKey: joint === null ? null : Buffer.from(joint).toString("base64url"),
  };
}
