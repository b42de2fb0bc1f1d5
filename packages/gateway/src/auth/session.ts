// The signed-in caller, as every route sees it. The auth plugin sets `request.session` on every request
// (null: anonymous) after checking the token's MAC, expiry and revocation, and the session's roles after
// re-checking their credentials when due. Routes call `requireSession` / `requireRole`.
import type { FastifyRequest } from "fastify";
import { ForbiddenError, UnauthenticatedError } from "../errors.ts";

export type Role = "clinic" | "researcher";

export interface Session {
  id: string;
  /** The address that signed in (lowercase): the patient of its own data. */
  address: string;
  /** Roles proved with a credential and still valid. */
  roles: ReadonlySet<Role>;
  /** Unix ms. */
  expiresAt: number;
}

declare module "fastify" {
  interface FastifyRequest {
    session: Session | null;
  }
}

export function requireSession(request: FastifyRequest): Session {
  if (request.session === null) {
    throw new UnauthenticatedError(
      "NOT_SIGNED_IN",
      "sign in first: GET /v1/auth/nonce, then POST /v1/auth/verify, and send the token as `Authorization: Bearer <token>`",
    );
  }
  return request.session;
}

export function requireRole(request: FastifyRequest, role: Role): Session {
  const session = requireSession(request);
  if (!session.roles.has(role)) {
    throw new ForbiddenError(
      "ROLE_REQUIRED",
      `this needs the ${role} role: present a ${role === "clinic" ? "ClinicAccreditationCredential" : "ResearcherCredential"} at POST /v1/auth/roles`,
      {
        extensions: { role },
      },
    );
  }
  return session;
}
