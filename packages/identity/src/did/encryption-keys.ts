// Which of a DID's X25519 keyAgreement keys is current. ethr-did-resolver numbers the verification methods of
// published keys `#delegate-<n>` in registry event order, and a key published again gets the new number: the
// highest number is the key published last, which is the current one.
import type { RecipientKey } from "@hygeia/crypto";

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
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}
