// PUT /v1/uploads: ciphertext streamed to IPFS, staged until the patient registers it.
//
// Safety rules:
// - Streams: the body goes to the content store chunk by chunk, never buffered whole; more than
//   config.limits.uploadBytes is refused (413) by the declared length at once, or when the count passes it.
// - Budget: an uploader's staged bytes plus its uploads under way stay within the staging budget; past it the
//   upload is refused (429 UPLOAD_BUDGET_EXCEEDED), before the body is read when the staged bytes already fill it,
//   else as soon as the count passes it (staging.ts).
// - A dropped connection aborts the put (AbortSignal tied to the request): the content store pins only after
//   the last block, so nothing is pinned and nothing is staged; the blocks already written are deleted by a gc
//   the abort schedules (staging.ts), so has() is false for them after it.
// - The gateway cannot tell ciphertext from plaintext; the wallet encrypts before it uploads. What it stores is
//   the bytes it was sent, under their CID, for the address that sent them.
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from "fastify";
import { requireSession } from "../../auth/session.ts";
import { BadRequestError, GatewayError } from "../../errors.ts";
import { problemResponses } from "../../schemas.ts";
import type { RecordsApp } from "./index.ts";
import { Upload, UploadHeaders } from "./schemas.ts";
import type { RegistrationReceipts } from "./receipts.ts";
import { isReferenced } from "./staging.ts";
import type { StagedUpload, UploadMeter, UploadStaging } from "./staging.ts";

const OCTET_STREAM = "application/octet-stream";

type UploadRequest = FastifyRequest;

function tooLarge(limit: number): GatewayError {
  return new GatewayError("UPLOAD_TOO_LARGE", 413, `an upload may be at most ${limit} bytes`, {
    extensions: { limit },
  });
}

export function uploadRoutes(app: RecordsApp, staging: UploadStaging, receipts: RegistrationReceipts): void {
  // The raw request stream is the body: the handler streams it to IPFS itself (and counts it against the limit).
  app.addContentTypeParser(OCTET_STREAM, (_request, payload, done) => done(null, payload));

  app.put(
    "/uploads",
    {
      bodyLimit: app.config.limits.uploadBytes,
      schema: {
        tags: ["records"],
        summary: "Upload a record's ciphertext",
        description:
          "Streams the body (application/octet-stream: the bytes the wallet's RecordEncryptor wrote, or a sealed " +
          "manifest) to IPFS and pins it for the signed-in address. Register it within the staging time " +
          "(POST /v1/records, or PUT /v1/manifest), or it is unpinned. A dropped connection leaves nothing pinned. " +
          "Never send plaintext: the gateway stores what it receives.",
        operationId: "putUpload",
        security: [{ bearer: [] }],
        headers: UploadHeaders,
        response: { 201: Upload, ...problemResponses(400, 401, 413, 415, 429, 503) },
      },
    },
    async (request, reply) => {
      // A refusal before the body was read to its end closes the connection after the answer: the rest of an
      // oversized or unwanted body is not read (nor kept waiting on a kept-alive socket).
      const closeIfUnread = () => {
        if (!request.raw.complete) void reply.header("connection", "close");
      };
      try {
        return await receive(request, reply);
      } catch (error) {
        closeIfUnread();
        throw error;
      }
    },
  );

  async function receive(request: UploadRequest, reply: FastifyReply): Promise<FastifyReply> {
    const session = requireSession(request);
    const limit = app.config.limits.uploadBytes;
    const declared = request.headers["content-length"];
    if (declared !== undefined && Number(declared) > limit) throw tooLarge(limit);
    if (declared === "0") throw new BadRequestError("EMPTY_UPLOAD", "the upload is empty", { field: "body" });
    const meter = await staging.begin(session.address);
    try {
      if (declared !== undefined) meter.fits(Number(declared));
      return await stream(request, reply, session.address, meter);
    } finally {
      meter.end();
    }
  }

  async function stream(
    request: UploadRequest,
    reply: FastifyReply,
    uploader: string,
    meter: UploadMeter,
  ): Promise<FastifyReply> {
    const limit = app.config.limits.uploadBytes;
    const body = request.body as AsyncIterable<Buffer>;
    const controller = new AbortController();
    const onClose = () => {
      if (!request.raw.complete) controller.abort(new Error("the client closed the connection mid-upload"));
    };
    request.raw.once("close", onClose);
    let received = 0;
    let overLimit = false;
    let refused: unknown;
    async function* limited(): AsyncGenerator<Uint8Array> {
      for await (const chunk of body) {
        received += chunk.byteLength;
        if (received > limit) {
          overLimit = true;
          throw tooLarge(limit);
        }
        try {
          meter.add(chunk.byteLength);
        } catch (error) {
          refused = error;
          throw error;
        }
        yield chunk;
      }
    }
    let put;
    try {
      put = await app.services.content.put(limited(), {
        signal: controller.signal,
        timeoutMs: app.config.ipfs.timeoutMs,
      });
    } catch (error) {
      // Whatever cut the put short, the blocks it wrote are unpinned garbage.
      staging.uploadAborted();
      if (overLimit) throw tooLarge(limit);
      if (refused !== undefined) throw refused;
      if (controller.signal.aborted)
        throw new BadRequestError("UPLOAD_ABORTED", "the connection closed before the upload ended; nothing was kept");
      throw error;
    } finally {
      request.raw.off("close", onClose);
    }
    const cid = put.cid.toV1().toString();
    if (put.size === 0) {
      if (
        !(await isReferenced(app.services.store, receipts, cid, uploader)) &&
        !(await app.services.store.isStaged(cid))
      )
        await app.services.content.unpin(cid).catch(() => undefined);
      throw new BadRequestError("EMPTY_UPLOAD", "the upload is empty", { field: "body" });
    }
    const staged = await staging.stage(cid, uploader, put.size);
    return reply.code(201).send({ cid, size: staged.size, expiresAt: staged.expiresAt });
  }
}

/**
 * What an expired staged upload does: unpin, unless that CID is referenced after all (a record of anyone, or the
 * uploader's manifest pointer). Never throws: a failure is logged and the content stays pinned. (The sweep in
 * staging.ts does this for every expired row; this is the same decision for one upload.)
 */
export function unpinUnregistered(
  app: RecordsApp,
  log: FastifyBaseLogger,
  receipts: RegistrationReceipts,
): (upload: StagedUpload) => Promise<void> {
  return async (upload) => {
    try {
      if (await isReferenced(app.services.store, receipts, upload.cid, upload.patient)) return;
      await app.services.content.unpin(upload.cid);
    } catch (error) {
      log.warn({ err: error }, "could not unpin an expired upload; it stays pinned");
    }
  };
}
