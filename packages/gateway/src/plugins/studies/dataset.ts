// The dataset pull: the study's researcher receives the contributions whose research consent is live NOW.
//
// Safety rules:
// - Only the study's own researcher, holding the researcher role, pulls, and only while the study is served
//   (open on chain, approval verified: served.ts).
// - Each contribution's consent is checked at this moment, as a key release checks it (the indexer, or the
//   contract in strict mode): the research grant (purpose Research) of the contribution's consent address to the
//   researcher, for its `study:<id>` scope id. The consent address must be the one the patient links to this
//   researcher now (or its own address when none): a grant from another account opens nothing. A consent check
//   that cannot be answered (stale index, chain down) refuses the whole pull (503): never a partial dataset
//   passed off as whole.
// - Nothing names a patient: the answer lists CIDs and wraps (sealed to the study key), by ascending CID.
// - Every included contribution is audited (dataset_pull, in that patient's log) and durable BEFORE the answer; an
//   audit log that cannot be written refuses the pull.
// - The manifest (study, researcher, block, time, count, Merkle root) is signed with the audit log's key, so the
//   researcher can prove to its IRB what it received, and check that nothing was added or dropped.
import { Purpose } from "@hygeia/chain";
import { contributionsRoot, formatPullManifest, isAggregateScope } from "@hygeia/research";
import { requireRole } from "../../auth/session.ts";
import { ForbiddenError, NotFoundError } from "../../errors.ts";
import { problemResponses } from "../../schemas.ts";
import type { StudiesApp } from "./index.ts";
import { sendCiphertext } from "../records/ciphertext.ts";
import { canonicalCid } from "../records/inputs.ts";
import { Ciphertext } from "../records/schemas.ts";
import { DatasetPull, StudyCidParams, StudyParams } from "./schemas.ts";
import { contributionLive, liveContributions } from "./live.ts";
import { servedStudy } from "./served.ts";

/** Refuses (403) row-level data to a study approved for aggregate counts only (every scope `aggregate:`). */
function requireRowLevel(study: { scopes: readonly string[] }): void {
  if (!study.scopes.some((scope) => !isAggregateScope(scope)))
    throw new ForbiddenError(
      "PULL_NOT_APPROVED",
      "this study is approved for aggregate counts only (no row-level scope): ask POST /v1/studies/{studyId}/aggregates",
    );
}

export function datasetRoutes(app: StudiesApp): void {
  app.get(
    "/studies/:studyId/contributions/:cid/content",
    {
      schema: {
        tags: ["studies"],
        summary: "Fetch a contribution's ciphertext",
        description:
          "Streams a contribution's ciphertext (the encrypted de-identified extract) to the study's researcher, " +
          "while the study is served. The DEK comes from the pull, sealed to the study key.",
        operationId: "getContributionContent",
        security: [{ bearer: [] }],
        params: StudyCidParams,
        response: {
          200: { description: "The ciphertext", content: { "application/octet-stream": { schema: Ciphertext } } },
          ...problemResponses(400, 401, 403, 404, 410, 503),
        },
      },
    },
    async (request, reply) => {
      const researcher = requireRole(request, "researcher").address;
      const study = await servedStudy(app, request.params.studyId.toLowerCase());
      if (study.researcher !== researcher)
        throw new ForbiddenError("NOT_STUDY_RESEARCHER", "only the study's researcher reads its contributions");
      requireRowLevel(study);
      const cid = canonicalCid(request.params.cid, "params.cid");
      const row = await app.services.store.contributionByCid(study.studyId, cid);
      if (!row) throw new NotFoundError("NO_CONTRIBUTION", "no contribution of this study has this CID");
      // As a pull: only while the patient's research consent (from its linked address) is live now.
      if (!(await contributionLive(app, row, researcher)))
        throw new ForbiddenError("CONSENT_REQUIRED", "this contributor's research consent is not live now");
      return sendCiphertext(app, reply, cid, row.size);
    },
  );

  app.post(
    "/studies/:studyId/dataset",
    {
      schema: {
        tags: ["studies"],
        summary: "Pull the study's dataset: the contributions with live consent now",
        description:
          "For the study's researcher (researcher role): every contribution whose research grant is live at this " +
          "moment, as CID and wrap (sealed to the study key), with a signed pull manifest. A patient who revoked or " +
          "opted out is absent. Each included patient's audit log records the pull (dataset_pull). 503 when the " +
          "consent index or the chain cannot vouch for every answer.",
        operationId: "pullDataset",
        security: [{ bearer: [] }],
        params: StudyParams,
        response: { 200: DatasetPull, ...problemResponses(400, 401, 403, 404, 410, 503) },
      },
    },
    async (request) => {
      const researcher = requireRole(request, "researcher").address;
      const study = await servedStudy(app, request.params.studyId.toLowerCase());
      if (study.researcher !== researcher)
        throw new ForbiddenError("NOT_STUDY_RESEARCHER", "only the study's researcher pulls its dataset");
      requireRowLevel(study);
      const { chain, now } = app.services;
      const block = chain.indexer.status().syncedBlock;
      const { included, excluded } = await liveContributions(app, study, researcher);

      included.sort((a, b) => (a.cid < b.cid ? -1 : a.cid > b.cid ? 1 : 0));
      const contributions = included.map((row) => ({ cid: row.cid, wrap: row.wrap }));
      const manifest = app.audit.signNote(
        formatPullManifest({
          study: study.studyId,
          researcher,
          block: Math.max(block, 0),
          time: now(),
          count: contributions.length,
          root: contributionsRoot(contributions),
        }),
      );
      // Durable before the answer: each patient's log shows the pull that included it.
      await Promise.all(
        included.map((row) =>
          app.audit.record({
            type: "dataset_pull",
            decision: "permit",
            actor: researcher,
            patient: row.patient,
            reason: "CONSENT_GRANTED",
            request: request.id,
            record: row.cid,
            consentAddress: row.consentAddress,
            scope: row.scopeId,
            purpose: Purpose.Research,
          }),
        ),
      );
      return {
        studyId: study.studyId,
        contributions,
        block: Math.max(block, 0),
        manifest,
        verifierKey: app.audit.verifierKey,
        excluded,
      };
    },
  );
}
