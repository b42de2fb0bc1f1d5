/**
 * Typed errors of @hygeia/sdk.
 *
 * Rules:
 * - Every error has a stable `code` (the gateway's problem code when the gateway refused, else the SDK's own) and a
 *   `kind`, the class of failure a caller acts on: the CLI maps `kind` to its exit code in one table, a web page to
 *   its message style. Nobody branches on `message`.
 * - Every error says what the user can do next (`hint`), in words a patient or a clinic's operator understands.
 * - A service that cannot be reached is named, with the URL tried (`ServiceUnreachableError`), so "the gateway is
 *   down" is never confused with "you may not".
 */

/** What kind of failure: decides the CLI's exit code and how a page shows it. */
export type ErrorKind =
  | "usage" // the caller's input is wrong: fix the argument named in `field`
  | "auth" // not signed in, session expired or revoked: sign in again
  | "refused" // refused by policy: no consent, no role, not accredited, revoked
  | "not-found" // no such record, check-in, wallet, …
  | "conflict" // the state changed underneath (a stale version, a relay in flight): read again, retry
  | "rate-limited" // too many requests: wait `retryAfter` seconds
  | "unavailable" // a service (gateway, chain, IPFS, database, indexer) cannot answer: nothing was decided
  | "integrity" // data failed verification (a proof, a signature, a ciphertext): an alarm, not a retry
  | "internal"; // a bug on the other side: quote `instance` to the operator

/** The services the SDK talks to, named in unreachable-service errors. */
export type Service = "gateway" | "chain" | "ipfs" | "indexer" | "database" | "status-list";

export class HygeiaSdkError extends Error {
  readonly code: string;
  readonly kind: ErrorKind;
  /** What the user can do next, one sentence. */
  readonly hint: string;
  /** The input to blame, when one is (`grantee`, `body.wraps.2.recipient`, …). */
  readonly field: string | undefined;
  constructor(
    code: string,
    kind: ErrorKind,
    message: string,
    options: { hint: string; field?: string | undefined; cause?: unknown },
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.kind = kind;
    this.hint = options.hint;
    this.field = options.field;
  }
}

/** An argument failed validation before anything was sent. */
export class SdkInputError extends HygeiaSdkError {
  constructor(field: string, detail: string, hint = `Fix ${field} and try again.`) {
    super("INVALID_INPUT", "usage", `${field}: ${detail}`, { hint, field });
  }
}

/** A service did not answer at all (connection refused, DNS, timeout): names it and the URL tried. */
export class ServiceUnreachableError extends HygeiaSdkError {
  readonly service: Service;
  readonly url: string;
  constructor(service: Service, url: string, reason: string, options: { cause?: unknown } = {}) {
    super("SERVICE_UNREACHABLE", "unavailable", `the ${service} at ${url} cannot be reached: ${reason}`, {
      hint:
        service === "gateway"
          ? `Check that the gateway runs (npm start) and that its URL is right (--gateway / HYGEIA_GATEWAY_URL). ` +
            "From a web page, the gateway must also allow the page's origin (HYGEIA_CORS_ORIGINS): a browser " +
            "reports a refused cross-origin request as this same failure."
          : service === "chain"
            ? `Check that the chain node runs and that its URL is right (--rpc / HYGEIA_RPC_URL).`
            : `Check that the ${service} runs, then try again.`,
      cause: options.cause,
    });
    this.service = service;
    this.url = url;
  }
}

/** The RFC 9457 problem document the gateway answers with. */
export interface GatewayProblem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  instance?: string;
  field?: string;
  dependency?: string;
  retryAfter?: number;
  [extension: string]: unknown;
}

/** The gateway refused a request: its problem document, classified. */
export class GatewayProblemError extends HygeiaSdkError {
  readonly status: number;
  readonly problem: GatewayProblem;
  /** The gateway's request id: quote it to the operator. */
  readonly instance: string | undefined;
  /** For 503s: the dependency that could not answer. */
  readonly dependency: string | undefined;
  readonly retryAfter: number | undefined;
  constructor(problem: GatewayProblem, request: string) {
    const kind = kindOfProblem(problem);
    super(problem.code, kind, `${request}: ${problem.detail} (${problem.code})`, {
      hint: hintFor(problem, kind),
      field: problem.field,
    });
    this.status = problem.status;
    this.problem = problem;
    this.instance = problem.instance;
    this.dependency = typeof problem.dependency === "string" ? problem.dependency : undefined;
    this.retryAfter = typeof problem.retryAfter === "number" ? problem.retryAfter : undefined;
  }
}

/** The gateway answered something that is not the documented shape (a proxy's error page, another service). */
export class UnexpectedResponseError extends HygeiaSdkError {
  constructor(request: string, detail: string) {
    super("UNEXPECTED_RESPONSE", "unavailable", `${request}: ${detail}`, {
      hint: "Check that the URL points at a Hygeia gateway (its /healthz answers) and not at another service.",
    });
  }
}

/** Something the SDK verified did not verify (an audit proof, a signature, a record's ciphertext). */
export class IntegrityError extends HygeiaSdkError {
  constructor(code: string, message: string, hint: string, options: { cause?: unknown } = {}) {
    super(code, "integrity", message, { hint, cause: options.cause });
  }
}

/** The policy said no (consent, role, accreditation): the typed refusal the clinic and researcher clients give. */
export class AccessRefusedError extends HygeiaSdkError {
  constructor(code: string, message: string, hint: string, options: { cause?: unknown } = {}) {
    super(code, "refused", message, { hint, cause: options.cause });
  }
}

const AUTH_CODES = new Set(["NOT_SIGNED_IN", "TOKEN_INVALID", "TOKEN_EXPIRED", "SESSION_REVOKED"]);

function kindOfProblem(problem: GatewayProblem): ErrorKind {
  if (problem.status === 401 || AUTH_CODES.has(problem.code)) return "auth";
  if (problem.status === 403) return "refused";
  if (problem.status === 404) return "not-found";
  if (problem.status === 409) return "conflict";
  if (problem.status === 410) return "not-found"; // gone for good (a closed or withdrawn study)
  if (problem.status === 429) return "rate-limited";
  if (problem.status === 503 || problem.status === 502 || problem.status === 504) return "unavailable";
  if (problem.status >= 500) return "internal";
  return "usage";
}

/** Hints for the codes a user meets most; the rest get their kind's generic advice. */
const HINTS: Record<string, string> = {
  CONSENT_REQUIRED: "Ask the patient to grant you consent for this record's scope and purpose.",
  KEY_NOT_SHARED:
    "Your consent holds, but the patient's wallet has not wrapped this record's key for you yet: ask the patient to share it (their wallet does it on the next sync).",
  ROLE_REQUIRED: "Present the credential for this role first (clinic accreditation / researcher credential).",
  ROLE_CREDENTIAL_REJECTED: "The credential did not verify (see the failed checks): ask its issuer for a valid one.",
  ROLE_HOLDER_MISMATCH: "Present a credential issued to the address you signed in with.",
  INDEXER_STALE: "The gateway's view of the chain is behind; wait a few seconds and try again.",
  RELAYER_NOT_CONFIGURED: "This gateway does not relay: send the transaction yourself (direct mode, needs ETH).",
  RELAY_IN_PROGRESS: "A relay for the same consent is in flight: wait a few seconds and try again.",
  CONTRACT_REVERT:
    "The chain refused the transaction before it was sent (nothing was paid): read the current state and try again.",
  RECORD_EXISTS: "This exact ciphertext is already registered; upload a new version instead.",
  MANIFEST_CONFLICT: "Another device changed the manifest: sync and try again.",
  SELF_WRAP_REQUIRED: "A record must carry a wrap for its owner.",
  UPLOAD_TOO_LARGE: "The file is larger than this gateway accepts; ask the operator for a higher limit.",
  UPLOAD_BUDGET_EXCEEDED: "Register or let expire your staged uploads before uploading more.",
  CHECK_IN_CLOSED: "This check-in was already answered or expired: ask the clinic for a new one.",
  STUDY_NOT_SERVED:
    "This gateway does not serve the study: check its id (hygeia study list), or ask its researcher to present its approval here.",
  STUDY_CLOSED:
    "The study is closed on chain (by its researcher or IRB, or past its end): it takes and serves nothing more.",
  STUDY_WITHDRAWN:
    "The study's ethics approval was revoked (or its IRB lost its accreditation): it takes and serves nothing more.",
  NOT_STUDY_RESEARCHER: "Only the study's researcher may do this: sign in with the wallet that registered the study.",
  CHECK_IN_TAKEN:
    "Another patient's wallet took this check-in first: ask the clinic for a new one (retrying cannot help).",
};

function hintFor(problem: GatewayProblem, kind: ErrorKind): string {
  const known = HINTS[problem.code];
  if (known) return known;
  switch (kind) {
    case "auth":
      return "Sign in again (your session expired or was ended).";
    case "refused":
      return "You are not allowed to do this; the detail says which rule refused it.";
    case "not-found":
      return "Check the id or address you gave.";
    case "conflict":
      return "The state changed meanwhile: read it again and retry.";
    case "rate-limited":
      return `Wait ${problem.retryAfter ?? "a few"} seconds and try again.`;
    case "unavailable":
      return `The ${problem.dependency ?? "gateway"} cannot answer right now; nothing was decided. Try again shortly.`;
    case "internal":
      return `Quote request ${problem.instance ?? "(no id)"} to the gateway's operator.`;
    default:
      return problem.field ? `Fix ${problem.field} and try again.` : "Fix the request and try again.";
  }
}
