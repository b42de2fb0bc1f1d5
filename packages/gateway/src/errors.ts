// The gateway's typed errors. Every refusal a handler makes is one of these (or a typed error of a
// package below: chain, identity, storage), and `problems.ts` turns it into an RFC 9457 problem by
// its stable `code`, never by matching message text.

/** Base of every gateway error: a stable `code`, the HTTP status, the offending input when one is to blame. */
export class GatewayError extends Error {
  override name = "GatewayError";
  readonly code: string;
  readonly status: number;
  /** The input to blame: a JSON pointer-ish path such as `body.wraps[2].recipient`, or a header name. */
  readonly field: string | undefined;
  /** Extra members for the problem document (JSON-safe, never PHI, never a secret). */
  readonly extensions: Readonly<Record<string, unknown>>;

  constructor(
    code: string,
    status: number,
    message: string,
    options: { field?: string; extensions?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = status;
    this.field = options.field;
    this.extensions = options.extensions ?? {};
  }
}

/** 400: a request that passed its schema but is still not acceptable (a CID that is not a CID, a bad signature). */
export class BadRequestError extends GatewayError {
  override name = "BadRequestError";
  constructor(
    code: string,
    message: string,
    options: { field?: string; extensions?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(code, 400, message, options);
  }
}

/** 401: no session, or one that is expired, revoked, forged or for another gateway. */
export class UnauthenticatedError extends GatewayError {
  override name = "UnauthenticatedError";
  constructor(code: string, message: string, options: { cause?: unknown } = {}) {
    super(code, 401, message, options);
  }
}

/** 403: authenticated, but not allowed (no consent, wrong role, not the owner). */
export class ForbiddenError extends GatewayError {
  override name = "ForbiddenError";
  constructor(code: string, message: string, options: { extensions?: Record<string, unknown>; cause?: unknown } = {}) {
    super(code, 403, message, options);
  }
}

/** 404: nothing of that name that this caller may know about. */
export class NotFoundError extends GatewayError {
  override name = "NotFoundError";
  constructor(code: string, message: string, options: { field?: string } = {}) {
    super(code, 404, message, options);
  }
}

/** 409: a compare-and-swap lost (a stale manifest pointer, a status list older than the one served). */
export class ConflictError extends GatewayError {
  override name = "ConflictError";
  constructor(code: string, message: string, options: { extensions?: Record<string, unknown> } = {}) {
    super(code, 409, message, options);
  }
}

/** 429: a rate limit or quota is used up; `retryAfter` (seconds) is also sent as the Retry-After header. */
export class RateLimitedError extends GatewayError {
  override name = "RateLimitedError";
  constructor(code: string, message: string, retryAfterSeconds: number) {
    super(code, 429, message, { extensions: { retryAfter: Math.max(1, Math.ceil(retryAfterSeconds)) } });
  }
}

/**
 * 503: a dependency the answer needs cannot vouch for it (chain, indexer, IPFS, database, status list).
 * Fail closed: the request is refused and `dependency` says which part and why.
 */
export class DependencyUnavailableError extends GatewayError {
  override name = "DependencyUnavailableError";
  readonly dependency: "chain" | "indexer" | "ipfs" | "database" | "status-list" | "identity";
  constructor(
    dependency: DependencyUnavailableError["dependency"],
    code: string,
    message: string,
    options: { cause?: unknown; retryAfterSeconds?: number } = {},
  ) {
    super(code, 503, message, {
      cause: options.cause,
      extensions: {
        dependency,
        ...(options.retryAfterSeconds === undefined ? {} : { retryAfter: options.retryAfterSeconds }),
      },
    });
    this.dependency = dependency;
  }
}

/** Configuration refused at start: `setting` names it as the operator wrote it (env var or file key). */
export class ConfigError extends Error {
  override name = "ConfigError";
  readonly code = "INVALID_CONFIG";
  readonly setting: string;
  constructor(setting: string, message: string) {
    super(`${setting}: ${message}`);
    this.setting = setting;
  }
}
