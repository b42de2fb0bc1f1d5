// Migrating a patient's manifest written before authenticated manifests (seal version 1) to seal version 2 (the
// README's "Authentication and migration" sample). The setup writes a version 1 manifest as the previous release
// did, byte for byte per the README's "Manifest format", with public APIs only.
// Run: node packages/storage/examples/migrate-manifest.ts
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  deriveKeyPairFromKeystoreSecret,
  encryptToBuffer,
  generateDataKey,
  generateX25519KeyPair,
  wipe,
  wrapKey,
} from "@hygeia/crypto";
import {
  FileManifestHead,
  HeliaContentStore,
  InvalidManifestError,
  PatientManifest,
  RecordStore,
  SEALED_MANIFEST_MAGIC,
  UNAUTHENTICATED_SEAL_VERSION,
  UnauthenticatedManifestError,
  manifestKeyContext,
  manifestOwner,
  recordKeyContext,
  recoverRecords,
} from "@hygeia/storage";

// Setup: a scratch directory, the patient's key pair, one record, and a version 1 manifest listing it (what a data
// dir of the previous release holds), its head pointing at it.
const home = process.cwd();
const dir = await mkdtemp(join(tmpdir(), "hygeia-storage-migrate-"));
process.chdir(dir);
const keyPair = deriveKeyPairFromKeystoreSecret(randomBytes(32));
const store = await HeliaContentStore.create({ dataDir: ".hygeia/ipfs", listen: [] });
const head = new FileManifestHead(".hygeia/manifest-head.json");
const observation = new TextEncoder().encode('{"resourceType":"Observation","valueQuantity":{"value":7.2}}');
const stored = await new RecordStore(store).putRecord(observation, {
  kind: "fhir",
  type: "Observation",
  category: "laboratory",
  created: "2026-11-21T13:00:00Z",
});
const owner = manifestOwner(keyPair.publicKey);
const document = {
  format: "hygeia.manifest",
  formatVersion: 2,
  owner,
  version: 1,
  prev: null,
  updated: "2026-11-21T13:05:00.000Z",
  entries: [
    {
      cid: stored.cid.toString(),
      ...stored.metadata,
      size: stored.size,
      plaintextSize: stored.plaintextSize,
      dekWrap: Buffer.from(wrapKey(stored.dek, keyPair.publicKey, recordKeyContext(stored.cid))).toString("base64"),
      sharedWith: [],
    },
  ],
};
/** A version 1 seal of `json`: no tag, so anyone who knows the patient's public key can write one. */
async function sealVersionOne(json: object): Promise<Uint8Array> {
  const manifestKey = generateDataKey();
  try {
    return Buffer.concat([
      SEALED_MANIFEST_MAGIC,
      Uint8Array.of(UNAUTHENTICATED_SEAL_VERSION),
      wrapKey(manifestKey, keyPair.publicKey, manifestKeyContext(owner)),
      await encryptToBuffer(new TextEncoder().encode(JSON.stringify(json)), manifestKey),
    ]);
  } finally {
    wipe(manifestKey);
  }
}
const { cid: versionOneCid } = await store.put(await sealVersionOne(document));
// And one a forger wrote with the public key alone: the patient's record, "shared" with the forger.
const forger = generateX25519KeyPair();
const forgedEntry = {
  ...document.entries[0]!,
  sharedWith: [
    {
      id: "did:key:z6LSforger#k",
      publicKey: Buffer.from(forger.publicKey).toString("base64"),
      sharedAt: "2026-11-22T00:00:00.000Z",
    },
  ],
};
const { cid: forgedCid } = await store.put(await sealVersionOne({ ...document, entries: [forgedEntry] }));
assert.equal(await head.compareAndSet(undefined, { cid: versionOneCid, version: 1 }), true);
// Without the option, the version 1 manifest is refused (nothing is read, nothing written).
await assert.rejects(new PatientManifest({ store, head, keyPair }).latest(), UnauthenticatedManifestError);

// #region migrate
import { PatientRecords } from "@hygeia/storage";

// The option opens the version 1 manifest YOUR HEAD points at (and the versions behind it), nothing else: a version 1
// CID passed to merge(), read() or recoverRecords is refused even now (UnauthenticatedManifestError), since anyone
// who knows your public key can write one.
const records = new PatientRecords({ store, head, keyPair, acceptUnauthenticated: true }); // this once
const upgraded = await records.manifest.upgradeSeal(); // writes the head's entries again as an authenticated version
// upgraded.sealVersion === 2, upgraded.version === 2; any other write (addRecord, shareRecord) re-seals just as
// well. From then on the option does nothing (this instance has seen an authenticated head); drop it: every later
// read works without it, history() included.
// #endregion migrate

// A forger's version 1 CID is refused with the option (a fresh instance, and the one that upgraded) and by recovery;
// test/manifest-auth.test.ts also refuses it while the head is still version 1.
await assert.rejects(
  new PatientRecords({ store, head, keyPair, acceptUnauthenticated: true }).manifest.merge(forgedCid),
  UnauthenticatedManifestError,
);
await assert.rejects(records.manifest.merge(forgedCid), UnauthenticatedManifestError);
await assert.rejects(recoverRecords(store, keyPair.secretKey, forgedCid), UnauthenticatedManifestError);

assert.equal(upgraded?.sealVersion, 2);
assert.equal(upgraded?.version, 2);
assert.equal(upgraded?.prev?.toString(), versionOneCid.toString());
const after = new PatientRecords({ store, head, keyPair });
const latest = await after.manifest.latest();
assert.equal(latest?.sealVersion, 2);
assert.equal(latest?.entries.length, 1);
assert.deepEqual(latest?.entries[0]?.sharedWith, []); // the forger is not listed
assert.deepEqual(await after.readRecord(latest!.entries[0]!), observation);
const history = [];
for await (const version of after.manifest.history()) history.push([version.version, version.sealVersion]);
assert.deepEqual(history, [
  [2, 2],
  [1, 1],
]);
// The version 1 CID on its own is still refused without the option: only the history behind version 2 vouches for it.
await assert.rejects(after.manifest.read(versionOneCid), InvalidManifestError);
// upgradeSeal is a no-op once the head is authenticated.
assert.equal((await after.manifest.upgradeSeal())?.cid.toString(), latest?.cid.toString());

await store.close();
wipe(stored.dek);
process.chdir(home);
await rm(dir, { recursive: true, force: true });
console.log("migrate-manifest: ok");
