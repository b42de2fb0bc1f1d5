// Encrypt a file for a patient and a clinic, then decrypt it as the clinic (the README's first sample).
// Run: node packages/crypto/examples/encrypt-and-share.ts
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateX25519KeyPair, x25519PublicKeyToBase64 } from "@hygeia/crypto";

// Setup: a scratch directory as the working directory, a 3 MB "scan", two parties' X25519 keys and their DID
// documents exactly as ethr-did-resolver returns them on a local anvil chain (chain id 0x7a69) once identity's
// agent.publishEncryptionKey has published each key (ERC-1056 attribute did/pub/X25519/enc/base64: the key's
// verification method is numbered #delegate-N, and keyAgreement refers to it), a record id, a small FHIR record.
const home = process.cwd();
const dir = await mkdtemp(join(tmpdir(), "hygeia-crypto-example-"));
process.chdir(dir);
const scan = randomBytes(3 * 1024 * 1024);
await writeFile("scan.dcm", scan);
const patientKeyPair = generateX25519KeyPair();
const clinicKeyPair = generateX25519KeyPair();
const ethrDidDocument = (address: string, publicKey: Uint8Array) => {
  const did = `did:ethr:0x7a69:${address}`;
  return {
    id: did,
    verificationMethod: [
      {
        id: `${did}#controller`,
        type: "EcdsaSecp256k1RecoveryMethod2020",
        controller: did,
        blockchainAccountId: `eip155:31337:${address}`,
      },
      {
        id: `${did}#delegate-1`,
        type: "X25519KeyAgreementKey2019",
        controller: did,
        publicKeyBase64: x25519PublicKeyToBase64(publicKey),
      },
    ],
    authentication: [`${did}#controller`],
    assertionMethod: [`${did}#controller`],
    keyAgreement: [`${did}#delegate-1`],
  };
};
const patientDidDoc = ethrDidDocument("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", patientKeyPair.publicKey);
const clinicDidDoc = ethrDidDocument("0x70997970C51812dc3A010C7d01b50e0d17dc79C8", clinicKeyPair.publicKey);
const recordId = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi";
const observation = new TextEncoder().encode('{"resourceType":"Observation","valueQuantity":{"value":7.2}}');

// #region encrypt-and-share
import { pipeline } from "node:stream/promises";
import { createReadStream, createWriteStream } from "node:fs";
import {
  generateDataKey,
  wrapKeyForRecipients,
  unwrapKey,
  x25519KeysFromDidDocument,
  encryptToBuffer,
  decryptToBuffer,
} from "@hygeia/crypto";
import { createEncryptStream, decryptToFile } from "@hygeia/crypto/node";

// Patient: encrypt a (possibly huge) file with a fresh DEK, wrap the DEK to the grantees' DID keys.
const dek = generateDataKey();
await pipeline(createReadStream("scan.dcm"), createEncryptStream(dek), createWriteStream("scan.dcm.hyg"));
const clinicKeys = x25519KeysFromDidDocument(clinicDidDoc); // [{ id: "did:ethr:0x7a69:0x7099…#delegate-1", publicKey }]
const recipients = [...x25519KeysFromDidDocument(patientDidDoc), ...clinicKeys];
const wraps = wrapKeyForRecipients(dek, recipients, `hygeia:record:${recordId}`); // -> gateway: one per key, in order
// A party's wraps are the ones under the ids its DID document gave: take ids from there, never build them
// (did:ethr numbers keys #delegate-N; identity's agent.encryptionKeys(did) returns the same ids).
const wrapForClinic = wraps.find((wrap) => clinicKeys.some((key) => key.id === wrap.recipientId))!.wrap;

// Clinic: unwrap its own wrap, then decrypt. The file appears only once the whole record verified.
const clinicDek = unwrapKey(wrapForClinic, clinicKeyPair, `hygeia:record:${recordId}`);
await decryptToFile(createReadStream("scan.dcm.hyg"), clinicDek, "scan-for-clinic.dcm");

// Small records (FHIR JSON): one call each way, plain bytes in. Returns only after verification, throws otherwise.
const envelopeBytes = await encryptToBuffer(observation, dek);
const json = new TextDecoder().decode(await decryptToBuffer(envelopeBytes, clinicDek));
// json === '{"resourceType":"Observation","valueQuantity":{"value":7.2}}'
dek.fill(0);
// #endregion encrypt-and-share

assert.deepEqual(await readFile("scan-for-clinic.dcm"), scan);
assert.equal(json, '{"resourceType":"Observation","valueQuantity":{"value":7.2}}');
assert.deepEqual(
  wraps.map((wrap) => wrap.recipientId),
  [
    "did:ethr:0x7a69:0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266#delegate-1",
    "did:ethr:0x7a69:0x70997970C51812dc3A010C7d01b50e0d17dc79C8#delegate-1",
  ],
);
process.chdir(home);
await rm(dir, { recursive: true, force: true });
console.log("encrypt-and-share: ok");
