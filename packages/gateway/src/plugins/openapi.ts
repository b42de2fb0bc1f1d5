// The OpenAPI 3.1 document, generated from the route schemas (the schema is the documentation), at
// GET /openapi.json, and Swagger UI at /docs. Registered first so that every route registered after it
// is collected; routes with `schema.hide` (the docs' own) are left out.
import type { FastifyInstance } from "fastify";
import fp from "fastify-plugin";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import { problemResponses } from "../schemas.ts";

/** Tags, one per plugin, in the order the document lists them. */
export const OPENAPI_TAGS = [
  { name: "health", description: "Liveness and readiness of the gateway and the parts it depends on." },
  { name: "auth", description: "Sign-In with Ethereum sessions and the roles a session proves with a credential." },
  { name: "checkin", description: "Virtual-clinic check-in sessions (challenge, sealed presentation, result)." },
  { name: "records", description: "Ciphertext uploads, records and their wrapped keys, manifests, consent links." },
  { name: "release", description: "Key release to grantees: checked against on-chain consent at that moment." },
  { name: "consent", description: "Relay of EIP-712 signed consent; live consents and their FHIR export." },
  { name: "status-lists", description: "Issuers' status list credentials (revocation, suspension)." },
  { name: "audit", description: "The patient-verifiable audit log: events with proofs, signed checkpoints, anchors." },
  { name: "events", description: "Access notifications to patients (Server-Sent Events, webhook)." },
] as const;

const BEARER_SCHEME = {
  type: "http" as const,
  scheme: "bearer",
  description: "The session token of POST /v1/auth/verify (opaque; expires; revoked by logout).",
};

/** A route as registered (for the test that every route is documented). */
export interface RegisteredRoute {
  method: string;
  url: string;
  /** Left out of the document on purpose (the docs' own routes). */
  hidden: boolean;
}

declare module "fastify" {
  interface FastifyInstance {
    /** Every route registered after the openapi plugin, HEAD included. */
    registeredRoutes: readonly RegisteredRoute[];
  }
}

async function openApi(app: FastifyInstance): Promise<void> {
  const routes: RegisteredRoute[] = [];
  app.decorate("registeredRoutes", routes);
  app.addHook("onRoute", (route) => {
    const hidden = (route.schema as { hide?: unknown } | undefined)?.hide === true;
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, hidden });
  });
  await app.register(swagger, {
    // Every route behind the rate limits can answer 429: documented once here rather than on each route.
    transform: ({ schema, url }) => {
      const response = (schema as { response?: Record<string, unknown> } | undefined)?.response;
      if (!schema || (schema as { hide?: unknown }).hide === true || !response || "429" in response || 429 in response)
        return { schema, url };
      return { schema: { ...schema, response: { ...response, ...problemResponses(429) } }, url };
    },
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Hygeia gateway",
        version: "0.1.0",
        description:
          "Consent-checked key release, consent relay and a patient-verifiable audit log. Every refusal is an " +
          "RFC 9457 problem (application/problem+json) with a stable `type` (urn:hygeia:problem:<code>) and `code`. " +
          "Sign in with GET /v1/auth/nonce and POST /v1/auth/verify, then send `Authorization: Bearer <token>`.",
        license: { name: "Apache-2.0", identifier: "Apache-2.0" },
      },
      servers: [{ url: app.config.publicUrl }],
      tags: OPENAPI_TAGS.map((tag) => ({ ...tag })),
      components: {
        securitySchemes: {
          bearer: BEARER_SCHEME,
          // The auth plugin's routes name it bearerAuth; same scheme.
          bearerAuth: BEARER_SCHEME,
        },
      },
    },
  });

  await app.register(swaggerUi, {
    routePrefix: "/docs",
    // Swagger UI's own CSP (hashes of its inline scripts), without upgrade-insecure-requests: the local stack is http.
    staticCSP: true,
    transformStaticCSP: (header: string) => header.replace(/\s*upgrade-insecure-requests;?/, ""),
    uiConfig: { deepLinking: true },
  });

  app.get("/openapi.json", { schema: { hide: true } }, async (_request, reply) => {
    return reply.type("application/json").send(app.swagger());
  });
}

export const openApiPlugin = fp(openApi, { name: "hygeia-openapi", fastify: "5.x" });
