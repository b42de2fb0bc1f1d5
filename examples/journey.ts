// A patient and a virtual clinic, end to end, with the packages that exist today:
//   DIDs and encryption keys → credentials → mutual check-in with selective disclosure → an encrypted FHIR
//   record on IPFS, its keyed scope ids attached by the wallet → consent, direct and gasless, on keyed scope ids
//   → "may the clinic read this record?" (chain and indexer, with the record's ids, no key) → the patient shares
//   the record's key → the clinic decrypts on its own IPFS node → revoke → refused.
//
// Run it against a running `npm start` (it uses the demo accounts that npm start accredits):
//   HYGEIA_RPC_URL=http://127.0.0.1:8545 node_modules/.bin/node examples/journey.ts
// or on a throwaway chain of its own, set up the same way:
//   node_modules/.bin/node examples/journey.ts
// HYGEIA_DEPLOYMENT names the deployment file (default .hygeia/deployment.json, what npm start writes).
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HDNodeWallet, JsonRpcProvider } from "ethers";
import {
  ConsentIndexer,
  ConsentRegistryClient,
  LOCAL_MNEMONIC,
  PatientScopes,
  TrustRegistryClient,
  TrustRole,
  readDeployment,
  recordScope,
  signGrant,
  signRevoke,
  startLocalDeployment,
  type HygeiaDeployment,
} from "@hygeia/chain";
import {
  deriveConsentSecretFromWalletSignature,
  deriveScopeKey,
  generateX25519KeyPair,
  keyDerivationTypedDataForEthers,
  unwrapKey,
} from "@hygeia/crypto";
import {
  Bitstring,
  CredentialType,
  IdentityAgent,
  MemoryChallengeStore,
  answerVerifiedClinic,
  challengeClinic,
  createAgentVerifier,
  createPresentation,
  ethrNetworkFromDeployment,
  issueCredential,
  issueSdJwtCredential,
  issueStatusListCredential,
  statusEntry,
  verifyCheckIn,
  verifyClinic,
} from "@hygeia/identity";
import { FileManifestHead, HeliaContentStore, PatientRecords, RecordStore } from "@hygeia/storage";

const step = (text: string) => console.log(`- ${text}`);

// ── The chain: the running local stack, or a throwaway one set up like it ─────────────────────────────────
// npm start's demo accounts (public test mnemonic): #0 governance and identity issuer, #1 gateway / relayer,
// #2 patient Alice, #5 virtual clinic (accredited as clinic), #7 medical board (accredits clinics).
const stackUrl = process.env["HYGEIA_RPC_URL"];
let rpcUrl: string;
let deployment: HygeiaDeployment;
let stop = async () => undefined as void;
if (stackUrl) {
  rpcUrl = stackUrl;
  deployment = await readDeployment(process.env["HYGEIA_DEPLOYMENT"] ?? ".hygeia/deployment.json");
} else {
  const local = await startLocalDeployment();
  ({ rpcUrl, deployment } = local);
  stop = local.stop;
  const trust = new TrustRegistryClient(deployment.contracts.TrustRegistry, local.account(0));
  const now = Math.floor(Date.now() / 1000);
  for (const [index, role] of [
    [0, TrustRole.IdentityIssuer],
    [5, TrustRole.Clinic],
    [7, TrustRole.MedicalBoard],
  ] as const) {
    await trust.accredit({ issuer: local.account(index).address, role, validFrom: now - 60, validUntil: now + 86_400 });
  }
  await local.provider.send("evm_setIntervalMining", [1]); // a block a second, as npm start mines
}
const provider = new JsonRpcProvider(rpcUrl, undefined, { cacheTimeout: -1, staticNetwork: true });
const wallet = (index: number) =>
  HDNodeWallet.fromPhrase(LOCAL_MNEMONIC, undefined, `m/44'/60'/0'/0/${index}`).connect(provider);
const issuerWallet = wallet(0);
const relayerWallet = wallet(1);
const aliceWallet = wallet(2);
const clinicWallet = wallet(5);
const boardWallet = wallet(7);
const dir = await mkdtemp(join(tmpdir(), "hygeia-journey-"));
const network = ethrNetworkFromDeployment(deployment, rpcUrl);

// ── DIDs and encryption keys ────────────────────────────────────────────────────────────────────────────
const patientAgent = await IdentityAgent.create({
  network,
  databasePath: join(dir, "patient.db"),
  secretBoxKey: IdentityAgent.generateSecretBoxKey(), // keep it: the key store opens only with it
});
const clinicAgent = await IdentityAgent.create({ network });
const issuerAgent = await IdentityAgent.create({ network });
const patient = await patientAgent.importEthrDid(aliceWallet.privateKey);
const clinic = await clinicAgent.importEthrDid(clinicWallet.privateKey);
const idIssuer = await issuerAgent.importEthrDid(issuerWallet.privateKey);
const board = await issuerAgent.importEthrDid(boardWallet.privateKey);
const patientKeys = generateX25519KeyPair();
const clinicKeys = generateX25519KeyPair();
await patientAgent.publishEncryptionKey(patient.did, patientKeys.publicKey); // the current and only key
await clinicAgent.publishEncryptionKey(clinic.did, clinicKeys.publicKey);
step(`DIDs: patient ${patient.did}, clinic ${clinic.did}; X25519 keys published`);

// ── The patient's scope key: what keeps consent unreadable on chain ──────────────────────────────────────────
// One wallet signature of the fixed key-derivation message (key index 0) gives the consent secret, and from it
// the scope key: the chain stores only ids keyed under it, so nobody without the wallet can tell what a grant
// covers. The same wallet on any device signs the same (RFC 6979), so it finds the same ids again.
const derivation = keyDerivationTypedDataForEthers();
const derivationSignature = await aliceWallet.signTypedData(derivation.domain, derivation.types, derivation.message);
const consentSecret = deriveConsentSecretFromWalletSignature(derivationSignature, {
  expectedAddress: aliceWallet.address,
});
const aliceScopes = new PatientScopes(deriveScopeKey(consentSecret), aliceWallet.address);
step(
  `scope key derived in the wallet; fhir:Observation is ${aliceScopes.id("fhir:Observation").slice(0, 10)}… on chain`,
);

// ── Credentials: an identity for the patient (SD-JWT), an accreditation for the clinic ───────────────────
// The board's revocation list, served from memory here (a board's web server, or the gateway, would serve it).
const boardListUrl = "https://board.example/status/accreditations";
const statusLists = new Map([
  [
    boardListUrl,
    await issueStatusListCredential(issuerAgent, {
      issuer: board.did,
      url: boardListUrl,
      purpose: "revocation",
      list: new Bitstring(),
    }),
  ],
]);
const statusListFetcher = async (url: string) => statusLists.get(url) ?? assert.fail(`404 ${url}`);
const identity = await issueSdJwtCredential(issuerAgent, {
  issuer: idIssuer.did,
  type: CredentialType.PatientIdentity,
  subject: { id: patient.did, givenName: "Ada", familyName: "Lovelace", birthDate: "1985-12-10" },
  holderPublicJwk: await patientAgent.signingPublicJwk(patient.did),
});
const accreditation = await issueCredential(issuerAgent, {
  issuer: board.did,
  type: CredentialType.ClinicAccreditation,
  subject: {
    id: clinic.did,
    clinicName: "Asclepius Virtual Clinic",
    accreditationNumber: "MB-2026-0042",
    specialties: ["cardiology"],
    virtual: true,
    jurisdiction: "EU",
  },
  validUntil: new Date(Date.now() + 365 * 86_400_000), // accreditations must expire and be revocable
  status: [statusEntry(boardListUrl, "revocation", 0)],
});

// ── Check-in: the wallet verifies the clinic first, then discloses only what is asked, sealed to the clinic ─
const walletChallenges = new MemoryChallengeStore();
const walletVerifier = createAgentVerifier(patientAgent, {
  trustRegistry: deployment.contracts.TrustRegistry,
  challenges: walletChallenges,
  statusListFetcher,
});
const toClinic = await challengeClinic(walletChallenges, patient.did);
const clinicProof = await createPresentation(clinicAgent, {
  holder: clinic.did,
  credentials: [accreditation],
  ...toClinic,
});
const verifiedClinic = await verifyClinic(walletVerifier, clinicProof, toClinic);
assert.equal(verifiedClinic.ok, true, JSON.stringify(verifiedClinic.checks));
const deskChallenges = new MemoryChallengeStore();
const desk = createAgentVerifier(clinicAgent, {
  trustRegistry: deployment.contracts.TrustRegistry,
  challenges: deskChallenges,
});
const request = {
  challenge: await deskChallenges.issue(clinic.did),
  domain: clinic.did,
  credentials: [{ type: CredentialType.PatientIdentity, claims: ["givenName", "birthDate"] }],
};
const answer = await answerVerifiedClinic(patientAgent, {
  patient: patient.did,
  clinic: verifiedClinic,
  request,
  credentials: [{ sdJwt: identity, disclose: ["givenName", "birthDate"] }],
});
const checkIn = await verifyCheckIn(desk, answer, { request, keyPairs: clinicKeys }); // only the clinic opens it
assert.equal(checkIn.ok, true);
assert.deepEqual(checkIn.disclosed, { PatientIdentityCredential: { givenName: "Ada", birthDate: "1985-12-10" } });
step(
  `check-in: clinic verified (${verifiedClinic.clinic?.clinicName}); disclosed ${JSON.stringify(checkIn.disclosed)}`,
);

// ── An encrypted FHIR record on the patient's IPFS node ──────────────────────────────────────────────────
const patientNode = await HeliaContentStore.create({ dataDir: join(dir, "patient-ipfs") });
const records = new PatientRecords({
  store: patientNode,
  keyPair: patientKeys,
  head: new FileManifestHead(join(dir, "manifest-head.json")),
});
const observation = { resourceType: "Observation", status: "final", valueQuantity: { value: 7.2, unit: "%" } };
const lab = await records.addRecord(new TextEncoder().encode(JSON.stringify(observation)), {
  kind: "fhir",
  type: "Observation",
  category: "laboratory",
  created: new Date().toISOString(),
});
const cid = lab.entry.cid.toString();
// The wallet attaches the record's ids (its CID, FHIR type, category) to what the gateway keeps beside the
// record's wraps: whoever checks consent for it needs these ids, never the key, and learns no type or category.
const recordIds = aliceScopes.forRecord({ cid, resourceType: "Observation", categories: ["laboratory"] });
step(`record: ${cid} (ciphertext only on IPFS; ${recordIds.length} keyed scope ids attached)`);

// ── Consent: direct (the patient pays gas) and gasless (the patient signs, a relayer sends) ──────────────
const now = Math.floor(Date.now() / 1000);
const asPatient = new ConsentRegistryClient(deployment.contracts.ConsentRegistry, aliceWallet);
await asPatient.grant({
  grantee: clinicWallet.address,
  scope: aliceScopes.id("fhir:Observation"), // the wallet computes the id; the chain never sees the type
  purpose: "Treatment",
  expiry: now + 30 * 86_400,
});
const relayer = new ConsentRegistryClient(deployment.contracts.ConsentRegistry, relayerWallet);
const {
  domain,
  message,
  patient: signer,
} = await relayer.nextGrantTypedData({
  patient: aliceWallet.address,
  grantee: clinicWallet.address,
  scope: aliceScopes.id(recordScope(cid)), // the relayer handles the id only: no CID on chain
  purpose: "Treatment",
  expiry: now + 7 * 86_400,
  deadline: now + 600,
});
await relayer.grantBySig(await signGrant(aliceWallet, domain, { ...message, patient: signer }));
step("consent: fhir:Observation granted directly, record:<cid> granted gaslessly (relayed)");

// ── May the clinic read this record? The chain now; the indexer once the grant is 2 blocks deep ──────────
const query = {
  patient: aliceWallet.address,
  grantee: clinicWallet.address,
  record: { scopeIds: recordIds }, // what the wallet attached: the checker needs no key
  purpose: "Treatment" as const,
};
const registry = new ConsentRegistryClient(deployment.contracts.ConsentRegistry, provider);
assert.equal((await registry.checkRecordAccess(query)).allowed, true);
const indexer = new ConsentIndexer({
  provider,
  address: deployment.contracts.ConsentRegistry,
  startBlock: deployment.deployedAt.block,
});
await indexer.start();
const indexed = async (allowed: boolean) => {
  for (let tries = 0; tries < 100; tries++) {
    try {
      if (indexer.checkRecordAccess(query).allowed === allowed) return;
    } catch {
      // IndexerStaleError: not caught up yet (fail closed); ask again
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`the indexer did not report allowed = ${allowed} within 10 s`);
};
await indexed(true);
const allowedBy = indexer.checkRecordAccess(query).scope!; // an id: log it as is
const readable = aliceScopes.label(allowedBy, { cids: [cid] }); // in the patient's wallet only
step(`access: allowed by ${allowedBy.slice(0, 10)}…, which the patient's wallet reads as ${readable}`);
// Either grant covers the record: the answer names whichever of the two the indexer counted first.
assert.ok(readable === `record:${cid}` || readable === "fhir:Observation");

// ── The patient shares the record's key; the clinic decrypts on its own node ─────────────────────────────
const shared = await records.shareRecord(cid, await patientAgent.encryptionKeys(clinic.did));
const clinicNode = await HeliaContentStore.create({
  dataDir: join(dir, "clinic-ipfs"),
  peers: patientNode.multiaddrs(),
});
const dek = unwrapKey(shared.wraps[0]!.wrap, clinicKeys, shared.context);
const decrypted = JSON.parse(new TextDecoder().decode(await new RecordStore(clinicNode).readRecord(cid, dek)));
assert.deepEqual(decrypted, observation);
step("clinic: unwrapped the key and decrypted the record on its own IPFS node");

// ── Revoke: the very next check refuses ──────────────────────────────────────────────────────────────────
await asPatient.revoke({
  grantee: clinicWallet.address,
  scope: aliceScopes.id("fhir:Observation"),
  purpose: "Treatment",
});
const { domain: revokeDomain, message: revoke } = await relayer.nextRevokeTypedData({
  patient: aliceWallet.address,
  grantee: clinicWallet.address,
  scope: aliceScopes.id(recordScope(cid)),
  purpose: "Treatment",
  deadline: Math.floor(Date.now() / 1000) + 600,
});
await relayer.revokeBySig(await signRevoke(aliceWallet, revokeDomain, { ...revoke, patient: aliceWallet.address }));
assert.equal((await registry.checkRecordAccess(query)).allowed, false);
await indexed(false); // a revoke counts as soon as it is mined, whatever the confirmation depth
step("revoked (directly and gaslessly): chain and indexer refuse; what the clinic decrypted stays decrypted");

await indexer.stop();
await Promise.all([clinicNode.close(), patientNode.close()]);
await Promise.all([patientAgent.close(), clinicAgent.close(), issuerAgent.close()]);
provider.destroy();
await stop();
await rm(dir, { recursive: true, force: true });
console.log("journey: ok");
