// GET /healthz (the process is up) and GET /readyz (every part the answers depend on answers: chain,
// consent indexer fresh, IPFS, database, and an audit log consistent with its checkpoints). Not under /v1:
// probes of a load balancer or orchestrator.
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import { Type } from "typebox";
import { GatewayError } from "../../errors.ts";
import { problemResponses } from "../../schemas.ts";
import { PARTS, readiness, runChecks, type Checks, type PartName } from "./checks.ts";

/** Each part's check is bounded by this; /readyz answers within about this long whatever hangs. */
export const READINESS_TIMEOUT_MS = 2_000;

const PartCheckSchema = Type.Object(
  {
    ready: Type.Boolean({ description: "The part answered and can vouch for answers." }),
    reason: Type.Union([Type.String(), Type.Null()], {
      description: "Why the part is not ready; null when it is.",
      examples: ["the chain node did not answer within 2000 ms"],
    }),
    code: Type.Union([Type.String({ pattern: "^[A-Z0-9_]+$" }), Type.Null()], {
      description: "Stable code of the failure; null when ready.",
      examples: ["INDEXER_STALE"],
    }),
  },
  { additionalProperties: false },
);

const AuditCheckSchema = Type.Object(
  {
    ...PartCheckSchema.properties,
    size: Type.Integer({ minimum: 0, description: "Events in the audit log.", examples: [1200] }),
    anchoredSize: Type.Integer({
      minimum: 0,
      description: "Size of the tree head last anchored on chain (0: none yet).",
      examples: [1024],
    }),
    lastAnchorError: Type.Union([Type.String(), Type.Null()], {
      description:
        "The last anchoring failure, until an anchor succeeds again; reported, not a readiness failure " +
        "(the events stay durable and are anchored once the chain answers).",
      examples: [null],
    }),
  },
  {
    additionalProperties: false,
    description:
      "The audit log: not ready (AUDIT_LOG_INCONSISTENT) when the stored log no longer reproduces its latest " +
      "signed checkpoint.",
  },
);

const OTHER_PARTS = PARTS.filter((part) => part !== "audit") as Exclude<PartName, "audit">[];

const ChecksSchema = Type.Object(
  {
    ...(Object.fromEntries(OTHER_PARTS.map((part) => [part, PartCheckSchema])) as Record<
      Exclude<PartName, "audit">,
      typeof PartCheckSchema
    >),
    audit: AuditCheckSchema,
  },
  {
    additionalProperties: false,
    description:
      "One entry per part: chain (node answers), indexer (fresh), ipfs (node answers), database, audit " +
      "(consistent with its checkpoints; sizes and the last anchoring error).",
  },
);

const READY_EXAMPLE = {
  ...Object.fromEntries(OTHER_PARTS.map((part) => [part, { ready: true, reason: null, code: null }])),
  audit: { ready: true, reason: null, code: null, size: 1200, anchoredSize: 1024, lastAnchorError: null },
};

/** 503 when a part is not ready: the problem names which, with every part's state in `checks`. */
class NotReadyError extends GatewayError {
  override name = "NotReadyError";
  constructor(parts: PartName[], checks: Checks) {
    super(
      "NOT_READY",
      503,
      `not ready: ${parts.map((part) => `${part} (${checks[part].reason ?? "not ready"})`).join("; ")}`,
      { extensions: { dependency: parts[0], notReady: parts, checks } },
    );
  }
}

async function health(app: FastifyInstance): Promise<void> {
  app.get(
    "/healthz",
    {
      schema: {
        tags: ["health"],
        summary: "Liveness: the process is up",
        description:
          "Answers 200 as long as the process serves HTTP; says nothing about its dependencies (see /readyz).",
        operationId: "getHealth",
        response: {
          200: Type.Object(
            { status: Type.Literal("ok", { description: "Always ok." }) },
            { additionalProperties: false, examples: [{ status: "ok" }] },
          ),
          ...problemResponses(429),
        },
      },
    },
    async () => ({ status: "ok" as const }),
  );

  app.get(
    "/readyz",
    {
      schema: {
        tags: ["health"],
        summary: "Readiness: chain, indexer, IPFS, database and the audit log all answer",
        description:
          "200 when every part answers within a short bound, the consent index is fresh and the audit log " +
          "reproduces its signed checkpoints (its anchored size and last anchoring error are reported); otherwise 503 " +
          "(problem NOT_READY) whose `checks` member gives each part's state and `notReady` names the failing ones.",
        operationId: "getReadiness",
        response: {
          200: Type.Object(
            { status: Type.Literal("ready"), checks: ChecksSchema },
            { additionalProperties: false, examples: [{ status: "ready", checks: READY_EXAMPLE }] },
          ),
          ...problemResponses(429, 503),
        },
      },
    },
    async () => {
      // The audit plugin decorates the root after this one registers: looked up per request.
      const audit = app.hasDecorator("audit") ? () => app.audit.status() : undefined;
      const checks = await runChecks(app.services, READINESS_TIMEOUT_MS, audit);
      const { ready, notReady } = readiness(checks);
      if (!ready) throw new NotReadyError(notReady, checks);
      return { status: "ready" as const, checks };
    },
  );
}

export const healthPlugin = fp(health, { name: "hygeia-health", fastify: "5.x" });
