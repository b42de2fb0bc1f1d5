// One verifier for Hygeia credentials and presentations. Never throws for bad input: every failure becomes a
// failed check with a reason.
import type { DIDDocument } from "did-resolver";
import type { TrustRoleName } from "@hygeia/chain";
import { errorMessage, UnknownDidError } from "../errors.ts";
import { subjectViolations } from "../credentials/schema.ts";
import { DEFAULT_TRUSTED_ROLES, isCredentialType, type CredentialTypeName } from "../credentials/types.ts";
import { Bitstring } from "../status/bitstring.ts";
import {
  StatusListChecker,
  parseStatusEntry,
  type BitstringStatusListEntry,
  type StatusListFetcher,
  type VerifiedStatusList,
} from "../status/status-list.ts";
import type { ChallengeStore } from "./challenges.ts";
import { Es256kVerifier, type VerificationRelationship } from "./es256k.ts";
import { JwtFormatError, decodeJwt, numericClaim, stringClaim, type DecodedJwt } from "./jwt.ts";
import { CheckList, type VerificationCheck } from "./result.ts";
import type { IssuerTrust } from "./trust.ts";

export const MAX_PRESENTATION_BYTES = 256 * 1024;
export const MAX_CREDENTIALS_PER_PRESENTATION = 16;

export interface DidDocumentSource {
  resolve(did: string): Promise<DIDDocument>;
}

export interface CredentialVerifierOptions {
  resolver: DidDocumentSource;
  /** Issuer accreditation on the TrustRegistry. Without it, the issuer-trust check fails (closed). */
  trust?: IssuerTrust;
  /** Fetches status list credentials by URL. Without it, credentials with a status entry fail (closed). */
  statusListFetcher?: StatusListFetcher;
  statusListTtlMs?: number;
  /** Fail the status check when a list cannot be fetched (default true). */
  statusFailClosed?: boolean;
  /** Single-use challenges for presentations. */
  challenges?: ChallengeStore;
  /** Tolerated clock difference for exp / nbf, seconds (default 60). */
  clockSkewSeconds?: number;
  clock?: () => number;
}

/** A credential whose checks were run; fields come from the (verified or not) payload. */
export interface CredentialSummary {
  readonly type: CredentialTypeName | undefined;
  readonly issuer: string | undefined;
  readonly subject: Readonly<Record<string, unknown>>;
  readonly issuedAt: number | undefined;
  readonly expiresAt: number | undefined;
  readonly status: readonly BitstringStatusListEntry[];
}

export interface CredentialVerification {
  readonly ok: boolean;
  readonly checks: readonly VerificationCheck[];
  readonly credential: CredentialSummary | undefined;
}

export interface RequestedCredential {
  type: CredentialTypeName;
  /** Claims of the subject that must be disclosed (and the only ones returned). Empty: all disclosed claims. */
  claims?: readonly string[];
  /** Roles that make an issuer trusted for this request; default DEFAULT_TRUSTED_ROLES[type]. */
  trustedRoles?: readonly TrustRoleName[];
}

export interface PresentationRequest {
  challenge: string;
  domain: string;
  credentials: readonly RequestedCredential[];
}

export interface PresentationVerification {
  readonly ok: boolean;
  readonly checks: readonly VerificationCheck[];
  readonly holder: string | undefined;
  readonly disclosed: Readonly<Partial<Record<CredentialTypeName, Readonly<Record<string, unknown>>>>>;
}

interface CredentialContext {
  index?: number;
  trustedRoles?: readonly TrustRoleName[];
}

export class CredentialVerifier {
  private readonly resolver: DidDocumentSource;
  private readonly trust: IssuerTrust | undefined;
  private readonly status: StatusListChecker | undefined;
  private readonly challenges: ChallengeStore | undefined;
  private readonly skew: number;
  private readonly clock: () => number;
  private readonly es256k = new Es256kVerifier();

  constructor(options: CredentialVerifierOptions) {
    this.resolver = options.resolver;
    this.trust = options.trust;
    this.challenges = options.challenges;
    this.skew = options.clockSkewSeconds ?? 60;
    this.clock = options.clock ?? Date.now;
    this.status = options.statusListFetcher
      ? new StatusListChecker({
          fetcher: options.statusListFetcher,
          verifier: (jwt) => this.verifyStatusListCredential(jwt),
          ...(options.statusListTtlMs !== undefined ? { ttlMs: options.statusListTtlMs } : {}),
          ...(options.statusFailClosed !== undefined ? { failClosed: options.statusFailClosed } : {}),
          clock: this.clock,
        })
      : undefined;
  }

  /** Drops cached status lists (e.g. after publishing a new one). */
  invalidateStatusLists(url?: string): void {
    this.status?.invalidate(url);
  }

  /** Verifies one JWT VC: format, signature, validity period, schema, status, issuer trust. */
  async verifyCredential(jwt: unknown, context: CredentialContext = {}): Promise<CredentialVerification> {
    const checks = new CheckList();
    const credential = await this.runCredentialChecks(jwt, checks, context);
    return { ok: checks.ok, checks: checks.checks, credential };
  }

  /**
   * Verifies a JWT VP against a request: the holder's signature, challenge (single use) and domain, then every
   * credential, holder binding, and that the requested types and claims are there.
   */
  async verifyPresentation(presentation: unknown, request: PresentationRequest): Promise<PresentationVerification> {
    const checks = new CheckList();
    const disclosed: Partial<Record<CredentialTypeName, Record<string, unknown>>> = {};
    try {
      return await this.runPresentationChecks(presentation, request, checks, disclosed);
    } catch (error) {
      // Defensive: nothing above should throw, but a verifier must never let an exception become an accept.
      checks.add("format", false, `unexpected error: ${errorMessage(error).slice(0, 200)}`);
      return { ok: false, checks: checks.checks, holder: undefined, disclosed: {} };
    }
  }

  private async runPresentationChecks(
    presentation: unknown,
    request: PresentationRequest,
    checks: CheckList,
    disclosed: Partial<Record<CredentialTypeName, Record<string, unknown>>>,
  ): Promise<PresentationVerification> {
    const fail = (): PresentationVerification => ({
      ok: false,
      checks: checks.checks,
      holder: undefined,
      disclosed: {},
    });
    if (!isValidRequest(request)) {
      checks.add("format", false, "invalid presentation request (challenge, domain and credential types required)");
      return fail();
    }
    let vp: DecodedJwt;
    try {
      vp = decodeJwt(presentation, MAX_PRESENTATION_BYTES);
    } catch (error) {
      checks.add("format", false, `presentation: ${errorMessage(error)}`);
      return fail();
    }
    const holder = typeof vp.payload.iss === "string" ? vp.payload.iss : undefined;
    const body = vp.payload.vp as { verifiableCredential?: unknown } | undefined;
    const credentials = Array.isArray(body?.verifiableCredential) ? body.verifiableCredential : undefined;
    if (!holder || !credentials) {
      checks.add("format", false, "presentation payload needs iss and vp.verifiableCredential[]");
      return fail();
    }
    if (credentials.length > MAX_CREDENTIALS_PER_PRESENTATION) {
      checks.add("format", false, `more than ${MAX_CREDENTIALS_PER_PRESENTATION} credentials`);
      return fail();
    }
    checks.add("format", true, "JWT VP");
    await this.checkSignature(vp, holder, "authentication", checks, undefined, "holder");
    this.checkValidityPeriod(vp.payload, checks, undefined);
    const aud = vp.payload.aud;
    const audiences = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud : [];
    checks.add(
      "domain",
      audiences.includes(request.domain),
      audiences.includes(request.domain) ? "audience matches" : "presentation is for another domain",
    );
    const nonceMatches = vp.payload.nonce === request.challenge;
    if (!nonceMatches) checks.add("challenge", false, "presentation answers another challenge");

    const satisfied = new Set<CredentialTypeName>();
    for (const [index, jwt] of credentials.entries()) {
      const type = credentialTypeOf(jwt);
      const requested = request.credentials.find((r) => r.type === type);
      const credential = await this.runCredentialChecks(jwt, checks, {
        index,
        ...(requested?.trustedRoles ? { trustedRoles: requested.trustedRoles } : {}),
      });
      if (!credential) continue;
      const subjectId = credential.subject.id;
      checks.add(
        "holder-binding",
        subjectId === holder,
        subjectId === holder ? "credential subject is the presenter" : "credential subject is not the presenter",
        index,
      );
      if (requested && credential.type) {
        const claims = pickClaims(credential.subject, requested.claims);
        const missing = (requested.claims ?? []).filter((c) => !(c in claims));
        checks.add(
          "required-claims",
          missing.length === 0,
          missing.length === 0 ? "requested claims present" : `missing claims: ${missing.join(", ")}`,
          index,
        );
        disclosed[credential.type] = claims;
        satisfied.add(credential.type);
      }
    }
    const missingTypes = request.credentials.map((r) => r.type).filter((t) => !satisfied.has(t));
    checks.add(
      "required-credentials",
      missingTypes.length === 0,
      missingTypes.length === 0 ? "all requested credentials presented" : `missing: ${missingTypes.join(", ")}`,
    );
    if (nonceMatches) await this.consumeChallenge(request, checks);
    return { ok: checks.ok, checks: checks.checks, holder, disclosed: checks.ok ? disclosed : {} };
  }

  /** Consumes the challenge last, and only when everything else passed: a failed attempt does not burn it. */
  async consumeChallenge(request: PresentationRequest, checks: CheckList): Promise<void> {
    if (!checks.ok) {
      checks.add("challenge", true, "challenge matches (not consumed: other checks failed)");
      return;
    }
    if (!this.challenges) {
      checks.add("challenge", false, "no challenge store configured: cannot ensure single use");
      return;
    }
    const outcome = await this.challenges.consume(request.challenge, request.domain);
    checks.add(
      "challenge",
      outcome === "consumed",
      outcome === "consumed" ? "challenge consumed" : `challenge ${outcome}`,
    );
  }

  /** Checks a JWT VC into `checks`; returns its summary when it could be parsed. */
  private async runCredentialChecks(
    jwt: unknown,
    checks: CheckList,
    context: CredentialContext,
  ): Promise<CredentialSummary | undefined> {
    const index = context.index;
    let decoded: DecodedJwt;
    let summary: CredentialSummary;
    try {
      decoded = decodeJwt(jwt);
      summary = summarize(decoded);
    } catch (error) {
      checks.add("format", false, `credential: ${errorMessage(error)}`, index);
      return undefined;
    }
    if (!summary.issuer) {
      checks.add("format", false, "credential has no issuer", index);
      return summary;
    }
    if (!summary.type) {
      checks.add("credential-type", false, "not a Hygeia credential type", index);
      return summary;
    }
    const signed = await this.checkSignature(decoded, summary.issuer, "assertionMethod", checks, index, "issuer");
    this.checkValidityPeriod(decoded.payload, checks, index);
    const violations = subjectViolations(summary.type, summary.subject);
    checks.add(
      "schema",
      violations.length === 0,
      violations.length === 0 ? `valid ${summary.type}` : violations.join("; "),
      index,
    );
    if (!signed) return summary; // don't spend chain / network calls on forgeries
    await this.checkStatus(summary, checks, index);
    const roles = context.trustedRoles ?? DEFAULT_TRUSTED_ROLES[summary.type];
    const decision = this.trust
      ? await this.trust.check(summary.issuer, roles, summary.issuedAt)
      : { pass: false, reason: "no trust registry configured" };
    checks.add("issuer-trust", decision.pass, decision.reason, index);
    return summary;
  }

  private async checkSignature(
    jwt: DecodedJwt,
    did: string,
    relationship: VerificationRelationship,
    checks: CheckList,
    index: number | undefined,
    who: "issuer" | "holder",
  ): Promise<boolean> {
    if (jwt.header.alg !== "ES256K")
      return checks.add(
        "signature",
        false,
        `algorithm ${String(jwt.header.alg).slice(0, 20)} not allowed (ES256K only)`,
        index,
      );
    let document: DIDDocument;
    try {
      document = await this.resolver.resolve(did);
    } catch (error) {
      const what = error instanceof UnknownDidError ? "unknown" : "unresolvable";
      return checks.add("signature", false, `${who} DID ${what}: ${errorMessage(error).slice(0, 200)}`, index);
    }
    const valid = this.es256k.verify(document, relationship, jwt.signingInput, jwt.signature);
    return checks.add(
      "signature",
      valid,
      valid ? `signed by the ${who}` : `signature does not verify for the ${who}`,
      index,
    );
  }

  private checkValidityPeriod(
    payload: Readonly<Record<string, unknown>>,
    checks: CheckList,
    index: number | undefined,
  ): void {
    const now = Math.floor(this.clock() / 1000);
    let exp: number | undefined;
    let nbf: number | undefined;
    let iat: number | undefined;
    try {
      exp = numericClaim(payload, "exp");
      nbf = numericClaim(payload, "nbf");
      iat = numericClaim(payload, "iat");
    } catch (error) {
      checks.add("expiry", false, errorMessage(error), index);
      return;
    }
    const start = nbf ?? iat;
    checks.add(
      "not-before",
      start === undefined || start <= now + this.skew,
      start === undefined || start <= now + this.skew ? "valid from the past" : `not valid before ${start}`,
      index,
    );
    checks.add(
      "expiry",
      exp === undefined || exp > now - this.skew,
      exp === undefined ? "no expiry" : exp > now - this.skew ? `valid until ${exp}` : `expired at ${exp}`,
      index,
    );
  }

  private async checkStatus(summary: CredentialSummary, checks: CheckList, index: number | undefined): Promise<void> {
    if (summary.status.length === 0) {
      checks.add("status", true, "no status entry", index);
      return;
    }
    if (!this.status) {
      checks.add("status", false, "credential has a status entry but no status list fetcher is configured", index);
      return;
    }
    const result = await this.status.check(summary.issuer!, summary.status);
    checks.add("status", result.pass, result.reason, index);
  }

  /** Status list credentials: signed by their issuer, of the right type, well-formed list. */
  private async verifyStatusListCredential(jwt: string): Promise<VerifiedStatusList> {
    const decoded = decodeJwt(jwt, 4 * 1024 * 1024);
    const issuer = stringClaim(decoded.payload, "iss");
    const vc = decoded.payload.vc as { type?: unknown; credentialSubject?: Record<string, unknown> } | undefined;
    if (!issuer || !vc || !Array.isArray(vc.type) || !vc.type.includes("BitstringStatusListCredential"))
      throw new JwtFormatError("not a BitstringStatusListCredential");
    const checks = new CheckList();
    if (!(await this.checkSignature(decoded, issuer, "assertionMethod", checks, undefined, "issuer")))
      throw new JwtFormatError(checks.checks.at(-1)?.reason ?? "status list signature invalid");
    const purpose = vc.credentialSubject?.statusPurpose;
    if (purpose !== "revocation" && purpose !== "suspension") throw new JwtFormatError("unknown statusPurpose");
    return {
      issuer,
      purpose,
      list: Bitstring.decode(vc.credentialSubject?.encodedList),
      validUntil: numericClaim(decoded.payload, "exp"),
    };
  }
}

function isValidRequest(request: PresentationRequest): boolean {
  return (
    typeof request === "object" &&
    request !== null &&
    typeof request.challenge === "string" &&
    request.challenge.length >= 16 &&
    request.challenge.length <= 256 &&
    typeof request.domain === "string" &&
    request.domain.length > 0 &&
    request.domain.length <= 256 &&
    Array.isArray(request.credentials) &&
    request.credentials.every((c) => isCredentialType(c?.type))
  );
}

/** The Hygeia type a JWT VC claims, without verifying anything (to pick the request entry). */
function credentialTypeOf(jwt: unknown): CredentialTypeName | undefined {
  try {
    return summarize(decodeJwt(jwt)).type;
  } catch {
    return undefined;
  }
}

/** Reads a did-jwt-vc style payload: vc.type, vc.credentialSubject (+ sub as id), iss, nbf / iat, exp. */
function summarize(jwt: DecodedJwt): CredentialSummary {
  const vc = jwt.payload.vc;
  if (typeof vc !== "object" || vc === null || Array.isArray(vc)) throw new JwtFormatError("payload has no vc object");
  const body = vc as Record<string, unknown>;
  const types = Array.isArray(body.type) ? body.type : [];
  const subject = body.credentialSubject;
  if (typeof subject !== "object" || subject === null || Array.isArray(subject))
    throw new JwtFormatError("credentialSubject is not an object");
  const sub = stringClaim(jwt.payload, "sub");
  const statusValues = body.credentialStatus === undefined ? [] : [body.credentialStatus].flat();
  const status = statusValues.map(parseStatusEntry);
  if (status.some((s) => s === undefined)) throw new JwtFormatError("unsupported credentialStatus entry");
  return {
    type: types.find(isCredentialType),
    issuer: stringClaim(jwt.payload, "iss"),
    subject:
      sub === undefined ? (subject as Record<string, unknown>) : { ...(subject as Record<string, unknown>), id: sub },
    issuedAt: numericClaim(jwt.payload, "nbf") ?? numericClaim(jwt.payload, "iat"),
    expiresAt: numericClaim(jwt.payload, "exp"),
    status: status as BitstringStatusListEntry[],
  };
}

function pickClaims(
  subject: Readonly<Record<string, unknown>>,
  claims: readonly string[] | undefined,
): Record<string, unknown> {
  if (!claims || claims.length === 0) return { ...subject };
  const picked: Record<string, unknown> = {};
  for (const claim of claims) if (claim in subject) picked[claim] = subject[claim];
  return picked;
}
