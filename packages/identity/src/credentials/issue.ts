// Issuing JWT VCs and VPs through Veramo (credential-w3c + credential-jwt), with schema checks first.
import type { CredentialPayload } from "@veramo/core-types";
import { InvalidCredentialError, InvalidIdentityInputError } from "../errors.ts";
import type { IdentityAgent } from "../did/agent.ts";
import { veramoOf } from "../did/internal.ts";
import type { BitstringStatusListEntry } from "../status/status-list.ts";
import { assertSubjectMatchesSchema } from "./schema.ts";
import type { CredentialSubjects, CredentialTypeName } from "./types.ts";

const W3C_V1_CONTEXT = "https://www.w3.org/2018/credentials/v1";

export interface IssueCredentialParams<T extends CredentialTypeName> {
  /** DID of the issuer, managed by this agent. */
  issuer: string;
  type: T;
  subject: CredentialSubjects[T];
  /** Default: now. */
  validFrom?: Date;
  validUntil?: Date;
  /** Bitstring status list entries (revocation and / or suspension). */
  status?: readonly BitstringStatusListEntry[];
  id?: string;
}

/** Issues a JWT VC (ES256K). Throws SchemaViolationError when the subject does not fit its type's schema. */
export async function issueCredential<T extends CredentialTypeName>(
  agent: IdentityAgent,
  params: IssueCredentialParams<T>,
): Promise<string> {
  assertSubjectMatchesSchema(params.type, params.subject);
  const validFrom = params.validFrom ?? new Date();
  if (params.validUntil && params.validUntil <= validFrom)
    throw new InvalidIdentityInputError("validUntil", "must be after validFrom");
  const status = params.status ?? [];
  // Several status entries (revocation + suspension) are an array, which Veramo's payload type does not model.
  const payload = {
    "@context": [W3C_V1_CONTEXT],
    type: ["VerifiableCredential", params.type],
    issuer: { id: params.issuer },
    issuanceDate: validFrom.toISOString(),
    ...(params.validUntil ? { expirationDate: params.validUntil.toISOString() } : {}),
    ...(params.id ? { id: params.id } : {}),
    credentialSubject: { ...params.subject },
    ...(status.length === 1 ? { credentialStatus: status[0] } : status.length > 1 ? { credentialStatus: status } : {}),
  };
  const credential = await veramoOf(agent).createVerifiableCredential({
    proofFormat: "jwt",
    credential: payload as unknown as CredentialPayload,
  });
  return jwtOf(credential.proof);
}

export interface PresentParams {
  holder: string;
  credentials: readonly string[];
  /** The verifier's challenge (nonce) and domain: the presentation is valid for that exchange only. */
  challenge: string;
  domain: string;
  /** Lifetime of the presentation; default 5 minutes. */
  validForSeconds?: number;
}

/** Wraps JWT VCs in a JWT VP signed by the holder and bound to the verifier's challenge and domain. */
export async function createPresentation(agent: IdentityAgent, params: PresentParams): Promise<string> {
  if (params.credentials.length === 0) throw new InvalidIdentityInputError("credentials", "at least one");
  const now = new Date();
  const presentation = await veramoOf(agent).createVerifiablePresentation({
    proofFormat: "jwt",
    challenge: params.challenge,
    domain: params.domain,
    presentation: {
      "@context": [W3C_V1_CONTEXT],
      type: ["VerifiablePresentation"],
      holder: params.holder,
      issuanceDate: now.toISOString(),
      expirationDate: new Date(now.getTime() + (params.validForSeconds ?? 300) * 1000).toISOString(),
      verifiableCredential: [...params.credentials],
    },
  });
  return jwtOf(presentation.proof);
}

function jwtOf(proof: unknown): string {
  const jwt = (proof as { jwt?: unknown } | undefined)?.jwt;
  if (typeof jwt !== "string") throw new InvalidCredentialError("Veramo returned no JWT proof");
  return jwt;
}
