// Which of a DID's X25519 keyAgreement keys is current. ethr-did-resolver numbers the verification methods of
// published keys `#delegate-<n>` in registry event order, and a key published again gets the new number: the
// highest number is the key published last, which is the current one.
import { x25519KeysFromDidDocument, type RecipientKey } from "@hygeia/crypto";
import type { DIDDocument } from "did-resolver";
import { sameBytes } from "../bytes.ts";
import { UnresolvableDidError, errorMessage } from "../errors.ts";

export interface EncryptionKeyRef {
  /** Verification method id in the DID document. */
  readonly id: string;
  readonly publicKey: Uint8Array;
  /** The key published last: the one the DID's holder uses now. Exactly one key of a non-empty list is current. */
  readonly current: boolean;
}

/** The keys, current first, then older ones newest first. */
export function orderEncryptionKeys(keys: readonly RecipientKey[]): EncryptionKeyRef[] {
  const ranked = keys.map((key, index) => {
    const published = /#delegate-(\d+)$/.exec(key.id)?.[1];
    // Keys without a registry number (did:key documents) keep document order, after numbered ones.
    return { key, rank: published === undefined ? -1 - index / keys.length : Number(published) };
  });
  ranked.sort((a, b) => b.rank - a.rank);
  return ranked.map(({ key }, index) => ({ id: key.id, publicKey: key.publicKey, current: index === 0 }));
}

export function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return sameBytes(a, b);
}

/**
 * The X25519 keys of `did`'s document, current first (see orderEncryptionKeys); [] when it publishes none.
 * UnresolvableDidError when a published key is unusable (anyone can publish garbage to their own DID: it is their
 * document's problem).
 */
export function encryptionKeysOf(did: string, document: DIDDocument): EncryptionKeyRef[] {
  // @hygeia/crypto refuses a document without keyAgreement; "no key yet" is a normal state here.
  if ((document.keyAgreement ?? []).length === 0) return [];
  try {
    return orderEncryptionKeys(x25519KeysFromDidDocument(document));
  } catch (error) {
    throw new UnresolvableDidError(did, `unusable keyAgreement key: ${errorMessage(error)}`, { cause: error });
  }
}
