// The consent secret, scope key and consent-account seed (docs/private-scopes.md): committed vectors, checked
// against our derivation AND against a reference written from the spec with node:crypto (hkdfSync, createHmac),
// which shares no code with ours (@noble/hashes). The same vectors are written out in docs/private-scopes.md.
import { expect } from "chai";
import { Wallet, type BaseWallet } from "ethers";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { PatientScopes, consentAccount } from "@hygeia/chain";
import {
  CONSENT_SECRET_BYTES,
  CONSENT_ACCOUNT_SEED_BYTES,
  CONSENT_ACCOUNT_SEED_INFO,
  CONSENT_SECRET_KEYSTORE_INFO,
  CONSENT_SECRET_WALLET_SIGNATURE_INFO,
  CryptoErrorCode,
  InvalidArgumentError,
  InvalidKeyError,
  InvalidSignatureError,
  KEY_DERIVATION_SALT,
  NonDeterministicSignerError,
  SCOPE_KEY_INFO,
  WALLET_SIGNATURE_INFO,
  deriveConsentAccountSeed,
  deriveConsentSecretFromEip1193Wallet,
  deriveConsentSecretFromKeystoreSecret,
  deriveConsentSecretFromWalletSignature,
  deriveKeyPairFromWalletSignature,
  deriveScopeKey,
  deriveStudyPseudonymKey,
  STUDY_PSEUDONYM_KEY_INFO,
  keyDerivationDigest,
  keyDerivationTypedDataForEthers,
} from "../src/index.ts";
import type { Eip1193Provider } from "../src/index.ts";
import { expectCryptoError, fromHex, hex, rejection, thrown } from "./helpers.ts";
import { referenceHkdf, referenceScopeId } from "../../../test/reference/private-scopes.ts";

// --- Vectors (also in docs/private-scopes.md, "Test vectors") -----------------------------------------------------

/** Keystore path: the secret is the bytes 0x00, 0x01, ..., 0x1f. */
const KEYSTORE = {
  secret: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
  consentSecret: "6bfb697150edfab4d787868580f2bc94138cf52ee396db104820b0ca34594689",
  scopeKey: "4f93e6942bc16dfb64e96e9669c6a3bbcf670549a314ed25771636f2e30c6f07",
  consentAccountSeed:
    "2282f59cecc9540b6507bfce426f6688620e0a0d37ee220c48713564a270a164" +
    "54874defb4f923ca0a1bd084c78c778750d3981d05e27683540bcd4c62cd9835",
};

/**
 * Wallet path: Hardhat / anvil test account #0 (a public key: never use it on a real network) signs
 * keyDerivationTypedDataForEthers() (key index 0) with ethers' Wallet.signTypedData (RFC 6979, so always this
 * signature). Its s is already low and v is 28, so the signature is its own canonical form.
 */
const WALLET = {
  privateKey: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  address: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
  signature:
    "0xcb5299fe36f57eab26e4ae89599fff19925d002c4e37ed290b81af9f510df5bc" +
    "628b6856866f8e1b05a9f8046a6918a66b67536a5e839e3fa14e86b5b9de62d21c",
  consentSecret: "44d10b81e4c80e05a7381c48ff483c855e0803a74d80de60f911c3d1cdc99448",
  scopeKey: "51fb897b58c5b39446fdc7533f4bd197d3af600348ff9f60434428e27ae03b80",
  consentAccountSeed:
    "90ef54f8180fd730ecc067d0166830881fb5a5fca8920d5dfae2221746703a2f" +
    "8c406f4548f1cbc4bab810fc4a318bec5e99ed85d2a911e0da97fcc5fc5d15b6",
  /** Consent account m/7424'/0' of the seed (BIP-32), the second consent address of the id vectors. */
  consentAccount0: "0x32Dce9e1fA8D9d4Aff88FD53eFbc397F7dCE6217",
  /** Keyed id of category:substance-use under the wallet's address, and under consent account 0. */
  substanceUseId: "0xa77c0d12b8e2c65924e56d9a4fc7964744fe4ba7cfb40e575e55ca1eeb1c130d",
  substanceUseIdAccount0: "0x8a3c29655563b0693b53805c7407722623665f1b72a9a61b8e98bebb027d1dd3",
};

// --- Reference: the spec in node:crypto ----------------------------------------------------------------------------

function referenceChain(ikm: Uint8Array, info: string): { consentSecret: string; scopeKey: string; seed: string } {
  const consentSecret = referenceHkdf(ikm, info, 32);
  return {
    consentSecret,
    scopeKey: referenceHkdf(fromHex(consentSecret), "hygeia/scope-key/v1", 32),
    seed: referenceHkdf(fromHex(consentSecret), "hygeia/consent-account-seed/v1", 64),
  };
}

/** A signature over the key-derivation message with a random nonce: a valid signature, but not reproducible. */
function randomNonceSignature(privateKey: string, keyIndex = 0): string {
  const recovered = secp256k1.sign(keyDerivationDigest(keyIndex), fromHex(privateKey.slice(2)), {
    prehash: false,
    extraEntropy: true,
    format: "recovered",
  });
  // noble's "recovered" format is recovery || r || s; wallets return r || s || (27 + recovery).
  return "0x" + hex(recovered.subarray(1)) + (27 + recovered[0]!).toString(16);
}

/** A minimal EIP-1193 provider around an ethers Wallet: what a browser wallet does with eth_signTypedData_v4. */
function walletProvider(wallet: BaseWallet, sign?: () => string): Eip1193Provider & { calls: number } {
  const provider = {
    calls: 0,
    async request({ method, params }: { method: string; params?: readonly unknown[] }): Promise<unknown> {
      provider.calls++;
      if (method !== "eth_signTypedData_v4") throw new Error(`unexpected ${method}`);
      if (sign !== undefined) return sign();
      const [, json] = params as [string, string];
      const { domain, types, message } = JSON.parse(json) as {
        domain: Record<string, string>;
        types: Record<string, { name: string; type: string }[]>;
        message: Record<string, unknown>;
      };
      delete types.EIP712Domain; // ethers derives it from domain
      return wallet.signTypedData(domain, types, message);
    },
  };
  return provider;
}

describe("consent secret, scope key and consent-account seed", function () {
  describe("vectors", function () {
    it("the labels and salt are the documented strings", function () {
      expect(KEY_DERIVATION_SALT).to.equal("hygeia/key-derivation/v1");
      expect(CONSENT_SECRET_KEYSTORE_INFO).to.equal("hygeia/consent-secret/keystore-secret/v1");
      expect(CONSENT_SECRET_WALLET_SIGNATURE_INFO).to.equal("hygeia/consent-secret/eip712-wallet-signature/v1");
      expect(SCOPE_KEY_INFO).to.equal("hygeia/scope-key/v1");
      expect(CONSENT_ACCOUNT_SEED_INFO).to.equal("hygeia/consent-account-seed/v1");
      expect(CONSENT_ACCOUNT_SEED_BYTES).to.equal(64);
    });

    it("derives the keystore vector, and the node:crypto reference gives the same bytes", function () {
      const consentSecret = deriveConsentSecretFromKeystoreSecret(fromHex(KEYSTORE.secret));
      expect(hex(consentSecret)).to.equal(KEYSTORE.consentSecret);
      expect(hex(deriveScopeKey(consentSecret))).to.equal(KEYSTORE.scopeKey);
      expect(hex(deriveConsentAccountSeed(consentSecret))).to.equal(KEYSTORE.consentAccountSeed);

      expect(referenceChain(fromHex(KEYSTORE.secret), "hygeia/consent-secret/keystore-secret/v1")).to.deep.equal({
        consentSecret: KEYSTORE.consentSecret,
        scopeKey: KEYSTORE.scopeKey,
        seed: KEYSTORE.consentAccountSeed,
      });
    });

    it("an ethers Wallet signs the vector's signature, which derives the wallet vector (ours and the reference)", async function () {
      const wallet = new Wallet(WALLET.privateKey);
      expect(wallet.address).to.equal(WALLET.address);
      const { domain, types, message } = keyDerivationTypedDataForEthers();
      const signature = await wallet.signTypedData(domain, types, message);
      expect(signature).to.equal(WALLET.signature);

      const consentSecret = deriveConsentSecretFromWalletSignature(signature, { expectedAddress: wallet.address });
      expect(hex(consentSecret)).to.equal(WALLET.consentSecret);
      expect(hex(deriveScopeKey(consentSecret))).to.equal(WALLET.scopeKey);
      expect(hex(deriveConsentAccountSeed(consentSecret))).to.equal(WALLET.consentAccountSeed);

      // The signature is canonical already (low s, v = 28), so the reference hashes its 65 bytes as they are.
      expect(
        referenceChain(fromHex(WALLET.signature.slice(2)), "hygeia/consent-secret/eip712-wallet-signature/v1"),
      ).to.deep.equal({
        consentSecret: WALLET.consentSecret,
        scopeKey: WALLET.scopeKey,
        seed: WALLET.consentAccountSeed,
      });
    });

    it("the wallet vector's scope key gives the documented keyed ids, under the wallet and its consent account 0", function () {
      const account0 = consentAccount(fromHex(WALLET.consentAccountSeed), 0);
      expect(account0.address).to.equal(WALLET.consentAccount0);
      const scopes = new PatientScopes(fromHex(WALLET.scopeKey), WALLET.address);
      expect(scopes.id("category:substance-use")).to.equal(WALLET.substanceUseId);
      expect(scopes.forAddress(account0.address).id("category:substance-use")).to.equal(WALLET.substanceUseIdAccount0);
      expect(referenceScopeId(WALLET.scopeKey, WALLET.address, "category:substance-use")).to.equal(
        WALLET.substanceUseId,
      );
      expect(referenceScopeId(WALLET.scopeKey, WALLET.consentAccount0, "category:substance-use")).to.equal(
        WALLET.substanceUseIdAccount0,
      );
    });
  });

  describe("properties", function () {
    it("every encoding of the vector signature (high s, v as 0/1, bytes) gives the same consent secret", function () {
      const n = secp256k1.Point.CURVE().n;
      const bytes = fromHex(WALLET.signature.slice(2));
      const s = BigInt("0x" + hex(bytes.subarray(32, 64)));
      const highS = Uint8Array.from(bytes);
      highS.set(fromHex((n - s).toString(16).padStart(64, "0")), 32);
      highS[64] = 27; // the recovery bit flips with s
      const vAsRecoveryBit = Uint8Array.from(bytes);
      vAsRecoveryBit[64] = 1;
      for (const encoding of [bytes, highS, vAsRecoveryBit, "0x" + hex(highS)]) {
        const secret = deriveConsentSecretFromWalletSignature(encoding, { expectedAddress: WALLET.address });
        expect(hex(secret)).to.equal(WALLET.consentSecret);
      }
    });

    it("one signature gives the X25519 key and the consent secret independently (distinct HKDF labels)", function () {
      const keyPair = deriveKeyPairFromWalletSignature(WALLET.signature);
      const consentSecret = deriveConsentSecretFromWalletSignature(WALLET.signature, {
        expectedAddress: WALLET.address,
      });
      const scopeKey = deriveScopeKey(consentSecret);
      const seed = deriveConsentAccountSeed(consentSecret);
      // The X25519 secret key is the same HKDF under its own label, so it is the reference's output for that label.
      expect(hex(keyPair.secretKey)).to.equal(
        referenceHkdf(fromHex(WALLET.signature.slice(2)), WALLET_SIGNATURE_INFO, 32),
      );
      const all = [
        hex(keyPair.secretKey),
        hex(consentSecret),
        hex(scopeKey),
        hex(seed.subarray(0, 32)),
        hex(seed.subarray(32)),
      ];
      expect(new Set(all).size).to.equal(all.length);
    });

    it("the same wallet on a new device (a fresh Wallet signing again) derives the same consent secret", async function () {
      const deviceA = new Wallet(WALLET.privateKey);
      const deviceB = new Wallet(WALLET.privateKey);
      const { domain, types, message } = keyDerivationTypedDataForEthers();
      const a = deriveConsentSecretFromWalletSignature(await deviceA.signTypedData(domain, types, message), {
        expectedAddress: deviceA.address,
      });
      const b = deriveConsentSecretFromWalletSignature(await deviceB.signTypedData(domain, types, message), {
        expectedAddress: deviceB.address,
      });
      expect(hex(deriveScopeKey(b))).to.equal(hex(deriveScopeKey(a)));
      // The keystore path: the same secret restored from a backup, as a new buffer.
      const restored = Uint8Array.from(Buffer.from(KEYSTORE.secret, "hex"));
      expect(hex(deriveScopeKey(deriveConsentSecretFromKeystoreSecret(restored)))).to.equal(KEYSTORE.scopeKey);
    });

    it("two patients (two wallets, or two keystore secrets) get unrelated scope keys", async function () {
      const other = Wallet.createRandom();
      const { domain, types, message } = keyDerivationTypedDataForEthers();
      const otherSecret = deriveConsentSecretFromWalletSignature(await other.signTypedData(domain, types, message), {
        expectedAddress: other.address,
      });
      expect(hex(deriveScopeKey(otherSecret))).not.to.equal(WALLET.scopeKey);
      const nextSecret = fromHex(KEYSTORE.secret);
      nextSecret[31] = nextSecret[31]! ^ 1;
      expect(hex(deriveScopeKey(deriveConsentSecretFromKeystoreSecret(nextSecret)))).not.to.equal(KEYSTORE.scopeKey);
    });

    it("returns fresh buffers: wiping one output does not change the next derivation", function () {
      const consentSecret = deriveConsentSecretFromKeystoreSecret(fromHex(KEYSTORE.secret));
      const scopeKey = deriveScopeKey(consentSecret);
      scopeKey.fill(0);
      expect(hex(deriveScopeKey(consentSecret))).to.equal(KEYSTORE.scopeKey);
      consentSecret.fill(0);
      expect(hex(deriveConsentSecretFromKeystoreSecret(fromHex(KEYSTORE.secret)))).to.equal(KEYSTORE.consentSecret);
    });
  });

  describe("refusals", function () {
    it("refuses another account's signature when expectedAddress is given", async function () {
      const other = Wallet.createRandom();
      const { domain, types, message } = keyDerivationTypedDataForEthers();
      const signature = await other.signTypedData(domain, types, message);
      const error = thrown(() =>
        deriveConsentSecretFromWalletSignature(signature, { expectedAddress: WALLET.address }),
      );
      expectCryptoError(error, InvalidSignatureError, CryptoErrorCode.InvalidSignature);
    });

    it("refuses a signature over key index 1: the consent secret comes from key index 0 only", async function () {
      // Rotating the encryption key (key index 1) must not move the scope ids already on chain.
      const wallet = new Wallet(WALLET.privateKey);
      const { domain, types, message } = keyDerivationTypedDataForEthers(1);
      const rotated = await wallet.signTypedData(domain, types, message);
      const error = thrown(() => deriveConsentSecretFromWalletSignature(rotated, { expectedAddress: wallet.address }));
      expectCryptoError(error, InvalidSignatureError, CryptoErrorCode.InvalidSignature);
      // The refusal says what was signed and what is needed, not only "not the expected account's signature".
      expect((error as Error).message).to.match(/key-derivation signature for key index 1/);
      expect((error as Error).message).to.match(/the consent secret needs the key index 0 signature/);
    });

    it("requires expectedAddress: without it any 65-byte signature (key index 1, a personal_sign) would give a secret whose ids never match", async function () {
      const wallet = new Wallet(WALLET.privateKey);
      const { domain, types, message } = keyDerivationTypedDataForEthers(1);
      const rotated = await wallet.signTypedData(domain, types, message);
      const personal = await wallet.signMessage("hello");
      for (const signature of [rotated, personal, WALLET.signature]) {
        for (const options of [undefined, {}, { expectedAddress: undefined }]) {
          const error = thrown(() => deriveConsentSecretFromWalletSignature(signature, options as never));
          expectCryptoError(error, InvalidArgumentError, CryptoErrorCode.InvalidArgument);
          expect((error as InvalidArgumentError).field).to.equal("expectedAddress");
          expect((error as Error).message).to.match(/needs \{ expectedAddress \}/);
        }
      }
    });

    it("names key index 0 when a signature is another account's or over no key-derivation message at all", async function () {
      const other = new Wallet("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
      const { domain, types, message } = keyDerivationTypedDataForEthers();
      const foreign = await other.signTypedData(domain, types, message);
      const error = thrown(() => deriveConsentSecretFromWalletSignature(foreign, { expectedAddress: WALLET.address }));
      expectCryptoError(error, InvalidSignatureError, CryptoErrorCode.InvalidSignature);
      expect((error as Error).message).to.match(/key-derivation message for key index 0$/);
    });

    it("refuses the scope key where the consent secret belongs (both 32 bytes), and says which it got", function () {
      const consentSecret = deriveConsentSecretFromKeystoreSecret(fromHex(KEYSTORE.secret));
      const scopeKey = deriveScopeKey(consentSecret);
      for (const derive of [deriveScopeKey, deriveConsentAccountSeed]) {
        const error = thrown(() => derive(scopeKey));
        expectCryptoError(error, InvalidKeyError, CryptoErrorCode.InvalidKey);
        expect((error as Error).message).to.match(/this is the scope key .*not the consent secret/);
      }
      const short = thrown(() => deriveScopeKey(new Uint8Array(64)));
      expect((short as Error).message).to.match(/got 64 bytes/);
      // The marks are invisible to comparisons, JSON and copies: the derived bytes are plain bytes.
      expect(hex(scopeKey)).to.equal(KEYSTORE.scopeKey);
      expect(Object.keys(consentSecret)).to.have.length(CONSENT_SECRET_BYTES);
      expect(hex(deriveScopeKey(Uint8Array.from(consentSecret)))).to.equal(KEYSTORE.scopeKey);
    });

    it("refuses a consent secret, scope key or seed passed as a keystore secret (each would give other ids)", function () {
      const consentSecret = deriveConsentSecretFromKeystoreSecret(fromHex(KEYSTORE.secret));
      const derived: [Uint8Array, RegExp][] = [
        [consentSecret, /this is the consent secret/],
        [deriveScopeKey(consentSecret), /this is the scope key/],
        [deriveConsentAccountSeed(consentSecret), /this is the consent-account seed/],
      ];
      for (const [bytes, message] of derived) {
        const error = thrown(() => deriveConsentSecretFromKeystoreSecret(bytes));
        expectCryptoError(error, InvalidKeyError, CryptoErrorCode.InvalidKey);
        expect((error as Error).message).to.match(message);
      }
      // A plain copy carries no mark: the guard is for the common slip, not a type.
      expect(hex(deriveConsentSecretFromKeystoreSecret(Uint8Array.from(fromHex(KEYSTORE.secret))))).to.equal(
        KEYSTORE.consentSecret,
      );
    });

    it("refuses malformed signatures and a malformed expectedAddress", function () {
      for (const bad of ["0x1234", WALLET.signature.slice(0, -2) + "1d", new Uint8Array(64)]) {
        expectCryptoError(
          thrown(() => deriveConsentSecretFromWalletSignature(bad, { expectedAddress: WALLET.address })),
          InvalidSignatureError,
          CryptoErrorCode.InvalidSignature,
        );
      }
      const error = thrown(() => deriveConsentSecretFromWalletSignature(WALLET.signature, { expectedAddress: "0x12" }));
      expectCryptoError(error, InvalidArgumentError, CryptoErrorCode.InvalidArgument);
      expect((error as InvalidArgumentError).field).to.equal("expectedAddress");
    });

    it("refuses a keystore secret shorter than 32 bytes, and a consent secret that is not 32 bytes", function () {
      expectCryptoError(
        thrown(() => deriveConsentSecretFromKeystoreSecret(new Uint8Array(31))),
        InvalidKeyError,
        CryptoErrorCode.InvalidKey,
      );
      for (const bad of [new Uint8Array(31), new Uint8Array(33), KEYSTORE.consentSecret, undefined]) {
        for (const derive of [deriveScopeKey, deriveConsentAccountSeed]) {
          const error = thrown(() => derive(bad as Uint8Array));
          expectCryptoError(error, InvalidKeyError, CryptoErrorCode.InvalidKey);
          expect((error as Error).message).to.match(/consent secret must be 32 bytes/);
        }
      }
    });

    it("never echoes a secret passed as a string: the refusal names its type and length only", function () {
      const hexSecret = KEYSTORE.consentSecret; // 64 hex digits of a real consent secret
      const keystoreHex = "ab".repeat(16); // 32 characters: a too-short keystore secret as hex
      const errors = [
        thrown(() => deriveScopeKey(hexSecret as never)),
        thrown(() => deriveConsentAccountSeed(`0x${hexSecret}` as never)),
        thrown(() => deriveConsentSecretFromKeystoreSecret(keystoreHex as never)),
      ];
      for (const error of errors) {
        expectCryptoError(error, InvalidKeyError, CryptoErrorCode.InvalidKey);
        const shown = `${(error as Error).message}\n${(error as Error).stack}\n${JSON.stringify(error)}`;
        expect(shown).not.to.include(hexSecret.slice(0, 16));
        expect(shown).not.to.include(keystoreHex.slice(0, 16));
        expect((error as Error).message).to.match(/got a \d+-character string/);
      }
    });
  });

  describe("from an EIP-1193 wallet", function () {
    it("asks for the key-index-0 signature and derives the wallet vector", async function () {
      const provider = walletProvider(new Wallet(WALLET.privateKey));
      const secret = await deriveConsentSecretFromEip1193Wallet(provider, WALLET.address);
      expect(hex(secret)).to.equal(WALLET.consentSecret);
      expect(provider.calls).to.equal(1);
      const confirmed = await deriveConsentSecretFromEip1193Wallet(provider, WALLET.address.toLowerCase(), {
        confirmDeterministic: true,
      });
      expect(hex(confirmed)).to.equal(WALLET.consentSecret);
      expect(provider.calls).to.equal(3);
    });

    it("refuses a wallet whose answer is another account's signature", async function () {
      const provider = walletProvider(Wallet.createRandom());
      const error = await rejection(deriveConsentSecretFromEip1193Wallet(provider, WALLET.address));
      expectCryptoError(error, InvalidSignatureError, CryptoErrorCode.InvalidSignature);
    });

    it("with confirmDeterministic, refuses a wallet that signs with random nonces", async function () {
      const provider = walletProvider(new Wallet(WALLET.privateKey), () => randomNonceSignature(WALLET.privateKey));
      // Each answer alone is a valid signature of the right account over the right message...
      const single = await deriveConsentSecretFromEip1193Wallet(provider, WALLET.address);
      expect(hex(single)).not.to.equal(WALLET.consentSecret);
      // ...but asked twice it signs differently, so its scope ids could never be computed again.
      const error = await rejection(
        deriveConsentSecretFromEip1193Wallet(provider, WALLET.address, { confirmDeterministic: true }),
      );
      expectCryptoError(error, NonDeterministicSignerError, CryptoErrorCode.NonDeterministicSigner);
    });

    it("passes the wallet's own errors through and refuses a non-provider or a bad account", async function () {
      const declined = Object.assign(new Error("User rejected the request."), { code: 4001 });
      const provider: Eip1193Provider = { request: () => Promise.reject(declined) };
      expect(await rejection(deriveConsentSecretFromEip1193Wallet(provider, WALLET.address))).to.equal(declined);

      const notProvider = await rejection(deriveConsentSecretFromEip1193Wallet({} as Eip1193Provider, WALLET.address));
      expectCryptoError(notProvider, InvalidArgumentError, CryptoErrorCode.InvalidArgument);
      expect((notProvider as InvalidArgumentError).field).to.equal("provider");

      const badAccount = await rejection(deriveConsentSecretFromEip1193Wallet(provider, "alice"));
      expectCryptoError(badAccount, InvalidArgumentError, CryptoErrorCode.InvalidArgument);
      expect((badAccount as InvalidArgumentError).field).to.equal("account");
    });

    it("refuses null or mistyped options with a typed error before asking the wallet", async function () {
      let asked = 0;
      const provider: Eip1193Provider = { request: () => (asked++, Promise.resolve(WALLET.signature)) };
      for (const options of [null, "yes", { confirmDeterministic: "yes" }]) {
        const error = await rejection(deriveConsentSecretFromEip1193Wallet(provider, WALLET.address, options as never));
        expectCryptoError(error, InvalidArgumentError, CryptoErrorCode.InvalidArgument);
        expect((error as InvalidArgumentError).field).to.equal("options");
      }
      expect(asked).to.equal(0);
    });

    it("refuses a wallet that answers with something other than a hex string", async function () {
      const provider: Eip1193Provider = { request: () => Promise.resolve({ signature: WALLET.signature }) };
      const error = await rejection(deriveConsentSecretFromEip1193Wallet(provider, WALLET.address));
      expectCryptoError(error, InvalidSignatureError, CryptoErrorCode.InvalidSignature);
    });
  });

  describe("study pseudonym keys", function () {
    const consentSecret = deriveConsentSecretFromKeystoreSecret(fromHex(KEYSTORE.secret));

    it("are HKDF of the consent secret under the study's own label (the node:crypto reference agrees)", function () {
      expect(STUDY_PSEUDONYM_KEY_INFO).to.equal("hygeia/study-pseudonym-key/v1");
      const key = deriveStudyPseudonymKey(consentSecret, "diabetes-2026");
      expect(hex(key)).to.equal(
        referenceHkdf(fromHex(KEYSTORE.consentSecret), "hygeia/study-pseudonym-key/v1\0diabetes-2026", 32),
      );
      expect(hex(deriveStudyPseudonymKey(consentSecret, "diabetes-2026"))).to.equal(hex(key));
    });

    it("differ per study and from every other key of the consent secret", function () {
      const keys = ["a", "b", "diabetes-2026", "0x" + "ab".repeat(32)].map((id) =>
        hex(deriveStudyPseudonymKey(consentSecret, id)),
      );
      keys.push(hex(deriveScopeKey(consentSecret)), hex(consentSecret));
      expect(new Set(keys).size).to.equal(keys.length);
    });

    it("refuse a bad study id, and a study key passed as the consent secret", function () {
      for (const id of ["", "a\0b", "x".repeat(129), 7 as unknown as string])
        expectCryptoError(
          thrown(() => deriveStudyPseudonymKey(consentSecret, id)),
          InvalidArgumentError,
          CryptoErrorCode.InvalidArgument,
        );
      const studyKey = deriveStudyPseudonymKey(consentSecret, "a");
      const error = thrown(() => deriveStudyPseudonymKey(studyKey, "b"));
      expectCryptoError(error, InvalidKeyError, CryptoErrorCode.InvalidKey);
      expect((error as Error).message).to.match(/study pseudonym key/);
    });
  });
});
