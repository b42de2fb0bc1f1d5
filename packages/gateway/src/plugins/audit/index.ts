// The audit plugin: decorates `app.audit` (the durable, anchored audit log every permit and deny goes
// through) and serves the patient-verifiable views of it under /v1/audit.
import fp from "fastify-plugin";
import type { FastifyInstance } from "fastify";
import { createAuditLog, loadSigningKey, ZERO_ADDRESS, type AuditService } from "../../audit/audit-log.ts";
import { auditRoutes } from "./routes.ts";

async function audit(app: FastifyInstance): Promise<void> {
  const { store, chain, now } = app.services;
  const anchors = chain.anchors;
  const signer = anchors?.sender?.signer;
  const gateway = signer ? (await signer.getAddress()).toLowerCase() : ZERO_ADDRESS;
  const service: AuditService = await createAuditLog({
    store,
    anchors,
    signingKey: await loadSigningKey(app.config.dataDir),
    origin: app.config.audit.origin,
    gateway,
    anchorEveryEvents: app.config.audit.anchorEveryEvents,
    anchorEveryMs: app.config.audit.anchorEveryMs,
    now,
    log: app.log,
  });
  app.decorate("audit", service);
  auditRoutes(app, service);
  // Closed after the routes stopped taking requests (onClose runs after the server closed): the last
  // events are flushed and the last head anchored.
  app.addHook("onClose", async () => {
    await service.close();
  });
}

export const auditPlugin = fp(audit, { name: "hygeia-audit", fastify: "5.x" });
