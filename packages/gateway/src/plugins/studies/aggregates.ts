// Aggregates: counts per category over the contributors with live consent, released only as small-cell
// suppression allows, computed without anyone reading one patient's facts (tally.ts, @hygeia/crypto tally.ts).
//
// Two steps, both for the study's researcher (researcher role) while the study is served:
// 1. POST /studies/:id/aggregates { dimension }: the gateway sums the encrypted facts of the live contributors and
//    answers the encrypted sums with a query id (single use, five minutes). The query is kept in the store, so step 2
//    may reach any gateway sharing it (tally.ts).
// 2. POST /studies/:id/aggregates/:queryId { partials }: the researcher's partial decryption of each sum, with
//    proofs. The gateway checks them and the counted patients' consent again (409 AGGREGATE_STALE when one ended),
//    adds its own partials, recovers the counts, and releases what the rules allow (k = research.minCell):
//    rule 0 (research cohortMoved): when the contributions counted differ from those of ANY earlier release of the
//    dimension (shown or withheld) by 1 to k-1, everything is withheld, cells and total, whatever their categories;
//    then suppressSmallCells against the earlier shown values. Each counted patient's log gets an aggregate_count
//    event before the answer; the release and who it counted are stored. The researcher never receives a withheld
//    count.
//
// Deny by default: only the dimensions the study registered (its `aggregate:` scopes) are counted; a study with none
// gets nothing. Patients' consent is checked as for a pull (live.ts): a revoked patient is not counted.
import { decryptCount, partialDecrypt, verifyPartialDecryption } from "@hygeia/crypto";
import { Purpose } from "@hygeia/chain";
import { cohortMoved, partialContext, suppressSmallCells } from "@hygeia/research";
import { createHash } from "node:crypto";
import { strictRules } from "../../release/check.ts";
import { requireRole } from "../../auth/session.ts";
import { BadRequestError, ConflictError, ForbiddenError, GatewayError } from "../../errors.ts";
import { problemResponses } from "../../schemas.ts";
import type { StudiesApp } from "./index.ts";
import { contributionLive, liveContributions } from "./live.ts";
import {
  AggregatePartials,
  AggregateQuery,
  AggregateRelease,
  AggregateRequest,
  QueryParams,
  StudyParams,
} from "./schemas.ts";
import { servedStudy } from "./served.ts";
import { base64url, dimensionsOf, type StudyTallies } from "./tally.ts";

/** A release's member: a short hash of a counted contribution's CID (a replaced contribution is a new member). */
const memberOf = (cid: string): string => createHash("sha256").update(cid).digest("base64url").slice(0, 16);

export function aggregateRoutes(app: StudiesApp, tallies: StudyTallies): void {
  /** The study, served, asked by its own researcher. */
  const researchersStudy = async (request: { params: { studyId: string } } & Parameters<typeof requireRole>[0]) => {
    const researcher = requireRole(request, "researcher").address;
    const study = await servedStudy(app, request.params.studyId.toLowerCase());
    if (study.researcher !== researcher)
      throw new ForbiddenError("NOT_STUDY_RESEARCHER", "only the study's researcher asks for its aggregates");
    return { study, researcher };
  };

  app.post(
    "/studies/:studyId/aggregates",
    {
      schema: {
        tags: ["studies"],
        summary: "Aggregate, step 1: the encrypted counts of one dimension",
        description:
          "Sums the encrypted facts of the contributors whose research consent is live now, for one of the study's " +
          "aggregate dimensions, and answers the encrypted count per category with a query id. Decrypt your share " +
          "of each (partialDecrypt) and send them to step 2 within five minutes.",
        operationId: "openAggregate",
        security: [{ bearer: [] }],
        params: StudyParams,
        body: AggregateRequest,
        response: { 200: AggregateQuery, ...problemResponses(400, 401, 403, 404, 410, 429, 503) },
      },
    },
    async (request) => {
      const { study, researcher } = await researchersStudy(request);
      const dimensions = dimensionsOf(study);
      if (dimensions.length === 0)
        throw new ForbiddenError(
          "NO_AGGREGATES",
          "this study was approved for no aggregate counts (no aggregate: scope)",
        );
      const dimension = dimensions.find((d) => d.name === request.body.dimension);
      if (dimension === undefined)
        throw new BadRequestError(
          "UNKNOWN_DIMENSION",
          `the study counts only ${dimensions.map((d) => d.name).join(", ")}`,
          { field: "body.dimension" },
        );
      let query;
      for (let attempt = 0; attempt < 4 && query === undefined; attempt++) {
        const version = (await app.services.store.getTallySums(study.studyId))?.version ?? 0;
        const live = await liveContributions(app, study, researcher);
        query = await tallies.open(app.services.store, study, dimension, live, version);
      }
      if (query === undefined)
        throw new GatewayError("STUDY_BUSY", 503, "contributions kept arriving while the count was prepared; retry", {
          extensions: { retryAfter: 1 },
        });
      return {
        queryId: query.id,
        dimension,
        sums: query.sums.map(base64url),
        expiresAt: query.expiresAt,
      };
    },
  );

  app.post(
    "/studies/:studyId/aggregates/:queryId",
    {
      schema: {
        tags: ["studies"],
        summary: "Aggregate, step 2: decrypt and release the counts",
        description:
          "Takes your partial decryption of each encrypted count of the query (with its proof), adds the " +
          "gateway's, and answers the counts small-cell suppression releases: a cell under k, or one that the " +
          "totals or an earlier release would reveal, is null. The query is used up, whatever the answer.",
        operationId: "releaseAggregate",
        security: [{ bearer: [] }],
        params: QueryParams,
        body: AggregatePartials,
        response: { 200: AggregateRelease, ...problemResponses(400, 401, 403, 404, 410, 503) },
      },
    },
    async (request) => {
      const { study } = await researchersStudy(request);
      const query = await tallies.take(app.services.store, study, request.params.queryId);
      if (query === undefined)
        throw new GatewayError(
          "AGGREGATE_QUERY_NOT_FOUND",
          404,
          "no open aggregate query of this study has this id (never opened, already used, or expired): start again",
          { field: "params.queryId" },
        );
      const { partials } = request.body;
      if (partials.length !== query.sums.length || study.tallyKey === null)
        throw new BadRequestError(
          "INVALID_PARTIALS",
          `send one partial decryption per category (${query.sums.length})`,
          {
            field: "body.partials",
          },
        );
      const researcherKey = Buffer.from(study.tallyKey, "base64url");
      const gatewayShare = tallies.share(study.studyId);
      const counts: Record<string, number> = {};
      query.sums.forEach((sum, j) => {
        const partial = Buffer.from(partials[j]!.partial, "base64url");
        const proof = Buffer.from(partials[j]!.proof, "base64url");
        if (!verifyPartialDecryption(researcherKey, sum, partial, proof, partialContext(query.id, j)))
          throw new BadRequestError(
            "INVALID_PARTIALS",
            `partials[${j}] is not your share's decryption of sums[${j}] (partialDecrypt with partialContext(queryId, ${j}))`,
            { field: `body.partials[${j}]` },
          );
        const own = partialDecrypt(gatewayShare, sum, partialContext(query.id, j)).partial;
        counts[query.dimension.categories[j]!] = decryptCount(sum, [partial, own], query.contributors);
      });
      // Consent again, now: a patient who revoked since step 1 must not be in what is released.
      const strict = strictRules(app);
      for (const row of query.included)
        if (!(await contributionLive(app, row, study.researcher, strict)))
          throw new ConflictError(
            "AGGREGATE_STALE",
            "a contributor's consent ended since this query was opened: nothing was released, start again",
          );
      const k = app.config.research.minCell;
      const members = query.included.map((row) => memberOf(row.cid));
      const history = await app.services.store.aggregateReleases(study.studyId, query.dimension.name);
      const release = cohortMoved(
        members,
        history.map((row) => row.members),
        k,
      )
        ? { cells: Object.fromEntries(query.dimension.categories.map((c) => [c, null])), total: null, k }
        : suppressSmallCells(counts, {
            k,
            // Earlier releases under another k (the setting changed) are compared under this one.
            history: history.map((row) => ({ ...row.release, k })),
          }).release;
      // Durable before the answer: each counted patient's log shows the count that included it.
      await Promise.all(
        query.included.map((row) =>
          app.audit.record({
            type: "aggregate_count",
            decision: "permit",
            actor: study.researcher,
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
      await app.services.store.appendAggregateRelease({
        studyId: study.studyId,
        dimension: query.dimension.name,
        releasedAt: app.services.now(),
        release,
        members,
      });
      return { dimension: query.dimension.name, ...release };
    },
  );
}
