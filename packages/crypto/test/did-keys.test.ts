import { expect } from "chai";
import { base58, base64, base64urlnopad } from "@scure/base";
import {
  InvalidKeyError,
  generateX25519KeyPair,
  x25519KeyFromVerificationMethod,
  x25519KeysFromDidDocument,
  x25519PublicKeyToBase64,
  x25519PublicKeyToJwk,
  x25519PublicKeyToMultibase,
} from "../src/index.ts";
import { expectBytesEqual, expectCryptoError, thrown } from "./helpers.ts";

const did = "did:ethr:0x1:0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
const key = generateX25519KeyPair().publicKey;
const ed25519Multibase = "z" + base58.encode(Uint8Array.of(0xed, 0x01, ...generateX25519KeyPair().publicKey));

describe("X25519 keys from DID documents", function () {
  describe("one verification method", function () {
    const good = {
      "publicKeyMultibase (Multikey)": { type: "Multikey", publicKeyMultibase: x25519PublicKeyToMultibase(key) },
      "publicKeyMultibase (X25519KeyAgreementKey2020)": {
        type: "X25519KeyAgreementKey2020",
        publicKeyMultibase: x25519PublicKeyToMultibase(key),
      },
      "publicKeyBase64 (ERC-1056 did/pub/X25519/enc/base64)": {
        type: "X25519KeyAgreementKey2019",
        publicKeyBase64: x25519PublicKeyToBase64(key),
      },
      "publicKeyBase64 without padding": {
        type: "X25519KeyAgreementKey2019",
        publicKeyBase64: x25519PublicKeyToBase64(key).replace(/=+$/, ""),
      },
      "publicKeyBase58 (X25519KeyAgreementKey2019)": {
        type: "X25519KeyAgreementKey2019",
        publicKeyBase58: base58.encode(key),
      },
      "publicKeyJwk (JsonWebKey2020)": { type: "JsonWebKey2020", publicKeyJwk: x25519PublicKeyToJwk(key) },
      "publicKeyJwk with extra members": {
        type: "JsonWebKey",
        publicKeyJwk: { ...x25519PublicKeyToJwk(key), use: "enc", kid: "k1" },
      },
    };
    for (const [name, method] of Object.entries(good)) {
      it(`accepts ${name}`, function () {
        expectBytesEqual(x25519KeyFromVerificationMethod({ id: `${did}#k`, controller: did, ...method }), key);
      });
    }

    const bad: Record<string, unknown> = {
      "not an object": "z6LS...",
      null: null,
      "no type": { publicKeyMultibase: x25519PublicKeyToMultibase(key) },
      "an Ed25519 type": { type: "Ed25519VerificationKey2020", publicKeyMultibase: ed25519Multibase },
      "an Ed25519 multicodec in a Multikey": { type: "Multikey", publicKeyMultibase: ed25519Multibase },
      "no key material": { type: "Multikey" },
      "two key materials": {
        type: "X25519KeyAgreementKey2019",
        publicKeyBase64: x25519PublicKeyToBase64(key),
        publicKeyMultibase: x25519PublicKeyToMultibase(key),
      },
      "multibase that is not base58btc": { type: "Multikey", publicKeyMultibase: "m" + base64.encode(key) },
      "multibase with invalid base58": { type: "Multikey", publicKeyMultibase: "z0OIl" },
      "multibase of 31 key bytes": {
        type: "Multikey",
        publicKeyMultibase: "z" + base58.encode(Uint8Array.of(0xec, 0x01, ...key.subarray(1))),
      },
      "publicKeyBase64 of 33 bytes": {
        type: "X25519KeyAgreementKey2019",
        publicKeyBase64: base64.encode(Uint8Array.of(...key, 0)),
      },
      "publicKeyBase64 not base64": { type: "X25519KeyAgreementKey2019", publicKeyBase64: "***not base64***" },
      "publicKeyBase64 under a type without curve": { type: "JsonWebKey2020", publicKeyBase64: base64.encode(key) },
      "publicKeyBase64 that is a number": { type: "X25519KeyAgreementKey2019", publicKeyBase64: 42 },
      "JWK on another curve": { type: "JsonWebKey2020", publicKeyJwk: { kty: "OKP", crv: "Ed25519", x: "AA" } },
      "JWK EC P-256": { type: "JsonWebKey2020", publicKeyJwk: { kty: "EC", crv: "P-256", x: "AA", y: "AA" } },
      "JWK with a private key": {
        type: "JsonWebKey2020",
        publicKeyJwk: { ...x25519PublicKeyToJwk(key), d: base64urlnopad.encode(key) },
      },
      "JWK x padded / wrong alphabet": {
        type: "JsonWebKey2020",
        publicKeyJwk: { kty: "OKP", crv: "X25519", x: base64.encode(key) },
      },
      "JWK x missing": { type: "JsonWebKey2020", publicKeyJwk: { kty: "OKP", crv: "X25519" } },
      "JWK that is a string": { type: "JsonWebKey2020", publicKeyJwk: "{}" },
      "a low-order point": { type: "X25519KeyAgreementKey2019", publicKeyBase64: base64.encode(new Uint8Array(32)) },
      "a non-canonical encoding (bit 255 set)": {
        type: "X25519KeyAgreementKey2019",
        publicKeyBase64: base64.encode(Uint8Array.of(...key.subarray(0, 31), key[31]! | 0x80)),
      },
    };
    for (const [name, method] of Object.entries(bad)) {
      it(`rejects ${name}`, function () {
        expectCryptoError(
          thrown(() => x25519KeyFromVerificationMethod(method)),
          InvalidKeyError,
          "INVALID_KEY",
        );
      });
    }
  });

  describe("a whole DID document", function () {
    const other = generateX25519KeyPair().publicKey;
    const document = {
      "@context": ["https://www.w3.org/ns/did/v1"],
      id: did,
      verificationMethod: [
        {
          id: `${did}#controller`,
          type: "EcdsaSecp256k1RecoveryMethod2020",
          controller: did,
          blockchainAccountId: "x",
        },
        {
          id: `${did}#delegate-1`,
          type: "X25519KeyAgreementKey2019",
          controller: did,
          publicKeyBase64: base64.encode(key),
        },
        { id: "#ed", type: "Ed25519VerificationKey2020", controller: did, publicKeyMultibase: ed25519Multibase },
      ],
      keyAgreement: [
        `${did}#delegate-1`,
        "#ed",
        { id: "#embedded", type: "Multikey", controller: did, publicKeyMultibase: x25519PublicKeyToMultibase(other) },
      ],
    };

    it("returns every X25519 keyAgreement key with an absolute id, skipping other curves", function () {
      const keys = x25519KeysFromDidDocument(document);
      expect(keys.map((k) => k.id)).to.deep.equal([`${did}#delegate-1`, `${did}#embedded`]);
      expectBytesEqual(keys[0]!.publicKey, key);
      expectBytesEqual(keys[1]!.publicKey, other);
    });

    it("rejects a dangling keyAgreement reference", function () {
      const broken = { ...document, keyAgreement: [`${did}#missing`] };
      expectCryptoError(
        thrown(() => x25519KeysFromDidDocument(broken)),
        InvalidKeyError,
        "INVALID_KEY",
      );
    });

    it("rejects a malformed X25519 entry rather than skipping it", function () {
      const broken = {
        ...document,
        keyAgreement: [{ id: "#bad", type: "X25519KeyAgreementKey2019", publicKeyBase64: "AAAA" }],
      };
      expectCryptoError(
        thrown(() => x25519KeysFromDidDocument(broken)),
        InvalidKeyError,
        "INVALID_KEY",
      );
    });

    it("rejects a document with no X25519 keyAgreement key", function () {
      expectCryptoError(
        thrown(() => x25519KeysFromDidDocument({ ...document, keyAgreement: ["#ed"] })),
        InvalidKeyError,
        "INVALID_KEY",
      );
      expectCryptoError(
        thrown(() => x25519KeysFromDidDocument({ id: did })),
        InvalidKeyError,
        "INVALID_KEY",
      );
    });

    it("rejects things that are not DID documents", function () {
      for (const value of [null, "did:x", { id: "not-a-did" }, { id: did, keyAgreement: "#k" }]) {
        expectCryptoError(
          thrown(() => x25519KeysFromDidDocument(value)),
          InvalidKeyError,
          "INVALID_KEY",
        );
      }
    });
  });

  it("encodes multibase keys with the z6LS prefix of multicodec 0xec", function () {
    expect(x25519PublicKeyToMultibase(key)).to.match(/^z6LS/);
  });
});
