// Patients' contributions: opt in (a de-identified extract, encrypted, its DEK sealed to the study's key), read
// your own, opt out.
//
// Safety rules:
// - Only a served study takes contributions (served.ts), and only from the patient who uploaded the ciphertext
//   (staged by that session's address, not expired); one contribution per patient and study (a new one replaces
//   the old, whose ciphertext is let go).
// - The gateway never opens anything: the wrap is checked for shape, the scope id is opaque. It cannot tell what
//   the extract holds; the wallet de-identifies before encrypting (@hygeia/research deidentify).
// - The research grant itself is on chain (purpose Research, scope `study:<id>` keyed by the patient): it is
//   checked at every pull, not here, so a contribution made before its grant is mined is simply not pulled yet.
// - The consent address is the patient's own, or the pairwise account it linked for the study's researcher
//   (POST /v1/consent-links first); a pull checks the grant of exactly that address.
// - Opting out deletes the contribution at once (the next pull cannot include it, whatever the chain says) and
//   unpins its ciphertext; revoking the grant on chain is the wallet's other half.
import { Purpose } from "@hygeia/chain";
import { requireSession } from "../../auth/session.ts";
import { BadRequestError, ConflictError, NotFoundError } from "../../errors.ts";
import { problemResponses } from "../../schemas.ts";
import type { ContributionRow } from "../../store/types.ts";
import { canonicalCid, checkWrap } from "../records/inputs.ts";
import type { UploadStaging } from "../records/staging.ts";
import type { StudiesApp } from "./index.ts";
import { Contribute, ContributionList, ContributionView, StudyParams, Withdrawn } from "./schemas.ts";
import { servedStudy } from "./served.ts";
import type { StudyTallies } from "./tally.ts";

function contributionView(row: ContributionRow) {
  return {
    studyId: row.studyId,
    cid: row.cid,
    size: row.size,
    consentAddress: row.consentAddress,
    scopeId: row.scopeId,
    createdAt: row.createdAt,
  };
}

function notStaged(): ConflictError {
  return new ConflictError(
    "UPLOAD_NOT_STAGED",
    "this CID is not an upload of yours awaiting registration: PUT /v1/uploads the encrypted extract first",
  );
}

export function contributionRoutes(app: StudiesApp, staging: UploadStaging, tallies: StudyTallies): void {
  app.post(
    "/studies/:studyId/contributions",
    {
      schema: {
        tags: ["studies"],
        summary: "Opt in: contribute your de-identified extract to a study",
        description:
          "Registers a ciphertext this address uploaded (PUT /v1/uploads): the study's de-identified extract, " +
          "encrypted by the wallet, with its DEK sealed to the study's encryptionKey, and the keyed scope id of " +
          "`study:<studyId>` the research grant (on chain, purpose Research, grantee the study's researcher) names. " +
          "It is pulled only while that grant is live. A second contribution replaces the first. Audited as " +
          "record_added (STUDY_CONTRIBUTION).",
        operationId: "contribute",
        security: [{ bearer: [] }],
        params: StudyParams,
        body: Contribute,
        response: { 201: ContributionView, ...problemResponses(400, 401, 404, 409, 410, 503) },
      },
    },
    async (request, reply) => {
      const patient = requireSession(request).address;
      const study = await servedStudy(app, request.params.studyId.toLowerCase());
      const { store, now } = app.services;
      const cid = canonicalCid(request.body.cid, "body.cid");
      const wrap = checkWrap(request.body.wrap, "body.wrap");
      const consentAddress = (request.body.consentAddress ?? patient).toLowerCase();
      if (consentAddress !== patient) {
        const link = await store.getConsentLink(patient, study.researcher);
        if (link?.consentAddress !== consentAddress)
          throw new BadRequestError(
            "CONSENT_ADDRESS_NOT_LINKED",
            "body.consentAddress is neither your address nor the consent account you linked for this study's researcher (POST /v1/consent-links)",
            { field: "body.consentAddress" },
          );
      }
      if (study.researcher === patient)
        throw new BadRequestError("OWN_STUDY", "a researcher does not contribute to its own study", {
          field: "params.studyId",
        });
      // The cheap checks first: verifying facts costs about 11 ms of CPU per cell, never spent on an upload that is
      // not this patient's to register.
      if (!(await staging.get(cid, patient))) throw notStaged();
      const row: ContributionRow = {
        studyId: study.studyId,
        patient,
        cid,
        size: 0,
        consentAddress,
        scopeId: request.body.scopeId.toLowerCase(),
        wrap,
        facts: tallies.checkFacts(study, patient, request.body.facts),
        createdAt: now(),
      };
      // Under the staging lock: the sweep cannot unpin the CID between this check and the row.
      const previous = await staging.locked(async () => {
        const staged = await staging.get(cid, patient);
        if (!staged) throw notStaged();
        row.size = staged.size;
        const { previous: replaced } = await tallies.writeContribution(store, study, patient, row.facts, (tally) =>
          store.putContribution(row, tally),
        );
        await staging.take(cid, patient);
        return replaced;
      });
      if (previous !== undefined && previous.cid !== cid) await staging.letGo(previous.cid, patient);
      await app.audit.record({
        type: "record_added",
        decision: "permit",
        actor: patient,
        patient,
        reason: "STUDY_CONTRIBUTION",
        request: request.id,
        record: cid,
        consentAddress,
        scope: row.scopeId,
        purpose: Purpose.Research,
      });
      return reply.code(201).send(contributionView(row));
    },
  );

  app.get(
    "/studies/:studyId/contributions/mine",
    {
      schema: {
        tags: ["studies"],
        summary: "Read your contribution to a study",
        operationId: "getMyContribution",
        security: [{ bearer: [] }],
        params: StudyParams,
        response: { 200: ContributionView, ...problemResponses(400, 401, 404, 503) },
      },
    },
    async (request) => {
      const patient = requireSession(request).address;
      const row = await app.services.store.getContribution(request.params.studyId.toLowerCase(), patient);
      if (!row) throw new NotFoundError("NO_CONTRIBUTION", "you have no contribution to this study");
      return contributionView(row);
    },
  );

  app.delete(
    "/studies/:studyId/contributions/mine",
    {
      schema: {
        tags: ["studies"],
        summary: "Opt out: withdraw your contribution",
        description:
          "Deletes your contribution (no later pull or count includes it), audits it (contribution_withdrawn) and " +
          "unpins its ciphertext here. Revoke the " +
          "research grant on chain too: that is what every other gateway checks.",
        operationId: "withdrawContribution",
        security: [{ bearer: [] }],
        params: StudyParams,
        response: { 200: Withdrawn, ...problemResponses(400, 401, 404, 503) },
      },
    },
    async (request) => {
      const patient = requireSession(request).address;
      const studyId = request.params.studyId.toLowerCase();
      const { store } = app.services;
      const study = await store.getStudy(studyId);
      const { previous: row } =
        study === undefined
          ? await store.deleteContribution(studyId, patient)
          : await tallies.writeContribution(store, study, patient, null, (tally) =>
              store.deleteContribution(studyId, patient, tally),
            );
      if (!row) throw new NotFoundError("NO_CONTRIBUTION", "you have no contribution to this study");
      await app.audit.record({
        type: "contribution_withdrawn",
        decision: "permit",
        actor: patient,
        patient,
        reason: "STUDY_OPT_OUT",
        request: request.id,
        record: row.cid,
        consentAddress: row.consentAddress,
        scope: row.scopeId,
        purpose: Purpose.Research,
      });
      const unpinned = await staging.letGo(row.cid, patient);
      return { studyId, cid: row.cid, unpinned };
    },
  );

  app.get(
    "/contributions",
    {
      schema: {
        tags: ["studies"],
        summary: "List your contributions to studies",
        operationId: "listMyContributions",
        security: [{ bearer: [] }],
        response: { 200: ContributionList, ...problemResponses(401, 503) },
      },
    },
    async (request) => {
      const patient = requireSession(request).address;
      const rows = await app.services.store.contributionsOf(patient);
      return { contributions: rows.map(contributionView) };
    },
  );
}
