// Serving registered studies: the researcher presents the study's ethics approval (POST /v1/studies); patients
// and researchers list and read the studies served (GET). See served.ts for what keeps a study served.
import { TrustRole } from "@hygeia/chain";
import { requireRole, requireSession } from "../../auth/session.ts";
import { verifyTallyShare } from "@hygeia/crypto";
import { aggregateDimensions, tallyShareContext } from "@hygeia/research";
import { BadRequestError, ConflictError, ForbiddenError, GatewayError, NotFoundError } from "../../errors.ts";
import { problemResponses } from "../../schemas.ts";
import type { StudyRow } from "../../store/types.ts";
import { approvalProblems } from "./approval.ts";
import type { StudiesApp } from "./index.ts";
import { ServeStudy, StudyList, StudyPage, StudyParams, StudyView } from "./schemas.ts";
import { servedStudy, studyRegistry, studyView } from "./served.ts";
import type { StudyTallies } from "./tally.ts";

/** Most categories a study's aggregate scopes may have in all: each is a proof every contribution must pass. */
const MAX_STUDY_CELLS = 64;

export function studyRoutes(app: StudiesApp, tallies: StudyTallies): void {
  app.post(
    "/studies",
    {
      schema: {
        tags: ["studies"],
        summary: "Serve a registered study: present its ethics approval",
        description:
          "The study's researcher (a session with the researcher role) presents the EthicsApprovalCredential its " +
          "StudyRegistry registration names, and the canonical scope strings it registered. The gateway verifies " +
          "the credential (signature, expiry, status list, issuer trusted as IRB at issuance and now) and that it " +
          "approves this registration (approvalHash, IRB, researcher, studyId slug, protocolHash, scopes); then " +
          "patients can find the study and contribute. Presenting again replaces the stored approval.",
        operationId: "serveStudy",
        security: [{ bearer: [] }],
        body: ServeStudy,
        response: { 201: StudyView, ...problemResponses(400, 401, 403, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      const session = requireRole(request, "researcher");
      const studyId = request.body.studyId.toLowerCase();
      const registry = studyRegistry(app);
      const details = await registry.details(studyId);
      if (details === null)
        throw new NotFoundError("STUDY_NOT_REGISTERED", "no study with this id is registered on the StudyRegistry", {
          field: "body.studyId",
        });
      if (details.researcher.toLowerCase() !== session.address)
        throw new ForbiddenError("NOT_STUDY_RESEARCHER", "only the study's researcher can present its approval");
      if (!(await registry.isOpen(studyId)))
        throw new GatewayError(
          "STUDY_CLOSED",
          409,
          "this study is not open on chain (closed, past its end, or its IRB not accredited now)",
        );
      const verifier = await app.roleVerifier();
      const { outcome, verification, failed } = await verifier.verifyIssued(request.body.approval, [TrustRole.Irb]);
      if (outcome === "unavailable")
        throw new GatewayError(
          "APPROVAL_CHECK_UNAVAILABLE",
          503,
          "the approval could not be checked now (its status list or the trust registry did not answer); retry",
          { extensions: { dependency: "status-list", checks: failed, retryAfter: 2 } },
        );
      if (outcome === "invalid" || verification.credential === undefined)
        throw new ForbiddenError("APPROVAL_REJECTED", "the ethics approval credential did not verify", {
          extensions: { checks: failed },
        });
      const problems = approvalProblems({
        details,
        approval: request.body.approval,
        credential: verification.credential,
        scopes: request.body.scopes,
        didAddress: (did) => verifier.didAddress(did),
      });
      if (problems.length > 0)
        throw new ForbiddenError(problems[0]!.code, problems.map((p) => p.message).join("; "), {
          extensions: { problems },
        });
      const previous = await app.services.store.getStudy(studyId);
      if (previous?.withdrawnAt != null)
        throw new GatewayError(
          "STUDY_WITHDRAWN",
          410,
          "this study was withdrawn here (its approval stopped verifying); register a new study with a new approval",
        );
      let dimensions;
      try {
        dimensions = aggregateDimensions(request.body.scopes);
      } catch (error) {
        throw new BadRequestError("INVALID_AGGREGATE_SCOPE", (error as Error).message, { field: "body.scopes" });
      }
      const share = request.body.tallyShare;
      const cells = dimensions.reduce((sum, d) => sum + d.categories.length, 0);
      if (cells > MAX_STUDY_CELLS)
        throw new BadRequestError(
          "TOO_MANY_CELLS",
          `the study's aggregate scopes have ${cells} categories in all; at most ${MAX_STUDY_CELLS} (each costs every contribution a proof to check)`,
          { field: "body.scopes" },
        );
      if (dimensions.length > 0) {
        if (share === undefined)
          throw new BadRequestError(
            "TALLY_SHARE_REQUIRED",
            "the study has aggregate scopes: send your tally key share (deriveTallyKeyShare, proveTallyShare)",
            { field: "body.tallyShare" },
          );
        const valid = verifyTallyShare(
          Buffer.from(share.publicKey, "base64url"),
          Buffer.from(share.proof, "base64url"),
          tallyShareContext(studyId),
        );
        if (!valid)
          throw new BadRequestError(
            "TALLY_SHARE_INVALID",
            "the tally share's proof does not verify for this study (proveTallyShare(share, tallyShareContext(studyId)))",
            { field: "body.tallyShare" },
          );
      } else if (share !== undefined)
        throw new BadRequestError("NO_AGGREGATES", "the study has no aggregate scopes: send no tally share", {
          field: "body.tallyShare",
        });
      // Facts already summed were encrypted to the joint key of the stored share: another share would make every
      // later count undecryptable.
      if (
        previous?.tallyKey != null &&
        previous.tallyKey !== (share?.publicKey ?? null) &&
        (await app.services.store.getTallySums(studyId)) !== undefined
      )
        throw new ConflictError(
          "TALLY_SHARE_CHANGED",
          "this study's contributions are encrypted to the tally share presented first: present that same share",
        );
      const now = app.services.now();
      const title = verification.credential.subject.protocolTitle;
      const row: StudyRow = {
        studyId,
        researcher: session.address,
        irb: details.irb.toLowerCase(),
        approval: request.body.approval,
        title: typeof title === "string" ? title : "",
        scopes: [...request.body.scopes].sort(),
        encryptionKey: details.encryptionKey,
        endsAt: Number(details.endsAt),
        createdAt: previous?.createdAt ?? now,
        checkedAt: now,
        withdrawnAt: null,
        withdrawnReason: null,
        tallyKey: dimensions.length > 0 ? share!.publicKey : null,
      };
      await app.services.store.putStudy(row);
      return reply.code(201).send(studyView(row, tallies));
    },
  );

  app.get(
    "/studies",
    {
      schema: {
        tags: ["studies"],
        summary: "List the studies served here",
        description:
          "Studies a patient may join: open on chain, their ethics approval verified (re-checked when due). A study " +
          "closed or withdrawn since is left out. 503 when the chain or an approval's status list cannot answer.",
        operationId: "listStudies",
        security: [{ bearer: [] }],
        querystring: StudyPage,
        response: { 200: StudyList, ...problemResponses(400, 401, 503) },
      },
    },
    async (request) => {
      requireSession(request);
      const limit = request.query.limit === undefined ? 50 : Number(request.query.limit);
      const after = request.query.after?.toLowerCase();
      const rows = await app.services.store.listStudies({ limit, ...(after === undefined ? {} : { after }) });
      const served: StudyRow[] = [];
      for (const row of rows) {
        if (row.withdrawnAt !== null) continue;
        try {
          served.push(await servedStudy(app, row.studyId));
        } catch (error) {
          // Closed or withdrawn: not listed. Anything else (a dependency down) refuses the whole list.
          if (error instanceof GatewayError && error.status === 410) continue;
          throw error;
        }
      }
      return {
        studies: served.map((row) => studyView(row, tallies)),
        next: rows.length === limit ? rows[rows.length - 1]!.studyId : null,
      };
    },
  );

  app.get(
    "/studies/:studyId",
    {
      schema: {
        tags: ["studies"],
        summary: "Read one study served here",
        description:
          "The study, if served: 404 STUDY_NOT_SERVED when no approval was presented for it, 410 STUDY_CLOSED or " +
          "STUDY_WITHDRAWN when it no longer is.",
        operationId: "getStudy",
        security: [{ bearer: [] }],
        params: StudyParams,
        response: { 200: StudyView, ...problemResponses(400, 401, 404, 410, 503) },
      },
    },
    async (request) => {
      requireSession(request);
      return studyView(await servedStudy(app, request.params.studyId.toLowerCase()), tallies);
    },
  );
}
