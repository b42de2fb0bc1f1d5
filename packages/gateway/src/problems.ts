// RFC 9457 problem details: the one table that turns every error into a response.
//
// Rules:
// - Each error `code` has one stable `type` URI, `urn:hygeia:problem:<code in kebab case>`; clients
//   branch on `type` (or `code`), never on `title` or `detail`.
// - No stack trace, no cause text, no input echo beyond the field's name leaves the process: a 5xx that
//   is not a known dependency failure says only "internal error" and carries the request id to find it
//   in the logs.
// - Errors of the packages below (chain, identity, storage) are mapped here by their code, so a handler
//   can let them through.
import type { FastifyError } from "fastify";
import { GatewayError } from "./errors.ts";

export const PROBLEM_TYPE_PREFIX = "urn:hygeia:problem:";

/** The problem document served as `application/problem+json`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  code: string;
  field?: string;
  [extension: string]: unknown;
}

export function problemType(code: string): string {
  return PROBLEM_TYPE_PREFIX + code.toLowerCase().replaceAll("_", "-");
}

const TITLES: Record<number, string> = {
  400: "Bad request",
  401: "Not signed in",
  403: "Forbidden",
  404: "Not found",
  405: "Method not allowed",
  406: "Not acceptable",
  409: "Conflict",
  410: "Gone",
  413: "Content too large",
  415: "Unsupported media type",
  429: "Too many requests",
  500: "Internal error",
  503: "Service unavailable",
};

/** Codes of the packages below that mean "a dependency cannot vouch for the answer": 503, fail closed. */
const DEPENDENCY_CODES: Record<string, "chain" | "indexer" | "ipfs" | "database"> = {
  INDEXER_STALE: "indexer",
  CHAIN_UNAVAILABLE: "chain",
  CHAIN_REQUEST_FAILED: "chain",
  TX_TIMEOUT: "chain",
  CONTRACT_NOT_DEPLOYED: "chain",
  WRONG_CHAIN: "chain",
  TIMEOUT: "ipfs",
  STORE_UNAVAILABLE: "ipfs",
  CONTENT_NOT_FOUND: "ipfs",
  DATABASE_UNAVAILABLE: "database",
};

/** Codes of the packages below that blame the input: the client can fix them. */
const CLIENT_CODES: Record<string, number> = {
  INVALID_INPUT: 400,
  INVALID_PURPOSE: 400,
  INVALID_SCOPE: 400,
  INVALID_SIGNATURE: 400,
  WRONG_SIGNER: 400,
  INVALID_CONSENT_ADDRESS_LINK: 400,
  EMERGENCY_SCOPES_MISMATCH: 400,
  SCAN_LIMIT_EXCEEDED: 400,
  INVALID_CID: 400,
  INVALID_ARGUMENT: 400,
  INVALID_MANIFEST: 400,
  MANIFEST_TOO_LARGE: 413,
  // The contract's simulation refused the transaction (a stale version, an expired deadline): nothing was sent.
  // (A mined revert carries its transaction hash and is TX_REVERTED: see toProblem.)
  CONTRACT_REVERT: 409,
  MANIFEST_CONFLICT: 409,
};

/** Fastify's own error codes that are the client's fault. */
const FASTIFY_CODES: Record<string, { status: number; code: string; detail: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: {
    status: 413,
    code: "BODY_TOO_LARGE",
    detail: "request body is larger than this route accepts",
  },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: "UNSUPPORTED_MEDIA_TYPE",
    detail: "content type not accepted by this route",
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    status: 400,
    code: "INVALID_CONTENT_LENGTH",
    detail: "Content-Length does not match the body",
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    status: 400,
    code: "INVALID_JSON",
    detail: "body is empty but Content-Type is application/json",
  },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: "INVALID_JSON", detail: "body is not valid JSON" },
  FST_ERR_CTP_EMPTY_TYPE: { status: 415, code: "UNSUPPORTED_MEDIA_TYPE", detail: "Content-Type header is empty" },
  FST_ERR_CTP_INVALID_TYPE: { status: 415, code: "UNSUPPORTED_MEDIA_TYPE", detail: "Content-Type header is malformed" },
  FST_ERR_BAD_URL: { status: 400, code: "BAD_URL", detail: "the URL could not be decoded" },
  FST_ERR_MAX_PARAM_LENGTH: { status: 400, code: "BAD_URL", detail: "a path parameter is too long" },
  FST_ERR_ASYNC_CONSTRAINT: { status: 400, code: "BAD_REQUEST", detail: "request refused" },
  FST_ERR_INVALID_URL: { status: 400, code: "BAD_URL", detail: "the URL is not valid" },
};

interface CodedError {
  code?: unknown;
  statusCode?: unknown;
  field?: unknown;
  validation?: unknown;
  validationContext?: unknown;
}

/**
 * The problem for any thrown value. `instance` is the request id (never the URL: it can hold a CID or an
 * address the logs must not pair with a person).
 */
export function toProblem(error: unknown, requestId: string): Problem {
  if (error instanceof GatewayError) {
    return {
      type: problemType(error.code),
      title: TITLES[error.status] ?? "Error",
      status: error.status,
      detail: error.message,
      instance: `urn:hygeia:request:${requestId}`,
      code: error.code,
      ...(error.field === undefined ? {} : { field: error.field }),
      ...error.extensions,
    };
  }
  const coded = (typeof error === "object" && error !== null ? error : {}) as CodedError;
  const code = typeof coded.code === "string" ? coded.code : "";
  // Schema validation (TypeBox, or Ajv): 400 with the failing path, never the value.
  if (Array.isArray(coded.validation)) {
    const first = firstValidationError(coded.validation as ValidationIssue[]);
    const where = typeof coded.validationContext === "string" ? coded.validationContext : "request";
    const path = first?.instancePath ? first.instancePath.replaceAll("/", ".") : "";
    const params = first?.params ?? {};
    const missing = firstName(params.missingProperty ?? params.requiredProperties);
    const extra = firstName(params.additionalProperty ?? params.additionalProperties);
    const field = `${where}${path}${missing ? `.${missing}` : ""}${extra ? `.${extra}` : ""}`;
    const allowed = allowedValues(coded.validation as ValidationIssue[], first);
    const message = missing
      ? "is required"
      : extra
        ? "is not allowed here"
        : allowed
          ? allowed
          : first?.message && first.message !== "schema is false"
            ? first.message
            : "is invalid";
    return {
      type: problemType("INVALID_REQUEST"),
      title: TITLES[400]!,
      status: 400,
      detail: `${field} ${message}`,
      instance: `urn:hygeia:request:${requestId}`,
      code: "INVALID_REQUEST",
      field,
    };
  }
  const fastify = FASTIFY_CODES[code];
  if (fastify) {
    return {
      type: problemType(fastify.code),
      title: TITLES[fastify.status] ?? "Error",
      status: fastify.status,
      detail: fastify.detail,
      instance: `urn:hygeia:request:${requestId}`,
      code: fastify.code,
    };
  }
  const dependency = DEPENDENCY_CODES[code];
  if (dependency) {
    return {
      type: problemType(code),
      title: TITLES[503]!,
      status: 503,
      detail: dependencyDetail(dependency, code),
      instance: `urn:hygeia:request:${requestId}`,
      code,
      dependency,
    };
  }
  // A mined revert (chain's ContractRevertError with a transaction hash) was SENT: the sender paid for it and the
  // chain holds it. Never answered as CONTRACT_REVERT, which says the simulation refused and nothing was sent.
  const minedHash = code === "CONTRACT_REVERT" ? revertedTransactionHash(error) : undefined;
  if (minedHash !== undefined) {
    return {
      type: problemType("TX_REVERTED"),
      title: TITLES[409]!,
      status: 409,
      detail:
        `transaction ${minedHash} was sent and mined but reverted (the chain state changed after it was checked); ` +
        "read the current state before trying again",
      instance: `urn:hygeia:request:${requestId}`,
      code: "TX_REVERTED",
      hash: minedHash,
    };
  }
  const clientStatus = CLIENT_CODES[code];
  if (clientStatus !== undefined) {
    const message = error instanceof Error ? error.message : code;
    const errorName = (error as { errorName?: unknown }).errorName;
    return {
      type: problemType(code),
      title: TITLES[clientStatus] ?? "Error",
      status: clientStatus,
      detail: message,
      instance: `urn:hygeia:request:${requestId}`,
      code,
      ...(typeof coded.field === "string" ? { field: coded.field } : {}),
      ...(typeof errorName === "string" ? { errorName } : {}),
    };
  }
  const status = typeof coded.statusCode === "number" ? coded.statusCode : 500;
  if (status >= 400 && status < 500) {
    // A 4xx raised by a Fastify plugin (rate limit, helmet, cors): its message is written for clients.
    const fastifyError = error as FastifyError;
    const stable = code.startsWith("FST_") || code === "" ? `HTTP_${status}` : code;
    return {
      type: problemType(stable),
      title: TITLES[status] ?? "Error",
      status,
      detail: typeof fastifyError.message === "string" ? fastifyError.message : (TITLES[status] ?? "Error"),
      instance: `urn:hygeia:request:${requestId}`,
      code: stable,
    };
  }
  return {
    type: problemType("INTERNAL"),
    title: TITLES[500]!,
    status: 500,
    detail: `internal error; quote request ${requestId} to the operator`,
    instance: `urn:hygeia:request:${requestId}`,
    code: "INTERNAL",
  };
}

interface ValidationIssue {
  keyword?: string;
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/**
 * A union of literals (`Type.Union([Type.Literal("Treatment"), ...])`) fails with one `const` issue per member
 * (after a `type` one when the value has another type): name the accepted values, schema constants only (never
 * the value sent), instead of "must be equal to constant" / "must be string". Undefined when the field is not
 * such a union.
 */
function allowedValues(issues: ValidationIssue[], first: ValidationIssue | undefined): string | undefined {
  if (first === undefined) return undefined;
  const here = issues.filter((issue) => issue.instancePath === first.instancePath);
  if (!here.every((issue) => ["const", "type", "anyOf"].includes(issue.keyword ?? ""))) return undefined;
  const values = here.filter((issue) => issue.keyword === "const").map((issue) => issue.params?.allowedValue);
  if (values.length === 0 || !values.every((value) => typeof value === "string" || typeof value === "number"))
    return undefined;
  // The union's own anyOf issue comes last: without it the validator stopped early (TypeBox reports at most
  // 8 issues), and the list is cut.
  const complete = here.some((issue) => issue.keyword === "anyOf") || values.length === 1;
  const type = here.find((issue) => issue.keyword === "type")?.params?.type;
  const list = values.map((value) => JSON.stringify(value)).join(", ") + (complete ? "" : ", …");
  const prefix = typeof type === "string" ? `must be a ${type}, ` : "must be ";
  return values.length === 1 && complete ? `${prefix}${list}` : `${prefix}one of ${list}`;
}

/**
 * The issue to report: TypeBox reports an unknown property twice (a "schema is false" at the property, then
 * the object's additionalProperties), so the object's own issue is preferred.
 */
function firstValidationError(issues: ValidationIssue[]): ValidationIssue | undefined {
  return issues.find((issue) => issue.keyword !== "boolean") ?? issues[0];
}

/**
 * The hash of a transaction that was sent and mined as a revert: @hygeia/chain's ContractRevertError sets
 * `transactionHash` (and, before that field existed, `args.transactionHash`); undefined for a simulation's revert.
 */
export function revertedTransactionHash(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const field = (error as { transactionHash?: unknown }).transactionHash;
  const args = (error as { args?: unknown }).args;
  const fromArgs =
    typeof args === "object" && args !== null ? (args as { transactionHash?: unknown }).transactionHash : undefined;
  const hash = typeof field === "string" ? field : fromArgs;
  return typeof hash === "string" && /^0x[0-9a-fA-F]{64}$/.test(hash) ? hash.toLowerCase() : undefined;
}

function firstName(value: unknown): string | undefined {
  const name = Array.isArray(value) ? (value[0] as unknown) : value;
  return typeof name === "string" ? name : undefined;
}

function dependencyDetail(dependency: string, code: string): string {
  switch (dependency) {
    case "indexer":
      return "the consent index is not fresh enough to vouch for consent; access is refused until it catches up (see /readyz)";
    case "chain":
      return `the chain node could not answer (${code}); access is refused until it does`;
    case "ipfs":
      return `the IPFS node could not answer (${code}); nothing was stored or served`;
    default:
      return `the ${dependency} could not answer (${code})`;
  }
}
