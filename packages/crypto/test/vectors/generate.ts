// Regenerates the committed test vectors: `node packages/crypto/test/vectors/generate.ts`.
// records.json and derivation.json are deterministic (same output every run); wraps.json is not, because a
// sealed box uses a fresh ephemeral key, so rerun it only when the wrap format changes.
import { writeFileSync } from "node:fs";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { bytesToHex, hexToBytes } from "@noble/hashes/utils.js";
import {
  deriveKeyPairFromKeystoreSecret,
  deriveKeyPairFromWalletSignature,
  keyDerivationDigest,
  keyDerivationTypedData,
  wrapKey,
  x25519KeyPairFromSecretKey,
} from "../../src/index.ts";
import { referenceEncrypt } from "../reference-secretstream.ts";

const here = new URL(".", import.meta.url);
const write = (name: string, value: unknown): void =>
  writeFileSync(new URL(name, here), JSON.stringify(value, null, 2) + "\n");
const range = (length: number, start = 0): Uint8Array => Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);

// Records: fixed key and secretstream header, so the envelope is reproducible (by the reference encoder).
const recordKey = range(32);
const streamHeader = range(24, 0x40);
const recordCases = [
  { name: "empty plaintext: a single empty final chunk", plaintext: new Uint8Array(0), chunkSize: 1024 },
  { name: "one byte", plaintext: Uint8Array.of(0x48), chunkSize: 1024 },
  { name: "exactly one chunk: the full chunk is the final one", plaintext: range(1024), chunkSize: 1024 },
  { name: "two full chunks and a 1-byte final chunk", plaintext: range(2049, 7), chunkSize: 1024 },
  {
    name: "UTF-8 text, default 64 KiB chunk size",
    plaintext: new TextEncoder().encode("Hygeia record envelope test vector\n"),
    chunkSize: 65536,
  },
];
write("records.json", {
  description:
    "Record envelopes (README 'Record envelope format'). Given key, streamHeader, chunkSize and plaintext, " +
    "an encoder using that secretstream header must output exactly envelope; a decoder must recover plaintext.",
  cases: recordCases.map(({ name, plaintext, chunkSize }) => ({
    name,
    key: bytesToHex(recordKey),
    streamHeader: bytesToHex(streamHeader),
    chunkSize,
    plaintext: bytesToHex(plaintext),
    envelope: bytesToHex(referenceEncrypt(recordKey, streamHeader, plaintext, chunkSize)),
  })),
});

// Wraps: decrypt-only vectors (the sender's ephemeral key is random).
const recipient = x25519KeyPairFromSecretKey(range(32, 0xa0));
const dataKey = range(32, 0x10);
const wrapContexts = [
  "hygeia:record:vector-1",
  "hygeia:manifest:did:ethr:0x1:0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
];
write("wraps.json", {
  description:
    "DEK wraps (README 'Key wrap format'). unwrap(wrap, recipient key pair, context) must return dataKey; " +
    "any other context must fail with WRAP_CONTEXT_MISMATCH.",
  recipientSecretKey: bytesToHex(recipient.secretKey),
  recipientPublicKey: bytesToHex(recipient.publicKey),
  dataKey: bytesToHex(dataKey),
  cases: wrapContexts.map((context) => ({ context, wrap: bytesToHex(wrapKey(dataKey, recipient.publicKey, context)) })),
});

// Derivation: the well-known Hardhat test account #0 signs the key-derivation message (RFC 6979, low-s),
// exactly what eth_signTypedData_v4 returns from MetaMask or ethers' Wallet.signTypedData for that account.
const walletPrivateKey = hexToBytes("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
const walletAddress = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";
const walletCases = [0, 1].map((keyIndex) => {
  const digest = keyDerivationDigest(keyIndex);
  const recovered = secp256k1.sign(digest, walletPrivateKey, { prehash: false, format: "recovered" });
  const signature = new Uint8Array(65);
  signature.set(recovered.subarray(1), 0);
  signature[64] = 27 + (recovered[0] ?? 0);
  const keyPair = deriveKeyPairFromWalletSignature(signature, { expectedAddress: walletAddress, keyIndex });
  return {
    keyIndex,
    typedData: keyDerivationTypedData(keyIndex),
    digest: bytesToHex(digest),
    signature: "0x" + bytesToHex(signature),
    x25519SecretKey: bytesToHex(keyPair.secretKey),
    x25519PublicKey: bytesToHex(keyPair.publicKey),
  };
});
const keystoreSecret = range(32, 0x01);
const keystoreKeyPair = deriveKeyPairFromKeystoreSecret(keystoreSecret);
write("derivation.json", {
  description:
    "X25519 key derivation (README 'Key derivation'). wallet: the account signs typedData (digest is its " +
    "EIP-712 hash), and HKDF over the canonical signature gives the key pair. keystore: HKDF over the secret.",
  wallet: { address: walletAddress, privateKey: bytesToHex(walletPrivateKey), cases: walletCases },
  keystore: {
    secret: bytesToHex(keystoreSecret),
    x25519SecretKey: bytesToHex(keystoreKeyPair.secretKey),
    x25519PublicKey: bytesToHex(keystoreKeyPair.publicKey),
  },
});
console.log("wrote records.json, wraps.json, derivation.json");
