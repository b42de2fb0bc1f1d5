// A patient's encrypted records on an embedded IPFS node: add a file and a FHIR record, read them, replicate,
// recover from the keystore secret alone, and share one record with a clinic (the README's samples).
// Run: node packages/storage/examples/records.ts
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateX25519KeyPair } from "@hygeia/crypto";

// Setup: a scratch directory as the working directory, a 2 MB "scan", the patient's keystore secret, a FHIR
// resource, and the clinic's X25519 key pair (in real life only the clinic holds the secret half).
const home = process.cwd();
const dir = await mkdtemp(join(tmpdir(), "hygeia-storage-example-"));
process.chdir(dir);
const scan = randomBytes(2 * 1024 * 1024);
await writeFile("scan.dcm", scan);
const keystoreSecret = randomBytes(32);
const observation = { resourceType: "Observation", code: { text: "glucose" }, valueQuantity: { value: 7.2 } };
const clinicKeyPair = generateX25519KeyPair();

// #region records
import { deriveKeyPairFromKeystoreSecret } from "@hygeia/crypto";
import { FileManifestHead, HeliaContentStore, PatientRecords, RecordStore, recoverRecords } from "@hygeia/storage";

const store = await HeliaContentStore.create({ dataDir: ".hygeia/ipfs" }); // listens on 127.0.0.1, random port
const patient = deriveKeyPairFromKeystoreSecret(keystoreSecret);
const records = new PatientRecords({
  store,
  keyPair: patient,
  head: new FileManifestHead(".hygeia/manifest-head.json"),
});

// Encrypt + add + pin, then list it in the manifest (a new version, linked to the previous one).
const { entry } = await records.addFile("scan.dcm", {
  kind: "file",
  type: "application/dicom",
  category: "imaging",
  created: new Date().toISOString(),
});
// Any bytes work too: a Uint8Array / Buffer, a Blob, a web ReadableStream, a node:stream Readable.
const lab = await records.addRecord(new TextEncoder().encode(JSON.stringify(observation)), {
  kind: "fhir",
  type: "Observation",
  category: "laboratory",
  created: new Date().toISOString(),
});
const bytes = await records.readRecord(entry); // only after the whole record verified
const labBytes = await records.readRecord(lab.entry.cid.toString()); // or by CID, as listed in the manifest
// lab.manifest.version === 2: one version per addition

// Another node, e.g. a replica: peer with it, fetch by CID, pin so it survives the first node going away.
const replica = await HeliaContentStore.create({ dataDir: ".hygeia/replica", peers: store.multiaddrs() });
await replica.pin(entry.cid);

// A new device with nothing but the wallet secret and the latest manifest CID:
const { records: recovered } = await recoverRecords(replica, patient.secretKey, lab.manifest.cid.toString());
for (const { entry, dek } of recovered) await new RecordStore(replica).readRecord(entry.cid, dek);
// recovered.length === 2
// #endregion records

assert.deepEqual(Buffer.from(bytes), scan);
assert.deepEqual(JSON.parse(new TextDecoder().decode(labBytes)), observation);
assert.equal(lab.manifest.version, 2);
assert.equal(recovered.length, 2);
assert.equal(await replica.has(entry.cid), true);

// #region share
import { unwrapKey } from "@hygeia/crypto";

// What identity's `await agent.encryptionKeys(clinicDid)` returns: the clinic DID's X25519 keyAgreement keys, with
// the ids its DID document gives them (did:ethr numbers them #delegate-N: take ids from here, never build them).
const clinicKeys = [
  {
    id: "did:ethr:0x7a69:0x70997970C51812dc3A010C7d01b50e0d17dc79C8#delegate-1",
    publicKey: clinicKeyPair.publicKey,
    current: true,
  },
];
const shared = await records.shareRecord(lab.entry.cid, clinicKeys);
// shared.wraps: [{ recipientId: "did:ethr:0x7a69:0x7099…#delegate-1", wrap: 114 bytes }] -> the gateway keeps them
// shared.entry.sharedWith: the clinic's key, remembered in manifest version 3 (to wrap again, e.g. for a new gateway)

// The clinic, on its own node, with its own secret key:
const clinicNode = await HeliaContentStore.create({ dataDir: ".hygeia/clinic", peers: store.multiaddrs() });
const clinicWrap = shared.wraps.find((wrap) => wrap.recipientId === clinicKeys[0]!.id)!; // the wrap to its key
const clinicDek = unwrapKey(clinicWrap.wrap, clinicKeyPair, shared.context);
const fhir = JSON.parse(
  new TextDecoder().decode(await new RecordStore(clinicNode).readRecord(lab.entry.cid, clinicDek)),
);
// fhir.valueQuantity.value === 7.2

await Promise.all([clinicNode.close(), replica.close(), store.close()]);
// #endregion share

assert.equal(shared.wraps.length, 1);
assert.equal(shared.wraps[0]!.recipientId, clinicKeys[0]!.id);
assert.equal(shared.manifest.version, 3);
assert.deepEqual(
  shared.entry.sharedWith.map((share) => share.id),
  [clinicKeys[0]!.id],
);
assert.deepEqual(fhir, observation);
process.chdir(home);
await rm(dir, { recursive: true, force: true });
console.log("records: ok");
