// buildGateway(config, services): the Fastify app, not listening. `server.ts` reads the configuration,
// builds the services and listens; tests build the app on real services and listen on port 0.
//
// Order matters: errors and security headers first, then the auth hook (sets request.session), then the
// audit log and the notifier (decorations the route plugins use), then the route plugins, one per concern.
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import type { Bindings, ChildLoggerOptions } from "pino";
import { TypeBoxValidatorCompiler, registerAjvFormats, type TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Compile } from "typebox/compile";
import type { GatewayConfig } from "./config.ts";
import type { GatewayServices } from "./context.ts";
import { toProblem } from "./problems.ts";
import { LOG_REDACT_PATHS, LOG_SERIALIZERS } from "./logging.ts";
import { openApiPlugin } from "./plugins/openapi.ts";
import { webPlugin } from "./plugins/web.ts";
import { securityPlugin, sessionRateLimitPlugin } from "./plugins/security.ts";
import { healthPlugin } from "./plugins/health/index.ts";
import { authPlugin } from "./plugins/auth/index.ts";
import { auditPlugin } from "./plugins/audit/index.ts";
import { eventsPlugin } from "./plugins/events/index.ts";
import { recordsPlugin } from "./plugins/records/index.ts";
import { consentPlugin } from "./plugins/consent/index.ts";
import { statusListsPlugin } from "./plugins/status-lists/index.ts";
import { checkInPlugin } from "./plugins/checkin/index.ts";
import { deploymentPlugin } from "./plugins/deployment/index.ts";

/** Longest time a whole request (headers and body) may take to arrive: 5 minutes, room for a 256 MiB upload at 1 MB/s. */
export const REQUEST_TIMEOUT_MS = 300_000;
/** Longest time a JSON body (at most limits.bodyBytes, 1 MiB by default) may take to arrive after its headers. */
export const BODY_TIMEOUT_MS = 30_000;

export type GatewayApp = FastifyInstance;

/** pino's level numbers (the gateway defines no custom levels). */
const LEVELS: Readonly<Record<string, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Infinity,
};
type LogMethod = "fatal" | "error" | "warn" | "info" | "debug" | "trace";

/**
 * TypeBoxValidatorCompiler, checking the value as it came first: for params, query and headers it runs
 * Value.Convert (which walks the schema, interpreted) before the compiled check on every request, 4% of a key
 * release's CPU, though nearly every value already has the declared types. A value that passes the compiled check
 * is taken as is; any other goes through the provider's own convert-then-check, errors and all.
 */
const checkFirstValidatorCompiler: typeof TypeBoxValidatorCompiler = (route) => {
  const check = Compile(route.schema as Parameters<typeof Compile>[0]);
  const convertThenCheck = TypeBoxValidatorCompiler(route);
  return (value: unknown) => (check.Check(value) ? { value } : convertThenCheck(value));
};

/** Whether `log` writes lines at `level`. */
function logsAt(log: FastifyBaseLogger, level: LogMethod): boolean {
  return LEVELS[level]! >= (LEVELS[log.level] ?? 0);
}

/**
 * Fastify makes a child logger per request, and pino serializes and redacts its bindings at once (~5% of a key
 * release's CPU), while most requests write no line. This child is made on the first call that writes one; a call
 * below the level returns at once. Same lines, same bindings, same redaction. A class, so a request allocates one
 * object (its methods are on the prototype).
 */
class LazyChildLogger {
  readonly #parent: FastifyBaseLogger;
  readonly #bindings: Bindings;
  readonly #options: ChildLoggerOptions;
  #child: FastifyBaseLogger | undefined;

  constructor(parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions) {
    this.#parent = parent;
    this.#bindings = bindings;
    this.#options = options;
  }

  #real(): FastifyBaseLogger {
    return (this.#child ??= this.#parent.child(this.#bindings, this.#options));
  }

  #write(level: LogMethod, args: unknown[]): void {
    if (this.#child === undefined && !logsAt(this as unknown as FastifyBaseLogger, level)) return;
    (this.#real()[level] as (...args: unknown[]) => void)(...args);
  }

  get level(): string {
    return this.#child?.level ?? this.#options.level ?? this.#parent.level;
  }
  set level(level: string) {
    this.#real().level = level;
  }
  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#real().child(bindings, options);
  }
  silent(): void {}
  fatal(...args: unknown[]): void {
    this.#write("fatal", args);
  }
  error(...args: unknown[]): void {
    this.#write("error", args);
  }
  warn(...args: unknown[]): void {
    this.#write("warn", args);
  }
  info(...args: unknown[]): void {
    this.#write("info", args);
  }
  debug(...args: unknown[]): void {
    this.#write("debug", args);
  }
  trace(...args: unknown[]): void {
    this.#write("trace", args);
  }
}

function lazyChildLogger(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  return new LazyChildLogger(logger, bindings, options) as unknown as FastifyBaseLogger;
}

/**
 * Request lines: a request's start at debug; its end at debug when it succeeded, at info when refused (>= 400),
 * at error when it failed. Two info lines per request cost about a tenth of a small route's CPU; the refusals an
 * operator looks for stay at info (beside the error handler's "request refused" with the problem's code).
 */
class RequestLog extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    if (logsAt(request.log, "debug")) request.log.debug({ req: request }, "incoming request");
  }

  override requestCompleted(error: Error | null | undefined, _request: FastifyRequest, reply: FastifyReply): void {
    if (error) {
      reply.log.error({ res: reply, err: error, responseTime: reply.elapsedTime }, "request errored");
      return;
    }
    const level = reply.statusCode >= 400 ? "info" : "debug";
    if (logsAt(reply.log, level))
      reply.log[level]({ res: reply, responseTime: reply.elapsedTime }, "request completed");
  }
}

export interface BuildOptions {
  /** A pino destination for the logs (tests capture them to prove the redaction); default stdout. */
  logStream?: NodeJS.WritableStream;
  /** Plugins registered after the gateway's own, before it is ready (tests add a probe route; embedders extend). */
  plugins?: readonly FastifyPluginAsync[];
  /** Longest time a JSON body may take to arrive (default BODY_TIMEOUT_MS; tests shorten it). */
  bodyTimeoutMs?: number;
  /** The built web pages served at `/` (default: @hygeia/web's dist directory). */
  webDir?: string;
}

export async function buildGateway(
  config: GatewayConfig,
  services: GatewayServices,
  options: BuildOptions = {},
): Promise<GatewayApp> {
  const app = Fastify({
    logger:
      config.logLevel === "silent"
        ? false
        : {
            level: config.logLevel,
            redact: { paths: [...LOG_REDACT_PATHS], censor: "[redacted]" },
            serializers: LOG_SERIALIZERS,
            ...(options.logStream ? { stream: options.logStream } : {}),
          },
    bodyLimit: config.limits.bodyBytes,
    // Only listed proxies may set the client address (rate limits are per address).
    ...(config.trustProxy.length > 0 ? { trustProxy: config.trustProxy } : {}),
    // Request ids are ours (never a client's header): they appear in problems and audit events.
    genReqId: () => crypto.randomUUID(),
    // Not "req": that key is the request serializer's, which would swallow the id.
    logController: new RequestLog({ requestIdLogLabel: "reqId" }),
    ...(config.logLevel === "silent" ? {} : { childLoggerFactory: lazyChildLogger }),
    return503OnClosing: true,
    forceCloseConnections: "idle",
    // Fastify's default is no limit: a client sending a body a byte every few seconds held its connection for
    // ever (slowloris). A whole request, body included, must arrive within this time; headers within 60 s.
    requestTimeout: REQUEST_TIMEOUT_MS,
    // Requests the router refuses before any route (an undecodable URL, an over-long parameter) are
    // problems like every other refusal.
    frameworkErrors: (error, request, reply) => {
      const problem = toProblem(error, request.id);
      const raw = reply as unknown as FastifyReply;
      void raw.code(problem.status).type("application/problem+json").send(problem);
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  // TypeBox validates every input: bodies strictly as sent (no coercion), while querystring, params and
  // headers (always text on the wire) that do not check as sent are converted to the schema's types ("10" -> 10
  // for a limit) and checked again.
  registerAjvFormats();
  app.setValidatorCompiler(checkFirstValidatorCompiler);
  // Bodies are JSON, or bytes where a route says so (uploads; JWTs for the status-list routes): Fastify's default
  // text/plain parser would hand a JSON route a string for its schema to refuse (400), where 415 is the answer.
  app.removeContentTypeParser("text/plain");

  app.decorate("config", config);
  app.decorate("services", services);

  // Graceful close. Node closes idle keep-alive connections once, when close() begins; a connection busy at that
  // moment turns idle after its answer and would then hold close() (and the audit log's final anchor) open for the
  // keep-alive timeout, past the shutdown's bound. So while closing, every answer closes its connection and idle
  // connections are closed as they appear.
  let closing: NodeJS.Timeout | undefined;
  app.addHook("preClose", (done) => {
    closing = setInterval(() => app.server.closeIdleConnections(), 50);
    closing.unref();
    done();
  });
  app.addHook("onSend", (_request, reply, payload, done) => {
    if (closing !== undefined) void reply.header("connection", "close");
    done(null, payload);
  });
  app.addHook("onClose", (_app, done) => {
    clearInterval(closing);
    done();
  });

  // Slow bodies: Node bounds the headers (60 s) and requestTimeout the whole request, but a JSON body dripped a byte
  // at a time would hold its connection for all of requestTimeout. A JSON body must arrive within bodyTimeoutMs of
  // its headers, else the connection is dropped (nothing was parsed, so nothing was done). Streamed uploads
  // (application/octet-stream) are bounded by requestTimeout and their own size limit instead.
  const bodyTimeoutMs = options.bodyTimeoutMs ?? BODY_TIMEOUT_MS;
  // One sweep over the requests whose body is still arriving, instead of a timer per request (a timer armed and
  // cleared on every POST was 3% of a key release's CPU). A body is cut off between bodyTimeoutMs and 1.25 times it.
  const awaitingBody = new Map<FastifyRequest["raw"], number>();
  const sweepEveryMs = Math.max(10, Math.min(1_000, Math.floor(bodyTimeoutMs / 4)));
  let bodySweep: NodeJS.Timeout | undefined;
  const sweepBodies = () => {
    const cutoff = Date.now() - bodyTimeoutMs;
    for (const [raw, since] of awaitingBody) {
      if (since > cutoff) continue;
      awaitingBody.delete(raw);
      raw.destroy(); // nothing was parsed, so nothing was done
    }
    if (awaitingBody.size === 0) {
      clearInterval(bodySweep);
      bodySweep = undefined;
    }
  };
  app.addHook("onRequest", (request, _reply, done) => {
    const type = request.headers["content-type"] ?? "";
    if (request.method !== "GET" && request.method !== "HEAD" && !type.startsWith("application/octet-stream")) {
      awaitingBody.set(request.raw, Date.now());
      if (bodySweep === undefined) {
        bodySweep = setInterval(sweepBodies, sweepEveryMs);
        bodySweep.unref();
      }
    }
    done();
  });
  app.addHook("preValidation", (request, _reply, done) => {
    awaitingBody.delete(request.raw);
    done();
  });
  app.addHook("onResponse", (request, _reply, done) => {
    awaitingBody.delete(request.raw);
    done();
  });
  app.addHook("onClose", (_app, done) => {
    clearInterval(bodySweep);
    done();
  });

  app.setErrorHandler((error, request, reply) => {
    const problem = toProblem(error, request.id);
    if (problem.status >= 500 && problem.code === "INTERNAL") request.log.error({ err: error }, "internal error");
    else request.log.info({ code: problem.code, status: problem.status }, "request refused");
    if (typeof problem.retryAfter === "number") void reply.header("retry-after", String(problem.retryAfter));
    return reply.code(problem.status).type("application/problem+json").send(problem);
  });
  app.setNotFoundHandler((request, reply) => {
    const problem = toProblem(
      {
        statusCode: 404,
        code: "ROUTE_NOT_FOUND",
        message: `no route ${request.method} ${request.routeOptions.url ?? "for this URL"}`,
      },
      request.id,
    );
    return reply
      .code(404)
      .type("application/problem+json")
      .send({ ...problem, detail: "no such route; see /docs" });
  });

  await app.register(openApiPlugin);
  await app.register(securityPlugin);
  await app.register(healthPlugin);
  await app.register(authPlugin);
  await app.register(sessionRateLimitPlugin);
  await app.register(auditPlugin);
  await app.register(eventsPlugin);
  await app.register(recordsPlugin, { prefix: "/v1" });
  await app.register(consentPlugin, { prefix: "/v1" });
  await app.register(statusListsPlugin, { prefix: "/v1" });
  await app.register(checkInPlugin, { prefix: "/v1" });
  await app.register(deploymentPlugin, { prefix: "/v1" });
  await app.register(webPlugin, options.webDir === undefined ? {} : { dir: options.webDir });
  for (const plugin of options.plugins ?? []) await app.register(plugin);
  await app.ready();
  return app;
}
