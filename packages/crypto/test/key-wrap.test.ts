import { expect } from "chai";
import {
  InvalidArgumentError,
  InvalidKeyError,
  UnsupportedFormatError,
  UnwrapError,
  WRAP_BYTES,
  WrapContextMismatchError,
  generateDataKey,
  generateX25519KeyPair,
  unwrapKey,
  wrapKey,
  wrapKeyForRecipients,
} from "../src/index.ts";
import { expectBytesEqual, expectCryptoError, thrown } from "./helpers.ts";

const context = "hygeia:record:7f1c2a";

describe("DEK wrapping (sealed boxes bound to a context)", function () {
  it("wraps to one recipient and unwraps", function () {
    const dek = generateDataKey();
    const recipient = generateX25519KeyPair();
    const wrap = wrapKey(dek, recipient.publicKey, context);
    expect(wrap.length).to.equal(WRAP_BYTES).and.to.equal(114);
    expect([wrap[0], wrap[1]]).to.deep.equal([1, 1]);
    expectBytesEqual(unwrapKey(wrap, recipient, context), dek);
  });

  it("wraps to many recipients; each opens only its own wrap", function () {
    const dek = generateDataKey();
    const parties = Array.from({ length: 12 }, (_, i) => ({
      id: `did:example:${i}#key-x25519`,
      ...generateX25519KeyPair(),
    }));
    const wraps = wrapKeyForRecipients(dek, parties, context);
    expect(wraps.map((w) => w.recipientId)).to.deep.equal(parties.map((p) => p.id));
    for (const [i, party] of parties.entries()) {
      expectBytesEqual(unwrapKey(wraps[i]!.wrap, party, context), dek);
      const other = wraps[(i + 1) % wraps.length]!.wrap;
      expectCryptoError(
        thrown(() => unwrapKey(other, party, context)),
        UnwrapError,
        "UNWRAP_FAILED",
      );
    }
  });

  it("two wraps of the same DEK to the same key differ (fresh ephemeral key)", function () {
    const dek = generateDataKey();
    const recipient = generateX25519KeyPair();
    expect(Buffer.from(wrapKey(dek, recipient.publicKey, context))).to.not.deep.equal(
      Buffer.from(wrapKey(dek, recipient.publicKey, context)),
    );
  });

  it("a wrong recipient fails with UnwrapError", function () {
    const wrap = wrapKey(generateDataKey(), generateX25519KeyPair().publicKey, context);
    expectCryptoError(
      thrown(() => unwrapKey(wrap, generateX25519KeyPair(), context)),
      UnwrapError,
      "UNWRAP_FAILED",
    );
  });

  it("a wrap moved to another record (context) fails with WrapContextMismatchError", function () {
    const recipient = generateX25519KeyPair();
    const wrap = wrapKey(generateDataKey(), recipient.publicKey, "hygeia:record:A");
    const error = thrown(() => unwrapKey(wrap, recipient, "hygeia:record:B"));
    expectCryptoError(error, WrapContextMismatchError, "WRAP_CONTEXT_MISMATCH");
    expect(error).to.be.instanceOf(UnwrapError);
  });

  it("string and byte contexts are the same when the bytes are the UTF-8 of the string", function () {
    const dek = generateDataKey();
    const recipient = generateX25519KeyPair();
    const wrap = wrapKey(dek, recipient.publicKey, "hygeia:record:ü");
    expectBytesEqual(unwrapKey(wrap, recipient, new TextEncoder().encode("hygeia:record:ü")), dek);
  });

  it("every bit flip of a wrap is detected", function () {
    const recipient = generateX25519KeyPair();
    const wrap = wrapKey(generateDataKey(), recipient.publicKey, context);
    for (let offset = 2; offset < wrap.length; offset++) {
      const tampered = wrap.slice();
      tampered[offset]! ^= 0x01;
      expectCryptoError(
        thrown(() => unwrapKey(tampered, recipient, context)),
        UnwrapError,
        "UNWRAP_FAILED",
      );
    }
  });

  it("rejects unknown wrap versions and algorithms, and malformed lengths", function () {
    const recipient = generateX25519KeyPair();
    const wrap = wrapKey(generateDataKey(), recipient.publicKey, context);
    const version2 = wrap.slice();
    version2[0] = 2;
    const algorithm7 = wrap.slice();
    algorithm7[1] = 7;
    expectCryptoError(
      thrown(() => unwrapKey(version2, recipient, context)),
      UnsupportedFormatError,
      "UNSUPPORTED_FORMAT",
    );
    expectCryptoError(
      thrown(() => unwrapKey(algorithm7, recipient, context)),
      UnsupportedFormatError,
      "UNSUPPORTED_FORMAT",
    );
    expectCryptoError(
      thrown(() => unwrapKey(wrap.subarray(0, 113), recipient, context)),
      UnwrapError,
      "UNWRAP_FAILED",
    );
    expectCryptoError(
      thrown(() => unwrapKey(new Uint8Array(1), recipient, context)),
      UnwrapError,
      "UNWRAP_FAILED",
    );
  });

  it("validates inputs with typed errors", function () {
    const recipient = generateX25519KeyPair();
    const dek = generateDataKey();
    expectCryptoError(
      thrown(() => wrapKey(new Uint8Array(31), recipient.publicKey, context)),
      InvalidKeyError,
      "INVALID_KEY",
    );
    expectCryptoError(
      thrown(() => wrapKey(dek, new Uint8Array(33), context)),
      InvalidKeyError,
      "INVALID_KEY",
    );
    expectCryptoError(
      thrown(() => wrapKey(dek, recipient.publicKey, "")),
      InvalidArgumentError,
      "INVALID_ARGUMENT",
    );
    expectCryptoError(
      thrown(() => wrapKeyForRecipients(dek, [], context)),
      InvalidArgumentError,
      "INVALID_ARGUMENT",
    );
    const badPair = { publicKey: recipient.publicKey, secretKey: new Uint8Array(5) };
    const wrap = wrapKey(dek, recipient.publicKey, context);
    expectCryptoError(
      thrown(() => unwrapKey(wrap, badPair, context)),
      InvalidKeyError,
      "INVALID_KEY",
    );
  });

  it("refuses to wrap to a low-order public key (its shared secret is public)", function () {
    const lowOrderPoints = [
      new Uint8Array(32), // 0
      Uint8Array.of(1, ...new Uint8Array(31)), // 1
      // order-8 point (from the X25519 small-order list)
      Uint8Array.from(Buffer.from("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", "hex")),
    ];
    for (const point of lowOrderPoints) {
      expectCryptoError(
        thrown(() => wrapKey(generateDataKey(), point, context)),
        InvalidKeyError,
        "INVALID_KEY",
      );
    }
  });
});
