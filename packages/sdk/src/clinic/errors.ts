/**
 * Typed errors of the clinic and researcher clients and of the check-in (both sides).
 *
 * Rules:
 * - A refusal by policy is an `AccessRefusedError` (kind "refused"): a role the gateway would not attach (with its
 *   failed checks), a record the clinic may not read (CONSENT_REQUIRED / KEY_NOT_SHARED), a clinic the patient's
 *   wallet did not verify (CLINIC_NOT_TRUSTED, with its failed checks). Nothing is string-matched: the gateway's
 *   problem code, or @hygeia/identity's error code, decides.
 * - @hygeia/identity's errors are wrapped where the user needs a hint (`fromIdentityError`), keeping the identity
 *   code as the SDK code and the original as `cause`.
 */
import { HygeiaIdentityError } from "@hygeia/identity/browser";
import { AccessRefusedError, HygeiaSdkError, type ErrorKind, type GatewayProblemError } from "../errors.ts";

/** A check that failed, as the gateway or the verifier reports it (never the underlying error). */
export interface FailedCheck {
  name: string;
  reason: string;
  code?: string;
}

/** The gateway would not attach the role: the credential did not verify (`checks` says why) or is not yours. */
export class RoleRefusedError extends AccessRefusedError {
  readonly role: string;
  /** The failed checks the gateway reported (issuer-trust, status, expiry, holder-binding, …). */
  readonly checks: readonly FailedCheck[];
  /** The gateway's request id: quote it to the operator. */
  readonly instance: string | undefined;
  constructor(role: string, problem: GatewayProblemError) {
    const checks = failedChecksOf(problem.problem.checks);
    const why = checks.map((c) => `${c.name}: ${c.reason}`).join("; ");
    super(
      problem.code,
      `the gateway refused the ${role} role: ${problem.problem.detail}${why ? ` (${why})` : ""}`,
      problem.code === "ROLE_HOLDER_MISMATCH"
        ? "Present a credential issued to the address you signed in with."
        : checks.some((c) => c.name === "issuer-trust")
          ? "The credential's issuer is not accredited as a medical board now: ask an accredited board for one."
          : checks.some((c) => c.name === "status")
            ? "The credential was revoked or suspended by its issuer: ask the issuer for a valid one."
            : checks.some((c) => c.name === "expiry")
              ? "The credential has expired: ask its issuer for a new one."
              : "The credential did not verify (see the failed checks): ask its issuer for a valid one.",
      { cause: problem },
    );
    this.role = role;
    this.checks = checks;
    this.instance = problem.instance;
  }
}

/** A record the clinic may not read now (CONSENT_REQUIRED, KEY_NOT_SHARED): the clear typed refusal. */
export class RecordAccessRefusedError extends AccessRefusedError {
  readonly patient: string;
  readonly cid: string;
  readonly purpose: string;
  /** The gateway's request id (the refusal is in the patient's audit log under it). */
  readonly instance: string | undefined;
  constructor(
    code: string,
    message: string,
    hint: string,
    details: { patient: string; cid: string; purpose: string; instance?: string | undefined; cause?: unknown },
  ) {
    super(code, message, hint, { cause: details.cause });
    this.patient = details.patient;
    this.cid = details.cid;
    this.purpose = details.purpose;
    this.instance = details.instance;
  }
}

/** The patient's wallet did not verify the clinic: nothing was disclosed. `checks` says which check failed. */
export class ClinicNotVerifiedError extends AccessRefusedError {
  readonly checks: readonly FailedCheck[];
  /** The DID the check-in says the clinic is. */
  readonly clinicDid: string;
  constructor(clinicDid: string, checks: readonly FailedCheck[], options: { cause?: unknown } = {}) {
    const why = checks.map((c) => `${c.name}: ${c.reason}`).join("; ");
    super(
      "CLINIC_NOT_TRUSTED",
      `the clinic ${clinicDid} was not verified, nothing was disclosed${why ? ` (${why})` : ""}`,
      checks.some((c) => c.name === "standing")
        ? "This clinic is not accredited as a clinic on the trust registry now: do not share anything with it."
        : checks.some((c) => c.name === "issuer-trust")
          ? "The clinic's accreditation is not from an accredited medical board: do not share anything with it."
          : "The clinic could not prove its accreditation: do not share anything; ask the clinic to contact its board.",
      options,
    );
    this.checks = checks;
    this.clinicDid = clinicDid;
  }
}

/** The check-in is not (or no longer) answerable: expired, answered already, or not answered in time. */
export class CheckInError extends HygeiaSdkError {
  readonly checkIn: string;
  constructor(code: string, kind: ErrorKind, checkIn: string, message: string, hint: string) {
    super(code, kind, message, { hint });
    this.checkIn = checkIn;
  }
}

/** The failed checks of a gateway problem's `checks` extension (shape-checked: it is the network's word). */
export function failedChecksOf(value: unknown): FailedCheck[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((entry: unknown) => {
    if (typeof entry !== "object" || entry === null) return [];
    const { name, reason, code } = entry as Record<string, unknown>;
    if (typeof name !== "string" || typeof reason !== "string") return [];
    return [{ name, reason, ...(typeof code === "string" ? { code } : {}) }];
  });
}

const IDENTITY_KINDS: Record<string, { kind: ErrorKind; hint: string }> = {
  INVALID_INPUT: { kind: "usage", hint: "Fix the argument named in the message and try again." },
  SCHEMA_VIOLATION: { kind: "usage", hint: "Fix the credential subject as the message says (the type's schema)." },
  KEY_NOT_FOUND: {
    kind: "usage",
    hint: "The identity agent holds no key for this DID: import the wallet's key into it (agent.importEthrDid).",
  },
  UNKNOWN_DID: { kind: "usage", hint: "Give a did:ethr of this deployment's chain (or an address)." },
  UNRESOLVABLE_DID: {
    kind: "unavailable",
    hint: "The DID could not be resolved: check that the chain node runs (--rpc) and the DID is right.",
  },
  CHAIN_UNAVAILABLE: {
    kind: "unavailable",
    hint: "Check that the chain node runs and its URL (--rpc / HYGEIA_RPC_URL).",
  },
  WRONG_CHAIN: { kind: "usage", hint: "Point --rpc / HYGEIA_RPC_URL at the chain of the deployment." },
  REGISTRY_NOT_FOUND: { kind: "usage", hint: "The deployment's DID registry is not on this chain: check --rpc." },
  TRANSACTION_FAILED: {
    kind: "refused",
    hint: "The DID registry write failed: fund the address that owns the DID (it pays gas), then try again.",
  },
  INVALID_CREDENTIAL: { kind: "usage", hint: "Pass the credential exactly as its issuer gave it (a JWT or SD-JWT)." },
  UNKNOWN_CLAIM: { kind: "usage", hint: "Disclose only claims the credential has (disclosableClaims lists them)." },
  HOLDER_MISMATCH: { kind: "usage", hint: "Present only credentials issued to your own DID." },
  NO_ENCRYPTION_KEY: {
    kind: "refused",
    hint: "The clinic publishes no encryption key in its DID document: it must publish one (publishKey) first.",
  },
  CLINIC_NOT_TRUSTED: { kind: "refused", hint: "The clinic was not verified: do not share anything with it." },
  AGENT_CLOSED: { kind: "usage", hint: "The identity agent was closed: open the client again." },
  STATUS_LIST_UNAVAILABLE: { kind: "unavailable", hint: "A status list could not be fetched: try again shortly." },
  DATABASE_BUSY: { kind: "conflict", hint: "Another process holds the key store: try again." },
};

/**
 * Wraps an error of @hygeia/identity (or passes an SDK error through) so it carries a kind and a hint; `action`
 * says what was being done ("publishing the clinic's key").
 */
export function fromIdentityError(error: unknown, action: string): unknown {
  if (error instanceof HygeiaSdkError) return error;
  if (error instanceof HygeiaIdentityError) {
    const known = IDENTITY_KINDS[error.code] ?? {
      kind: "internal" as const,
      hint: "An identity operation failed unexpectedly; the message says which.",
    };
    const field = (error as { field?: unknown }).field;
    return new HygeiaSdkError(error.code, known.kind, `${action}: ${error.message}`, {
      hint: known.hint,
      field: typeof field === "string" ? field : undefined,
      cause: error,
    });
  }
  return error;
}

/** Runs an identity call, wrapping its typed errors. */
export async function identityCall<T>(action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw fromIdentityError(error, action);
  }
}
