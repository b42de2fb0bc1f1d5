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
}

export class CheckList {
  readonly checks: VerificationCheck[] = [];

  add(name: CheckName, pass: boolean, reason: string, credential?: number): boolean {
    this.checks.push(credential === undefined ? { name, pass, reason } : { name, pass, reason, credential });
    return pass;
  }

  get ok(): boolean {
    return this.checks.length > 0 && this.checks.every((c) => c.pass);
  }
}
