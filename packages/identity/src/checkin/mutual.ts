// Mutual verification at a (virtual) clinic check-in. Rules, in the order they are enforced:
// 1. The patient's wallet verifies the clinic before disclosing anything: a presentation of its
//    ClinicAccreditationCredential, bound to the wallet's own challenge, issued by an issuer the TrustRegistry
//    accredits as medical-board (never as clinic: a clinic cannot accredit another clinic).
// 2. The accreditation must be revocable and must lapse (a revocation status entry, checked against its list, and
//    an expiry), and the clinic itself must be accredited as clinic on the TrustRegistry now: a board revoking the
//    credential, or governance revoking the clinic on chain, each stop the check-in.
// 3. The wallet answers only that clinic: the request's domain must be the verified clinic's DID (an avatar is
//    not an identity), and the answer is sealed to the clinic's keyAgreement key from its DID document (sealed.ts),
//    so a party relaying the exchange reads nothing of what the patient discloses.
import { TrustRole } from "@hygeia/chain/browser";
import {
  HolderMismatchError,
  HygeiaIdentityError,
  InvalidIdentityInputError,
  NoEncryptionKeyError,
  UnknownClaimError,
  truncate,
} from "../errors.ts";
import type { IdentityAgent } from "../did/agent.ts";
import { assertAgent } from "../did/internal.ts";
import { MAX_DID_LENGTH } from "../did/resolver.ts";
import { objectArgument, withMethods } from "../arguments.ts";
import { agentHolderKey, assertHolderKey, signPresentation, type HolderKey } from "../credentials/holder.ts";
import { encryptionKeysOf, type EncryptionKeyRef } from "../did/encryption-keys.ts";
import { CredentialType } from "../credentials/types.ts";
import { assertBoundToHolder, disclosableClaims, presentSdJwt } from "../sdjwt/sd-jwt.ts";
import type { ChallengeStore } from "../verify/challenges.ts";
import {
  MAX_PRESENTATION_BYTES,
  type CredentialVerifier,
  type DidDocumentSource,
  type PresentationRequest,
  type PresentationVerification,
} from "../verify/credential-verifier.ts";
import { decodeJwt } from "../verify/jwt.ts";
import type { VerificationCheck } from "../verify/result.ts";
import { sealCheckIn, type SealedCheckIn } from "./sealed.ts";

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

/**
 * Patient side: verifies the clinic's accreditation presentation. Passes only when the verifier's checks pass
 * (signature, challenge, holder binding, status, issuer trusted as medical-board), the accreditation carries a
 * revocation status entry and an expiry (`status` / `expiry` checks), and the clinic's own DID is accredited as
 * clinic on the TrustRegistry now (`standing` check). `verifier` needs checkStanding (a CredentialVerifier).
 */
export async function verifyClinic(
  verifier: CredentialVerifier,
  presentation: unknown,
  challenge: ClinicChallenge,
): Promise<ClinicVerification> {
  withMethods(
    verifier,
    "verifier",
    ["verifyPresentation", "checkStanding"],
    "a CredentialVerifier (createAgentVerifier)",
  );
  objectArgument(challenge, "challenge", "the { challenge, domain } challengeClinic returned");
  // Exactly one credential, counted before anything is verified: every extra credential would otherwise be
  // verified (signature, trust, status lists fetched) on the wallet's time and memory.
  const count = presentedCredentialCount(presentation);
  if (count !== undefined && count !== 1)
    return {
      ok: false,
      checks: [
        {
          name: "required-credentials",
          pass: false,
          reason: `the clinic must present exactly one credential (its ClinicAccreditationCredential), got ${count}`,
        },
      ],
      holder: undefined,
      disclosed: {},
      clinic: undefined,
    };
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
  // Don't spend chain calls on a presentation that already failed.
  if (!result.ok || !result.holder) return { ...result, clinic: undefined };
  const checks: VerificationCheck[] = [...result.checks, ...accreditationTermsChecks(presentation)];
  const standing = await verifier.checkStanding(result.holder, [TrustRole.Clinic]);
  checks.push({
    name: "standing",
    pass: standing.pass,
    reason: standing.pass
      ? "the clinic is accredited as clinic on the TrustRegistry now"
      : standing.code === "NOT_ACCREDITED"
        ? `the clinic ${truncate(result.holder, 80)} is not accredited as clinic on the TrustRegistry now ` +
          "(its accreditation was revoked, has lapsed or was never granted)"
        : `the clinic's accreditation could not be checked: ${standing.reason}`,
    ...(standing.code === "TRUST_REGISTRY_UNAVAILABLE" ? { code: standing.code } : {}),
  });
  const claims = result.disclosed.ClinicAccreditationCredential;
  if (!checks.every((c) => c.pass) || !claims)
    return { ...result, ok: false, checks, disclosed: {}, clinic: undefined };
  return {
    ...result,
    checks,
    clinic: {
      did: result.holder,
      clinicName: String(claims.clinicName),
      accreditationNumber: String(claims.accreditationNumber),
      virtual: claims.virtual === true,
    },
  };
}

/** How many credentials a JWT VP carries, unverified; undefined when it is not one (the verifier says why). */
function presentedCredentialCount(presentation: unknown): number | undefined {
  try {
    const vp = decodeJwt(presentation, MAX_PRESENTATION_BYTES).payload.vp as { verifiableCredential?: unknown };
    return Array.isArray(vp?.verifiableCredential) ? vp.verifiableCredential.length : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The clinic's presentation must be a JWT VP holding exactly one ClinicAccreditationCredential, and that one must
 * carry an expiry (`exp`) and a revocation status entry (which the verifier has checked against its list). Read
 * from the presentation the verifier has just verified.
 */
function accreditationTermsChecks(presentation: unknown): VerificationCheck[] {
  let credentials: unknown[];
  try {
    const vp = decodeJwt(presentation, MAX_PRESENTATION_BYTES).payload.vp as { verifiableCredential?: unknown };
    credentials = Array.isArray(vp?.verifiableCredential) ? vp.verifiableCredential : [];
  } catch {
    return [{ name: "format", pass: false, reason: "the clinic must present its accreditation in a JWT VP" }];
  }
  const accreditations = credentials.flatMap((jwt, index) => {
    try {
      const payload = decodeJwt(jwt).payload;
      const vc = payload.vc as { type?: unknown; credentialStatus?: unknown } | undefined;
      const types = Array.isArray(vc?.type) ? vc.type : [];
      return types.includes(CredentialType.ClinicAccreditation) ? [{ index, payload, vc: vc! }] : [];
    } catch {
      return [];
    }
  });
  if (accreditations.length !== 1)
    return [
      {
        name: "required-credentials",
        pass: false,
        reason: `the clinic must present exactly one ClinicAccreditationCredential, got ${accreditations.length}`,
      },
    ];
  const [{ index, payload, vc }] = accreditations as [(typeof accreditations)[number]];
  const expires = typeof payload.exp === "number" && Number.isFinite(payload.exp);
  const revocable = [vc.credentialStatus]
    .flat()
    .some(
      (entry) =>
        typeof entry === "object" &&
        entry !== null &&
        (entry as { statusPurpose?: unknown }).statusPurpose === "revocation",
    );
  return [
    {
      name: "expiry",
      pass: expires,
      reason: expires
        ? "the accreditation expires"
        : "the accreditation has no expiry: a clinic's accreditation must lapse (issued with validUntil)",
      credential: index,
    },
    {
      name: "status",
      pass: revocable,
      reason: revocable
        ? "the accreditation has a revocation status entry"
        : "the accreditation has no revocation status entry: a clinic's accreditation must be revocable",
      credential: index,
    },
  ];
}

/** A credential the patient may show: a JWT VC (shown whole) or an SD-JWT VC (only `disclose` claims). */
export type ShownCredential = { jwt: string } | { sdJwt: string; disclose: readonly string[] };

/**
 * Patient side, after `verifyClinic`: answers the clinic's request, refusing when the clinic was not verified
 * or the request is addressed to anyone else than the verified clinic. The answer is sealed to the clinic's current
 * keyAgreement key, read from its DID document (NoEncryptionKeyError when it publishes none): only the clinic opens
 * it (verifyCheckIn). An SD-JWT's `disclose` naming a claim the credential does not have throws UnknownClaimError
 * (field `credentials[i].disclose`). The agent's form of answerClinic.
 */
export async function answerVerifiedClinic(
  agent: IdentityAgent,
  params: {
    patient: string;
    clinic: ClinicVerification;
    request: PresentationRequest;
    credentials: readonly ShownCredential[];
  },
): Promise<SealedCheckIn> {
  assertAgent(agent);
  objectArgument(params, "params", "{ patient, clinic, request, credentials }");
  return answerClinic({
    ...params,
    holder: agentHolderKey(agent, params.patient),
    encryptionKeys: (did) => agent.encryptionKeys(did),
  });
}

/**
 * answerVerifiedClinic for any wallet (a browser's included): the patient is `holder` (its DID and signing key),
 * and the clinic's keys are read from its DID document through `resolver` (or `encryptionKeys`, when given).
 */
export async function answerClinic(params: {
  holder: HolderKey;
  /** Resolves the clinic's DID document on chain (a CachedDidResolver). */
  resolver?: DidDocumentSource;
  /** The clinic's X25519 keys, current first (default: read from its document through `resolver`). */
  encryptionKeys?: (did: string) => Promise<readonly EncryptionKeyRef[]>;
  clinic: ClinicVerification;
  request: PresentationRequest;
  credentials: readonly ShownCredential[];
}): Promise<SealedCheckIn> {
  objectArgument(params, "params", "{ holder, resolver, clinic, request, credentials }");
  const clinic = objectArgument(params.clinic, "clinic", "the result of verifyClinic");
  const request = objectArgument(params.request, "request", "the clinic's { challenge, domain, credentials }");
  assertHolderKey(params.holder);
  const holder = params.holder;
  const encryptionKeys = encryptionKeysSource(params);
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
    if (!Array.isArray(shown.disclose) || !shown.disclose.every((claim: unknown) => typeof claim === "string"))
      throw new InvalidIdentityInputError(`${field}.disclose`, "must be an array of claim names");
    const unknown = shown.disclose.filter((claim: string) => claim !== "id" && !disclosable.includes(claim));
    if (unknown.length > 0) throw new UnknownClaimError(`${field}.disclose`, unknown, disclosable);
    // Every SD-JWT must be the holder's (subject and cnf key) before any one is signed: a wallet that prompts for
    // each signature must not be asked to sign an answer that is then thrown away.
    await assertBoundToHolder(holder, shown.sdJwt).catch((error: unknown) => {
      throw renamed(error, (name) => (name === "holder" ? `${field}.sdJwt` : name));
    });
  }
  // The key to seal to, from the verified clinic's DID document (on chain), before anything is signed.
  const recipient = currentKey(await encryptionKeys(clinic.clinic.did));
  if (!recipient) throw new NoEncryptionKeyError("clinic", clinic.clinic.did);
  const presentation =
    jwts.length > 0
      ? await signPresentation(holder, {
          credentials: jwts,
          challenge: request.challenge,
          domain: request.domain,
        }).catch((error: unknown) => {
          throw renamed(error, (field) => field.replace(/^credentials\[(\d+)\]$/, "credentials[$1].jwt"));
        })
      : await presentEach(holder, sdJwts, request);
  return sealCheckIn(presentation, recipient, request);
}

/** SD-JWT presentations one after the other (a wallet prompting for each signature shows one prompt at a time). */
async function presentEach(
  holder: HolderKey,
  sdJwts: readonly { sdJwt: string; disclose: readonly string[] }[],
  request: PresentationRequest,
): Promise<string[]> {
  const presented: string[] = [];
  for (const [index, shown] of sdJwts.entries())
    presented.push(
      await presentSdJwt(holder, {
        credential: shown.sdJwt,
        disclose: shown.disclose,
        challenge: request.challenge,
        domain: request.domain,
      }).catch((error: unknown) => {
        throw renamed(error, (field) => (field === "holder" ? `credentials[${index}].sdJwt` : field));
      }),
    );
  return presented;
}

/** The current key of what `encryptionKeys` gave: checked, since a caller's callback or resolver gave it. */
function currentKey(keys: unknown): EncryptionKeyRef | undefined {
  if (!Array.isArray(keys))
    throw new InvalidIdentityInputError("encryptionKeys", "must give the clinic's keys as an array (current first)");
  const key = keys[0] as Partial<EncryptionKeyRef> | undefined;
  if (key === undefined) return undefined;
  if (typeof key?.id !== "string" || !(key.publicKey instanceof Uint8Array) || key.publicKey.length !== 32)
    throw new InvalidIdentityInputError("encryptionKeys", "each key must be { id, publicKey: 32 bytes }");
  return key as EncryptionKeyRef;
}

function encryptionKeysSource(params: {
  resolver?: DidDocumentSource;
  encryptionKeys?: (did: string) => Promise<readonly EncryptionKeyRef[]>;
}): (did: string) => Promise<readonly EncryptionKeyRef[]> {
  if (params.encryptionKeys !== undefined) {
    if (typeof params.encryptionKeys !== "function")
      throw new InvalidIdentityInputError("encryptionKeys", "must be a function of the clinic's DID");
    return params.encryptionKeys;
  }
  const resolver = withMethods(params.resolver, "resolver", ["resolve"], "a DID resolver (CachedDidResolver.create)");
  return async (did) => {
    const document = await resolver.resolve(did);
    if (typeof document !== "object" || document === null)
      throw new InvalidIdentityInputError("resolver", "resolve() must give the clinic's DID document");
    return encryptionKeysOf(did, document);
  };
}

/** A HolderMismatchError named after answerVerifiedClinic's own arguments (which credential is not the patient's). */
function renamed(error: unknown, rename: (field: string) => string): unknown {
  if (!(error instanceof HolderMismatchError)) return error;
  return new HolderMismatchError(rename(error.field), error.holder, error.subject, error.reason);
}
