// The two secretstream implementations held to each other, to libsodium's own API and to the independent
// reference (test/reference-secretstream.ts): same frames byte for byte, same refusals.
import { expect } from "chai";
import sodium from "libsodium-wrappers";
import {
  SecretstreamTag,
  decryptToBuffer,
  defaultSecretstream,
  encryptToBuffer,
  generateDataKey,
  libsodiumSecretstream,
  nativeSecretstream,
} from "../src/index.ts";
import type { Secretstream } from "../src/index.ts";
import { NativePullState, NativePushState } from "../src/secretstream/node-crypto.ts";
import {
  SECRETSTREAM_FRAME_OVERHEAD,
  SECRETSTREAM_HEADER_BYTES,
  SECRETSTREAM_KEY_BYTES,
} from "../src/secretstream/secretstream.ts";
import { ReferencePushStream, buildEnvelope, referenceEncrypt } from "./reference-secretstream.ts";
import { expectBytesEqual, patternBytes } from "./helpers.ts";

await sodium.ready;

const native = nativeSecretstream!;
const frameOf = (pieces: Uint8Array[]): Uint8Array => Uint8Array.from(Buffer.concat(pieces));
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex");

/** Message lengths around every padding case (|m| mod 16) and the AEAD / explicit-path split (|m| mod 8). */
const LENGTHS = [
  ...Array.from({ length: 49 }, (_, i) => i),
  63,
  64,
  65,
  1023,
  1024,
  1025,
  1031,
  65535,
  65536,
  65537,
  65536 + 8,
];
const AD_LENGTHS = [0, 1, 4, 10, 15, 16, 17, 33];
const TAGS: readonly number[] = [
  SecretstreamTag.Message,
  SecretstreamTag.Push,
  SecretstreamTag.Rekey,
  SecretstreamTag.Message,
];

interface Case {
  message: Uint8Array;
  ad: Uint8Array;
  tag: number;
}

/** One long stream that visits every length, AD length and tag (rekeys included), then ends with TAG_FINAL. */
function streamCases(): Case[] {
  const cases = LENGTHS.map((length, i) => ({
    message: patternBytes(length, i + 7),
    ad: patternBytes(AD_LENGTHS[i % AD_LENGTHS.length]!, i + 1000),
    tag: TAGS[i % TAGS.length]!,
  }));
  cases.push({ message: patternBytes(13, 99), ad: patternBytes(10, 98), tag: SecretstreamTag.Final });
  return cases;
}

describe("secretstream implementations", function () {
  it("this Node runs the native implementation, and records use it by default", function () {
    expect(nativeSecretstream, "node:crypto implementation passed its known answer").to.not.equal(undefined);
    expect(defaultSecretstream).to.equal(nativeSecretstream);
    expect(libsodiumSecretstream.name).to.equal("libsodium");
  });

  it("the format constants are libsodium's", function () {
    expect([SECRETSTREAM_KEY_BYTES, SECRETSTREAM_HEADER_BYTES, SECRETSTREAM_FRAME_OVERHEAD]).to.deep.equal([
      sodium.crypto_secretstream_xchacha20poly1305_KEYBYTES,
      sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES,
      sodium.crypto_secretstream_xchacha20poly1305_ABYTES,
    ]);
    expect(SecretstreamTag).to.deep.equal({
      Message: sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
      Push: sodium.crypto_secretstream_xchacha20poly1305_TAG_PUSH,
      Rekey: sodium.crypto_secretstream_xchacha20poly1305_TAG_REKEY,
      Final: sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL,
    });
  });

  it("native push writes exactly libsodium's frames (every length, padding case, AD length and tag)", function () {
    const key = generateDataKey();
    const { state: sodiumState, header } = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
    const nativeState = new NativePushState(key, header);
    for (const [i, { message, ad, tag }] of streamCases().entries()) {
      const expected = sodium.crypto_secretstream_xchacha20poly1305_push(sodiumState, message, ad, tag);
      expect(hex(frameOf(nativeState.push(message, ad, tag))), `frame ${i} (${message.length} bytes)`).to.equal(
        hex(expected),
      );
    }
  });

  it("native pull opens libsodium's frames, and libsodium opens native frames", function () {
    const cases = streamCases();
    const key = generateDataKey();
    const fromSodium = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
    const frames = cases.map(({ message, ad, tag }) =>
      sodium.crypto_secretstream_xchacha20poly1305_push(fromSodium.state, message, ad, tag),
    );
    const nativePull = native.initPull(fromSodium.header, key);
    for (const [i, frame] of frames.entries()) {
      const opened = nativePull.pull(frame, cases[i]!.ad);
      expect(opened?.tag, `frame ${i} tag`).to.equal(cases[i]!.tag);
      expectBytesEqual(opened!.message, cases[i]!.message);
    }

    const fromNative = native.initPush(key);
    const sodiumPull = sodium.crypto_secretstream_xchacha20poly1305_init_pull(fromNative.header, key);
    for (const [i, { message, ad, tag }] of cases.entries()) {
      const opened = sodium.crypto_secretstream_xchacha20poly1305_pull(
        sodiumPull,
        frameOf(fromNative.state.push(message, ad, tag)),
        ad,
      );
      expect(opened, `frame ${i}`).to.not.equal(false);
      if (opened === false) return;
      expect(opened.tag).to.equal(tag);
      expectBytesEqual(opened.message, message);
    }
  });

  it("rekeys when the 32-bit frame counter wraps, as libsodium (checked against the reference)", function () {
    const key = generateDataKey();
    const header = patternBytes(24, 5);
    const ad = patternBytes(10, 6);
    const reference = new ReferencePushStream(key, header);
    const push = new NativePushState(key, header);
    const pull = new NativePullState(key, header);
    for (const state of [reference, push.position, pull.position]) {
      if (state instanceof ReferencePushStream) state.setCounter(0xfffffffe);
      else state.setCounterForTest(0xfffffffe);
    }
    // Frames at counters 0xfffffffe, 0xffffffff (after which it wraps and rekeys), then 1 under the new key.
    for (const [i, length] of [16, 5, 24, 3].entries()) {
      const message = patternBytes(length, i);
      const frame = frameOf(push.push(message, ad, SecretstreamTag.Message));
      expect(hex(frame), `frame ${i}`).to.equal(hex(reference.push(message, ad, SecretstreamTag.Message)));
      expectBytesEqual(pull.pull(frame, ad)!.message, message);
    }
  });

  it("refuses every single-bit flip, a wrong AD, a reordered or short frame, and keeps its place", function () {
    const key = generateDataKey();
    const ad = patternBytes(10, 1);
    for (const length of [0, 5, 16, 24]) {
      const { header, state } = native.initPush(key);
      const first = frameOf(state.push(patternBytes(length, 2), ad, SecretstreamTag.Message));
      const second = frameOf(state.push(patternBytes(length, 3), ad, SecretstreamTag.Final));
      for (const implementation of [native, libsodiumSecretstream]) {
        const pull = implementation.initPull(header, key);
        for (let bit = 0; bit < first.length * 8; bit++) {
          const flipped = first.slice();
          flipped[bit >> 3]! ^= 1 << (bit & 7);
          expect(pull.pull(flipped, ad), `${implementation.name}, ${length} bytes, bit ${bit}`).to.equal(undefined);
        }
        expect(pull.pull(first, patternBytes(10, 9))).to.equal(undefined);
        expect(pull.pull(second, ad), "second frame before the first").to.equal(undefined);
        if (implementation === native) expect(pull.pull(first.subarray(0, 16), ad)).to.equal(undefined);
        // None of that moved the stream: the genuine frames still open, in order.
        expect(pull.pull(first, ad)?.tag).to.equal(SecretstreamTag.Message);
        expect(pull.pull(second, ad)?.tag).to.equal(SecretstreamTag.Final);
      }
    }
  });

  it("a native stream refuses to go on after TAG_FINAL", function () {
    const { state } = native.initPush(generateDataKey());
    state.push(new Uint8Array(8), new Uint8Array(0), SecretstreamTag.Final);
    expect(() => state.push(new Uint8Array(8), new Uint8Array(0), SecretstreamTag.Message)).to.throw(/ended/);
  });

  it("the native encoder reproduces the reference encoder's envelope from the same stream header", function () {
    const key = generateDataKey();
    const header = patternBytes(24, 77);
    for (const [length, chunkSize] of [
      [0, 1024],
      [3000, 1024],
      [5000, 1031],
    ] as const) {
      const plaintext = patternBytes(length, length);
      const envelope = buildEnvelope(new NativePushState(key, header), header, plaintext, chunkSize);
      expect(hex(envelope)).to.equal(hex(referenceEncrypt(key, header, plaintext, chunkSize)));
    }
  });

  describe("records across implementations", function () {
    const implementations: Record<string, Secretstream> = { native, libsodium: libsodiumSecretstream };
    // 1031: a chunk size that is not a multiple of 8, so every native frame takes the explicit path.
    const cases = [
      [0, 1024],
      [1, 1024],
      [2048, 1024],
      [2049, 1024],
      [5000, 1031],
      [200_003, 65536],
    ] as const;
    for (const [encName, encryptWith] of Object.entries(implementations)) {
      for (const [decName, decryptWith] of Object.entries(implementations)) {
        it(`encrypted by ${encName}, decrypted by ${decName}`, async function () {
          for (const [length, chunkSize] of cases) {
            const key = generateDataKey();
            const plaintext = patternBytes(length, length + 3);
            const envelope = await encryptToBuffer(plaintext, key, { chunkSize, secretstream: encryptWith });
            expectBytesEqual(await decryptToBuffer(envelope, key, { secretstream: decryptWith }), plaintext);
          }
        });
      }
    }
  });
});
