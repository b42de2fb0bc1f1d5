// The audit routes under /v1/audit: a patient's own events with inclusion proofs (session), and for anyone
// the signed heads, their anchors, consistency proofs and the verifier key: everything @hygeia/audit's
// verifyAuditLog needs besides the anchors, which the client reads from the chain itself.
import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { requireSession } from "../../auth/session.ts";
import { NotFoundError } from "../../errors.ts";
import { problemResponses } from "../../schemas.ts";
import type { AuditService } from "../../audit/audit-log.ts";
import {
  CheckpointText,
  CheckpointsPage,
  CheckpointsQuery,
  ConsistencyAnswer,
  ConsistencyQuery,
  EventsPage,
  EventsQuery,
  VerifierKeyAnswer,
} from "./schemas.ts";
import { consistencyRange, cursor, eventView, headView, pageLimit } from "./views.ts";

export function auditRoutes(root: FastifyInstance, audit: AuditService): void {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const { store } = app.services;
  // A stored head larger than the log (rows lost from the database) gets an empty proof, which fails
  // verification: the damage shows at the patient's end instead of as a 500 here.
  const prove = (index: number, size: number) => (size <= audit.size() ? audit.inclusionProof(index, size) : []);
  const link = (from: number, to: number) => (to <= audit.size() ? audit.consistencyProof(from, to) : []);

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
        response: { 200: EventsPage, ...problemResponses(400, 401, 429, 503) },
      },
    },
    async (request) => {
      const patient = requireSession(request).address;
      const limit = pageLimit(request.query.limit);
      const after = cursor(request.query.after);
      // Heads first: every row read after them is at most as new, so rows newer than a head get a null proof.
      const anchored = headView(await store.latestCheckpoint({ anchored: true }));
      const latest = headView(await store.latestCheckpoint());
      const rows = await store.auditOf(patient, { limit, ...(after === undefined ? {} : { after }) });
      return {
        patient,
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
        response: {
          200: { description: "The signed note.", content: { "text/plain": { schema: CheckpointText } } },
          ...problemResponses(404, 429, 503),
        },
      },
    },
    async (_request, reply) => {
      const latest = await store.latestCheckpoint();
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
        response: { 200: CheckpointsPage, ...problemResponses(400, 429, 503) },
      },
    },
    async (request) => {
      const limit = pageLimit(request.query.limit);
      const after = cursor(request.query.after);
      const rows = await store.listCheckpoints({ limit, ...(after === undefined ? {} : { after }) });
      let previous = Math.min(after ?? 0, audit.size());
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
        origin: audit.origin,
        verifierKey: audit.verifierKey,
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
        response: { 200: ConsistencyAnswer, ...problemResponses(400, 429, 503) },
      },
    },
    async (request) => {
      const { from, to } = consistencyRange(Number(request.query.from), Number(request.query.to), audit.size());
      return {
        from,
        to,
        fromRoot: audit.rootAt(from),
        toRoot: audit.rootAt(to),
        proof: audit.consistencyProof(from, to),
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
        response: { 200: VerifierKeyAnswer, ...problemResponses(429, 503) },
      },
    },
    async () => {
      const { deployment } = app.services.chain;
      return {
        origin: audit.origin,
        verifierKey: audit.verifierKey,
        gateway: audit.gateway,
        auditAnchor: deployment.contracts.AuditAnchor.toLowerCase(),
        chainId: deployment.chainId,
        size: audit.size(),
      };
    },
  );
}
