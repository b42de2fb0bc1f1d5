// Issuing JWT VCs and VPs through Veramo (credential-w3c + credential-jwt), with schema and argument checks
// first, so that callers see this package's typed errors rather than Veramo's.
import type { CredentialPayload } from "@veramo/core-types";
import { HygeiaIdentityError, InvalidCredentialError, InvalidIdentityInputError, errorMessage } from "../errors.ts";
import type { IdentityAgent } from "../did/agent.ts";
import { assertAgent, runInAgent, veramoOf } from "../did/internal.ts";
import { objectArgument } from "../arguments.ts";
import type { BitstringStatusListEntry } from "../status/status-list.ts";
import { assertSubjectMatchesSchema } from "./schema.ts";
import { agentHolderKey, checkPresentParams, signPresentation, type PresentParams } from "./holder.ts";
import {
  ACCREDITATION_CREDENTIAL_TYPES,
  CREDENTIAL_TYPES,
  type CredentialSubjects,
  type CredentialTypeName,
} from "./types.ts";
import { assertCredentialType, heldDid, validityPeriod, type CredentialTime } from "./inputs.ts";

const W3C_V1_CONTEXT = "https://www.w3.org/2018/credentials/v1";

export interface IssueCredentialParams<T extends CredentialTypeName> {
  /** DID of the issuer, managed by this agent (KeyNotFoundError, field "issuer", otherwise). */
  issuer: string;
  type: T;
  subject: CredentialSubjects[T];
  /**
   * Start of validity (the JWT's `nbf`): a Date or an ISO 8601 string ("2026-01-01", "2026-01-01T09:00:00Z").
   * Default: now. Numbers are refused (seconds or milliseconds?).
   */
  validFrom?: CredentialTime;
  /** End of validity (`exp`), same forms; must be after validFrom. Default: no expiry. */
  validUntil?: CredentialTime;
  /**
   * Bitstring status list entries (revocation and / or suspension). Required, with a revocation entry and a
   * validUntil, for a ClinicAccreditationCredential (ACCREDITATION_CREDENTIAL_TYPES).
   */
  status?: readonly BitstringStatusListEntry[];
  id?: string;
}

/**
 * Issues a JWT VC (ES256K). Throws SchemaViolationError when the subject does not fit its type's schema,
 * InvalidIdentityInputError for a bad validity period, KeyNotFoundError for an issuer this agent does not hold.
 */
export async function issueCredential<T extends CredentialTypeName>(
  agent: IdentityAgent,
  params: IssueCredentialParams<T>,
): Promise<string> {
  assertAgent(agent);
  objectArgument(params, "params", "{ issuer, type, subject, validFrom?, validUntil?, status? }");
  assertCredentialType(params.type, CREDENTIAL_TYPES);
  objectArgument(params.subject, "subject", `the ${params.type} subject ({ id, … })`);
  assertSubjectMatchesSchema(params.type, params.subject);
  const { validFrom, validUntil } = validityPeriod(params);
  if (params.id !== undefined && (typeof params.id !== "string" || params.id.length > 2048))
    throw new InvalidIdentityInputError("id", "must be a URI string");
  const status = params.status ?? [];
  assertAccreditationTerms(params.type, validUntil, status);
  await heldDid(agent, params.issuer, "issuer");
  // Several status entries (revocation + suspension) are an array, which Veramo's payload type does not model.
  const payload = {
    "@context": [W3C_V1_CONTEXT],
    type: ["VerifiableCredential", params.type],
    issuer: { id: params.issuer },
    issuanceDate: validFrom.toISOString(),
    ...(validUntil ? { expirationDate: validUntil.toISOString() } : {}),
    ...(params.id ? { id: params.id } : {}),
    credentialSubject: { ...params.subject },
    ...(status.length === 1 ? { credentialStatus: status[0] } : status.length > 1 ? { credentialStatus: status } : {}),
  };
  const credential = await veramoCall(agent, "issueCredential", () =>
    veramoOf(agent).createVerifiableCredential({
      proofFormat: "jwt",
      credential: payload as unknown as CredentialPayload,
    }),
  );
  return jwtOf(credential.proof);
}

/**
 * Wraps JWT VCs in a JWT VP signed by the holder and bound to the verifier's challenge and domain. Every
 * credential's subject must be the holder (HolderMismatchError naming `credentials[i]` otherwise, as a verifier
 * would refuse it); KeyNotFoundError for a holder this agent does not hold. The same as signPresentation with
 * agentHolderKey (holder.ts), which a browser wallet uses with its own key.
 */
export async function createPresentation(agent: IdentityAgent, params: PresentParams): Promise<string> {
  assertAgent(agent);
  checkPresentParams(params);
  await heldDid(agent, params.holder, "holder");
  return veramoCall(agent, "createPresentation", () => signPresentation(agentHolderKey(agent, params.holder), params));
}

/**
 * An accreditation (ACCREDITATION_CREDENTIAL_TYPES) must be revocable and must lapse: without a revocation status
 * entry a board could not withdraw it before it expires, and without an expiry it would never lapse.
 */
function assertAccreditationTerms(
  type: CredentialTypeName,
  validUntil: Date | undefined,
  status: readonly BitstringStatusListEntry[],
): void {
  if (!ACCREDITATION_CREDENTIAL_TYPES.includes(type)) return;
  if (!Array.isArray(status) || !status.some((entry) => entry?.statusPurpose === "revocation"))
    throw new InvalidIdentityInputError(
      "status",
      `a ${type} must carry a revocation status entry (status: [statusEntry(listUrl, "revocation", index)]), so ` +
        "that it can be revoked before it expires",
    );
  if (validUntil === undefined)
    throw new InvalidIdentityInputError(
      "validUntil",
      `a ${type} must expire: give validUntil (e.g. a year ahead, "2027-06-01")`,
    );
}

/** A Veramo call within the agent's lifetime; what it throws that is not already typed becomes typed. */
async function veramoCall<T>(agent: IdentityAgent, operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await runInAgent(agent, operation, call);
  } catch (error) {
    if (error instanceof HygeiaIdentityError) throw error;
    throw new InvalidCredentialError(`${operation} failed: ${errorMessage(error)}`, { cause: error });
  }
}

function jwtOf(proof: unknown): string {
  const jwt = (proof as { jwt?: unknown } | undefined)?.jwt;
  if (typeof jwt !== "string") throw new InvalidCredentialError("Veramo returned no JWT proof");
  return jwt;
}
