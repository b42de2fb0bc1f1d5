// Status lists: issuers' Bitstring Status List credentials (and IETF Status List Tokens) served at stable URLs,
// `/v1/status-lists/<issuer DID>/<name>`; issuers publish new versions with a PUT signed by themselves.
//
// Safety rules (see publication.ts for the checks of a list):
// - A PUT needs no session: the list is self-authenticating. It is stored only when signed by the issuer the
//   URL names, for exactly this URL, newer than the stored version, and the issuer is accredited on the
//   TrustRegistry for some role now (verifiers consult only accredited issuers' lists; anyone else's would be
//   storage for strangers).
// - The URL is taken literally: percent-encoded or odd characters in it are refused (400), so one list has
//   one URL and the URL a verifier fetches is the one the list names.
// - Verifiers may cache a list: Cache-Control max-age is at most identity's statusListTtlMs (60 s) and never
//   past the list's own `exp`, so a revocation reaches a verifier within one TTL of its publication.
// - Fail closed: an unreachable chain (DID resolution, trust registry) refuses the publication with 503;
//   nothing is stored on a doubt.
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { TrustRole } from "@hygeia/chain";
import { Es256kVerifier, STATUS_DEFAULTS, decodeJwt } from "@hygeia/identity";
import {
  BadRequestError,
  ConflictError,
  DependencyUnavailableError,
  ForbiddenError,
  NotFoundError,
} from "../../errors.ts";
import { problemResponses } from "../../schemas.ts";
import {
  BITSTRING_MEDIA_TYPE,
  MAX_STATUS_LIST_BYTES,
  TOKEN_MEDIA_TYPE,
  checkPublication,
  type StatusListFacts,
} from "./publication.ts";
import { StatusListJwt, StatusListParams, StatusListPublished } from "./schemas.ts";

/** Longest a served list may be cached, seconds: identity's statusListTtlMs. */
export const STATUS_LIST_MAX_AGE_SECONDS = Math.floor(STATUS_DEFAULTS.ttlMs / 1000);

const JWT_MEDIA_TYPES = [BITSTRING_MEDIA_TYPE, TOKEN_MEDIA_TYPE, "application/jwt", "text/plain"];

/** The list's stable URL at this gateway. */
export function statusListUrl(publicUrl: string, issuer: string, name: string): string {
  return `${publicUrl.replace(/\/+$/, "")}/v1/status-lists/${issuer}/${name}`;
}

/** Refuses a request whose path was percent-encoded: the decoded form would be a second URL for one list. */
function requireLiteralPath(request: FastifyRequest): void {
  const path = (request.raw.url ?? "").split("?")[0] ?? "";
  if (path.includes("%"))
    throw new BadRequestError(
      "NON_CANONICAL_URL",
      "write the issuer's DID and the list's name unencoded in the path (no percent-encoding)",
      { field: "params" },
    );
}

export async function statusListsPlugin(root: FastifyInstance): Promise<void> {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const es256k = new Es256kVerifier();
  // The services' resolver: it follows the DID registry's events, so an issuer's rotated key stops verifying
  // within a poll (no second resolver, cache and registry watcher of its own).
  const documents = app.services.resolver;

  app.addContentTypeParser(
    JWT_MEDIA_TYPES,
    { parseAs: "string", bodyLimit: MAX_STATUS_LIST_BYTES },
    (_req, body, done) => done(null, body),
  );

  app.get(
    "/status-lists/:issuer/:name",
    {
      schema: {
        tags: ["status-lists"],
        summary: "Fetch an issuer's status list",
        description:
          "The status list credential (JWT) the issuer last published at this URL, exactly as signed. " +
          `Served as ${BITSTRING_MEDIA_TYPE} (Bitstring Status List) or ${TOKEN_MEDIA_TYPE} (Token Status List); ` +
          `cacheable for at most ${STATUS_LIST_MAX_AGE_SECONDS} s and never past the list's exp. No session needed.`,
        operationId: "getStatusList",
        params: StatusListParams,
        response: {
          200: {
            description: "The list as the issuer signed it",
            content: {
              [BITSTRING_MEDIA_TYPE]: { schema: StatusListJwt },
              [TOKEN_MEDIA_TYPE]: { schema: StatusListJwt },
            },
          },
          ...problemResponses(400, 404, 503),
        },
      },
    },
    async (request, reply) => {
      requireLiteralPath(request);
      const { issuer, name } = request.params;
      const row = await app.services.store.getStatusList(issuer, name);
      if (!row) throw new NotFoundError("STATUS_LIST_NOT_FOUND", "no status list is published at this URL");
      const { header, payload } = decodeJwt(row.jwt, MAX_STATUS_LIST_BYTES);
      const now = Math.floor(app.services.now() / 1000);
      const exp = typeof payload.exp === "number" ? payload.exp : now;
      const maxAge = Math.max(0, Math.min(STATUS_LIST_MAX_AGE_SECONDS, exp - now));
      return reply
        .header("cache-control", `public, max-age=${maxAge}`)
        .header("last-modified", new Date(row.issuedAt * 1000).toUTCString())
        .type(header.typ === "statuslist+jwt" ? TOKEN_MEDIA_TYPE : BITSTRING_MEDIA_TYPE)
        .send(row.jwt);
    },
  );

  app.put(
    "/status-lists/:issuer/:name",
    {
      bodyLimit: MAX_STATUS_LIST_BYTES,
      schema: {
        tags: ["status-lists"],
        summary: "Publish a new version of an issuer's status list",
        description:
          "Body: the signed list (Content-Type application/vc+jwt, application/statuslist+jwt or application/jwt). " +
          "No session: the list authenticates itself. It must be signed by the issuer in the URL, name this URL " +
          "(vc.id and jti, or sub for a Status List Token), be newer (iat) than the stored version and unexpired, " +
          "and the issuer must be accredited on the TrustRegistry. 201 for a first version, 200 for a newer one.",
        operationId: "putStatusList",
        params: StatusListParams,
        body: StatusListJwt,
        response: {
          200: StatusListPublished,
          201: StatusListPublished,
          ...problemResponses(400, 403, 409, 413, 415, 503),
        },
      },
    },
    async (request, reply) => {
      requireLiteralPath(request);
      const { issuer, name } = request.params;
      const jwt = request.body.trim();
      const nowMs = app.services.now();
      const url = statusListUrl(app.config.publicUrl, issuer, name);
      const facts = await checkPublication(jwt, { issuer, url, now: nowMs }, documents, es256k);

      const standing = await app.services.verifier.checkStanding(issuer, Object.values(TrustRole));
      if (!standing.pass) {
        if (standing.code === "TRUST_REGISTRY_UNAVAILABLE")
          throw new DependencyUnavailableError(
            "chain",
            "TRUST_REGISTRY_UNAVAILABLE",
            "the TrustRegistry could not be read",
            {
              cause: standing.cause,
            },
          );
        throw new ForbiddenError(
          "ISSUER_NOT_ACCREDITED",
          "this gateway serves the lists of issuers accredited on the TrustRegistry; this issuer is not accredited now",
        );
      }

      const previous = await app.services.store.getStatusList(issuer, name);
      if (previous?.jwt === jwt) return reply.code(200).send(published(url, issuer, name, facts, false));
      const stored = await app.services.store.putStatusList({
        issuer,
        name,
        jwt,
        issuedAt: facts.issuedAt,
        updatedAt: nowMs,
      });
      if (!stored) {
        const current = await app.services.store.getStatusList(issuer, name);
        throw new ConflictError(
          "STALE_STATUS_LIST",
          "a version of this list with the same or a later iat is already published: sign the list again now",
          { extensions: { currentIssuedAt: current?.issuedAt ?? null } },
        );
      }
      request.log.info(
        { format: facts.format, purpose: facts.purpose, replaced: previous !== undefined },
        "status list published",
      );
      return reply.code(previous ? 200 : 201).send(published(url, issuer, name, facts, previous !== undefined));
    },
  );
}

function published(
  url: string,
  issuer: string,
  name: string,
  facts: StatusListFacts,
  replaced: boolean,
): StatusListPublished {
  return {
    url,
    issuer,
    name,
    format: facts.format,
    purpose: facts.purpose,
    issuedAt: facts.issuedAt,
    expiresAt: facts.expiresAt,
    replaced,
  };
}
