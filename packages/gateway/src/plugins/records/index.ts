// Records and key release (registered under /v1): ciphertext uploads, records with their wraps and scope ids,
// the manifest pointer, consent address links, and the grantee side (listing, key release, ciphertext).
//
// The gateway never receives a plaintext or an unwrapped key: no route takes one. Uploads are opaque bytes the
// wallet encrypted, wraps are sealed boxes checked for shape only, scope ids are keyed hashes.
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from "fastify";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { granteeRoutes } from "./grantee.ts";
import { linkRoutes } from "./links.ts";
import { manifestRoutes } from "./manifest.ts";
import { recordRoutes } from "./records.ts";
import { RegistrationReceipts } from "./receipts.ts";
import { UploadStaging } from "./staging.ts";
import { loadSharedKey } from "../../auth/tokens.ts";
import { uploadRoutes } from "./uploads.ts";
import { studiesPlugin } from "../studies/index.ts";

export type RecordsApp = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

export interface RecordsPluginOptions {
  /** How long an upload stays pinned unregistered, ms. Default one hour. */
  stagingTtlMs?: number;
  /**
   * Bytes one uploader may hold staged (unregistered) at once, uploads under way included; past it an upload is
   * refused with 429 UPLOAD_BUDGET_EXCEEDED. Default 2 × config.limits.uploadBytes.
   */
  stagedBytesPerUploader?: number;
}

export const DEFAULT_STAGING_TTL_MS = 60 * 60 * 1000;

export async function recordsPlugin(root: FastifyInstance, options: RecordsPluginOptions = {}): Promise<void> {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const receipts = new RegistrationReceipts(
    await loadSharedKey(
      app.config.dataDir,
      app.config.gatewaySecret,
      "receipt",
      "records can no longer be restored after a database loss",
    ),
    app.services.content,
    { timeoutMs: app.config.ipfs.timeoutMs },
  );
  const staging = new UploadStaging({
    store: app.services.store,
    content: app.services.content,
    receipts,
    ttlMs: options.stagingTtlMs ?? DEFAULT_STAGING_TTL_MS,
    now: app.services.now,
    budgetBytes: options.stagedBytesPerUploader ?? 2 * app.config.limits.uploadBytes,
    gcTimeoutMs: app.config.ipfs.timeoutMs,
    log: app.log,
  });
  // The first sweep (at start) unpins what expired while the gateway was down.
  app.addHook("onReady", () => staging.start());
  app.addHook("onClose", () => staging.close());
  uploadRoutes(app, staging, receipts);
  recordRoutes(app, staging, receipts);
  manifestRoutes(app, staging);
  linkRoutes(app);
  granteeRoutes(app);
  // Study contributions are staged uploads too: the studies plugin shares this staging.
  await app.register(studiesPlugin, { staging });
}
