// Transport-level protection, before any route runs: security headers (helmet), CORS, and two rate limits.
//
// Rules:
// - CORS is closed unless the operator lists origins (config.corsOrigins); "*" never comes with credentials
//   (the gateway uses bearer tokens, never cookies, so no route needs credentialed CORS).
// - The CSP is an API's: nothing may be loaded or framed. /docs (Swagger UI) sets its own, narrower-than-web CSP.
// - Per IP: every request (404s too), counted at onRequest before the body is read and before the auth hook
//   looks at the token. Per session: counted after the auth hook verified the token (a forged token cannot
//   spend someone else's budget), keyed by the session id.
// - A limit reached is a 429 problem with Retry-After, like every other refusal.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import helmet, { type HelmetOptions } from "helmet";
import cors from "@fastify/cors";
import rateLimit from "@fastify/rate-limit";
import { RateLimitedError } from "../errors.ts";

const HELMET_OPTIONS: HelmetOptions = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'none'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
      formAction: ["'none'"],
    },
  },
  // Bearer-token API: answers may be read cross-origin only as CORS allows; no cross-origin embedding.
  crossOriginResourcePolicy: { policy: "same-site" },
  referrerPolicy: { policy: "no-referrer" },
};

/** The headers helmet sets with `options` (lowercase names): it sets fixed values for fixed options. */
export function securityHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const response = {
    setHeader: (name: string, value: string) => {
      headers[name.toLowerCase()] = value;
    },
    removeHeader: () => undefined,
  };
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, () => undefined);
  return headers;
}

async function security(app: FastifyInstance): Promise<void> {
  const { config } = app;

  // Helmet's headers are the same for every answer: computed once at start and set by one synchronous hook
  // (@fastify/helmet ran helmet anew, re-parsing the CSP, in two async hooks per request). On the raw response,
  // as helmet sets them, so a hijacked answer (the event stream) carries them too.
  const headers = Object.entries(securityHeaders(HELMET_OPTIONS));
  app.addHook("onRequest", (_request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    for (const [name, value] of headers) reply.raw.setHeader(name, value);
    done();
  });

  const anyOrigin = config.corsOrigins.includes("*");
  await app.register(cors, {
    origin: config.corsOrigins.length === 0 ? false : anyOrigin ? "*" : config.corsOrigins,
    credentials: false,
    methods: ["GET", "HEAD", "POST", "PUT", "DELETE"],
    allowedHeaders: ["authorization", "content-type", "if-match", "last-event-id"],
    exposedHeaders: ["retry-after", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"],
    maxAge: 600,
  });

  // The plugin gives the counters (createRateLimit); the per-IP check is a root onRequest hook of its own,
  // registered here before the auth plugin's, so that a request is counted (and refused when over the limit)
  // before its token is looked at: a junk token must not be a way around the limit.
  await app.register(rateLimit, { global: false });
  const { perIp } = config.limits;
  const perIpLimiter = app.createRateLimit({
    max: perIp.max,
    timeWindow: perIp.windowMs,
    keyGenerator: (request: FastifyRequest) => `ip:${request.ip}`,
  });
  app.addHook("onRequest", async (request: FastifyRequest, reply: FastifyReply) => {
    const result = await perIpLimiter(request);
    if (result.isAllowed) return;
    void reply.header("x-ratelimit-limit", String(result.max));
    void reply.header("x-ratelimit-remaining", String(result.remaining));
    void reply.header("x-ratelimit-reset", String(result.ttlInSeconds));
    if (result.isExceeded)
      throw new RateLimitedError(
        "RATE_LIMITED",
        `too many requests from this address: at most ${perIp.max} per ${Math.round(perIp.windowMs / 1000)} s`,
        result.ttlInSeconds,
      );
  });
}

/**
 * The per-session limit. Registered after the auth plugin (app.ts), so `request.session` is the verified
 * session when the preHandler runs; anonymous requests are left to the per-IP limit.
 */
async function sessionRateLimit(app: FastifyInstance): Promise<void> {
  const { perSession } = app.config.limits;
  const limiter = app.createRateLimit({
    max: perSession.max,
    timeWindow: perSession.windowMs,
    keyGenerator: (request: FastifyRequest) => `session:${request.session?.id ?? ""}`,
  });
  app.addHook("preHandler", async (request: FastifyRequest) => {
    if (!request.session) return;
    const result = await limiter(request);
    if (!result.isAllowed && result.isExceeded) {
      throw new RateLimitedError(
        "SESSION_RATE_LIMITED",
        `too many requests in this session: at most ${perSession.max} per ${Math.round(perSession.windowMs / 1000)} s`,
        result.ttlInSeconds,
      );
    }
  });
}

export const securityPlugin = fp(security, { name: "hygeia-security", fastify: "5.x" });
export const sessionRateLimitPlugin = fp(sessionRateLimit, {
  name: "hygeia-session-rate-limit",
  fastify: "5.x",
  dependencies: ["hygeia-security"],
});
