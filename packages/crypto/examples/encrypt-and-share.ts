// Encrypt a file for a patient and a clinic, then decrypt it as the clinic (the README's first sample).
// Run: node packages/crypto/examples/encrypt-and-share.ts
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateX25519KeyPair, x25519PublicKeyToMultibase } from "@hygeia/crypto";

// Setup: a scratch directory as the working directory, a 3 MB "scan", two parties' X25519 keys and the DID
// documents that publish them (as a resolver would return them), a record id, a small FHIR record.
const home = process.cwd();
const dir = await mkdtemp(join(tmpdir(), "hygeia-crypto-example-"));
process.chdir(dir);
const scan = randomBytes(3 * 1024 * 1024);
await writeFile("scan.dcm", scan);
const patientKeyPair = generateX25519KeyPair();
const clinicKeyPair = generateX25519KeyPair();
const didDocument = (did: string, publicKey: Uint8Array) => ({
  id: did,
  keyAgreement: [
    {
      id: `${did}#enc-1`,
      type: "X25519KeyAgreementKey2020",
      controller: did,
      publicKeyMultibase: x25519PublicKeyToMultibase(publicKey),
    },
  ],
});
const patientDidDoc = didDocument("did:ethr:0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266", patientKeyPair.publicKey);
const clinicDidDoc = didDocument("did:ethr:0x70997970c51812dc3a010c7d01b50e0d17dc79c8", clinicKeyPair.publicKey);
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
const recipients = [...x25519KeysFromDidDocument(patientDidDoc), ...x25519KeysFromDidDocument(clinicDidDoc)];
const wraps = wrapKeyForRecipients(dek, recipients, `hygeia:record:${recordId}`); // -> gateway
const wrapForClinic = wraps.find((wrap) => wrap.recipientId === `${clinicDidDoc.id}#enc-1`)!.wrap;

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
  [`${patientDidDoc.id}#enc-1`, `${clinicDidDoc.id}#enc-1`],
);
process.chdir(home);
await rm(dir, { recursive: true, force: true });
console.log("encrypt-and-share: ok");
