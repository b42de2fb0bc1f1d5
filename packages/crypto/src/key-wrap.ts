// Wrapping a record's DEK to X25519 public keys with libsodium sealed boxes, bound to a context.
//
//   wrap          = version(1) ‖ algorithm(1) ‖ crypto_box_seal(DEK ‖ contextDigest, recipientPublicKey)
//   contextDigest = BLAKE2b-256(key = "hygeia.dek-wrap.context.v1", message = version ‖ algorithm ‖ context)
//
// The digest sits inside the sealed box, so only the recipient can read or check it, and a wrap made for
// one context (record) fails to unwrap under another. See README "Key wrap format".
import { sodium } from "./sodium.ts";
import { concatBytes, toBytes, utf8 } from "./bytes.ts";
import { assertDataKey } from "./data-key.ts";
import { DATA_KEY_BYTES } from "./envelope.ts";
import { InvalidArgumentError, UnsupportedFormatError, UnwrapError, WrapContextMismatchError } from "./errors.ts";
import { assertX25519KeyPair, assertX25519PublicKey } from "./x25519.ts";
import type { X25519KeyPair } from "./x25519.ts";

export const WRAP_VERSION = 1;
export const WrapAlgorithm = {
  /** crypto_box_seal (X25519 + XSalsa20-Poly1305, ephemeral sender key) over DEK ‖ contextDigest. */
  SealedBoxX25519: 1,
} as const;
export type WrapAlgorithm = (typeof WrapAlgorithm)[keyof typeof WrapAlgorithm];

const CONTEXT_DIGEST_BYTES = 32;
const CONTEXT_DIGEST_KEY = utf8("hygeia.dek-wrap.context.v1");
const WRAP_PREFIX = Uint8Array.of(WRAP_VERSION, WrapAlgorithm.SealedBoxX25519);
/** 2 + 48 (sealed-box overhead) + 32 + 32 = 114. */
export const WRAP_BYTES: number =
  WRAP_PREFIX.length + sodium.crypto_box_SEALBYTES + DATA_KEY_BYTES + CONTEXT_DIGEST_BYTES;

/**
 * What a wrap is bound to, e.g. `hygeia:record:<recordId>`. A string is taken as UTF-8. It must be
 * non-empty so that every wrap is bound to something; the same value must be given to unwrap.
 */
export type WrapContext = string | Uint8Array;

export interface RecipientKey {
  /** Identifies the key, typically the DID URL of the keyAgreement verification method. */
  readonly id: string;
  readonly publicKey: Uint8Array;
}

export interface WrappedKey {
  readonly recipientId: string;
  readonly wrap: Uint8Array;
}

function contextDigest(context: WrapContext): Uint8Array {
  if (typeof context !== "string" && !(context instanceof Uint8Array)) {
    throw new InvalidArgumentError(
      "wrap context must be a string or bytes, e.g. `hygeia:record:<cid>` (the same one to wrap and to unwrap)",
      { field: "context" },
    );
  }
  const bytes = toBytes(context, "wrap context", "context");
  if (bytes.length === 0) {
    throw new InvalidArgumentError(
      "wrap context must not be empty: bind the key to what it opens, e.g. `hygeia:record:<cid>`",
      { field: "context" },
    );
  }
  return sodium.crypto_generichash(CONTEXT_DIGEST_BYTES, concatBytes(WRAP_PREFIX, bytes), CONTEXT_DIGEST_KEY);
}

/** Seals `dataKey` to one X25519 public key, bound to `context`. Anyone can wrap; only the recipient unwraps. */
export function wrapKey(dataKey: Uint8Array, recipientPublicKey: Uint8Array, context: WrapContext): Uint8Array {
  assertDataKey(dataKey);
  assertX25519PublicKey(recipientPublicKey, "recipient public key");
  const payload = concatBytes(dataKey, contextDigest(context));
  try {
    return concatBytes(WRAP_PREFIX, sodium.crypto_box_seal(payload, recipientPublicKey));
  } finally {
    sodium.memzero(payload);
  }
}

/** Seals `dataKey` to each recipient (one independent wrap each, so each can be released on its own). */
export function wrapKeyForRecipients(
  dataKey: Uint8Array,
  recipients: readonly RecipientKey[],
  context: WrapContext,
): WrappedKey[] {
  if (!Array.isArray(recipients) || recipients.length === 0) {
    throw new InvalidArgumentError(
      "recipients must be a non-empty array of { id, publicKey } (e.g. x25519KeysFromDidDocument(didDocument))",
      { field: "recipients" },
    );
  }
  return recipients.map((recipient: unknown, index) => {
    // The id is how the wrap is found again (wraps[i].recipientId): a missing one would file the wrap under undefined.
    const id = (recipient as { id?: unknown } | null | undefined)?.id;
    if (typeof id !== "string" || id.length === 0) {
      throw new InvalidArgumentError(
        `recipients[${index}].id must be the key's id (a non-empty string: the DID URL x25519KeysFromDidDocument returns)`,
        { field: `recipients[${index}].id` },
      );
    }
    const publicKey = (recipient as { publicKey?: unknown }).publicKey;
    assertX25519PublicKey(publicKey, `recipients[${index}].publicKey`);
    return { recipientId: id, wrap: wrapKey(dataKey, publicKey, context) };
  });
}

/**
 * Opens a wrap with the recipient's key pair and checks it was made for `context`. Returns a fresh copy of
 * the DEK. Throws UnwrapError if the wrap is not for this key pair or was modified, WrapContextMismatchError
 * if it was made for another context, UnsupportedFormatError for an unknown wrap version or algorithm.
 */
export function unwrapKey(wrap: Uint8Array, recipient: X25519KeyPair, context: WrapContext): Uint8Array {
  if (!(wrap instanceof Uint8Array)) throw new InvalidArgumentError("wrap must be a Uint8Array", { field: "wrap" });
  if (wrap.length < WRAP_PREFIX.length) throw new UnwrapError(`wrap is too short (${wrap.length} bytes)`);
  if (wrap[0] !== WRAP_VERSION) throw new UnsupportedFormatError(`unsupported wrap version ${String(wrap[0])}`);
  if (wrap[1] !== WrapAlgorithm.SealedBoxX25519) {
    throw new UnsupportedFormatError(`unsupported wrap algorithm ${String(wrap[1])}`);
  }
  if (wrap.length !== WRAP_BYTES) throw new UnwrapError(`wrap must be ${WRAP_BYTES} bytes, got ${wrap.length}`);
  assertX25519KeyPair(recipient);
  const expectedDigest = contextDigest(context);

  let payload: Uint8Array;
  try {
    payload = sodium.crypto_box_seal_open(wrap.subarray(WRAP_PREFIX.length), recipient.publicKey, recipient.secretKey);
  } catch (cause) {
    throw new UnwrapError("wrap cannot be opened with this key pair (not addressed to it, or modified)", { cause });
  }
  try {
    if (!sodium.memcmp(payload.subarray(DATA_KEY_BYTES), expectedDigest)) {
      throw new WrapContextMismatchError("wrap was made for a different context");
    }
    return payload.slice(0, DATA_KEY_BYTES);
  } finally {
    sodium.memzero(payload);
  }
}
