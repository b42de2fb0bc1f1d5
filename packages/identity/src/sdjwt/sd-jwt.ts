// SD-JWT VCs with key binding for the patient identity and insurance credentials: every claim but the subject
// id is selectively disclosable; the holder's key is bound through `cnf.jwk`, and a presentation carries a
// KB-JWT over the verifier's challenge (nonce) and domain (aud).
import { SDJwtVcInstance } from "@sd-jwt/sd-jwt-vc";
import { sha256 } from "#native";
import {
  HolderMismatchError,
  HygeiaIdentityError,
  InvalidCredentialError,
  InvalidIdentityInputError,
  UnknownClaimError,
  errorMessage,
  truncate,
} from "../errors.ts";
import { decodeJwt } from "../verify/jwt.ts";
import { randomBytes, toBase64url } from "../bytes.ts";
import { agentHolderKey, assertHolderKey, checkedSigner, type HolderKey } from "../credentials/holder.ts";
import type { IdentityAgent } from "../did/agent.ts";
import { assertSubjectMatchesSchema } from "../credentials/schema.ts";
import {
  assertChallengeAndDomain,
  assertCredentialType,
  heldDid,
  sameDid,
  validityPeriod,
  type CredentialTime,
} from "../credentials/inputs.ts";
import { assertAgent } from "../did/internal.ts";
import { objectArgument } from "../arguments.ts";
import { CredentialType, type CredentialSubjects } from "../credentials/types.ts";
import { tokenStatusClaim, type BitstringStatusListEntry } from "../status/status-list.ts";

export const SD_JWT_VC_TYPES = [CredentialType.PatientIdentity, CredentialType.HealthInsurance] as const;
export type SdJwtCredentialType = (typeof SD_JWT_VC_TYPES)[number];

// The hasher and salts, for every platform (@sd-jwt/crypto-nodejs needs node:crypto; the browser wallet presents
// SD-JWTs too). Only SHA-256 is issued or accepted.
function hasher(data: string | ArrayBuffer, alg: string): Uint8Array {
  if (alg.toLowerCase() !== "sha-256") throw new InvalidCredentialError(`unsupported _sd_alg ${truncate(alg, 20)}`);
  return sha256(typeof data === "string" ? data : new Uint8Array(data));
}

/** 128 random bits, base64url (RFC 9901 §4.2.1 recommends at least 128 bits of salt). */
function generateSalt(): string {
  return toBase64url(randomBytes(16));
}

export interface IssueSdJwtParams<T extends SdJwtCredentialType> {
  issuer: string;
  type: T;
  subject: CredentialSubjects[T];
  /** The holder's public key (JWK), bound as `cnf.jwk`: only its owner can present the credential. */
  holderPublicJwk: Record<string, unknown>;
  /** Start of validity (`nbf`, `iat`): a Date or an ISO 8601 string; default now. */
  validFrom?: CredentialTime;
  /** End of validity (`exp`): a Date or an ISO 8601 string, after validFrom; default none. */
  validUntil?: CredentialTime;
  /** W3C Bitstring Status List entries, carried as `credentialStatus`. */
  status?: readonly BitstringStatusListEntry[];
  /** IETF Token Status List reference, carried as the `status` claim (never selectively disclosable). */
  tokenStatus?: { uri: string; idx: number };
}

/** Issues an SD-JWT VC (`vct` = the Hygeia credential type) signed ES256K by the issuer's DID key. */
export async function issueSdJwtCredential<T extends SdJwtCredentialType>(
  agent: IdentityAgent,
  params: IssueSdJwtParams<T>,
): Promise<string> {
  assertAgent(agent);
  objectArgument(
    params,
    "params",
    "{ issuer, type, subject, holderPublicJwk, validFrom?, validUntil?, status?, tokenStatus? }",
  );
  assertCredentialType(params.type, SD_JWT_VC_TYPES);
  objectArgument(params.subject, "subject", `the ${params.type} subject ({ id, … })`);
  assertSubjectMatchesSchema(params.type, params.subject);
  const { validFrom, validUntil } = validityPeriod(params);
  const jwk = params.holderPublicJwk as Record<string, unknown> | undefined;
  if (typeof jwk !== "object" || jwk === null || jwk.kty !== "EC" || typeof jwk.x !== "string" || "d" in jwk)
    throw new InvalidIdentityInputError(
      "holderPublicJwk",
      "must be the holder's public EC JWK (from agent.signingPublicJwk(holderDid)), without a private part",
    );
  await heldDid(agent, params.issuer, "issuer");
  const { id, ...claims } = params.subject as unknown as Record<string, unknown> & { id: string };
  const issuedAt = Math.floor(validFrom.getTime() / 1000);
  const instance = new SDJwtVcInstance({
    signer: (data) => agent.signBytes(params.issuer, data),
    signAlg: "ES256K",
    hasher,
    hashAlg: "sha-256",
    saltGenerator: generateSalt,
  });
  const payload = {
    iss: params.issuer,
    iat: issuedAt,
    nbf: issuedAt,
    ...(validUntil ? { exp: Math.floor(validUntil.getTime() / 1000) } : {}),
    vct: params.type,
    sub: id,
    cnf: { jwk: params.holderPublicJwk },
    ...(params.status && params.status.length > 0 ? { credentialStatus: [...params.status] } : {}),
    ...(params.tokenStatus !== undefined ? { status: tokenStatusClaimOf(params.tokenStatus) } : {}),
    ...claims,
  };
  return sdJwtCall("issueSdJwtCredential", () =>
    instance.issue(payload, { _sd: Object.keys(claims) } as never, {
      header: { kid: `${params.issuer}#controller` },
    }),
  );
}

export interface PresentSdJwtParams {
  holder: string;
  credential: string;
  /**
   * Claims to disclose (top-level claim names of the subject, e.g. "givenName"); everything else stays hidden.
   * A name the credential does not have throws UnknownClaimError. The subject id is always visible.
   */
  disclose: readonly string[];
  /** The verifier's challenge (16 to 256 characters) and domain. */
  challenge: string;
  domain: string;
}

/**
 * Discloses the chosen claims and appends a KB-JWT (nonce = challenge, aud = domain) signed by the holder.
 * Throws InvalidCredentialError for a credential that is not an SD-JWT, UnknownClaimError for a claim it does not
 * have, KeyNotFoundError for a holder this agent does not hold, HolderMismatchError when the holder is not the
 * credential's subject or its signing key is not the credential's `cnf` key (a verifier would refuse the key
 * binding). The same as presentSdJwt with agentHolderKey (holder.ts), which a browser wallet uses with its key.
 */
export async function presentSdJwtCredential(agent: IdentityAgent, params: PresentSdJwtParams): Promise<string> {
  assertAgent(agent);
  checkPresentSdJwtParams(params);
  await disclosable(params);
  await heldDid(agent, params.holder, "holder");
  return presentSdJwt(agentHolderKey(agent, params.holder), params);
}

/** presentSdJwtCredential for any HolderKey (`params.holder`, when given, must be the key's DID). */
export async function presentSdJwt(
  holder: HolderKey,
  params: Omit<PresentSdJwtParams, "holder"> & { holder?: string },
): Promise<string> {
  assertHolderKey(holder);
  objectArgument(params, "params", "{ credential, disclose, challenge, domain }");
  checkPresentSdJwtParams({ ...params, holder: params.holder ?? holder.did });
  if (params.holder !== undefined && !sameDid(params.holder, holder.did))
    throw new InvalidIdentityInputError("holder", `the holder key is ${truncate(holder.did)}'s`);
  await disclosable(params);
  await assertBoundToHolder(holder, params.credential);
  const instance = new SDJwtVcInstance({
    hasher,
    hashAlg: "sha-256",
    kbSigner: checkedSigner(holder),
    kbSignAlg: "ES256K",
  });
  const frame = Object.fromEntries(params.disclose.filter((claim) => claim !== "id").map((claim) => [claim, true]));
  return sdJwtCall("presentSdJwtCredential", () =>
    instance.present(params.credential, frame as never, {
      kb: { payload: { iat: Math.floor(Date.now() / 1000), aud: params.domain, nonce: params.challenge } },
    }),
  );
}

function checkPresentSdJwtParams(params: PresentSdJwtParams): void {
  objectArgument(params, "params", "{ holder, credential, disclose, challenge, domain }");
  if (!Array.isArray(params.disclose) || !params.disclose.every((claim) => typeof claim === "string"))
    throw new InvalidIdentityInputError("disclose", "must be an array of claim names");
  assertChallengeAndDomain(params);
}

/** UnknownClaimError when `disclose` names a claim the credential does not have. */
async function disclosable(params: Pick<PresentSdJwtParams, "credential" | "disclose">): Promise<void> {
  const claims = await disclosableClaims(params.credential, "credential");
  const unknown = params.disclose.filter((claim) => claim !== "id" && !claims.includes(claim));
  if (unknown.length > 0) throw new UnknownClaimError("disclose", unknown, claims);
}

/**
 * What a verifier checks of the key binding, checked before signing: the KB-JWT is verified with `cnf.jwk`, so
 * the holder's signing key must be that key, and the presenter is the subject (`sub`).
 */
export async function assertBoundToHolder(holderKey: HolderKey, credential: string): Promise<void> {
  const holder = holderKey.did;
  let payload: Readonly<Record<string, unknown>>;
  try {
    payload = decodeJwt(credential.split("~")[0]).payload;
  } catch (error) {
    throw new InvalidCredentialError(`not an SD-JWT VC (issuer JWT: ${errorMessage(error)})`, {
      field: "credential",
    });
  }
  const subject = typeof payload.sub === "string" ? payload.sub : undefined;
  if (subject !== undefined && !sameDid(subject, holder))
    throw new HolderMismatchError("holder", holder, subject, `the credential's subject is ${truncate(subject)}`);
  const cnf = (payload.cnf as { jwk?: { x?: unknown; y?: unknown } } | undefined)?.jwk;
  const own = await holderKey.publicJwk();
  if (cnf?.x !== own.x || cnf?.y !== own.y)
    throw new HolderMismatchError(
      "holder",
      holder,
      subject,
      `the credential is bound (cnf) to another key than ${truncate(holder)}'s signing key (issued to a key ` +
        "rotated away since? ask the issuer for a credential bound to agent.signingPublicJwk(holder))",
    );
}

function tokenStatusClaimOf(reference: { uri: string; idx: number }) {
  objectArgument(reference, "tokenStatus", "{ uri, idx }");
  return tokenStatusClaim(reference.uri, reference.idx);
}

/**
 * The claim names an SD-JWT VC (as issued, with all its disclosures) can disclose. InvalidCredentialError
 * (naming `field`) when it is not an SD-JWT.
 */
export async function disclosableClaims(credential: unknown, field = "credential"): Promise<string[]> {
  if (typeof credential !== "string" || !credential.includes("~") || credential.length > 64 * 1024)
    throw new InvalidCredentialError("not an SD-JWT VC (issuer JWT~disclosure~…~)", { field });
  try {
    const decoded = await new SDJwtVcInstance({ hasher, hashAlg: "sha-256" }).decode(credential);
    return (decoded.disclosures ?? []).flatMap((disclosure) => (disclosure.key ? [disclosure.key] : []));
  } catch (error) {
    throw new InvalidCredentialError(`not an SD-JWT VC (${errorMessage(error)})`, { field, cause: error });
  }
}

/** @sd-jwt calls: our own typed errors (from the signer) pass, the library's become InvalidCredentialError. */
async function sdJwtCall<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof HygeiaIdentityError) throw error;
    throw new InvalidCredentialError(`${operation} failed: ${errorMessage(error)}`, { cause: error });
  }
}

/** Claims of an SD-JWT: the issuer payload with the presented disclosures applied (library decoding). */
export async function sdJwtClaims(compact: string): Promise<Record<string, unknown>> {
  const instance = new SDJwtVcInstance({ hasher, hashAlg: "sha-256" });
  return (await instance.getClaims(compact)) as Record<string, unknown>;
}

/** base64url(SHA-256(text)): disclosure digests and the KB-JWT sd_hash. */
export function sdHash(text: string): string {
  return toBase64url(sha256(text));
}
