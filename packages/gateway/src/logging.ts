// What reaches a log line, and what never does.
//
// Rules:
// - Never logged: tokens, signatures, keys, wraps, SIWE messages, credentials, request or response bodies,
//   headers, query strings, and raw URLs (a URL pairs a patient address with a CID; the log names the
//   route pattern instead: `/v1/patients/:patient/records/:cid`).
// - A request line carries the request id, method, route pattern and status: enough to find the problem a
//   client quotes (its `instance` is the request id) without learning whose data it was.
// - A 500 logs the error with its stack (for the operator); the response never carries it (problems.ts).
// - pino's redaction is the second line of defence for whatever a handler passes to `request.log`.
import type { FastifyReply, FastifyRequest } from "fastify";

/** Paths pino replaces with "[redacted]" in any object a handler logs. */
export const LOG_REDACT_PATHS = [
  "req.headers",
  "req.body",
  "req.query",
  "res.headers",
  "headers",
  "authorization",
  "body",
  "query",
  "token",
  "message",
  "signature",
  "wrap",
  "wraps",
  "credential",
  "presentation",
  "privateKey",
  "relayerKey",
  "anchorKey",
  "secret",
  "*.headers",
  "*.authorization",
  "*.body",
  "*.query",
  "*.token",
  "*.signature",
  "*.wrap",
  "*.wraps",
  "*.credential",
  "*.presentation",
  "*.privateKey",
  "*.relayerKey",
  "*.anchorKey",
  "*.secret",
  "*.jwt",
] as const;

/** The request as logged: id, method and route pattern; never the URL, headers or body. */
export function serializeRequest(request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    route: request.routeOptions?.url ?? "(no route)",
  };
}

/** The reply as logged: its status only. */
export function serializeReply(reply: Pick<FastifyReply, "statusCode">): Record<string, unknown> {
  return { statusCode: reply.statusCode };
}

/** Errors: type, code and stack for the operator (a 500's cause is found by the request id). */
export function serializeError(error: Error): { type: string; message: string; stack: string; code?: string } {
  const code = (error as { code?: unknown }).code;
  return {
    type: error instanceof Error ? error.name : typeof error,
    message: error instanceof Error ? error.message : String(error),
    stack: error instanceof Error ? (error.stack ?? "") : "",
    ...(typeof code === "string" ? { code } : {}),
  };
}

export const LOG_SERIALIZERS = {
  req: serializeRequest,
  res: serializeReply,
  err: serializeError,
};
