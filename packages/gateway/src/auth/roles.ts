// Roles from credentials: a clinic proves its role with a ClinicAccreditationCredential, a researcher with a
// ResearcherCredential, each issued by an issuer accredited as medical-board on the TrustRegistry (identity's
// role table), presented in a JWT VP bound to a challenge this gateway issued.
//
// Safety rules:
// - The presentation's holder must be the session's own did:ethr (same chain): a session can only claim a role
//   for the address that signed in, never with another address's credential.
// - Everything @hygeia/identity checks applies (signatures, challenge single use, domain, expiry, status list,
//   issuer trusted at issuance and now); the role is attached only when every check passed.
// - A role is re-checked once its `checkedAt` is older than the status-list TTL: its status lists are dropped from
//   the cache and fetched again, issuer accreditation is read again; a failed re-check deletes the role, so a
//   revoked accreditation (status list or TrustRegistry) ends the role within one TTL (plus the trust cache TTL).
//   A re-check that cannot reach the chain or the list withholds the role for that request (fail closed) and is
//   retried on the next one.
// - Status lists at this gateway's own URL (/v1/status-lists/:issuer/:name) are read from the store the status
//   list route serves from; other URLs only on the origins allowed (the public URL's by default), never by redirect.
import type { JsonRpcProvider } from "ethers";
import { TrustRole, type HygeiaDeployment, type TrustRegistryClient, type TrustRoleName } from "@hygeia/chain";
import {
  CachedDidResolver,
  CredentialType,
  CredentialVerifier,
  IssuerTrust,
  type ChallengeStore,
  decodeJwt,
  ethrDidPrefix,
  ethrIdentityAddress,
  ethrNetworkFromDeployment,
  parseStatusEntry,
  type CredentialTypeName,
  type CredentialVerification,
  type VerificationCheck,
} from "@hygeia/identity";
import { StoreChallengeStore } from "./challenges.ts";
import type { GatewayStore, SessionRoleRow } from "../store/types.ts";
import type { Role } from "./session.ts";

/** The credential type each role is proved with. */
export const ROLE_CREDENTIAL: Record<Role, CredentialTypeName> = {
  clinic: CredentialType.ClinicAccreditation,
  researcher: CredentialType.Researcher,
};
/** Claims the gateway reads from the credential (and returns in the session). */
const ROLE_CLAIMS: Record<Role, string[]> = {
  clinic: ["clinicName", "accreditationNumber"],
  researcher: ["name", "institution"],
};
const ROLE_CHALLENGE_TTL_SECONDS = 300;
const STATUS_FETCH_TIMEOUT_MS = 5_000;
const MAX_STATUS_LIST_BYTES = 4 * 1024 * 1024;

export interface RoleVerifierOptions {
  provider: JsonRpcProvider;
  deployment: HygeiaDeployment;
  rpcUrl: string;
  trust: TrustRegistryClient;
  store: GatewayStore;
  publicUrl: string;
  statusListTtlMs: number;
  trustCacheTtlMs: number;
  now: () => number;
}

export interface RoleChallenge {
  challenge: string;
  domain: string;
  /** Unix ms. */
  expiresAt: number;
}

/** A failed check as the client sees it (name, reason, code; never the underlying error). */
export interface FailedCheck {
  name: string;
  reason: string;
  code?: string;
}

export type RoleVerification =
  | { ok: true; row: Omit<SessionRoleRow, "sessionId">; claims: Record<string, unknown> }
  | { ok: false; code: "ROLE_CREDENTIAL_REJECTED" | "ROLE_HOLDER_MISMATCH"; reason: string; checks: FailedCheck[] };

export type RecheckOutcome = "valid" | "invalid" | "unavailable";

function failed(checks: readonly VerificationCheck[]): FailedCheck[] {
  return checks
    .filter((c) => !c.pass)
    .map((c) => ({ name: c.name, reason: c.reason, ...(c.code === undefined ? {} : { code: c.code }) }));
}

/** The status list URLs a JWT VC names (unverified: used only to drop them from the cache). */
function statusUrls(credential: string): string[] {
  try {
    const vc = decodeJwt(credential).payload.vc as { credentialStatus?: unknown } | undefined;
    return [vc?.credentialStatus]
      .flat()
      .map(parseStatusEntry)
      .flatMap((entry) => (entry ? [entry.statusListCredential] : []));
  } catch {
    return [];
  }
}

/** The single JWT VC inside a JWT VP, or undefined when the VP does not hold exactly one. */
function soleCredential(presentation: string): string | undefined {
  try {
    const vp = decodeJwt(presentation, 256 * 1024).payload.vp as { verifiableCredential?: unknown } | undefined;
    const list = vp?.verifiableCredential;
    return Array.isArray(list) && list.length === 1 && typeof list[0] === "string" ? list[0] : undefined;
  } catch {
    return undefined;
  }
}

export class RoleVerifier {
  readonly #verifier: CredentialVerifier;
  readonly #resolver: CachedDidResolver;
  readonly #challenges: ChallengeStore;
  readonly #didPrefix: string;
  readonly #domain: string;
  readonly #now: () => number;

  private constructor(
    verifier: CredentialVerifier,
    resolver: CachedDidResolver,
    challenges: ChallengeStore,
    options: RoleVerifierOptions,
    didPrefix: string,
  ) {
    this.#verifier = verifier;
    this.#resolver = resolver;
    this.#challenges = challenges;
    this.#didPrefix = didPrefix.toLowerCase();
    this.#domain = new URL(options.publicUrl).host;
    this.#now = options.now;
  }

  static async create(options: RoleVerifierOptions): Promise<RoleVerifier> {
    const network = ethrNetworkFromDeployment(options.deployment, options.rpcUrl);
    const resolver = await CachedDidResolver.create({ network, provider: options.provider, cacheTtlMs: 30_000 });
    // In the store: a presentation may reach another gateway than the one that issued its challenge.
    const challenges = new StoreChallengeStore(options.store, options.now);
    const site = new URL(options.publicUrl);
    const didPrefix = ethrDidPrefix(network);
    const verifier = new CredentialVerifier({
      resolver,
      trust: new IssuerTrust({ registry: options.trust, didPrefix, cacheTtlMs: options.trustCacheTtlMs }),
      challenges,
      statusListFetcher: (url, fetchOptions) => fetchStatusList(options.store, site, url, fetchOptions?.signal),
      statusListTtlMs: options.statusListTtlMs,
      statusListOrigins: [site.origin],
      ...(site.protocol === "http:" ? { statusListHttpHosts: [site.hostname.replace(/^\[|\]$/g, "")] } : {}),
      clock: options.now,
    });
    return new RoleVerifier(verifier, resolver, challenges, options, didPrefix);
  }

  /** A single-use challenge for a role presentation (domain: this gateway's host). */
  async challenge(): Promise<RoleChallenge> {
    // Open challenges are bounded by the per-session rate limit and swept with the nonces once expired.
    const challenge = await this.#challenges.issue(this.#domain, ROLE_CHALLENGE_TTL_SECONDS);
    return { challenge, domain: this.#domain, expiresAt: this.#now() + ROLE_CHALLENGE_TTL_SECONDS * 1000 };
  }

  /** Verifies a role presentation for the session of `address` (lowercase). */
  async verify(role: Role, presentation: string, challenge: string, address: string): Promise<RoleVerification> {
    const type = ROLE_CREDENTIAL[role];
    const credential = soleCredential(presentation);
    if (credential === undefined)
      return {
        ok: false,
        code: "ROLE_CREDENTIAL_REJECTED",
        reason: `present a JWT VP holding exactly one ${type}`,
        checks: [{ name: "required-credentials", reason: `exactly one ${type} is required` }],
      };
    const result = await this.#verifier.verifyPresentation(presentation, {
      challenge,
      domain: this.#domain,
      credentials: [{ type, claims: ROLE_CLAIMS[role], trustedRoles: [TrustRole.MedicalBoard] }],
    });
    if (!result.ok || result.holder === undefined)
      return {
        ok: false,
        code: "ROLE_CREDENTIAL_REJECTED",
        reason: `the ${type} presentation did not verify`,
        checks: failed(result.checks),
      };
    // The holder-binding check tied the credential to the VP signer; this ties the signer to the session.
    if (!this.#isSessionDid(result.holder, address))
      return {
        ok: false,
        code: "ROLE_HOLDER_MISMATCH",
        reason: "the credential is not this session's: its holder must be the signed-in address's did:ethr",
        checks: [{ name: "holder-binding", reason: "holder is not the signed-in address" }],
      };
    const payload = decodeJwt(credential).payload;
    const expires = typeof payload.exp === "number" && Number.isFinite(payload.exp) ? payload.exp * 1000 : null;
    if (role === "clinic" && (expires === null || statusUrls(credential).length === 0))
      return {
        ok: false,
        code: "ROLE_CREDENTIAL_REJECTED",
        reason: "a clinic accreditation must expire and carry a revocation status entry",
        checks: [{ name: "status", reason: "accreditation without expiry or revocation entry" }],
      };
    return {
      ok: true,
      row: {
        role,
        credential,
        issuer: typeof payload.iss === "string" ? payload.iss : "",
        checkedAt: this.#now(),
        validUntil: expires,
      },
      claims: { ...(result.disclosed[type] ?? {}) },
    };
  }

  /**
   * Re-verifies a stored role's credential now: status lists fetched afresh, issuer accreditation read again,
   * expiry. "unavailable" when the chain or a status list could not answer (the caller withholds the role).
   */
  async recheck(row: SessionRoleRow): Promise<RecheckOutcome> {
    const { outcome, verification } = await this.verifyIssued(row.credential, [TrustRole.MedicalBoard]);
    if (outcome === "valid" && verification.credential?.type !== ROLE_CREDENTIAL[row.role]) return "invalid";
    return outcome;
  }

  /**
   * Verifies a credential as issued (no presentation), now: signature, expiry, its status lists fetched afresh,
   * its issuer trusted for one of `trustedRoles` at issuance and now. Roles use it to re-check; studies verify
   * their EthicsApprovalCredential with it. "unavailable" when the chain or a status list could not answer.
   */
  async verifyIssued(
    credential: string,
    trustedRoles: readonly TrustRoleName[],
  ): Promise<{ outcome: RecheckOutcome; verification: CredentialVerification; failed: FailedCheck[] }> {
    for (const url of statusUrls(credential)) this.#verifier.invalidateStatusLists(url);
    const verification = await this.#verifier.verifyCredential(credential, { trustedRoles });
    if (verification.ok) return { outcome: "valid", verification, failed: [] };
    const unavailable = verification.checks.some(
      (c) => !c.pass && (c.code === "TRUST_REGISTRY_UNAVAILABLE" || c.code === "STATUS_LIST_UNAVAILABLE"),
    );
    return { outcome: unavailable ? "unavailable" : "invalid", verification, failed: failed(verification.checks) };
  }

  #isSessionDid(did: string, address: string): boolean {
    return this.didAddress(did) === address;
  }

  /** The address a did:ethr of this gateway's chain names (lowercase); undefined for any other DID. */
  didAddress(did: string): string | undefined {
    return did.toLowerCase().startsWith(`${this.#didPrefix}:`) ? ethrIdentityAddress(did) : undefined;
  }

  async close(): Promise<void> {
    await this.#resolver.close();
  }
}

/**
 * Fetches a status list: this gateway's own URLs from the store (what GET /v1/status-lists serves), others over
 * HTTP without redirects, bounded in time and size. Errors say nothing of the network (the verifier keeps them as
 * the check's cause).
 */
async function fetchStatusList(
  store: GatewayStore,
  site: URL,
  url: string,
  signal: AbortSignal | undefined,
): Promise<string> {
  const target = new URL(url);
  const own = /^\/v1\/status-lists\/([^/]+)\/([^/]+)$/.exec(target.pathname);
  if (target.origin === site.origin && own && target.search === "") {
    const row = await store.getStatusList(decodeURIComponent(own[1]!), decodeURIComponent(own[2]!));
    if (!row) throw new Error("no status list published at this URL");
    return row.jwt;
  }
  const timeout = AbortSignal.timeout(STATUS_FETCH_TIMEOUT_MS);
  const response = await fetch(target.href, {
    redirect: "error",
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
  });
  if (!response.ok) throw new Error(`status list fetch answered ${response.status}`);
  const text = await response.text();
  if (text.length > MAX_STATUS_LIST_BYTES) throw new Error("status list too large");
  return text;
}
