// The structured outcome of a verification: every check with pass / fail and why.

export type CheckName =
  | "format"
  | "signature"
  | "holder-binding"
  | "challenge"
  | "domain"
  | "expiry"
  | "not-before"
  | "status"
  | "issuer-trust"
  | "schema"
  | "credential-type"
  | "required-credentials"
  | "required-claims"
  | "disclosures"
  /** A party's own current accreditation on the TrustRegistry (the clinic's, at check-in). */
  | "standing";

export interface VerificationCheck {
  readonly name: CheckName;
  readonly pass: boolean;
  readonly reason: string;
  /** Which credential of a presentation the check is about (index into the presented credentials). */
  readonly credential?: number;
  /** A stable code for some failures (status: STATUS_LIST_UNAVAILABLE, STATUS_URL_NOT_ALLOWED, …). */
  readonly code?: string;
  /**
   * The underlying error, for the verifier's own logs. Not enumerable, so JSON.stringify of a result (what a
   * service may send back to the presenter) never carries it.
   */
  readonly cause?: unknown;
}

/** The reason of a check failed by an unexpected internal error (code INTERNAL_ERROR; the error is its `cause`). */
export const INTERNAL_ERROR_REASON = "the verifier failed internally; see its logs (nothing was accepted)";

export interface CheckDetail {
  code?: string | undefined;
  cause?: unknown;
}

export class CheckList {
  readonly checks: VerificationCheck[] = [];

  add(name: CheckName, pass: boolean, reason: string, credential?: number, detail: CheckDetail = {}): boolean {
    const check: { -readonly [K in keyof VerificationCheck]: VerificationCheck[K] } = { name, pass, reason };
    if (credential !== undefined) check.credential = credential;
    if (detail.code !== undefined) check.code = detail.code;
    if (detail.cause !== undefined)
      Object.defineProperty(check, "cause", { value: detail.cause, enumerable: false, writable: false });
    this.checks.push(check);
    return pass;
  }

  get ok(): boolean {
    return this.checks.length > 0 && this.checks.every((c) => c.pass);
  }
}
