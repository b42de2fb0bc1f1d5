// The audit routes under /v1/audit: a patient's own events with inclusion proofs (session), and for anyone
// the signed heads, their anchors, consistency proofs and the verifier key: everything @hygeia/audit's
// verifyAuditLog needs besides the anchors, which the client reads from the chain itself.
import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { requireSession } from "../../auth/session.ts";
import { NotFoundError } from "../../errors.ts";
import { problemResponses } from "../../schemas.ts";
import type { AuditService } from "../../audit/audit-log.ts";
import { AuditLogViews, type AuditLogView } from "../../audit/log-views.ts";
import {
  CheckpointText,
  CheckpointsPage,
  CheckpointsQuery,
  ConsistencyAnswer,
  ConsistencyQuery,
  EventsPage,
  EventsQuery,
  LogQuery,
  LogsAnswer,
  VerifierKeyAnswer,
} from "./schemas.ts";
import { consistencyRange, cursor, eventView, headView, pageLimit } from "./views.ts";

export function auditRoutes(root: FastifyInstance, audit: AuditService): void {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const views = new AuditLogViews(app.services.store, audit);
  const viewOf = async (origin: string | undefined): Promise<AuditLogView> => {
    const view = await views.get(origin);
    if (!view)
      throw new NotFoundError(
        "UNKNOWN_AUDIT_LOG",
        `no audit log ${JSON.stringify(origin)} in this gateway's database (GET /v1/audit/logs lists them)`,
        { field: "query.log" },
      );
    return view;
  };
  // A stored head larger than the log (rows lost from the database) gets an empty proof, which fails
  // verification: the damage shows at the patient's end instead of as a 500 here.
  const prover = (view: AuditLogView) => (index: number, size: number) =>
    size <= view.size() ? view.inclusionProof(index, size) : [];
  const linker = (view: AuditLogView) => (from: number, to: number) =>
    to <= view.size() ? view.consistencyProof(from, to) : [];

  app.get(
    "/v1/audit/logs",
    {
      schema: {
        tags: ["audit"],
        summary: "The audit logs this gateway serves",
        description:
          "Gateways sharing one database (several behind a load balancer) each keep their own signed and anchored " +
          "log; any of them serves all of them. Your events are in whichever log the gateway that released them " +
          "keeps: read and verify each (pass its origin as `log`).",
        operationId: "listAuditLogs",
        response: { 200: LogsAnswer, ...problemResponses(429, 503) },
      },
    },
    async () => ({
      self: audit.origin,
      logs: (await views.list()).map(({ origin, verifierKey, gateway, createdAt }) => ({
        origin,
        verifierKey,
        gateway,
        createdAt,
      })),
    }),
  );

  app.get(
    "/v1/audit/events",
    {
      schema: {
        tags: ["audit"],
        summary: "Your audit events, with inclusion proofs",
        description:
          "Every permit and deny concerning your data, in log order, each with RFC 9162 inclusion proofs against " +
          "the latest anchored head and the latest signed head. Check them with @hygeia/audit verifyAuditLog.",
        operationId: "listAuditEvents",
        security: [{ bearer: [] }],
        querystring: EventsQuery,
        response: { 200: EventsPage, ...problemResponses(400, 401, 404, 429, 503) },
      },
    },
    async (request) => {
      const patient = requireSession(request).address;
      const limit = pageLimit(request.query.limit);
      const after = cursor(request.query.after);
      // Heads first: every row read after them is at most as new, so rows newer than a head get a null proof.
      const view = await viewOf(request.query.log);
      const anchored = headView(await view.reader.latestCheckpoint({ anchored: true }));
      const latest = headView(await view.reader.latestCheckpoint());
      // Another gateway's log: its tree is brought up to every head read above.
      await view.sync();
      const rows = await view.reader.of(patient, { limit, ...(after === undefined ? {} : { after }) });
      const prove = prover(view);
      return {
        patient,
        log: view.origin,
        events: rows.map((row) => eventView(row, anchored, latest, prove)),
        anchoredHead: anchored,
        latestHead: latest,
        next: rows.length === limit ? String(rows[rows.length - 1]!.index) : null,
      };
    },
  );

  app.get(
    "/v1/audit/checkpoint",
    {
      schema: {
        tags: ["audit"],
        summary: "The latest signed checkpoint",
        description:
          "The latest tree head as a C2SP tlog-checkpoint signed note (text/plain), for witnesses and log tools.",
        operationId: "getAuditCheckpoint",
        querystring: LogQuery,
        response: {
          200: { description: "The signed note.", content: { "text/plain": { schema: CheckpointText } } },
          ...problemResponses(404, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const latest = await (await viewOf(request.query.log)).reader.latestCheckpoint();
      if (!latest) throw new NotFoundError("NO_CHECKPOINT", "no checkpoint has been signed yet");
      return reply.type("text/plain; charset=utf-8").send(latest.note);
    },
  );

  app.get(
    "/v1/audit/checkpoints",
    {
      schema: {
        tags: ["audit"],
        summary: "Signed tree heads and their anchors",
        description:
          "Checkpoints oldest first, each with its AuditAnchor transaction (or null) and a consistency proof from " +
          "the previous listed head, so a page links into one append-only history.",
        operationId: "listAuditCheckpoints",
        querystring: CheckpointsQuery,
        response: { 200: CheckpointsPage, ...problemResponses(400, 404, 429, 503) },
      },
    },
    async (request) => {
      const limit = pageLimit(request.query.limit);
      const after = cursor(request.query.after);
      const view = await viewOf(request.query.log);
      const rows = await view.reader.listCheckpoints({ limit, ...(after === undefined ? {} : { after }) });
      await view.sync();
      const link = linker(view);
      let previous = Math.min(after ?? 0, view.size());
      const checkpoints = rows.map((row) => {
        const from = Math.min(previous, row.size);
        previous = row.size;
        return {
          size: row.size,
          rootHash: row.rootHash,
          note: row.note,
          createdAt: row.createdAt,
          anchor: row.anchor,
          consistency: { from, to: row.size, proof: link(from, row.size) },
        };
      });
      return {
        origin: view.origin,
        verifierKey: view.verifierKey,
        checkpoints,
        next: rows.length === limit ? String(rows[rows.length - 1]!.size) : null,
      };
    },
  );

  app.get(
    "/v1/audit/proofs/consistency",
    {
      schema: {
        tags: ["audit"],
        summary: "Consistency proof between two tree sizes",
        description: "RFC 9162 §2.1.4 proof that the tree of size `to` extends the tree of size `from`.",
        operationId: "getAuditConsistencyProof",
        querystring: ConsistencyQuery,
        response: { 200: ConsistencyAnswer, ...problemResponses(400, 404, 429, 503) },
      },
    },
    async (request) => {
      const view = await viewOf(request.query.log);
      const { from, to } = consistencyRange(Number(request.query.from), Number(request.query.to), view.size());
      return {
        from,
        to,
        fromRoot: view.rootAt(from),
        toRoot: view.rootAt(to),
        proof: view.consistencyProof(from, to),
      };
    },
  );

  app.get(
    "/v1/audit/verifier-key",
    {
      schema: {
        tags: ["audit"],
        summary: "The checkpoint verifier key and anchoring identity",
        description:
          "The C2SP verifier key of the checkpoint signing key, the gateway's anchoring address and the AuditAnchor " +
          "contract whose AuditRootAnchored events (of that gateway) bind the heads.",
        operationId: "getAuditVerifierKey",
        querystring: LogQuery,
        response: { 200: VerifierKeyAnswer, ...problemResponses(400, 404, 429, 503) },
      },
    },
    async (request) => {
      const { deployment } = app.services.chain;
      const view = await viewOf(request.query.log);
      return {
        origin: view.origin,
        verifierKey: view.verifierKey,
        gateway: view.gateway,
        auditAnchor: deployment.contracts.AuditAnchor.toLowerCase(),
        chainId: deployment.chainId,
        size: view.size(),
      };
    },
  );
}
