// SD-JWT VCs with key binding for the patient identity and insurance credentials: every claim but the subject
// id is selectively disclosable; the holder's key is bound through `cnf.jwk`, and a presentation carries a
// KB-JWT over the verifier's challenge (nonce) and domain (aud).
import { createHash } from "node:crypto";
import { SDJwtVcInstance } from "@sd-jwt/sd-jwt-vc";
import { digest, generateSalt } from "@sd-jwt/crypto-nodejs";
import { InvalidIdentityInputError } from "../errors.ts";
import type { IdentityAgent } from "../did/agent.ts";
import { assertSubjectMatchesSchema } from "../credentials/schema.ts";
import { CredentialType, type CredentialSubjects } from "../credentials/types.ts";
import type { BitstringStatusListEntry } from "../status/status-list.ts";

export const SD_JWT_VC_TYPES = [CredentialType.PatientIdentity, CredentialType.HealthInsurance] as const;
export type SdJwtCredentialType = (typeof SD_JWT_VC_TYPES)[number];

const hasher = (data: string | ArrayBuffer, alg: string) => digest(data, alg);

export interface IssueSdJwtParams<T extends SdJwtCredentialType> {
  issuer: string;
  type: T;
  subject: CredentialSubjects[T];
  /** The holder's public key (JWK), bound as `cnf.jwk`: only its owner can present the credential. */
  holderPublicJwk: Record<string, unknown>;
  validFrom?: Date;
  validUntil?: Date;
  status?: readonly BitstringStatusListEntry[];
}

/** Issues an SD-JWT VC (`vct` = the Hygeia credential type) signed ES256K by the issuer's DID key. */
export async function issueSdJwtCredential<T extends SdJwtCredentialType>(
  agent: IdentityAgent,
  params: IssueSdJwtParams<T>,
): Promise<string> {
  if (!(SD_JWT_VC_TYPES as readonly string[]).includes(params.type))
    throw new InvalidIdentityInputError("type", `SD-JWT is offered for ${SD_JWT_VC_TYPES.join(", ")}`);
  assertSubjectMatchesSchema(params.type, params.subject);
  const { id, ...claims } = params.subject as unknown as Record<string, unknown> & { id: string };
  const issuedAt = Math.floor((params.validFrom ?? new Date()).getTime() / 1000);
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
    ...(params.validUntil ? { exp: Math.floor(params.validUntil.getTime() / 1000) } : {}),
    vct: params.type,
    sub: id,
    cnf: { jwk: params.holderPublicJwk },
    ...(params.status && params.status.length > 0 ? { credentialStatus: [...params.status] } : {}),
    ...claims,
  };
  return instance.issue(payload, { _sd: Object.keys(claims) } as never, {
    header: { kid: `${params.issuer}#controller` },
  });
}

export interface PresentSdJwtParams {
  holder: string;
  credential: string;
  /** Claims to disclose; everything else stays hidden. */
  disclose: readonly string[];
  challenge: string;
  domain: string;
}

/** Discloses the chosen claims and appends a KB-JWT (nonce = challenge, aud = domain) signed by the holder. */
export async function presentSdJwtCredential(agent: IdentityAgent, params: PresentSdJwtParams): Promise<string> {
  const instance = new SDJwtVcInstance({
    hasher,
    hashAlg: "sha-256",
    kbSigner: (data) => agent.signBytes(params.holder, data),
    kbSignAlg: "ES256K",
  });
  const frame = Object.fromEntries(params.disclose.map((claim) => [claim, true]));
  return instance.present(params.credential, frame as never, {
    kb: { payload: { iat: Math.floor(Date.now() / 1000), aud: params.domain, nonce: params.challenge } },
  });
}

/** Claims of an SD-JWT: the issuer payload with the presented disclosures applied (library decoding). */
export async function sdJwtClaims(compact: string): Promise<Record<string, unknown>> {
  const instance = new SDJwtVcInstance({ hasher, hashAlg: "sha-256" });
  return (await instance.getClaims(compact)) as Record<string, unknown>;
}

/** base64url(SHA-256(text)): disclosure digests and the KB-JWT sd_hash. */
export function sdHash(text: string): string {
  return createHash("sha256").update(text, "ascii").digest("base64url");
}
