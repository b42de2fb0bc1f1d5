// One verifier for Hygeia credentials and presentations. Never throws for bad input: every failure becomes a
// failed check with a reason.
//
// Rules:
// - Nothing is fetched from the network for a credential until its signature verified and its issuer was found
//   trusted; in a presentation, also not until the holder's signature, the domain and a live challenge of this
//   verifier checked out. Status URLs are then vetted (StatusUrlPolicy) before the fetch.
// - A status list counts only for the URL the entry names; reasons never carry a fetch error's text.
// - What a JWT says twice must agree: `vc.issuer` and `iss`, `credentialSubject.id` and `sub` (refused when they
//   differ, never overridden).
// - SD-JWT VCs: a `status` claim is evaluated (IETF Token Status List); a status form this verifier does not
//   understand fails the status check.
import type { DIDDocument } from "did-resolver";
import type { TrustRoleName } from "@hygeia/chain/browser";
import { errorMessage, InvalidStatusListError, UnknownDidError } from "../errors.ts";
import { objectArgument, withMethods } from "../arguments.ts";
import { subjectClaimNames, subjectViolations } from "../credentials/schema.ts";
import { challengeProblem, domainProblem, sameDid } from "../credentials/inputs.ts";
import { DEFAULT_TRUSTED_ROLES, isCredentialType, type CredentialTypeName } from "../credentials/types.ts";
import {
  StatusListChecker,
  parseStatusEntry,
  parseTokenStatusClaim,
  type BitstringStatusListEntry,
  type StatusBudget,
  type StatusListFetcher,
  type StatusReference,
  type StatusUrlPolicy,
} from "../status/status-list.ts";
import { verifyStatusListCredential } from "../status/verify-list.ts";
import type { ChallengeStore } from "./challenges.ts";
import {
  Es256kVerifier,
  isAuthorizedKey,
  publicKeyFromJwk,
  verifyWithPublicKey,
  type VerificationRelationship,
} from "./es256k.ts";
import { sdHash, sdJwtClaims } from "../sdjwt/sd-jwt.ts";
import { JwtFormatError, decodeJwt, numericClaim, stringClaim, type DecodedJwt } from "./jwt.ts";
import { assertVerifierOptions } from "./options.ts";
import { fromBase64url, utf8Text } from "../bytes.ts";
import { CheckList, INTERNAL_ERROR_REASON, type VerificationCheck } from "./result.ts";
import type { IssuerTrust, TrustDecision } from "./trust.ts";

export { MAX_PRESENTATION_BYTES } from "./limits.ts";
import { MAX_PRESENTATION_BYTES } from "./limits.ts";
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
  /** How long a status list is reused, ms (default 60 s; never past the list's own expiry). */
  statusListTtlMs?: number;
  /** Fail the status check when a list cannot be fetched (default true). */
  statusFailClosed?: boolean;
  /**
   * Origins status lists may be fetched from (`["https://status.example"]`), or a function of the issuer's DID
   * giving them (the issuer's own origin). Default: any https origin at a public address.
   */
  statusListOrigins?: StatusUrlPolicy["origins"];
  /**
   * Hosts status lists may be fetched from over plain http, and that may be local or private addresses (a local
   * stack: `["127.0.0.1"]`). Default none: https to public addresses only.
   */
  statusListHttpHosts?: readonly string[];
  /** At most this many status lists are cached (default 256). */
  maxCachedStatusLists?: number;
  /** At most this many bytes of (inflated) status lists are cached (default 64 MiB). */
  statusListCacheBytes?: number;
  /** At most this many distinct status lists are consulted for one verification (default 8). */
  statusMaxListsPerVerification?: number;
  /** The status checks of one verification end by then, ms (default 15 s; fetches are aborted). */
  statusDeadlineMs?: number;
  /** A status list's `exp` may be at most this many seconds after its `iat` (default 7 days). */
  statusListMaxValiditySeconds?: number;
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
  /** Why status lists must not be fetched for this credential (the presentation around it failed); unset: may. */
  statusBlocked?: string | undefined;
  /** The status budget of the whole verification (lists consulted, deadline); unset: one for this credential. */
  statusBudget?: StatusBudget | undefined;
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
    objectArgument(options, "options", "{ resolver, trust?, challenges?, statusListFetcher?, … }");
    withMethods(options.resolver, "resolver", ["resolve"], "a DID resolver (agent.resolver)");
    assertVerifierOptions(options);
    this.resolver = options.resolver;
    this.trust = options.trust;
    this.challenges = options.challenges;
    this.skew = options.clockSkewSeconds ?? 60;
    this.clock = options.clock ?? Date.now;
    this.status = options.statusListFetcher
      ? new StatusListChecker({
          fetcher: options.statusListFetcher,
          // A fetched list: the list of that URL, signed by its issuer (the checker then compares it with the
          // credential's), within its times.
          verifier: (jwt, url) =>
            verifyStatusListCredential(jwt, {
              url,
              resolver: this.resolver,
              es256k: this.es256k,
              now: this.clock(),
              clockSkewSeconds: Math.ceil(this.skew),
              maxValiditySeconds: options.statusListMaxValiditySeconds,
            }),
          ...(options.statusListTtlMs !== undefined ? { ttlMs: options.statusListTtlMs } : {}),
          ...(options.statusFailClosed !== undefined ? { failClosed: options.statusFailClosed } : {}),
          ...(options.maxCachedStatusLists !== undefined ? { maxCachedLists: options.maxCachedStatusLists } : {}),
          ...(options.statusListCacheBytes !== undefined ? { cacheBytes: options.statusListCacheBytes } : {}),
          ...(options.statusMaxListsPerVerification !== undefined
            ? { maxListsPerVerification: options.statusMaxListsPerVerification }
            : {}),
          ...(options.statusDeadlineMs !== undefined ? { deadlineMs: options.statusDeadlineMs } : {}),
          ...(options.statusListMaxValiditySeconds !== undefined
            ? { maxListValiditySeconds: options.statusListMaxValiditySeconds }
            : {}),
          clockSkewSeconds: Math.ceil(this.skew),
          urlPolicy: {
            ...(options.statusListOrigins !== undefined ? { origins: options.statusListOrigins } : {}),
            ...(options.statusListHttpHosts !== undefined ? { httpHosts: options.statusListHttpHosts } : {}),
          },
          clock: this.clock,
        })
      : undefined;
  }

  /**
   * Whether `did` (a did:ethr on the registry's chain) is accredited for one of `roles` on the TrustRegistry now:
   * a party's own standing, such as a clinic's at check-in. Fails (closed) without a trust registry.
   */
  async checkStanding(did: string, roles: readonly TrustRoleName[]): Promise<TrustDecision> {
    if (!this.trust) return { pass: false, reason: "no trust registry configured" };
    return this.trust.checkNow(did, roles);
  }

  /** Drops cached status lists (e.g. after publishing a new one). */
  invalidateStatusLists(url?: string): void {
    this.status?.invalidate(url);
  }

  /** Verifies one JWT VC: format, signature, validity period, schema, status, issuer trust. */
  async verifyCredential(jwt: unknown, context: CredentialContext = {}): Promise<CredentialVerification> {
    const checks = new CheckList();
    try {
      const credential = await this.runCredentialChecks(jwt, checks, context);
      return { ok: checks.ok, checks: checks.checks, credential };
    } catch (error) {
      // Defensive, as in verifyPresentation: an exception is a failure, and its text stays in `cause` (logs).
      checks.add("format", false, INTERNAL_ERROR_REASON, context.index, { code: "INTERNAL_ERROR", cause: error });
      return { ok: false, checks: checks.checks, credential: undefined };
    }
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
      // Defensive: nothing above should throw, but a verifier must never let an exception become an accept. The
      // reason is fixed: an internal error's text (paths, URLs, stack details) is for the logs (`cause`), not for
      // whoever presented.
      checks.add("format", false, INTERNAL_ERROR_REASON, undefined, { code: "INTERNAL_ERROR", cause: error });
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
    const requestProblems = presentationRequestProblems(request);
    if (requestProblems.length > 0) {
      checks.add("format", false, `invalid presentation request: ${requestProblems.join("; ")}`);
      return fail();
    }
    if (isSdJwtPresentation(presentation)) {
      return this.runSdJwtPresentationChecks([presentation].flat(), request, checks, disclosed);
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
    const holderSigned = await this.checkSignature(vp, holder, "authentication", checks, undefined, "holder");
    this.checkValidityPeriod(vp.payload, checks, undefined);
    const aud = vp.payload.aud;
    const audiences = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud : [];
    const domainOk = audiences.includes(request.domain);
    checks.add("domain", domainOk, domainOk ? "audience matches" : "presentation is for another domain");
    const nonceMatches = vp.payload.nonce === request.challenge;
    if (!nonceMatches) checks.add("challenge", false, "presentation answers another challenge");
    const statusBlocked = !holderSigned
      ? "the presentation is not signed by its holder"
      : !domainOk
        ? "the presentation is for another domain"
        : await this.challengeProblem(request, nonceMatches, checks);
    const statusBudget = this.status?.budget();

    const satisfied = new Set<CredentialTypeName>();
    for (const [index, jwt] of credentials.entries()) {
      const type = credentialTypeOf(jwt);
      const requested = request.credentials.find((r) => r.type === type);
      const credential = await this.runCredentialChecks(jwt, checks, {
        index,
        statusBlocked,
        statusBudget,
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
        recordDisclosure(requested, credential.type, credential.subject, { checks, disclosed, satisfied }, index);
      }
    }
    return this.concludePresentation(request, { checks, disclosed, satisfied }, nonceMatches, holder);
  }

  /**
   * Why the presentation does not answer a live challenge of this verifier (status lists are then not fetched);
   * undefined when it does. The challenge is only looked at here, not consumed. A failure is recorded as a
   * failed `challenge` check.
   */
  private async challengeProblem(
    request: PresentationRequest,
    nonceMatches: boolean,
    checks: CheckList,
  ): Promise<string | undefined> {
    if (!nonceMatches) return "the presentation answers another challenge";
    if (!this.challenges) return "no challenge store configured";
    if (typeof this.challenges.check !== "function") return undefined; // a store that cannot look: consume decides
    let state: string;
    try {
      state = await this.challenges.check(request.challenge, request.domain);
    } catch (error) {
      checks.add("challenge", false, "challenge store unavailable", undefined, { cause: error });
      return "challenge store unavailable";
    }
    if (state === "live") return undefined;
    checks.add("challenge", false, `challenge ${state}`);
    return `challenge ${state}`;
  }

  /** Closes a presentation: every requested type presented, then the challenge consumed (once). */
  private async concludePresentation(
    request: PresentationRequest,
    tally: DisclosureTally,
    nonceMatches: boolean,
    holder: string | undefined,
  ): Promise<PresentationVerification> {
    const { checks, disclosed, satisfied } = tally;
    const missingTypes = request.credentials.map((r) => r.type).filter((t) => !satisfied.has(t));
    checks.add(
      "required-credentials",
      missingTypes.length === 0,
      missingTypes.length === 0 ? "all requested credentials presented" : `missing: ${missingTypes.join(", ")}`,
    );
    if (nonceMatches) await this.consumeChallenge(request, checks);
    return { ok: checks.ok, checks: checks.checks, holder, disclosed: checks.ok ? disclosed : {} };
  }

  /**
   * SD-JWT VC presentations (one or several, each with its KB-JWT): issuer signature, disclosures, key binding
   * to `cnf.jwk` and to the subject DID, challenge (KB nonce), domain (KB aud), validity, schema of the disclosed
   * claims, status, issuer trust.
   */
  private async runSdJwtPresentationChecks(
    presentations: readonly string[],
    request: PresentationRequest,
    checks: CheckList,
    disclosed: Partial<Record<CredentialTypeName, Record<string, unknown>>>,
  ): Promise<PresentationVerification> {
    const total = presentations.reduce((n, p) => n + p.length, 0);
    if (total > MAX_PRESENTATION_BYTES || presentations.length > MAX_CREDENTIALS_PER_PRESENTATION) {
      checks.add("format", false, `presentation larger than ${MAX_PRESENTATION_BYTES} bytes or too many credentials`);
      return { ok: false, checks: checks.checks, holder: undefined, disclosed: {} };
    }
    let holder: string | undefined;
    let nonceMatches = true;
    const satisfied = new Set<CredentialTypeName>();
    // Looked at once, before any credential: status lists are fetched only for a live challenge of ours.
    const challengeBlocked = await this.challengeProblem(request, true, checks);
    const statusBudget = this.status?.budget();
    for (const [index, compact] of presentations.entries()) {
      const result = await this.checkSdJwt(compact, request, checks, index, challengeBlocked, statusBudget);
      if (!result) continue;
      nonceMatches &&= result.nonceMatches;
      if (holder !== undefined && result.subject.id !== holder)
        checks.add("holder-binding", false, "credentials of different subjects", index);
      holder ??= typeof result.subject.id === "string" ? result.subject.id : undefined;
      const requested = request.credentials.find((r) => r.type === result.type);
      if (!requested || !result.type) continue;
      recordDisclosure(requested, result.type, result.subject, { checks, disclosed, satisfied }, index);
    }
    return this.concludePresentation(request, { checks, disclosed, satisfied }, nonceMatches, holder);
  }

  private async checkSdJwt(
    compact: string,
    request: PresentationRequest,
    checks: CheckList,
    index: number,
    challengeBlocked: string | undefined,
    statusBudget: StatusBudget | undefined,
  ): Promise<
    { type: CredentialTypeName | undefined; subject: Record<string, unknown>; nonceMatches: boolean } | undefined
  > {
    const parts = compact.split("~");
    if (parts.length < 2) {
      checks.add("format", false, "not an SD-JWT (no ~ separator)", index);
      return undefined;
    }
    const issuerJwtText = parts[0]!;
    const kbText = parts[parts.length - 1]!;
    const disclosures = parts.slice(1, -1);
    let issuerJwt: DecodedJwt;
    let claims: Record<string, unknown>;
    try {
      issuerJwt = decodeJwt(issuerJwtText);
      claims = await sdJwtClaims(`${parts.slice(0, -1).join("~")}~`);
    } catch (error) {
      checks.add("format", false, `SD-JWT: ${errorMessage(error).slice(0, 200)}`, index);
      return undefined;
    }
    const issuer = typeof issuerJwt.payload.iss === "string" ? issuerJwt.payload.iss : undefined;
    const type = isCredentialType(issuerJwt.payload.vct) ? issuerJwt.payload.vct : undefined;
    if (!issuer || !type) {
      checks.add("credential-type", false, "SD-JWT needs iss and a Hygeia vct", index);
      return undefined;
    }
    const signed = await this.checkSignature(issuerJwt, issuer, "assertionMethod", checks, index, "issuer");
    const disclosureProblem = unreferencedDisclosure(issuerJwt.payload, disclosures);
    checks.add(
      "disclosures",
      disclosureProblem === undefined,
      disclosureProblem ?? `${disclosures.length} disclosure(s) match the issuer's digests`,
      index,
    );
    this.checkValidityPeriod(issuerJwt.payload, checks, index);
    const subject: Record<string, unknown> = { ...pickSubjectClaims(claims) };
    const violations = subjectViolations(type, subject, { partial: true });
    checks.add(
      "schema",
      violations.length === 0,
      violations.length === 0 ? `valid ${type} claims` : violations.join("; "),
      index,
    );

    // Key binding: KB-JWT signed by cnf.jwk, covering exactly these disclosures, for this challenge and domain.
    let nonceMatches = false;
    let domainOk = false;
    const binding = await this.checkKeyBinding(issuerJwt, `${parts.slice(0, -1).join("~")}~`, kbText, subject.id);
    checks.add("holder-binding", binding.pass, binding.reason, index);
    if (binding.kb) {
      nonceMatches = binding.kb.nonce === request.challenge;
      if (!nonceMatches) checks.add("challenge", false, "key binding answers another challenge", index);
      domainOk = binding.kb.aud === request.domain;
      checks.add("domain", domainOk, domainOk ? "audience matches" : "presentation is for another domain", index);
    }
    if (!signed) return { type, subject, nonceMatches };
    const requested = request.credentials.find((r) => r.type === type);
    const issuedAt =
      numericClaimOrUndefined(issuerJwt.payload, "nbf") ?? numericClaimOrUndefined(issuerJwt.payload, "iat");
    const trusted = await this.checkTrust(issuer, requested?.trustedRoles ?? DEFAULT_TRUSTED_ROLES[type], issuedAt, {
      checks,
      index,
    });
    let status: StatusReference[];
    try {
      // Plain claims or (against the SD-JWT VC profile) disclosed ones: both are the issuer's.
      status = sdJwtStatusReferences({ ...issuerJwt.payload, ...claims });
    } catch (error) {
      const code = error instanceof InvalidStatusListError ? "UNSUPPORTED_STATUS" : undefined;
      checks.add("status", false, errorMessage(error).slice(0, 200), index, { code });
      return { type, subject, nonceMatches };
    }
    const blocked = !binding.pass
      ? "the key binding failed"
      : !nonceMatches
        ? "the key binding answers another challenge"
        : !domainOk
          ? "the presentation is for another domain"
          : challengeBlocked;
    await this.checkStatus(issuer, status, checks, index, trusted ? blocked : "issuer not trusted", statusBudget);
    return { type, subject, nonceMatches };
  }

  private async checkKeyBinding(
    issuerJwt: DecodedJwt,
    presentedWithoutKb: string,
    kbText: string,
    subjectId: unknown,
  ): Promise<{ pass: boolean; reason: string; kb?: { nonce: unknown; aud: unknown } }> {
    if (kbText === "") return { pass: false, reason: "missing key binding JWT" };
    let kb: DecodedJwt;
    try {
      kb = decodeJwt(kbText);
    } catch (error) {
      return { pass: false, reason: `key binding JWT: ${errorMessage(error)}` };
    }
    const claims = { nonce: kb.payload.nonce, aud: kb.payload.aud };
    if (kb.header.typ !== "kb+jwt") return { pass: false, reason: "key binding JWT typ is not kb+jwt", kb: claims };
    if (kb.header.alg !== "ES256K") return { pass: false, reason: "key binding algorithm not allowed", kb: claims };
    const jwk = (issuerJwt.payload.cnf as { jwk?: Record<string, unknown> } | undefined)?.jwk;
    const holderKey = jwk ? publicKeyFromJwk(jwk) : undefined;
    if (!holderKey) return { pass: false, reason: "credential has no usable cnf.jwk", kb: claims };
    if (!verifyWithPublicKey(holderKey, kb.signingInput, kb.signature))
      return { pass: false, reason: "key binding signature does not verify with cnf.jwk", kb: claims };
    if (kb.payload.sd_hash !== sdHash(presentedWithoutKb))
      return { pass: false, reason: "key binding does not cover these disclosures (sd_hash)", kb: claims };
    const iat = kb.payload.iat;
    const now = Math.floor(this.clock() / 1000);
    if (typeof iat !== "number" || iat > now + this.skew || iat < now - KB_MAX_AGE_SECONDS)
      return { pass: false, reason: "key binding JWT is not fresh", kb: claims };
    // The bound key must be one the subject DID authenticates with: the presenter is the subject.
    if (typeof subjectId === "string") {
      try {
        const document = await this.resolver.resolve(subjectId);
        if (!isAuthorizedKey(document, "authentication", holderKey))
          return { pass: false, reason: "cnf key is not a key of the subject DID", kb: claims };
      } catch (error) {
        return { pass: false, reason: `subject DID unresolvable: ${errorMessage(error).slice(0, 200)}`, kb: claims };
      }
    }
    return { pass: true, reason: "key binding by the subject's key", kb: claims };
  }

  /** Consumes the challenge last, and only when everything else passed: a failed attempt does not burn it. */
  async consumeChallenge(request: PresentationRequest, checks: CheckList): Promise<void> {
    if (!checks.ok) {
      if (!checks.checks.some((c) => c.name === "challenge" && !c.pass))
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
    if (summary.type === "EthicsApprovalCredential") this.checkApprovedUntil(summary.subject, checks, index);
    if (!signed) return summary; // don't spend chain / network calls on forgeries
    const roles = context.trustedRoles ?? DEFAULT_TRUSTED_ROLES[summary.type];
    const trusted = await this.checkTrust(summary.issuer, roles, summary.issuedAt, { checks, index });
    await this.checkStatus(
      summary.issuer,
      summary.status,
      checks,
      index,
      trusted ? context.statusBlocked : "issuer not trusted",
      context.statusBudget,
    );
    return summary;
  }

  /** Issuer trust, recorded as the `issuer-trust` check; true when it passed. */
  private async checkTrust(
    issuer: string,
    roles: readonly TrustRoleName[],
    issuedAt: number | undefined,
    at: { checks: CheckList; index: number | undefined },
  ): Promise<boolean> {
    const decision = this.trust
      ? await this.trust.check(issuer, roles, issuedAt)
      : { pass: false, reason: "no trust registry configured" };
    return at.checks.add("issuer-trust", decision.pass, decision.reason, at.index, {
      code: decision.code === "TRUST_REGISTRY_UNAVAILABLE" ? decision.code : undefined,
      cause: decision.cause,
    });
  }

  /** An EthicsApproval's `approvedUntil` (a date: approved through that day, UTC) must not have passed. */
  private checkApprovedUntil(
    subject: Readonly<Record<string, unknown>>,
    checks: CheckList,
    index: number | undefined,
  ): void {
    const until = subject.approvedUntil;
    if (until === undefined) return;
    const end = typeof until === "string" ? Date.parse(`${until}T00:00:00Z`) / 1000 + 86_400 : Number.NaN;
    const now = Math.floor(this.clock() / 1000);
    if (!Number.isFinite(end)) checks.add("expiry", false, "approvedUntil is not a date", index);
    else if (end <= now - this.skew) checks.add("expiry", false, `ethics approval ended on ${until}`, index);
    else checks.add("expiry", true, `ethics approval runs until ${until}`, index);
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

  /** The `status` check; `blocked` says why lists must not be fetched (the check then fails unfetched). */
  private async checkStatus(
    issuer: string,
    entries: readonly StatusReference[],
    checks: CheckList,
    index: number | undefined,
    blocked: string | undefined,
    budget: StatusBudget | undefined,
  ): Promise<void> {
    if (entries.length === 0) {
      checks.add("status", true, "no status entry", index);
      return;
    }
    if (blocked !== undefined) {
      checks.add("status", false, `status not checked: ${blocked}`, index, { code: "STATUS_NOT_CHECKED" });
      return;
    }
    if (!this.status) {
      checks.add("status", false, "credential has a status entry but no status list fetcher is configured", index);
      return;
    }
    const result = await this.status.check(issuer, entries, budget ?? this.status.budget());
    checks.add("status", result.pass, result.reason, index, { code: result.code, cause: result.cause });
  }
}

const KB_MAX_AGE_SECONDS = 300;

function isSdJwtPresentation(value: unknown): value is string | string[] {
  if (typeof value === "string") return value.includes("~");
  return Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "string" && v.includes("~"));
}

/** Every presented disclosure must be referenced by a digest in the signed payload (or a disclosed value). */
function unreferencedDisclosure(
  payload: Readonly<Record<string, unknown>>,
  disclosures: readonly string[],
): string | undefined {
  const digests = new Set<string>();
  const collect = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(collect);
    else if (typeof value === "object" && value !== null) {
      for (const [key, inner] of Object.entries(value)) {
        if (key === "_sd" && Array.isArray(inner)) inner.forEach((d) => typeof d === "string" && digests.add(d));
        else if (key === "..." && typeof inner === "string") digests.add(inner);
        else collect(inner);
      }
    }
  };
  collect(payload);
  const seen = new Set<string>();
  for (const disclosure of disclosures) {
    const digest = sdHash(disclosure);
    if (seen.has(digest)) return "a disclosure is presented twice";
    seen.add(digest);
    if (!digests.has(digest)) return "a disclosure is not referenced by the issuer's signed digests";
    try {
      collect(JSON.parse(utf8Text(fromBase64url(disclosure))));
    } catch {
      return "a disclosure is not base64url JSON";
    }
  }
  return undefined;
}

const SD_JWT_REGISTERED_CLAIMS = new Set([
  "iss",
  "iat",
  "nbf",
  "exp",
  "vct",
  "cnf",
  "credentialStatus",
  "status",
  "_sd_alg",
  "sub",
]);

/** The subject claims of a decoded SD-JWT VC: `sub` as id plus the non-registered claims. */
function pickSubjectClaims(claims: Record<string, unknown>): Record<string, unknown> {
  const subject: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(claims)) if (!SD_JWT_REGISTERED_CLAIMS.has(key)) subject[key] = value;
  if (typeof claims.sub === "string") subject.id = claims.sub;
  return subject;
}

/** The status references of an SD-JWT VC: W3C `credentialStatus` entries and an IETF `status` claim. */
function sdJwtStatusReferences(claims: Readonly<Record<string, unknown>>): StatusReference[] {
  const references: StatusReference[] = [];
  if (claims.credentialStatus !== undefined) {
    const entries = [claims.credentialStatus].flat().map(parseStatusEntry);
    if (entries.some((e) => e === undefined)) throw new InvalidStatusListError("unsupported credentialStatus entry");
    references.push(...(entries as BitstringStatusListEntry[]));
  }
  if (claims.status !== undefined) references.push(parseTokenStatusClaim(claims.status));
  return references;
}

/** `vc.issuer` is a DID string or `{ id }`. */
function issuerId(value: unknown): unknown {
  return typeof value === "object" && value !== null ? (value as { id?: unknown }).id : value;
}

function numericClaimOrUndefined(payload: Readonly<Record<string, unknown>>, name: string): number | undefined {
  const value = payload[name];
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/**
 * What is wrong with a presentation request, one entry per field (empty when it is fine): the challenge must be
 * MIN_CHALLENGE_LENGTH (16) to MAX_CHALLENGE_LENGTH (256) characters, the domain 1 to 256, every requested type
 * a Hygeia credential type and every requested claim a claim of that type.
 */
export function presentationRequestProblems(request: unknown): string[] {
  if (typeof request !== "object" || request === null)
    return ["the request must be an object { challenge, domain, credentials }"];
  const { challenge, domain, credentials } = request as Partial<Record<keyof PresentationRequest, unknown>>;
  const problems: string[] = [];
  const challengeIssue = challengeProblem(challenge);
  if (challengeIssue) problems.push(`challenge: ${challengeIssue}`);
  const domainIssue = domainProblem(domain);
  if (domainIssue) problems.push(`domain: ${domainIssue}`);
  if (!Array.isArray(credentials)) {
    problems.push("credentials: missing (an array of { type, claims? })");
    return problems;
  }
  if (credentials.length > MAX_CREDENTIALS_PER_PRESENTATION)
    problems.push(`credentials: more than ${MAX_CREDENTIALS_PER_PRESENTATION} requested`);
  for (const [index, requested] of credentials.entries()) {
    const type = (requested as { type?: unknown } | null)?.type;
    if (!isCredentialType(type)) {
      problems.push(
        `credentials[${index}].type: ${JSON.stringify(type)?.slice(0, 60)} is not a Hygeia credential type`,
      );
      continue;
    }
    const claims = (requested as { claims?: unknown }).claims;
    if (claims === undefined) continue;
    if (!Array.isArray(claims) || !claims.every((c) => typeof c === "string")) {
      problems.push(`credentials[${index}].claims: must be an array of claim names`);
      continue;
    }
    const known = subjectClaimNames(type);
    const unknown = claims.filter((claim) => !known.includes(claim));
    if (unknown.length > 0)
      problems.push(
        `credentials[${index}].claims: ${type} has no claim ${unknown.map((c) => JSON.stringify(c.slice(0, 60))).join(", ")} (claims: ${known.join(", ")})`,
      );
  }
  return problems;
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
  const iss = stringClaim(jwt.payload, "iss");
  // Said twice, it must agree: a differing copy is refused, not silently overridden by iss / sub.
  if (body.issuer !== undefined && !sameDid(issuerId(body.issuer), iss ?? ""))
    throw new JwtFormatError("vc.issuer differs from iss");
  const subjectId = (subject as Record<string, unknown>).id;
  if (sub !== undefined && subjectId !== undefined && !sameDid(subjectId, sub))
    throw new JwtFormatError("vc.credentialSubject.id differs from sub");
  // The IETF `status` claim is read on SD-JWT VCs only; on a JWT VC nothing would evaluate it: fail closed.
  if (jwt.payload.status !== undefined) throw new JwtFormatError("unsupported status claim (use credentialStatus)");
  const statusValues = body.credentialStatus === undefined ? [] : [body.credentialStatus].flat();
  const status = statusValues.map(parseStatusEntry);
  if (status.some((s) => s === undefined)) throw new JwtFormatError("unsupported credentialStatus entry");
  return {
    type: types.find(isCredentialType),
    issuer: iss,
    subject:
      sub === undefined ? (subject as Record<string, unknown>) : { ...(subject as Record<string, unknown>), id: sub },
    issuedAt: numericClaim(jwt.payload, "nbf") ?? numericClaim(jwt.payload, "iat"),
    expiresAt: numericClaim(jwt.payload, "exp"),
    status: status as BitstringStatusListEntry[],
  };
}

/** What a presentation has shown so far, credential by credential. */
interface DisclosureTally {
  readonly checks: CheckList;
  readonly disclosed: Partial<Record<CredentialTypeName, Record<string, unknown>>>;
  readonly satisfied: Set<CredentialTypeName>;
}

/** Checks that one presented credential carries the requested claims and records what it discloses. */
function recordDisclosure(
  requested: RequestedCredential,
  type: CredentialTypeName,
  subject: Readonly<Record<string, unknown>>,
  tally: DisclosureTally,
  index: number,
): void {
  const claims = pickClaims(subject, requested.claims);
  const missing = (requested.claims ?? []).filter((c) => !(c in claims));
  tally.checks.add(
    "required-claims",
    missing.length === 0,
    missing.length === 0 ? "requested claims disclosed" : `not disclosed: ${missing.join(", ")}`,
    index,
  );
  tally.disclosed[type] = claims;
  tally.satisfied.add(type);
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
