// The holder's side of a presentation, for every platform: a HolderKey signs (ES256K), and the presentation is
// built here, so a browser wallet and an IdentityAgent present the same way. Rules:
// - A HolderKey is a DID and the secp256k1 key that controls it: a JWT VP is signed by it (`iss` = the DID, checked
//   by verifiers against the DID's `authentication` keys), an SD-JWT VC's KB-JWT by it (checked against the
//   credential's `cnf.jwk`).
// - The key never leaves the HolderKey: callers get signatures and the public JWK, nothing else.
// - A JWT VP is made by did-jwt-vc, the library Veramo itself uses for `proofFormat: "jwt"`, so a presentation made
//   in a browser and one made by an agent are the same format (nonce = challenge, aud = [domain]).
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { createVerifiablePresentationJwt } from "did-jwt-vc";
import {
  HolderKeyError,
  HolderMismatchError,
  HygeiaIdentityError,
  InvalidCredentialError,
  InvalidIdentityInputError,
  errorMessage,
  truncate,
} from "../errors.ts";
import type { IdentityAgent } from "../did/agent.ts";
import { assertAgent } from "../did/internal.ts";
import { ethrIdentityAddress, MAX_DID_LENGTH } from "../did/resolver.ts";
import { addressOf, publicKeyFromJwk, verifyWithPublicKey } from "../verify/es256k.ts";
import { MAX_PRESENTATION_BYTES } from "../verify/limits.ts";
import { fromBase64url, fromHex, toBase64url, utf8, utf8Text } from "../bytes.ts";
import { objectArgument } from "../arguments.ts";
import { assertChallengeAndDomain, assertJwtCredential, heldDid } from "./inputs.ts";

/** A secp256k1 public key as a JWK (the form of an SD-JWT VC's `cnf.jwk`). */
export type Secp256k1PublicJwk = {
  kty: "EC";
  crv: "secp256k1";
  x: string;
  y: string;
};

/** Who presents: a DID and a signer for the key that controls it. */
export interface HolderKey {
  /** The holder's DID. */
  readonly did: string;
  /** The signing key's public JWK: SD-JWT VCs for this holder are bound to it (`cnf.jwk`). */
  publicJwk(): Promise<Secp256k1PublicJwk>;
  /** ES256K over the UTF-8 text (SHA-256, then ECDSA): the JWS signature, base64url of r‖s. */
  sign(text: string): Promise<string>;
}

/**
 * A HolderKey over an IdentityAgent's key for `did` (KeyNotFoundError, field "holder", when the agent holds no key
 * for it; checked at the first use).
 */
export function agentHolderKey(agent: IdentityAgent, did: string): HolderKey {
  assertAgent(agent);
  let held: Promise<unknown> | undefined;
  const ensureHeld = () => (held ??= heldDid(agent, did, "holder"));
  return {
    did,
    publicJwk: async () => {
      await ensureHeld();
      return agent.signingPublicJwk(did);
    },
    sign: async (text) => {
      await ensureHeld();
      return agent.signBytes(did, text);
    },
  };
}

/**
 * A HolderKey over a secp256k1 private key (32 bytes, or hex with or without 0x) for a did:ethr whose identity is
 * the key's own address (`did:ethr:<chain>:<address>`: a DID whose owner was changed to another key must be
 * presented by that key). InvalidIdentityInputError for a bad key or a DID of another address. The key is copied:
 * wiping the caller's array afterwards is safe.
 */
export function privateKeyHolderKey(privateKey: Uint8Array | string, did: string): HolderKey {
  const secret = privateKeyBytes(privateKey);
  const publicKey = secp256k1.getPublicKey(secret, false);
  if (typeof did !== "string" || did.length > MAX_DID_LENGTH || !ETHR_ADDRESS_DID.test(did))
    throw new InvalidIdentityInputError("did", "must be the holder's did:ethr (did:ethr:<chain>:<address>)");
  if (ethrIdentityAddress(did) !== addressOf(publicKey))
    throw new InvalidIdentityInputError(
      "did",
      `${truncate(did)} is not controlled by this key (its address is ${addressOf(publicKey)})`,
    );
  const jwk: Secp256k1PublicJwk = {
    kty: "EC",
    crv: "secp256k1",
    x: toBase64url(publicKey.subarray(1, 33)),
    y: toBase64url(publicKey.subarray(33, 65)),
  };
  return {
    did,
    publicJwk: async () => ({ ...jwk }),
    sign: async (text) => {
      if (typeof text !== "string") throw new InvalidIdentityInputError("data", "must be a string");
      return toBase64url(secp256k1.sign(sha256(utf8(text)), secret, { prehash: false }));
    },
  };
}

/** did:ethr:<network>:<address> (or the mainnet form did:ethr:<address>), no DID URL parts. */
const ETHR_ADDRESS_DID = /^did:ethr:(?:[A-Za-z0-9]{1,32}:)?0x[0-9a-fA-F]{40}$/;

function privateKeyBytes(privateKey: Uint8Array | string): Uint8Array {
  let bytes: Uint8Array;
  if (privateKey instanceof Uint8Array) bytes = Uint8Array.from(privateKey);
  else if (typeof privateKey === "string" && /^(0x)?[0-9a-fA-F]{64}$/.test(privateKey))
    bytes = fromHex(privateKey.replace(/^0x/, ""));
  else throw new InvalidIdentityInputError("privateKey", "must be a secp256k1 private key: 32 bytes or 64 hex digits");
  if (bytes.length !== 32 || !secp256k1.utils.isValidSecretKey(bytes)) {
    bytes.fill(0);
    throw new InvalidIdentityInputError("privateKey", "is not a valid secp256k1 private key");
  }
  return bytes;
}

/**
 * The holder's sign() as the presentation libraries call it, checked: a signer that throws, or returns anything but
 * a base64url ES256K signature that verifies with its own publicJwk(), is a HolderKeyError, so nothing malformed or
 * signed by another key is ever handed on. One verification per signature: cheap next to what the wallet does.
 */
export function checkedSigner(holder: HolderKey): (data: string | Uint8Array) => Promise<string> {
  let publicKey: Promise<Uint8Array | undefined> | undefined;
  return async (data) => {
    const textToSign = typeof data === "string" ? data : utf8Text(data);
    let signature: unknown;
    try {
      signature = await holder.sign(textToSign);
    } catch (error) {
      if (error instanceof HygeiaIdentityError) throw error;
      throw new HolderKeyError(holder.did, "failed to sign (see cause)", { cause: error });
    }
    publicKey ??= holder.publicJwk().then(
      (jwk) => publicKeyFromJwk(jwk as Record<string, unknown>),
      () => undefined,
    );
    const key = await publicKey;
    if (key === undefined) throw new HolderKeyError(holder.did, "has no usable publicJwk() (a secp256k1 JWK)");
    let bytes: Uint8Array;
    try {
      bytes = fromBase64url(signature as string);
    } catch {
      throw new HolderKeyError(holder.did, "returned something that is not a base64url signature");
    }
    if (bytes.length !== 64 || !verifyWithPublicKey(key, textToSign, bytes))
      throw new HolderKeyError(holder.did, "returned a signature that does not verify with its own publicJwk()");
    return signature as string;
  };
}

/** Checks a HolderKey argument (field `holder`). */
export function assertHolderKey(holder: unknown, field = "holder"): asserts holder is HolderKey {
  const key = holder as Partial<HolderKey> | null;
  if (
    typeof key !== "object" ||
    key === null ||
    typeof key.did !== "string" ||
    typeof key.sign !== "function" ||
    typeof key.publicJwk !== "function"
  )
    throw new InvalidIdentityInputError(
      field,
      "expected a HolderKey { did, publicJwk(), sign() } (agentHolderKey or privateKeyHolderKey)",
    );
}

export const MAX_PRESENTATION_LIFETIME_SECONDS = 86_400;
const W3C_V1_CONTEXT = "https://www.w3.org/2018/credentials/v1";

export interface PresentParams {
  /** DID of the holder: the subject of every credential presented. */
  holder: string;
  /** JWT VCs to present. */
  credentials: readonly string[];
  /** The verifier's challenge (16 to 256 characters) and domain. */
  challenge: string;
  domain: string;
  /** Lifetime of the presentation, seconds (default 300, at most 86,400). */
  validForSeconds?: number;
}

/**
 * A JWT VP of `params.credentials` signed by `holder`, bound to the verifier's challenge (`nonce`) and domain
 * (`aud`). Throws InvalidCredentialError for a credential that is not a JWT VC, HolderMismatchError when a
 * credential's subject is not the holder (a verifier would refuse the holder binding), InvalidIdentityInputError
 * for the rest.
 */
export async function signPresentation(holder: HolderKey, params: Omit<PresentParams, "holder">): Promise<string> {
  assertHolderKey(holder);
  const { subjects, validFor } = checkPresentParams(params);
  // The verifier's holder-binding check: each credential's subject is the presenter (compared as it does).
  for (const [index, { subject }] of subjects.entries())
    if (subject !== holder.did)
      throw new HolderMismatchError(
        `credentials[${index}]`,
        holder.did,
        subject,
        subject ? `the credential's subject is ${truncate(subject)}` : "the credential names no subject",
      );
  const now = new Date();
  const signer = checkedSigner(holder);
  try {
    return await createVerifiablePresentationJwt(
      {
        vp: {
          "@context": [W3C_V1_CONTEXT],
          type: ["VerifiablePresentation"],
          verifiableCredential: [...params.credentials],
        },
        nbf: Math.floor(now.getTime() / 1000),
        exp: Math.floor(now.getTime() / 1000) + validFor,
      },
      { did: holder.did, alg: "ES256K", signer },
      { challenge: params.challenge, domain: params.domain },
    );
  } catch (error) {
    // Our own typed errors (from the signer) pass; the library's become InvalidCredentialError.
    if (error instanceof HygeiaIdentityError) throw error;
    throw new InvalidCredentialError(`signPresentation failed: ${errorMessage(error)}`, { cause: error });
  }
}

/** The checks of a presentation's parameters that need no key: each credential's subject and the lifetime. */
export function checkPresentParams(params: Omit<PresentParams, "holder">): {
  subjects: { subject: string | undefined }[];
  validFor: number;
} {
  objectArgument(params, "params", "{ holder, credentials, challenge, domain, validForSeconds? }");
  if (!Array.isArray(params.credentials) || params.credentials.length === 0)
    throw new InvalidIdentityInputError("credentials", "at least one JWT credential");
  const subjects = params.credentials.map((credential, index) =>
    assertJwtCredential(credential, `credentials[${index}]`),
  );
  assertChallengeAndDomain(params);
  // A presentation larger than any verifier accepts is refused before anything is signed.
  const size = params.credentials.reduce((total, credential) => total + credential.length, 0);
  if (size > MAX_PRESENTATION_BYTES - 4096)
    throw new InvalidIdentityInputError(
      "credentials",
      `together ${size} characters: a presentation must stay under ${MAX_PRESENTATION_BYTES} bytes`,
    );
  const validFor = params.validForSeconds ?? 300;
  if (!Number.isSafeInteger(validFor) || validFor <= 0 || validFor > MAX_PRESENTATION_LIFETIME_SECONDS)
    throw new InvalidIdentityInputError("validForSeconds", "must be a whole number of seconds, 1 to 86400");
  return { subjects, validFor };
}
