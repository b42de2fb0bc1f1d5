import { expect } from "chai";
import {
  InvalidArgumentError,
  InvalidKeyError,
  UnsupportedFormatError,
  UnwrapError,
  WRAP_BYTES,
  WrapContextMismatchError,
  generateDataKey,
  assertX25519PublicKey,
  generateX25519KeyPair,
  isCanonicalX25519PublicKey,
  unwrapKey,
  wrapKey,
  wrapKeyForRecipients,
} from "../src/index.ts";
import { expectBytesEqual, expectCryptoError, fromHex, thrown } from "./helpers.ts";

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

  describe("non-canonical public key encodings (RFC 7748: bit 255 clear, u < p = 2^255 − 19)", function () {
    // X25519 reads each of these as another 32 bytes' point, but a sealed box hashes the key bytes into its nonce,
    // so the holder of the point (whose public key is the canonical bytes) could not open a wrap made to them.
    const valid = generateX25519KeyPair().publicKey;
    const highBit = Uint8Array.from(valid);
    highBit[31]! |= 0x80;
    const nonCanonical: Record<string, Uint8Array> = {
      "a valid key with bit 255 set": highBit,
      "p (≡ 0)": fromHex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
      "p + 1 (≡ 1)": fromHex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
      "p + 2 (≡ 2, not a low-order point)": fromHex("efffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
      "2^255 − 1 (p + 18)": fromHex("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
      "9 with bit 255 set": fromHex("0900000000000000000000000000000000000000000000000000000000000080"),
      "all ones": new Uint8Array(32).fill(0xff),
    };
    for (const [name, key] of Object.entries(nonCanonical)) {
      it(`refuses ${name}: wrapKey, wrapKeyForRecipients (naming recipients[i].publicKey) and assertX25519PublicKey`, function () {
        expect(isCanonicalX25519PublicKey(key)).to.equal(false);
        const single = thrown(() => wrapKey(generateDataKey(), key, context));
        expectCryptoError(single, InvalidKeyError, "INVALID_KEY");
        expect((single as Error).message).to.match(/not a canonical X25519 encoding/);
        const recipients = [
          { id: "did:example:clinic#key-1", publicKey: valid },
          { id: "did:example:clinic#key-2", publicKey: key },
        ];
        const many = thrown(() => wrapKeyForRecipients(generateDataKey(), recipients, context));
        expectCryptoError(many, InvalidKeyError, "INVALID_KEY");
        expect((many as Error).message).to.match(/^recipients\[1\]\.publicKey is not a canonical X25519 encoding/);
        expectCryptoError(
          thrown(() => assertX25519PublicKey(key)),
          InvalidKeyError,
          "INVALID_KEY",
        );
      });
    }

    it("accepts the canonical edges: u = 9 (the base point), u = 2 and u = p − 2, the largest that is not low-order", function () {
      const edges = [
        fromHex("0900000000000000000000000000000000000000000000000000000000000000"),
        fromHex("0200000000000000000000000000000000000000000000000000000000000000"),
        fromHex("ebffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
      ];
      for (const key of edges) {
        expect(isCanonicalX25519PublicKey(key)).to.equal(true);
        expect(wrapKey(generateDataKey(), key, context).length).to.equal(WRAP_BYTES);
      }
      // p − 1 (≡ −1) is canonical but of order 2: refused as a low-order point, not as non-canonical.
      const minusOne = fromHex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
      expect(isCanonicalX25519PublicKey(minusOne)).to.equal(true);
      expect((thrown(() => wrapKey(generateDataKey(), minusOne, context)) as Error).message).to.match(/low-order/);
    });

    it("allowNonCanonical accepts a non-canonical encoding (reading back what was recorded), never a low-order point", function () {
      const recipient = generateX25519KeyPair();
      const highBitOfRecipient = Uint8Array.from(recipient.publicKey);
      highBitOfRecipient[31]! |= 0x80;
      expect(() => assertX25519PublicKey(highBitOfRecipient, "share", { allowNonCanonical: true })).not.to.throw();
      // Still never a low-order point, canonical or not.
      expectCryptoError(
        thrown(() => assertX25519PublicKey(nonCanonical["p (≡ 0)"], "share", { allowNonCanonical: true })),
        InvalidKeyError,
        "INVALID_KEY",
      );
    });
  });
});
