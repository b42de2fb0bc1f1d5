// An independent, test-only implementation of the record envelope, written from the README specification
// with @noble/ciphers primitives (HChaCha20, ChaCha20-IETF, Poly1305) instead of libsodium. Tests use it to
// (1) reproduce committed vectors from a fixed secretstream header, which libsodium's API cannot take, and
// (2) show the README describes the format precisely enough for a second implementation.
import { chacha20, hchacha } from "@noble/ciphers/chacha.js";
import { poly1305 } from "@noble/ciphers/_poly1305.js";

const SIGMA = Uint32Array.of(0x61707865, 0x3320646e, 0x79622d32, 0x6b206574);
export const TAG_MESSAGE = 0;
export const TAG_FINAL = 3;
const TAG_REKEY = 2;

function wordsLE(bytes: Uint8Array): Uint32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return Uint32Array.from({ length: bytes.length / 4 }, (_, i) => view.getUint32(i * 4, true));
}

function bytesLE(words: Uint32Array): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  const view = new DataView(out.buffer);
  words.forEach((word, i) => view.setUint32(i * 4, word, true));
  return out;
}

function hchacha20(key: Uint8Array, input16: Uint8Array): Uint8Array {
  const out = new Uint32Array(8);
  hchacha(SIGMA, wordsLE(key), wordsLE(input16), out);
  return bytesLE(out);
}

function le64(value: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(value), true);
  return out;
}

/** secretstream_xchacha20poly1305 push state, as in libsodium's crypto_secretstream_xchacha20poly1305.c. */
export class ReferencePushStream {
  #key: Uint8Array;
  /** counter (4 bytes, little-endian) ‖ inonce (8 bytes): the ChaCha20-IETF nonce. */
  #nonce = new Uint8Array(12);

  constructor(key: Uint8Array, header: Uint8Array) {
    this.#key = hchacha20(key, header.subarray(0, 16));
    this.#resetCounter();
    this.#nonce.set(header.subarray(16, 24), 4);
  }

  push(message: Uint8Array, ad: Uint8Array, tag: number): Uint8Array {
    const polyKey = chacha20(this.#key, this.#nonce, new Uint8Array(64), undefined, 0).subarray(0, 32);
    const mac = poly1305.create(polyKey);
    mac.update(ad);
    mac.update(new Uint8Array((0x10 - ad.length) & 0xf));
    const block = new Uint8Array(64);
    block[0] = tag;
    const tagBlock = chacha20(this.#key, this.#nonce, block, undefined, 1);
    mac.update(tagBlock);
    const ciphertext = chacha20(this.#key, this.#nonce, message, undefined, 2);
    mac.update(ciphertext);
    // libsodium pads with (0x10 - 64 + mlen) & 0xf zero bytes here, i.e. mlen mod 16 (not the usual AEAD pad).
    mac.update(new Uint8Array((0x10 - 64 + message.length) & 0xf));
    mac.update(le64(ad.length));
    mac.update(le64(64 + message.length));
    const tag16 = mac.digest();

    const out = new Uint8Array(1 + message.length + 16);
    out[0] = tagBlock[0] ?? 0;
    out.set(ciphertext, 1);
    out.set(tag16, 1 + message.length);

    for (let i = 0; i < 8; i++) this.#nonce[4 + i]! ^= tag16[i]!;
    const counter = new DataView(this.#nonce.buffer).getUint32(0, true);
    new DataView(this.#nonce.buffer).setUint32(0, (counter + 1) >>> 0, true);
    if ((tag & TAG_REKEY) !== 0 || counter + 1 === 2 ** 32) this.#rekey();
    return out;
  }

  /** Moves the 32-bit frame counter (tests of the wrap-around rekey, unreachable otherwise: 2^32 frames). */
  setCounter(counter: number): void {
    new DataView(this.#nonce.buffer).setUint32(0, counter, true);
  }

  #rekey(): void {
    const keyAndInonce = new Uint8Array(40);
    keyAndInonce.set(this.#key, 0);
    keyAndInonce.set(this.#nonce.subarray(4, 12), 32);
    const next = chacha20(this.#key, this.#nonce, keyAndInonce, undefined, 0);
    this.#key = next.slice(0, 32);
    this.#nonce.set(next.subarray(32, 40), 4);
    this.#resetCounter();
  }

  #resetCounter(): void {
    this.#nonce.fill(0, 0, 4);
    this.#nonce[0] = 1;
  }
}

/** Any push state: this reference's, or an implementation's under test (its frame may come in pieces). */
export interface PushStream {
  push(message: Uint8Array, ad: Uint8Array, tag: number): Uint8Array | Uint8Array[];
}

/**
 * Builds a whole envelope (README "Record envelope format") around `stream`, which was started with
 * `streamHeader`: preamble ‖ header, then full chunks with TAG_MESSAGE and the rest with TAG_FINAL.
 */
export function buildEnvelope(
  stream: PushStream,
  streamHeader: Uint8Array,
  plaintext: Uint8Array,
  chunkSize: number,
): Uint8Array {
  const preamble = new Uint8Array(10);
  preamble.set([0x48, 0x59, 0x47, 0x52, 1, 1], 0);
  new DataView(preamble.buffer).setUint32(6, chunkSize, false);
  const parts: Uint8Array[] = [preamble, streamHeader];
  let offset = 0;
  while (plaintext.length - offset > chunkSize) {
    parts.push(...[stream.push(plaintext.subarray(offset, offset + chunkSize), preamble, TAG_MESSAGE)].flat());
    offset += chunkSize;
  }
  parts.push(...[stream.push(plaintext.subarray(offset), preamble, TAG_FINAL)].flat());
  return Uint8Array.from(parts.flatMap((part) => [...part]));
}

/** The reference envelope with a caller-chosen secretstream header. */
export function referenceEncrypt(
  key: Uint8Array,
  streamHeader: Uint8Array,
  plaintext: Uint8Array,
  chunkSize: number,
): Uint8Array {
  return buildEnvelope(new ReferencePushStream(key, streamHeader), streamHeader, plaintext, chunkSize);
}
