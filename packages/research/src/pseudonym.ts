// Per-study pseudonyms of FHIR resource ids (Safe Harbor's "re-identification code", 164.514(c)): a keyed hash
// that only the key's holder (the patient's wallet, which derives one key per study) can compute.
//
//   pseudonym(key, "Patient/123") = hex(HMAC-SHA256(key, "hygeia/pseudonym/v1" || 0x00 || "Patient/123"))[0..32]
//
// 128 bits: collisions are out of reach for any dataset, and 32 characters fit FHIR's id ([A-Za-z0-9-.]{1,64}).
// The same resource gets the same pseudonym within one study (its resources link), and unrelated pseudonyms in
// two studies (the keys are independent), so two studies cannot join their data on it.
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";

export const PSEUDONYM_LABEL = "hygeia/pseudonym/v1";
export const PSEUDONYM_KEY_BYTES = 32;
const PSEUDONYM_HEX_CHARS = 32;

/** Computes pseudonyms under one key; remembers them, since a patient's resources name the same ids many times. */
export class Pseudonymizer {
  readonly #key: Uint8Array;
  readonly #known = new Map<string, string>();

  constructor(key: Uint8Array) {
    this.#key = Uint8Array.from(key);
  }

  /** The pseudonym of a logical id such as "Patient/123" (or a urn:uuid: full URL). */
  of(logicalId: string): string {
    let known = this.#known.get(logicalId);
    if (known === undefined) {
      const label = utf8ToBytes(`${PSEUDONYM_LABEL}\0${logicalId}`);
      known = bytesToHex(hmac(sha256, this.#key, label)).slice(0, PSEUDONYM_HEX_CHARS);
      this.#known.set(logicalId, known);
    }
    return known;
  }
}
