// The auth plugin: sets `request.session` on every request (fastify-plugin: its hook is the root's), and serves
// Sign-In with Ethereum, sessions and roles under /v1/auth.
//
// Safety rules (see src/auth/*.ts for each part's):
// - Per request: one HMAC-SHA256 and one indexed read of the session row (revocation bites at once), plus the
//   session's roles; never a signature recovery.
// - A present but dead token is refused with 401 (TOKEN_INVALID / TOKEN_EXPIRED / SESSION_REVOKED), whatever
//   the route.
// - A role is served only while its credential re-checks within the status-list TTL (config.identity).
import fp from "fastify-plugin";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { generateNonce } from "siwe";
import { DependencyUnavailableError, ForbiddenError, UnauthenticatedError } from "../../errors.ts";
import { bearerToken, decideSession, TOKEN_ERRORS } from "../../auth/authenticate.ts";
import { requireSession, type Role, type Session } from "../../auth/session.ts";
import { SessionTokens, loadSessionKey } from "../../auth/tokens.ts";
import { parseSiweMessage, siweExpiry, siweRefusal, verifySiweSignature } from "../../auth/siwe.ts";
import { RoleVerifier, type RecheckOutcome } from "../../auth/roles.ts";
import type { SessionRoleRow } from "../../store/types.ts";
import {
  LogoutResponse,
  NonceResponse,
  RoleBody,
  RoleChallengeResponse,
  RoleResponse,
  SessionResponse,
  TokenResponse,
  VerifyBody,
} from "./schemas.ts";
import { problemResponses as problems } from "../../schemas.ts";

const TAGS = ["auth"];
const BEARER = [{ bearerAuth: [] }];

declare module "fastify" {
  interface FastifyInstance {
    /** The auth plugin's role verifier (created on first use: it loads the DID resolver). */
    roleVerifier: () => Promise<RoleVerifier>;
  }
}

async function auth(app: FastifyInstance): Promise<void> {
  const { config, services } = app;
  const tokens = new SessionTokens(await loadSessionKey(config.dataDir, config.sessions.secret ?? undefined));
  const site = new URL(config.publicUrl);
  const chainId = services.chain.deployment.chainId;

  let roleVerifier: Promise<RoleVerifier> | undefined;
  const getRoleVerifier = () =>
    (roleVerifier ??= RoleVerifier.create({
      provider: services.chain.provider,
      deployment: services.chain.deployment,
      rpcUrl: config.chain.rpcUrl,
      trust: services.chain.trust,
      store: services.store,
      publicUrl: config.publicUrl,
      statusListTtlMs: config.identity.statusListTtlMs,
      trustCacheTtlMs: config.identity.trustCacheTtlMs,
      now: services.now,
    }).catch((error: unknown) => {
      roleVerifier = undefined;
      throw new DependencyUnavailableError(
        "identity",
        "ROLE_VERIFIER_UNAVAILABLE",
        "credential checks are unavailable",
        {
          cause: error,
        },
      );
    }));
  app.decorate("roleVerifier", getRoleVerifier);
  app.addHook("onClose", async () => {
    const pending = roleVerifier;
    roleVerifier = undefined;
    if (pending) await (await pending.catch(() => undefined))?.close();
  });

  /** A role_verified audit event under the session's own address (its log shows when its roles came and went). */
  async function auditRole(
    request: FastifyRequest,
    address: string,
    decision: "permit" | "deny",
    reason: string,
  ): Promise<void> {
    await app.audit.record({
      type: "role_verified",
      decision,
      actor: address,
      patient: address,
      reason,
      request: request.id,
    });
  }

  // One re-check per (session, role) at a time: concurrent requests of a session share its outcome, its store
  // update and its audit event.
  const rechecks = new Map<string, Promise<RecheckOutcome>>();

  /** Re-verifies a role due for it and records the outcome: checkedAt moved on, or the role deleted and audited. */
  function settleRole(
    request: FastifyRequest,
    address: string,
    row: SessionRoleRow,
    now: number,
  ): Promise<RecheckOutcome> {
    const key = `${row.sessionId}:${row.role}`;
    let pending = rechecks.get(key);
    if (!pending) {
      pending = (async (): Promise<RecheckOutcome> => {
        // The verifier itself unavailable: the role is withheld, the request goes on (as a patient's would).
        const outcome = await getRoleVerifier().then(
          (verifier) => verifier.recheck(row),
          () => "unavailable" as const,
        );
        if (outcome === "valid") await services.store.putSessionRole({ ...row, checkedAt: now });
        else if (outcome === "invalid") {
          await services.store.deleteSessionRole(row.sessionId, row.role);
          request.log.info({ role: row.role }, "role ended: its credential no longer verifies");
          await auditRole(
            request,
            address,
            "deny",
            row.role === "clinic" ? "CLINIC_ROLE_REVOKED" : "RESEARCHER_ROLE_REVOKED",
          );
        } else request.log.warn({ role: row.role }, "role withheld: its credential could not be re-checked now");
        return outcome;
      })().finally(() => rechecks.delete(key));
      rechecks.set(key, pending);
    }
    return pending;
  }

  /** The session's roles that are valid now, re-checking those due (see roles.ts). */
  async function activeRoles(
    request: FastifyRequest,
    address: string,
    sessionId: string,
    now: number,
  ): Promise<Set<Role>> {
    const roles = new Set<Role>();
    for (const row of await services.store.sessionRoles(sessionId)) {
      if (row.validUntil !== null && row.validUntil <= now) {
        await services.store.deleteSessionRole(sessionId, row.role);
        continue;
      }
      if (
        now - row.checkedAt < config.identity.statusListTtlMs ||
        (await settleRole(request, address, row, now)) === "valid"
      )
        roles.add(row.role);
    }
    return roles;
  }

  app.decorateRequest("session", null);
  app.addHook("onRequest", async (request) => {
    const token = bearerToken(request.headers.authorization);
    if (token === null) return;
    if (token === undefined) throw TOKEN_ERRORS.invalid();
    const now = services.now();
    const check = tokens.check(token, now);
    const row = check.ok ? await services.store.getSession(check.sessionId) : undefined;
    const decision = decideSession(check, row, now);
    if (!decision.ok) throw decision.error;
    request.session = {
      id: decision.sessionId,
      address: decision.address,
      roles: await activeRoles(request, decision.address, decision.sessionId, now),
      expiresAt: decision.expiresAt,
    };
  });

  const sessionView = (session: Session) => ({
    address: session.address,
    roles: [...session.roles].sort(),
    expiresAt: session.expiresAt,
  });

  await app.register(
    async (routes) => {
      const r = routes.withTypeProvider<TypeBoxTypeProvider>();

      r.get(
        "/auth/nonce",
        {
          schema: {
            tags: TAGS,
            summary: "A single-use SIWE nonce",
            description:
              "Step 1 of Sign-In with Ethereum (EIP-4361): the nonce and the domain, URI and chain id the message must name.",
            operationId: "getAuthNonce",
            response: { 200: NonceResponse, ...problems(429, 503) },
          },
        },
        async () => {
          const now = services.now();
          const nonce = generateNonce();
          const expiresAt = now + config.siwe.nonceTtlMs;
          await services.store.putNonce({ nonce, expiresAt });
          return { nonce, expiresAt, domain: site.host, uri: site.origin, chainId, statement: config.siwe.statement };
        },
      );

      r.post(
        "/auth/verify",
        {
          schema: {
            tags: TAGS,
            summary: "Sign in: verify a signed SIWE message",
            description:
              "Step 2: the EIP-4361 message (domain, URI, chain id, nonce, times checked) and its signature (an account's, or EIP-1271 for a contract wallet) → a session token.",
            operationId: "verifySignIn",
            body: VerifyBody,
            response: { 200: TokenResponse, ...problems(400, 401, 429, 503) },
          },
        },
        async (request) => {
          const now = services.now();
          const message = parseSiweMessage(request.body.message);
          const refusal = siweRefusal(message, {
            publicUrl: config.publicUrl,
            chainId,
            now,
            maxMessageAgeMs: config.siwe.maxMessageAgeMs,
          });
          if (refusal) throw new UnauthenticatedError(refusal.code, refusal.reason);
          await verifySiweSignature(message, request.body.signature, services.chain.provider, now);
          if (!(await services.store.consumeNonce(message.nonce, now)))
            throw new UnauthenticatedError(
              "SIWE_NONCE_INVALID",
              "the nonce is unknown, expired or already used: get a new one from GET /v1/auth/nonce",
            );
          const address = message.address.toLowerCase();
          const expiresAt = Math.min(now + config.sessions.ttlMs, siweExpiry(message) ?? Number.POSITIVE_INFINITY);
          const id = SessionTokens.newSessionId();
          await services.store.putSession({ id, address, chainId, issuedAt: now, expiresAt, revokedAt: null });
          return { token: tokens.issue(id, expiresAt, address), address, expiresAt };
        },
      );

      r.post(
        "/auth/logout",
        {
          schema: {
            tags: TAGS,
            summary: "Sign out: revoke this session",
            description: "The token is refused (SESSION_REVOKED) from the next request on, with its roles.",
            operationId: "logout",
            security: BEARER,
            response: { 200: LogoutResponse, ...problems(401, 429, 503) },
          },
        },
        async (request) => {
          const session = requireSession(request);
          await services.store.revokeSession(session.id, services.now());
          return { revoked: true };
        },
      );

      r.get(
        "/auth/session",
        {
          schema: {
            tags: TAGS,
            summary: "This session: address, roles, expiry",
            description: "Roles listed are those whose credential still verifies (re-checked every status-list TTL).",
            operationId: "getSession",
            security: BEARER,
            response: { 200: SessionResponse, ...problems(401, 429, 503) },
          },
        },
        async (request) => sessionView(requireSession(request)),
      );

      r.get(
        "/auth/roles/challenge",
        {
          schema: {
            tags: TAGS,
            summary: "A challenge for a role presentation",
            description: "Single use, 5 minutes: the `nonce` and `domain` of the JWT VP to POST to /v1/auth/roles.",
            operationId: "getRoleChallenge",
            security: BEARER,
            response: { 200: RoleChallengeResponse, ...problems(401, 429, 503) },
          },
        },
        async (request) => {
          requireSession(request);
          return (await getRoleVerifier()).challenge();
        },
      );

      r.post(
        "/auth/roles",
        {
          schema: {
            tags: TAGS,
            summary: "Prove a role with a credential",
            description:
              "clinic: a ClinicAccreditationCredential, researcher: a ResearcherCredential, issued by a medical board accredited on the TrustRegistry, in a JWT VP signed by this session's did:ethr for a challenge of GET /v1/auth/roles/challenge. The role lasts while the credential re-checks (status list, issuer accreditation, expiry).",
            operationId: "presentRole",
            security: BEARER,
            body: RoleBody,
            response: { 200: RoleResponse, ...problems(400, 401, 403, 429, 503) },
          },
        },
        async (request) => {
          const session = requireSession(request);
          const { role, presentation, challenge } = request.body;
          const verifier = await getRoleVerifier();
          const result = await verifier.verify(role, presentation, challenge, session.address);
          if (!result.ok) {
            const outage = result.checks.find(
              (c) => c.code === "TRUST_REGISTRY_UNAVAILABLE" || c.code === "STATUS_LIST_UNAVAILABLE",
            );
            if (outage)
              throw new DependencyUnavailableError(
                outage.code === "TRUST_REGISTRY_UNAVAILABLE" ? "chain" : "status-list",
                outage.code!,
                `the credential could not be checked now: ${outage.reason}`,
              );
            await auditRole(request, session.address, "deny", result.code);
            throw new ForbiddenError(result.code, result.reason, { extensions: { checks: result.checks } });
          }
          if (!(await services.store.putSessionRole({ sessionId: session.id, ...result.row })))
            throw TOKEN_ERRORS.revoked();
          await auditRole(
            request,
            session.address,
            "permit",
            role === "clinic" ? "CLINIC_ROLE_VERIFIED" : "RESEARCHER_ROLE_VERIFIED",
          );
          const roles = new Set(session.roles).add(role);
          return {
            address: session.address,
            role,
            roles: [...roles].sort(),
            issuer: result.row.issuer,
            validUntil: result.row.validUntil,
            claims: result.claims,
          };
        },
      );
    },
    { prefix: "/v1" },
  );
}

export const authPlugin = fp(auth, { name: "hygeia-auth", fastify: "5.x" });
