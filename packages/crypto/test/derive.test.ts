import { expect } from "chai";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import {
  InvalidArgumentError,
  InvalidKeyError,
  InvalidSignatureError,
  NonDeterministicSignerError,
  assertDeterministicSigner,
  canonicalSignature,
  deriveKeyPairFromKeystoreSecret,
  deriveKeyPairFromWalletSignature,
  generateDataKey,
  keyDerivationDigest,
  keyDerivationTypedData,
  recoverSignerAddress,
  unwrapKey,
  wrapKey,
} from "../src/index.ts";
import { expectBytesEqual, expectCryptoError, fromHex, hex, thrown } from "./helpers.ts";

const CURVE_ORDER = secp256k1.Point.CURVE().n;
const walletKey = fromHex("59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"); // Hardhat account #1
const walletAddress = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

function sign(keyIndex = 0, extraEntropy: boolean | Uint8Array = false): Uint8Array {
  const recovered = secp256k1.sign(keyDerivationDigest(keyIndex), walletKey, {
    prehash: false,
    format: "recovered",
    extraEntropy,
  });
  return Uint8Array.of(...recovered.subarray(1), 27 + (recovered[0] ?? 0));
}

/** The same ECDSA signature, written the other way: s' = n - s and the recovery bit flipped. */
function highS(signature: Uint8Array): Uint8Array {
  const s = BigInt("0x" + hex(signature.subarray(32, 64)));
  const out = signature.slice();
  out.set(fromHex((CURVE_ORDER - s).toString(16).padStart(64, "0")), 32);
  out[64] = signature[64] === 27 ? 28 : 27;
  return out;
}

describe("X25519 key derivation", function () {
  describe("from a wallet signature over the EIP-712 message", function () {
    it("is deterministic and works as a wrap recipient", function () {
      const a = deriveKeyPairFromWalletSignature(sign(), { expectedAddress: walletAddress });
      const b = deriveKeyPairFromWalletSignature("0x" + hex(sign()), { expectedAddress: walletAddress });
      expectBytesEqual(a.publicKey, b.publicKey);
      expectBytesEqual(a.secretKey, b.secretKey);
      const dek = generateDataKey();
      expectBytesEqual(unwrapKey(wrapKey(dek, a.publicKey, "ctx"), b, "ctx"), dek);
    });

    it("gives the same key for every encoding of the same signature (v 0/1 or 27/28, high or low s)", function () {
      const signature = sign();
      const reference = deriveKeyPairFromWalletSignature(signature).publicKey;
      const v01 = signature.slice();
      v01[64] = signature[64]! - 27;
      for (const variant of [v01, highS(signature)]) {
        expectBytesEqual(canonicalSignature(variant), signature);
        expectBytesEqual(
          deriveKeyPairFromWalletSignature(variant, { expectedAddress: walletAddress }).publicKey,
          reference,
        );
      }
    });

    it("gives independent keys per keyIndex", function () {
      const k0 = deriveKeyPairFromWalletSignature(sign(0), { expectedAddress: walletAddress, keyIndex: 0 });
      const k1 = deriveKeyPairFromWalletSignature(sign(1), { expectedAddress: walletAddress, keyIndex: 1 });
      expect(hex(k0.publicKey)).to.not.equal(hex(k1.publicKey));
    });

    it("rejects a signature over a different keyIndex or from another account", function () {
      expectCryptoError(
        thrown(() => deriveKeyPairFromWalletSignature(sign(1), { expectedAddress: walletAddress, keyIndex: 0 })),
        InvalidSignatureError,
        "INVALID_SIGNATURE",
      );
      expectCryptoError(
        thrown(() =>
          deriveKeyPairFromWalletSignature(sign(), { expectedAddress: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266" }),
        ),
        InvalidSignatureError,
        "INVALID_SIGNATURE",
      );
    });

    it("recovers the signer's address", function () {
      expect(recoverSignerAddress(sign(), keyDerivationDigest())).to.equal(walletAddress.toLowerCase());
    });

    it("rejects malformed signatures with typed errors", function () {
      const good = sign();
      const withV = (v: number): Uint8Array => Uint8Array.of(...good.subarray(0, 64), v);
      const zeroR = good.slice();
      zeroR.fill(0, 0, 32);
      const rAtOrder = good.slice();
      rAtOrder.set(fromHex(CURVE_ORDER.toString(16)), 0);
      const malformed: unknown[] = [
        good.subarray(0, 64),
        Uint8Array.of(...good, 0),
        withV(2),
        withV(29),
        zeroR,
        rAtOrder,
        "0x" + hex(good).slice(2),
        hex(good),
        "0x" + "zz".repeat(65),
        42,
      ];
      for (const signature of malformed) {
        expectCryptoError(
          thrown(() => deriveKeyPairFromWalletSignature(signature as Uint8Array)),
          InvalidSignatureError,
          "INVALID_SIGNATURE",
        );
      }
      expectCryptoError(
        thrown(() => deriveKeyPairFromWalletSignature(good, { expectedAddress: "0x1234" })),
        InvalidArgumentError,
        "INVALID_ARGUMENT",
      );
    });

    it("detects a non-deterministic signer", function () {
      assertDeterministicSigner(sign(), "0x" + hex(highS(sign())));
      expectCryptoError(
        thrown(() => assertDeterministicSigner(sign(0, true), sign(0, true))),
        NonDeterministicSignerError,
        "NON_DETERMINISTIC_SIGNER",
      );
    });

    it("exposes eth_signTypedData_v4 data without chainId", function () {
      const typedData = keyDerivationTypedData();
      expect(typedData.domain).to.deep.equal({ name: "Hygeia", version: "1" });
      expect(typedData.message.statement).to.equal("Derive my Hygeia encryption key. Only sign this on a Hygeia page.");
      expect(() => keyDerivationTypedData(-1)).to.throw(InvalidArgumentError);
      expect(() => keyDerivationTypedData(2 ** 32)).to.throw(InvalidArgumentError);
    });
  });

  describe("from a keystore secret", function () {
    it("is deterministic and differs from the wallet-signature key for related input", function () {
      const secret = fromHex("11".repeat(65));
      const a = deriveKeyPairFromKeystoreSecret(secret);
      expectBytesEqual(a.publicKey, deriveKeyPairFromKeystoreSecret(secret.slice()).publicKey);
      expect(hex(a.publicKey)).to.not.equal(hex(deriveKeyPairFromWalletSignature(sign()).publicKey));
    });

    it("rejects short or non-byte secrets", function () {
      for (const secret of [new Uint8Array(31), "secret", undefined]) {
        expectCryptoError(
          thrown(() => deriveKeyPairFromKeystoreSecret(secret as Uint8Array)),
          InvalidKeyError,
          "INVALID_KEY",
        );
      }
    });
  });
});
