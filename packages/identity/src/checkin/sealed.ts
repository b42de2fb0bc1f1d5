// The patient's check-in answer, sealed to the verified clinic. Rules this module keeps:
// - Only the clinic reads the answer: it is encrypted under a fresh content key, and that key is sealed (X25519
//   sealed box, @hygeia/crypto's wrapKey) to the clinic's current keyAgreement key, read from the clinic DID's
//   document on chain, never from anything a party in the middle hands over.
// - The seal is bound to the clinic's request (its domain and challenge): an answer cut from one check-in does
//   not open for another request, even of the same clinic.
// - A party relaying the exchange learns the answer's padded size and its timing, nothing of its content.
// - Opening never throws for a bad answer: the clinic gets a failed check with a reason, like any verification.
import {
  decryptToBuffer,
  encryptToBuffer,
  generateDataKey,
  unwrapKey,
  wipe,
  wrapKey,
  WrapContextMismatchError,
  type X25519KeyPair,
} from "@hygeia/crypto";
import { InvalidIdentityInputError, errorMessage } from "../errors.ts";
import { fromBase64url, toBase64url, utf8 } from "../bytes.ts";
import { objectArgument, withMethods } from "../arguments.ts";
import { MAX_PRESENTATION_BYTES } from "../verify/credential-verifier.ts";
import type {
  CredentialVerifier,
  PresentationRequest,
  PresentationVerification,
} from "../verify/credential-verifier.ts";

export const SEALED_CHECK_IN_TYPE = "hygeia-sealed-check-in";
export const SEALED_CHECK_IN_VERSION = 1;
/** The plaintext is padded to a multiple of this, so that its size says little about which claims were shown. */
export const SEALED_CHECK_IN_PADDING = 1024;
// A presentation is at most MAX_PRESENTATION_BYTES; JSON quoting and padding add a little.
const MAX_SEALED_PLAINTEXT_BYTES = 2 * MAX_PRESENTATION_BYTES;
const MAX_FIELD_CHARS = 2 * 1024 * 1024;

/** What the patient's wallet sends back to the clinic at check-in: JSON-safe, readable only by the clinic. */
export interface SealedCheckIn {
  readonly type: typeof SEALED_CHECK_IN_TYPE;
  readonly version: typeof SEALED_CHECK_IN_VERSION;
  /** The clinic's keyAgreement key (DID URL of its verification method) the answer is sealed to. */
  readonly recipient: string;
  /** base64url: the content key, sealed to the recipient key and bound to the request (114 bytes). */
  readonly wrap: string;
  /** base64url: the presentation (JWT VP or SD-JWT VCs), padded, in a Hygeia record envelope. */
  readonly ciphertext: string;
}

/** The wrap context: the request the answer is for (domain = the clinic's DID, and the clinic's challenge). */
function sealContext(request: Pick<PresentationRequest, "domain" | "challenge">): string {
  return `hygeia:check-in:v1:${JSON.stringify([request.domain, request.challenge])}`;
}

/** Seals a presentation to `recipient` (the clinic's current X25519 key) for `request`. */
export async function sealCheckIn(
  presentation: string | string[],
  recipient: { id: string; publicKey: Uint8Array },
  request: Pick<PresentationRequest, "domain" | "challenge">,
): Promise<SealedCheckIn> {
  const json = JSON.stringify({ presentation });
  const size = utf8(json).length;
  // JSON.parse ignores trailing whitespace: pad with spaces up to the next multiple of the padding size.
  const padded = json + " ".repeat(Math.ceil((size + 1) / SEALED_CHECK_IN_PADDING) * SEALED_CHECK_IN_PADDING - size);
  const contentKey = generateDataKey();
  try {
    const ciphertext = await encryptToBuffer(new TextEncoder().encode(padded), contentKey);
    const wrap = wrapKey(contentKey, recipient.publicKey, sealContext(request));
    return {
      type: SEALED_CHECK_IN_TYPE,
      version: SEALED_CHECK_IN_VERSION,
      recipient: recipient.id,
      wrap: toBase64url(wrap),
      ciphertext: toBase64url(ciphertext),
    };
  } finally {
    wipe(contentKey);
  }
}

export interface VerifyCheckInParams {
  /** The request the clinic sent (the same challenge, domain and credentials). */
  request: PresentationRequest;
  /**
   * The clinic's X25519 key pair(s): the one whose public key its DID document lists as current, and, during a
   * key change, the previous ones.
   */
  keyPairs: X25519KeyPair | readonly X25519KeyPair[];
}

/**
 * Clinic side of the check-in: opens the patient's sealed answer with the clinic's key pair(s) and verifies the
 * presentation inside against `request` (verifier.verifyPresentation). An answer that is not sealed to these keys
 * for this request is a failed `format` check, never an exception. InvalidIdentityInputError (naming the field)
 * for a missing verifier, request or key pair.
 */
export async function verifyCheckIn(
  verifier: CredentialVerifier,
  sealed: unknown,
  params: VerifyCheckInParams,
): Promise<PresentationVerification> {
  withMethods(verifier, "verifier", ["verifyPresentation"], "a CredentialVerifier (createAgentVerifier)");
  objectArgument(params, "params", "{ request, keyPairs }");
  const request = objectArgument(params.request, "request", "the { challenge, domain, credentials } the clinic sent");
  if (params.keyPairs === undefined || params.keyPairs === null)
    throw new InvalidIdentityInputError(
      "keyPairs",
      "missing: expected the clinic's X25519 key pair ({ publicKey, secretKey }) or an array of them",
    );
  // One pair may be passed bare: then the field is `keyPairs` itself, an index only names an array element.
  const listed = Array.isArray(params.keyPairs);
  const keyPairs = [params.keyPairs].flat() as unknown[];
  if (keyPairs.length === 0)
    throw new InvalidIdentityInputError(
      "keyPairs",
      "at least one X25519 key pair of the clinic ({ publicKey, secretKey })",
    );
  keyPairs.forEach((pair, index) => {
    const field = listed ? `keyPairs[${index}]` : "keyPairs";
    const { publicKey, secretKey } = objectArgument(pair, field, "an X25519 key pair") as {
      publicKey?: unknown;
      secretKey?: unknown;
    };
    if (!(publicKey instanceof Uint8Array) || !(secretKey instanceof Uint8Array))
      throw new InvalidIdentityInputError(field, "expected { publicKey, secretKey } as Uint8Array");
  });
  const opened = await openCheckIn(sealed, request, keyPairs as X25519KeyPair[]);
  if ("problem" in opened)
    return {
      ok: false,
      checks: [{ name: "format", pass: false, reason: opened.problem }],
      holder: undefined,
      disclosed: {},
    };
  return verifier.verifyPresentation(opened.presentation, request);
}

async function openCheckIn(
  sealed: unknown,
  request: PresentationRequest,
  keyPairs: readonly X25519KeyPair[],
): Promise<{ presentation: string | string[] } | { problem: string }> {
  const answer = sealed as Partial<Record<keyof SealedCheckIn, unknown>> | null;
  if (
    typeof answer !== "object" ||
    answer === null ||
    answer.type !== SEALED_CHECK_IN_TYPE ||
    answer.version !== SEALED_CHECK_IN_VERSION ||
    !isBase64url(answer.wrap) ||
    !isBase64url(answer.ciphertext)
  )
    return { problem: `not a sealed check-in answer (${SEALED_CHECK_IN_TYPE} version ${SEALED_CHECK_IN_VERSION})` };
  let wrap: Uint8Array;
  let ciphertext: Uint8Array;
  try {
    wrap = fromBase64url(answer.wrap);
    ciphertext = fromBase64url(answer.ciphertext);
  } catch {
    return { problem: "the sealed answer's wrap or ciphertext is not canonical base64url" };
  }
  let contentKey: Uint8Array | undefined;
  let forAnotherRequest = false;
  for (const keyPair of keyPairs) {
    try {
      contentKey = unwrapKey(wrap, keyPair, sealContext(request));
      break;
    } catch (error) {
      forAnotherRequest ||= error instanceof WrapContextMismatchError;
    }
  }
  if (!contentKey)
    return {
      problem: forAnotherRequest
        ? "the answer is sealed to this clinic but for another request (domain or challenge)"
        : "the answer is not sealed to this clinic's key (or was modified)",
    };
  let plaintext: Uint8Array;
  try {
    plaintext = await decryptToBuffer(ciphertext, contentKey, {
      maxPlaintextBytes: MAX_SEALED_PLAINTEXT_BYTES,
    });
  } catch (error) {
    return { problem: `the sealed answer does not decrypt: ${errorMessage(error).slice(0, 200)}` };
  } finally {
    wipe(contentKey);
  }
  let presentation: unknown;
  try {
    presentation = (JSON.parse(new TextDecoder().decode(plaintext)) as { presentation?: unknown }).presentation;
  } catch {
    return { problem: "the sealed answer is not JSON" };
  }
  const isPresentation =
    typeof presentation === "string" ||
    (Array.isArray(presentation) && presentation.every((p) => typeof p === "string"));
  if (!isPresentation) return { problem: "the sealed answer holds no presentation" };
  return { presentation: presentation as string | string[] };
}

function isBase64url(value: unknown): value is string {
  return (
    typeof value === "string" && value.length > 0 && value.length <= MAX_FIELD_CHARS && /^[A-Za-z0-9_-]+$/.test(value)
  );
}
