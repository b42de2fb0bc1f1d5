// Committed vectors (test/vectors/*.json) checked against this implementation, and against the independent
// reference encoder written from the README.
import { readFileSync } from "node:fs";
import { expect } from "chai";
import {
  WrapContextMismatchError,
  decryptToBuffer,
  deriveKeyPairFromKeystoreSecret,
  deriveKeyPairFromWalletSignature,
  encryptToBuffer,
  generateDataKey,
  keyDerivationDigest,
  keyDerivationTypedData,
  libsodiumSecretstream,
  nativeSecretstream,
  unwrapKey,
} from "../src/index.ts";
import { NativePushState } from "../src/secretstream/node-crypto.ts";
import { buildEnvelope, referenceEncrypt } from "./reference-secretstream.ts";
import { expectBytesEqual, expectCryptoError, fromHex, hex, patternBytes, thrown } from "./helpers.ts";

const load = <T>(name: string): T => JSON.parse(readFileSync(new URL(`vectors/${name}`, import.meta.url), "utf8")) as T;

interface RecordVectors {
  cases: { name: string; key: string; streamHeader: string; chunkSize: number; plaintext: string; envelope: string }[];
}
interface WrapVectors {
  recipientSecretKey: string;
  recipientPublicKey: string;
  dataKey: string;
  cases: { context: string; wrap: string }[];
}
interface DerivationVectors {
  wallet: {
    address: string;
    cases: {
      keyIndex: number;
      typedData: unknown;
      digest: string;
      signature: string;
      x25519SecretKey: string;
      x25519PublicKey: string;
    }[];
  };
  keystore: { secret: string; x25519SecretKey: string; x25519PublicKey: string };
}

describe("test vectors", function () {
  describe("records.json", function () {
    for (const vector of load<RecordVectors>("records.json").cases) {
      it(vector.name, async function () {
        const key = fromHex(vector.key);
        const envelope = fromHex(vector.envelope);
        for (const secretstream of [libsodiumSecretstream, nativeSecretstream]) {
          expectBytesEqual(await decryptToBuffer(envelope, key, { secretstream }), fromHex(vector.plaintext));
        }
        const reproduced = referenceEncrypt(
          key,
          fromHex(vector.streamHeader),
          fromHex(vector.plaintext),
          vector.chunkSize,
        );
        expect(hex(reproduced)).to.equal(vector.envelope);
        const header = fromHex(vector.streamHeader);
        const native = buildEnvelope(
          new NativePushState(key, header),
          header,
          fromHex(vector.plaintext),
          vector.chunkSize,
        );
        expect(hex(native), "the native encoder").to.equal(vector.envelope);
      });
    }

    it("the reference encoder matches libsodium on random records", async function () {
      for (const length of [0, 1, 15, 16, 17, 47, 48, 49, 1023, 1024, 1025, 4096 + 13]) {
        const key = generateDataKey();
        const plaintext = patternBytes(length, length + 7);
        const envelope = await encryptToBuffer(plaintext, key, { chunkSize: 1024 });
        const reproduced = referenceEncrypt(key, envelope.subarray(10, 34), plaintext, 1024);
        expect(hex(reproduced), `length ${length}`).to.equal(hex(envelope));
      }
    });
  });

  describe("wraps.json", function () {
    const vectors = load<WrapVectors>("wraps.json");
    const recipient = {
      publicKey: fromHex(vectors.recipientPublicKey),
      secretKey: fromHex(vectors.recipientSecretKey),
    };
    for (const vector of vectors.cases) {
      it(`unwraps for context ${vector.context}`, function () {
        expectBytesEqual(unwrapKey(fromHex(vector.wrap), recipient, vector.context), fromHex(vectors.dataKey));
        expectCryptoError(
          thrown(() => unwrapKey(fromHex(vector.wrap), recipient, vector.context + "x")),
          WrapContextMismatchError,
          "WRAP_CONTEXT_MISMATCH",
        );
      });
    }
  });

  describe("derivation.json", function () {
    const vectors = load<DerivationVectors>("derivation.json");
    for (const vector of vectors.wallet.cases) {
      it(`wallet signature, keyIndex ${vector.keyIndex}`, function () {
        expect(keyDerivationTypedData(vector.keyIndex)).to.deep.equal(vector.typedData);
        expect(hex(keyDerivationDigest(vector.keyIndex))).to.equal(vector.digest);
        const keyPair = deriveKeyPairFromWalletSignature(vector.signature, {
          expectedAddress: vectors.wallet.address,
          keyIndex: vector.keyIndex,
        });
        expect(hex(keyPair.secretKey)).to.equal(vector.x25519SecretKey);
        expect(hex(keyPair.publicKey)).to.equal(vector.x25519PublicKey);
      });
    }

    it("keystore secret", function () {
      const keyPair = deriveKeyPairFromKeystoreSecret(fromHex(vectors.keystore.secret));
      expect(hex(keyPair.secretKey)).to.equal(vectors.keystore.x25519SecretKey);
      expect(hex(keyPair.publicKey)).to.equal(vectors.keystore.x25519PublicKey);
    });
  });
});
