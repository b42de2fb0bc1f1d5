// The patient's consent secret from the wallet's key-derivation signature, its scope key, and keyed scope ids
// (docs/private-scopes.md): what a wallet computes before it grants consent. No chain needed: an ethers Wallet
// signs locally, and a second Wallet object from the same key stands in for the patient's new device.
// Run: node packages/crypto/examples/consent-secret.ts
import assert from "node:assert/strict";
import { Wallet } from "ethers";

// Hardhat / anvil test account #0: a public key, never use it on a real network.
const privateKey = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

// #region scope-ids
import {
  deriveConsentAccountSeed,
  deriveConsentSecretFromWalletSignature,
  deriveKeyPairFromWalletSignature,
  deriveScopeKey,
  keyDerivationTypedDataForEthers,
} from "@hygeia/crypto";
import { PatientScopes, consentAccount } from "@hygeia/chain";

const wallet = new Wallet(privateKey);
// One prompt: the same key-index-0 signature gives the X25519 key and the consent secret (separate HKDF labels).
const { domain, types, message } = keyDerivationTypedDataForEthers();
const signature = await wallet.signTypedData(domain, types, message);
const keyPair = deriveKeyPairFromWalletSignature(signature, { expectedAddress: wallet.address });
const consentSecret = deriveConsentSecretFromWalletSignature(signature, { expectedAddress: wallet.address });

// Keyed scope ids: what grants, record access checks and emergency lists carry instead of readable scopes.
const scopes = new PatientScopes(deriveScopeKey(consentSecret), wallet.address);
const substanceUse = scopes.id("category:substance-use"); // 0xa77c0d12...: unrelated to any other patient's id
// A record's ids, attached to it at upload: its CID (from the upload), FHIR type and categories.
const cid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
const recordIds = scopes.forRecord({ cid, resourceType: "Observation", categories: ["laboratory"] });
// Only the wallet can read an id back (it hashes the vocabulary under its key).
const readable = scopes.label(substanceUse); // "category:substance-use"
const recordLabel = scopes.label(recordIds[0]!, { cids: [cid] }); // "record:bafk...": CIDs from the manifest

// A pairwise consent account for one clinic (m/7424'/0'): its grants are signed by another address, with other ids.
const account = consentAccount(deriveConsentAccountSeed(consentSecret), 0);
const forClinic = scopes.forAddress(account.address);
// #endregion scope-ids

// #region new-device
// On a new device the wallet signs the same message again (RFC 6979: the same signature), so every id comes back.
const sameWallet = new Wallet(privateKey);
const again = deriveConsentSecretFromWalletSignature(await sameWallet.signTypedData(domain, types, message), {
  expectedAddress: sameWallet.address,
});
const restored = new PatientScopes(deriveScopeKey(again), sameWallet.address);
// restored.id("category:substance-use") === substanceUse
// #endregion new-device

// #region reference
// The same id from the spec alone (docs/private-scopes.md), with node:crypto: no Hygeia code involved. The IKM is
// the canonical signature; this one is canonical as signed (low s, v = 28).
import { createHmac, hkdfSync } from "node:crypto";

const salt = "hygeia/key-derivation/v1";
const hkdf = (ikm: Uint8Array, info: string, length: number) =>
  Buffer.from(hkdfSync("sha256", ikm, salt, info, length));
const referenceSecret = hkdf(
  Buffer.from(signature.slice(2), "hex"),
  "hygeia/consent-secret/eip712-wallet-signature/v1",
  32,
);
const referenceScopeKey = hkdf(referenceSecret, "hygeia/scope-key/v1", 32);
const referenceId = (address: string, canonical: string) =>
  "0x" +
  createHmac("sha256", referenceScopeKey)
    .update(
      Buffer.concat([
        Buffer.from("hygeia/scope-id/v1"),
        Buffer.of(0),
        Buffer.from(address.slice(2), "hex"), // the 20 address bytes
        Buffer.of(0),
        Buffer.from(canonical, "utf8"),
      ]),
    )
    .digest("hex");
// referenceId(wallet.address, "category:substance-use") === substanceUse
// #endregion reference

assert.equal(referenceId(wallet.address, "category:substance-use"), substanceUse);
assert.equal(referenceId(account.address, "category:substance-use"), forClinic.id("category:substance-use"));
assert.equal(substanceUse, "0xa77c0d12b8e2c65924e56d9a4fc7964744fe4ba7cfb40e575e55ca1eeb1c130d");
assert.equal(recordIds.length, 3);
assert.equal(recordLabel, `record:${cid}`);
assert.equal(readable, "category:substance-use");
assert.equal(account.address, "0x32Dce9e1fA8D9d4Aff88FD53eFbc397F7dCE6217");
assert.equal(
  forClinic.id("category:substance-use"),
  "0x8a3c29655563b0693b53805c7407722623665f1b72a9a61b8e98bebb027d1dd3",
);
assert.equal(forClinic.label(substanceUse), undefined); // another address's ids mean nothing under this one
assert.equal(restored.id("category:substance-use"), substanceUse);
assert.deepEqual(restored.forRecord({ cid, resourceType: "Observation", categories: ["laboratory"] }), recordIds);
assert.notDeepEqual(keyPair.secretKey, consentSecret);
keyPair.secretKey.fill(0);
consentSecret.fill(0);
again.fill(0);
console.log("consent-secret: ok");
