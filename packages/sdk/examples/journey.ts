// Every role's journey through @hygeia/sdk, end to end on a throwaway local stack (anvil with the contracts, the
// gateway with its Helia node and SQLite store): governance accredits a medical board and an insurer; the insurer
// issues the patient an SD-JWT insurance credential; the patient creates a wallet, publishes its key and uploads a
// FHIR Bundle and a PDF; a virtual clinic proves its accreditation; the patient grants it one category, gasless; the
// clinic reads exactly those records and is refused the others; the patient revokes; the clinic is refused; the
// patient's audit log verifies against the chain; a second device with the same wallet sees every record.
// The SDK README's samples are regions of this file. Run: node packages/sdk/examples/journey.ts
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseEther } from "ethers";
import { startLocalDeployment, writeDeployment } from "@hygeia/chain";
import { generateX25519KeyPair } from "@hygeia/crypto";
import { CredentialType } from "@hygeia/identity";
import { buildGateway, closeServices, createServices, defaultConfig } from "@hygeia/gateway";

// Setup: anvil with Hygeia deployed (account #1 is the gateway's relayer and audit anchor key), the gateway on a
// free port of 127.0.0.1 with its data in a temp dir. Account #0 is governance, #7 a board, #9 an insurer, #4 a clinic.
const local = await startLocalDeployment({ gatewayAccounts: [1], accounts: 10 });
const [governanceWallet, boardWallet, insurerWallet, clinicWallet] = [
  local.account(0),
  local.account(7),
  local.account(9),
  local.account(4),
];
const dir = await mkdtemp(join(tmpdir(), "hygeia-sdk-example-"));
await writeDeployment(join(dir, "deployment.json"), local.deployment);
const port = await new Promise<number>((resolve) => {
  const probe = createServer().listen(0, "127.0.0.1", () => {
    const address = probe.address();
    probe.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
  });
});
const base = defaultConfig();
const config = {
  ...base,
  port,
  dataDir: join(dir, "gateway"),
  publicUrl: `http://127.0.0.1:${port}`,
  logLevel: "silent" as const,
  chain: {
    ...base.chain,
    rpcUrl: local.rpcUrl,
    deploymentFile: join(dir, "deployment.json"),
    confirmations: 0, // a local chain that mines on demand: a mined grant counts at once
    pollIntervalMs: 200,
    relayerKey: local.account(1).privateKey,
    anchorKey: local.account(1).privateKey,
  },
  identity: { ...base.identity, statusListTtlMs: 1000 },
  audit: { ...base.audit, anchorEveryMs: 500, origin: "hygeia.example/gateway" },
};
const services = await createServices(config, { heliaListen: [] });
const app = await buildGateway(config, services);
await app.listen({ host: "127.0.0.1", port });
const gatewayUrl = config.publicUrl;
const rpcUrl = local.rpcUrl;

// #region connect
import { HygeiaConnection } from "@hygeia/sdk";

// The contracts come from the gateway's GET /v1/deployment and must be on the chain the RPC URL serves
// (pass `deployment` to pin them instead).
const connection = await HygeiaConnection.open({ gatewayUrl, rpcUrl });
// #endregion connect
assert.equal(connection.deployment.chainId, local.deployment.chainId);
connection.close();

// #region governance
import { IssuerClient } from "@hygeia/sdk";

const governance = await IssuerClient.connect({ connection: { gatewayUrl, rpcUrl }, signer: governanceWallet });
await governance.accredit({ issuer: boardWallet.address, role: "medical-board" }); // issues clinic accreditations
await governance.accredit({ issuer: insurerWallet.address, role: "insurer" }); // issues insurance credentials
await governance.accredit({ issuer: clinicWallet.address, role: "clinic" }); // the clinic's own standing
const standing = await governance.accreditation(boardWallet.address);
// standing.trustedRoles: ["medical-board"], read from the TrustRegistry
// #endregion governance
assert.deepEqual(standing.trustedRoles, ["medical-board"]);

// #region patient-wallet
import { PatientClient, createWallet, decryptKeystore, encryptKeystore } from "@hygeia/sdk";

const wallet = createWallet(); // show wallet.mnemonic.phrase to its owner once
const keystore = await encryptKeystore(wallet, "correct horse battery staple", { scryptN: 2 ** 14 }); // keep this file
const opened = await decryptKeystore(keystore, "correct horse battery staple");
// #endregion patient-wallet
assert.equal(opened.address, wallet.address);
// Publishing the key is a transaction: the demo funds the new wallet (on a real network: any faucet or exchange).
await (await governanceWallet.sendTransaction({ to: wallet.address, value: parseEther("0.1") })).wait();

// #region patient-onboard
const patient = await PatientClient.connect({
  signer: opened.connect(local.provider), // sends its own key-publishing transaction
  connection: { gatewayUrl, rpcUrl },
  confirmDeterministic: true, // onboarding: refuse a wallet whose signatures could not rebuild its keys
});
await patient.publishKey(); // the X25519 key in the DID document (ERC-1056); nothing sent when already there
// patient.did: did:ethr:0x7a69:0x…; keys come from one wallet signature, so any device rebuilds them
// #endregion patient-onboard

// #region insurer-issues
const insurer = await IssuerClient.connect({ connection: { gatewayUrl, rpcUrl }, signer: insurerWallet });
const insurance = await insurer.issue({
  type: CredentialType.HealthInsurance,
  format: "sd-jwt", // every claim selectively disclosable, revocable through a token status list
  subject: patient.did,
  claims: { insurerName: "Acme Health", memberId: "M-1234", planName: "Gold" },
  holderKey: wallet.signingKey.publicKey, // bound to the patient's key: only the patient can present it
});
// insurance.disclosable: ["insurerName", "memberId", "planName"]
// #endregion insurer-issues
assert.deepEqual([...insurance.disclosable].sort(), ["insurerName", "memberId", "planName"]);

// #region patient-records
const bundle = {
  resourceType: "Bundle",
  type: "collection",
  entry: [
    {
      resource: {
        resourceType: "Observation",
        status: "final",
        code: { text: "HbA1c" },
        valueQuantity: { value: 6.1, unit: "%" },
      },
    },
  ],
};
const labs = await patient.records.add(bundle, { categories: ["laboratory"] });
const pdf = new TextEncoder().encode("%PDF-1.7\n… a discharge letter …\n%%EOF\n");
const letter = await patient.records.add(
  { stream: new Blob([pdf]).stream(), size: pdf.byteLength, mediaType: "application/pdf" },
  { categories: ["imaging"], onProgress: ({ bytes, total, etaSeconds }) => void [bytes, total, etaSeconds] },
);
const listed = await patient.records.list(); // newest first, from the sealed manifest
// #endregion patient-records
assert.deepEqual(new Set(listed.map((r) => r.cid)), new Set([labs.cid, letter.cid]));

// #region issuer-connect
import { IssuerStateFile } from "@hygeia/sdk";

const board = await IssuerClient.connect({
  connection: { gatewayUrl, rpcUrl }, // or an open HygeiaConnection
  signer: boardWallet, // an ethers Wallet: its key signs as its did:ethr (or pass `agent`)
  state: new IssuerStateFile(join(dir, "board-status-lists.json")), // which status-list bits it handed out: back it up
});
// #endregion issuer-connect

// #region clinic-onboard
import { ClinicClient } from "@hygeia/sdk";

const accreditation = await board.issue({
  type: CredentialType.ClinicAccreditation,
  subject: clinicWallet.address,
  claims: {
    clinicName: "Asclepius Virtual Clinic",
    accreditationNumber: "MB-2026-0042",
    specialties: ["cardiology"],
    virtual: true,
    jurisdiction: "EU",
  },
  expires: new Date(Date.now() + 365 * 86_400_000),
});
const clinic = await ClinicClient.connect({
  gatewayUrl,
  rpcUrl,
  signer: clinicWallet,
  encryptionKeys: [generateX25519KeyPair()], // keep it: wraps and sealed check-ins open only with it
});
await clinic.publishKey();
await clinic.presentAccreditation(accreditation.credential); // the session now holds the clinic role
// #endregion clinic-onboard

// #region checkin-clinic
const checkIn = await clinic.checkIns.open({
  credentials: [{ type: CredentialType.HealthInsurance, claims: ["insurerName", "memberId"] }],
  ttlSeconds: 300, // 30 to 3600, default 600
}); // { id, url, request, expiresAt }: show checkIn.url as a QR code
// Waits for the patient; meanwhile it proves the clinic's accreditation to the wallet that challenges it.
const waiting = clinic.checkIns.waitForAnswer(checkIn.id, { timeoutMs: 60_000, intervalMs: 200 });
// #endregion checkin-clinic

// #region checkin-patient
import { IdentityAgent, ethrNetworkFromDeployment } from "@hygeia/identity";
import { answerCheckIn, readCheckIn, verifyCheckInClinic } from "@hygeia/sdk";

// The wallet's identity for check-ins, in Node: an identity agent holding the patient's did:ethr key.
const agent = await IdentityAgent.create({ network: ethrNetworkFromDeployment(patient.connection.deployment, rpcUrl) });
const { did } = await agent.importEthrDid(wallet.privateKey, "me");
const me = { agent, did, trustRegistry: patient.connection.deployment.contracts.TrustRegistry };
const transport = patient.connection.transport; // signed in as the patient
const seen = await readCheckIn(transport, checkIn.url); // seen.clinic.claimed: UNVERIFIED, for display only
const verified = await verifyCheckInClinic({ wallet: me, checkIn: seen, transport }); // proof relayed by the gateway
// verified.clinic: { did, clinicName: "Asclepius Virtual Clinic", accreditationNumber, virtual: true }
await answerCheckIn({
  transport,
  wallet: me,
  checkIn: seen,
  clinic: verified,
  credentials: [{ sdJwt: insurance.credential }],
});
// only insurerName and memberId leave the wallet, sealed to the clinic's key
// #endregion checkin-patient
assert.equal(verified.clinic?.clinicName, "Asclepius Virtual Clinic");

// #region checkin-result
await waiting;
const checkedIn = await clinic.checkIns.result(checkIn.id);
// checkedIn.ok: true; checkedIn.disclosed: { HealthInsuranceCredential: { insurerName: "Acme Health", memberId: "M-1234" } }
// checkedIn.checks: [{ name: "signature", pass: true, reason }, …]; checkedIn.patient: { did, address }
// #endregion checkin-result
assert.equal(checkedIn.ok, true, JSON.stringify(checkedIn.checks.filter((c) => !c.pass)));
assert.deepEqual(checkedIn.disclosed, {
  HealthInsuranceCredential: { insurerName: "Acme Health", memberId: "M-1234" },
});
await agent.close();

// The same check-in from a browser wallet: no identity agent, the patient's own key (a HolderKey).
const secondCheckIn = await clinic.checkIns.open({
  credentials: [{ type: CredentialType.HealthInsurance, claims: ["insurerName", "memberId"] }],
});
const secondWaiting = clinic.checkIns.waitForAnswer(secondCheckIn.id, { timeoutMs: 60_000, intervalMs: 200 });
const link = secondCheckIn.url;

// #region checkin-browser
import { privateKeyHolderKey } from "@hygeia/identity/browser";
import { keyCheckInWallet } from "@hygeia/sdk/browser"; // also readCheckIn, verifyCheckInClinic, answerCheckIn

// `patient` is a PatientClient (its connection is signed in as the patient, over SIWE)
const holder = privateKeyHolderKey(wallet.privateKey, did); // did:ethr:<chain>:<the wallet's address>
const browserWallet = await keyCheckInWallet(patient.connection, holder); // DIDs and trust read on its chain
const shown = await readCheckIn(patient.connection.transport, link); // the link in the clinic's QR code
const clinicVerified = await verifyCheckInClinic({
  wallet: browserWallet,
  checkIn: shown,
  transport: patient.connection.transport,
  relay: { timeoutMs: 30_000 }, // give up if the clinic's desk is not waiting (default: the check-in's expiry)
});
await answerCheckIn({
  transport: patient.connection.transport,
  wallet: browserWallet,
  checkIn: shown,
  clinic: clinicVerified,
  credentials: [{ sdJwt: insurance.credential }], // bound (cnf) to this key: another key is HOLDER_MISMATCH
});
// #endregion checkin-browser
assert.equal((await secondWaiting).status, "answered");
assert.equal((await clinic.checkIns.result(secondCheckIn.id)).ok, true);

// #region consent-grant
const granted = await patient.consent.grant({
  grantee: clinic.did,
  scopes: ["category:laboratory"], // turned into the patient's keyed scope ids before anything leaves the device
  purpose: "Treatment",
  expires: "30d",
}); // relayed: the gateway pays the gas; existing laboratory records are wrapped to the clinic
// #endregion consent-grant
assert.equal(granted.shared, 1);

// #region clinic-fetch
import { RecordAccessRefusedError } from "@hygeia/sdk";

const all = await clinic.fetchAll(patient.address, { purpose: "Treatment", cids: [labs.cid, letter.cid] });
// all.readable: the lab Bundle, decrypted here (record.fhir); all.refused: the PDF, CONSENT_REQUIRED
// #endregion clinic-fetch
assert.deepEqual(
  all.readable.map((r) => r.fhir),
  [bundle],
);
assert.deepEqual(
  all.refused.map((r) => [r.cid, r.error.code]),
  [[letter.cid, "CONSENT_REQUIRED"]],
);

// #region consent-list
const consents = await patient.consent.list(); // [{ grantee, scope: "category:laboratory", purposeLabel, expiry, … }]
const fhirConsents = await patient.consent.exportFhir(); // a FHIR R4 Bundle of Consent resources, labelled here
// #endregion consent-list
assert.deepEqual(
  consents.map((c) => c.scope),
  ["category:laboratory"],
);
assert.equal(fhirConsents.resourceType, "Bundle");

// #region consent-revoke
await patient.consent.revoke({ grantee: clinic.did, scopes: ["category:laboratory"], purpose: "Treatment" });
const refusal = await clinic.fetchRecord(patient.address, labs.cid, { purpose: "Treatment" }).catch((e) => e);
// refusal instanceof RecordAccessRefusedError, refusal.code "CONSENT_REQUIRED", refusal.hint says what to do
// #endregion consent-revoke
assert.ok(refusal instanceof RecordAccessRefusedError);
assert.equal(refusal.code, "CONSENT_REQUIRED");

// #region emergency
const emergency = await patient.emergency.add({
  grantee: clinic.did, // it must publish an encryption key: existing records in the scopes are wrapped to it now
  scopes: ["category:allergy", "category:medication"],
  window: "4h", // the one window its first breakGlass opens (at most 7 days)
}); // gasless; emergency.card: the blinded scope list to hand to the grantee (only its Merkle root is on chain)
const registrations = await patient.emergency.list(); // [{ grantee, windowSeconds, status: "ready", … }]
// #endregion emergency
assert.equal(registrations.length, 1);
assert.equal(registrations[0]?.status, "ready");
assert.ok(emergency.card.length >= 2);

// #region audit
let report = await patient.audit.verify(); // events, checkpoints, consistency proofs; anchors read from the chain
for (let i = 0; i < 50 && report.counts.pending > 0; i++) {
  await new Promise((resolve) => setTimeout(resolve, 200)); // the gateway anchors every audit.anchorEveryMs
  report = await patient.audit.verify();
}
// report.ok: every event verified; report.events: [{ type, decision, reason, grantee, scope, time, verified }]
// #endregion audit
assert.equal(report.ok, true, JSON.stringify(report.problems));
assert.equal(report.counts.pending, 0);
const decisions = report.events.filter((e) => e.grantee === clinicWallet.address.toLowerCase()).map((e) => e.decision);
assert.ok(decisions.includes("permit") && decisions.includes("deny"), JSON.stringify(decisions));

// #region issuer-status
const change = await insurer.revoke(insurance); // published at the gateway at once; verifiers see it within their TTL
// change: { status: "revoked", previous: "valid", changed: true, … }
// #endregion issuer-status
assert.equal(change.status, "revoked");

// #region second-device
const laptop = await PatientClient.connect({
  signer: await decryptKeystore(keystore, "correct horse battery staple"), // the same wallet, nothing else
  connection: { gatewayUrl, rpcUrl },
});
const recovery = await laptop.records.recover(); // the list anchored on chain; what the gateway lost comes back
// recovery: { anchoredVersion, listed: 2, relisted: 0, reregistered: 0, unavailable: [], anchor: { status: "current", … } }
const again = await laptop.records.list();
const { bytes: letterAgain } = await laptop.records.getBytes(letter.cid); // decrypted with the wallet's own key
// #endregion second-device
assert.equal(again.length, 2);
assert.equal(recovery.listed, 2);
assert.deepEqual(recovery.unavailable, []);
assert.deepEqual(letterAgain, pdf);

await laptop.close();
await patient.close();
await clinic.close();
await board.close();
await insurer.close();
await governance.close();
await app.close();
await closeServices(services);
await local.stop();
await rm(dir, { recursive: true, force: true });
