// Mutual verification at a (virtual) clinic check-in. The patient's wallet first verifies the clinic: a
// presentation of its ClinicAccreditationCredential, issued by an issuer the TrustRegistry accredits as
// medical board, bound to the wallet's own challenge. Only then does it answer the clinic's request, and only
// to that clinic (the request's domain must be the verified clinic's DID): an avatar is not an identity.
import { TrustRole } from "@hygeia/chain";
import { HolderMismatchError, HygeiaIdentityError, InvalidIdentityInputError, UnknownClaimError } from "../errors.ts";
import type { IdentityAgent } from "../did/agent.ts";
import { assertAgent } from "../did/internal.ts";
import { MAX_DID_LENGTH } from "../did/resolver.ts";
import { objectArgument, withMethods } from "../arguments.ts";
import { createPresentation } from "../credentials/issue.ts";
import { CredentialType } from "../credentials/types.ts";
import { disclosableClaims, presentSdJwtCredential } from "../sdjwt/sd-jwt.ts";
import type { ChallengeStore } from "../verify/challenges.ts";
import type {
  CredentialVerifier,
  PresentationRequest,
  PresentationVerification,
} from "../verify/credential-verifier.ts";

export interface ClinicChallenge {
  readonly challenge: string;
  /** The wallet's own identifier (the patient's DID): the clinic's presentation must be addressed to it. */
  readonly domain: string;
}

export interface VerifiedClinic {
  readonly did: string;
  readonly clinicName: string;
  readonly accreditationNumber: string;
  readonly virtual: boolean;
}

export interface ClinicVerification extends PresentationVerification {
  readonly clinic: VerifiedClinic | undefined;
}

/**
 * Check-in: the clinic failed verification, or the request is addressed from another DID than the verified
 * clinic's. `verification` holds the failed checks.
 */
export class ClinicNotTrustedError extends HygeiaIdentityError {
  readonly verification: ClinicVerification;
  constructor(verification: ClinicVerification) {
    const failedChecks = verification.checks.filter((c) => !c.pass).map((c) => `${c.name}: ${c.reason}`);
    super("CLINIC_NOT_TRUSTED", `clinic not verified (${failedChecks.join("; ") || "no clinic"})`);
    this.verification = verification;
  }
}

/** Patient side: a fresh single-use challenge for the clinic to answer. */
export async function challengeClinic(challenges: ChallengeStore, patientDid: string): Promise<ClinicChallenge> {
  withMethods(challenges, "challenges", ["issue", "consume"], "a ChallengeStore (new MemoryChallengeStore())");
  if (typeof patientDid !== "string" || !patientDid.startsWith("did:") || patientDid.length > MAX_DID_LENGTH)
    throw new InvalidIdentityInputError("patientDid", "must be the patient's DID (the wallet's own identifier)");
  return { challenge: await challenges.issue(patientDid), domain: patientDid };
}

/** Patient side: verifies the clinic's accreditation presentation (issuer trusted as medical board). */
export async function verifyClinic(
  verifier: CredentialVerifier,
  presentation: unknown,
  challenge: ClinicChallenge,
): Promise<ClinicVerification> {
  withMethods(verifier, "verifier", ["verifyPresentation"], "a CredentialVerifier (createAgentVerifier)");
  objectArgument(challenge, "challenge", "the { challenge, domain } challengeClinic returned");
  const result = await verifier.verifyPresentation(presentation, {
    challenge: challenge.challenge,
    domain: challenge.domain,
    credentials: [
      {
        type: CredentialType.ClinicAccreditation,
        claims: ["clinicName", "accreditationNumber", "virtual"],
        trustedRoles: [TrustRole.MedicalBoard],
      },
    ],
  });
  const claims = result.disclosed.ClinicAccreditationCredential;
  const clinic =
    result.ok && claims && result.holder
      ? {
          did: result.holder,
          clinicName: String(claims.clinicName),
          accreditationNumber: String(claims.accreditationNumber),
          virtual: claims.virtual === true,
        }
      : undefined;
  return { ...result, clinic };
}

/** A credential the patient may show: a JWT VC (shown whole) or an SD-JWT VC (only `disclose` claims). */
export type ShownCredential = { jwt: string } | { sdJwt: string; disclose: readonly string[] };

/**
 * Patient side, after `verifyClinic`: answers the clinic's request, refusing when the clinic was not verified
 * or the request is addressed to anyone else than the verified clinic. An SD-JWT's `disclose` naming a claim
 * the credential does not have throws UnknownClaimError (field `credentials[i].disclose`).
 */
export async function answerVerifiedClinic(
  agent: IdentityAgent,
  params: {
    patient: string;
    clinic: ClinicVerification;
    request: PresentationRequest;
    credentials: readonly ShownCredential[];
  },
): Promise<string | string[]> {
  assertAgent(agent);
  objectArgument(params, "params", "{ patient, clinic, request, credentials }");
  const clinic = objectArgument(params.clinic, "clinic", "the result of verifyClinic");
  const request = objectArgument(params.request, "request", "the clinic's { challenge, domain, credentials }");
  if (!Array.isArray(clinic.checks))
    throw new InvalidIdentityInputError("clinic", "expected the result of verifyClinic");
  if (!clinic.ok || !clinic.clinic) throw new ClinicNotTrustedError(clinic);
  if (request.domain !== clinic.clinic.did)
    throw new ClinicNotTrustedError({
      ...clinic,
      ok: false,
      checks: [{ name: "domain", pass: false, reason: "request is not addressed from the verified clinic's DID" }],
    });
  if (!Array.isArray(params.credentials) || params.credentials.length === 0)
    throw new InvalidIdentityInputError("credentials", "at least one credential to show");
  params.credentials.forEach((shown, index) =>
    objectArgument(shown, `credentials[${index}]`, "{ jwt } or { sdJwt, disclose }"),
  );
  const jwts = params.credentials.flatMap((c) => ("jwt" in c ? [c.jwt] : []));
  const sdJwts = params.credentials.flatMap((c) => ("sdJwt" in c ? [c] : []));
  if (jwts.length + sdJwts.length !== params.credentials.length)
    throw new InvalidIdentityInputError("credentials", "each one is { jwt } or { sdJwt, disclose }");
  if (jwts.length > 0 && sdJwts.length > 0)
    throw new InvalidIdentityInputError("credentials", "present either JWT VCs or SD-JWT VCs in one answer");
  // Name the credential whose disclose list is wrong before anything is signed.
  for (const [index, shown] of sdJwts.entries()) {
    const field = `credentials[${index}]`;
    const disclosable = await disclosableClaims(shown.sdJwt, `${field}.sdJwt`);
    if (!Array.isArray(shown.disclose))
      throw new InvalidIdentityInputError(`${field}.disclose`, "must be an array of claim names");
    const unknown = shown.disclose.filter((claim: string) => claim !== "id" && !disclosable.includes(claim));
    if (unknown.length > 0) throw new UnknownClaimError(`${field}.disclose`, unknown, disclosable);
  }
  if (jwts.length > 0)
    return createPresentation(agent, {
      holder: params.patient,
      credentials: jwts,
      challenge: request.challenge,
      domain: request.domain,
    }).catch((error: unknown) => {
      throw renamed(error, (field) => field.replace(/^credentials\[(\d+)\]$/, "credentials[$1].jwt"));
    });
  return Promise.all(
    sdJwts.map((c, index) =>
      presentSdJwtCredential(agent, {
        holder: params.patient,
        credential: c.sdJwt,
        disclose: c.disclose,
        challenge: request.challenge,
        domain: request.domain,
      }).catch((error: unknown) => {
        throw renamed(error, (field) => (field === "holder" ? `credentials[${index}].sdJwt` : field));
      }),
    ),
  );
}

/** A HolderMismatchError named after answerVerifiedClinic's own arguments (which credential is not the patient's). */
function renamed(error: unknown, rename: (field: string) => string): unknown {
  if (!(error instanceof HolderMismatchError)) return error;
  return new HolderMismatchError(rename(error.field), error.holder, error.subject, error.reason);
}
