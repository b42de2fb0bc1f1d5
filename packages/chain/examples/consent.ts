// Consent on chain: the patient's wallet derives its scope key and computes keyed scope ids, grants directly
// and gaslessly (EIP-712, relayed; several grants and revokes under one signature), a clinic's wallet is refused as signer, governance accredits an issuer, a
// gateway anchors an audit root, a gateway asks whether a grantee may read a record (with the ids the wallet
// attached to it), and an emergency grantee breaks the glass with the ids on the patient's emergency card.
// Run: node packages/chain/examples/consent.ts
/* eslint-disable @typescript-eslint/no-unused-expressions -- the README shows values as bare expressions, results in comments */
import assert from "node:assert/strict";
import { hexlify, randomBytes } from "ethers";
import { recordScope, startLocalDeployment } from "@hygeia/chain";

const { provider, deployment, account, stop } = await startLocalDeployment({ gatewayAccounts: [1] });
const gatewaySigner = account(1);
const address = deployment.contracts.ConsentRegistry;
const governanceSigner = account(0);
const patientSigner = account(2);
const patient = patientSigner.address;
const clinicSigner = account(3);
const clinic = clinicSigner.address;
const doctorSigner = account(4);
const doctor = doctorSigner.address;
const relayerSigner = account(9);
const erSigner = account(6); // an emergency department
const er = erSigner.address;
const issuer = account(5).address;
const now = Math.floor(Date.now() / 1000);
const expiry = now + 30 * 86400;
// A browser wallet is window.ethereum; here anvil's node, which holds the dev accounts, answers eth_signTypedData_v4.
const ethereum = {
  request: ({ method, params }: { method: string; params?: readonly unknown[] }) =>
    provider.send(method, [...(params ?? [])]),
};

// #region patient-scopes
import {
  deriveConsentSecretFromWalletSignature,
  deriveScopeKey,
  keyDerivationTypedDataForEthers,
} from "@hygeia/crypto";
import { PatientScopes } from "@hygeia/chain";

// In the patient's wallet: one signature of a fixed message, the same one the patient's X25519 key comes from
// (a browser wallet: deriveConsentSecretFromEip1193Wallet(window.ethereum, patient); a CLI keystore:
// deriveConsentSecretFromKeystoreSecret(secret)). Wallets sign deterministically, so every device gets the same.
const derivation = keyDerivationTypedDataForEthers(); // key index 0, always: rotating keys keeps the ids
const signature = await patientSigner.signTypedData(derivation.domain, derivation.types, derivation.message);
const consentSecret = deriveConsentSecretFromWalletSignature(signature, { expectedAddress: patient });
const scopes = new PatientScopes(deriveScopeKey(consentSecret), patient); // the key never leaves the wallet

const laboratory = scopes.id("category:laboratory"); // "0x…": bytes32, what the chain stores; no public hash
scopes.label(laboratory); // "category:laboratory": the wallet shows consents readably, nobody else can
// #endregion patient-scopes

assert.match(laboratory, /^0x[0-9a-f]{64}$/);
assert.equal(scopes.label(laboratory), "category:laboratory");
// The same wallet on a new device: the same signature, so the same key and the same ids.
const signedAgain = await patientSigner.signTypedData(derivation.domain, derivation.types, derivation.message);
const sameKey = deriveScopeKey(deriveConsentSecretFromWalletSignature(signedAgain, { expectedAddress: patient }));
assert.equal(new PatientScopes(sameKey, patient).id("category:laboratory"), laboratory);
// The clinic's wallet signing the patient's derivation message is refused: it would give wrong ids.
const clinicSignature = await clinicSigner.signTypedData(derivation.domain, derivation.types, derivation.message);
assert.throws(() => deriveConsentSecretFromWalletSignature(clinicSignature, { expectedAddress: patient }));

// #region eip712
import { ConsentRegistryClient, WrongSignerError, signGrant } from "@hygeia/chain";

const relayer = new ConsentRegistryClient(address, relayerSigner);
const { domain, message, typedData } = await relayer.nextGrantTypedData({
  patient,
  grantee: clinic,
  scope: scopes.id("category:laboratory"), // the id only: the relayer learns no category
  purpose: "Treatment",
  expiry: now + 30 * 86400, // unix seconds, at most 10 years ahead
  deadline: now + 600, // the signature can be relayed for 10 minutes
});
// typedData is the complete eth_signTypedData_v4 payload (EIP712Domain included, JSON-safe).
const signed = await signGrant({ eip1193: ethereum, account: patient }, domain, { ...message, patient });
// or signGrant(patientSigner, domain, { ...message, patient }) with an ethers Signer
await relayer.grantBySig(signed); // anyone relays; the patient needs no ETH

try {
  await signGrant(clinicSigner, domain, { ...message, patient }); // the clinic's wallet, the patient's grant
} catch (error) {
  // WrongSignerError (code WRONG_SIGNER): error.expected is the patient, error.actual the clinic; nothing signed
  assert.ok(error instanceof WrongSignerError);
}
// #endregion eip712

assert.equal(typedData.primaryType, "Grant");
assert.equal(signed.patient, patient);
assert.equal(await relayer.isAllowed({ patient, grantee: clinic, scope: laboratory, purpose: "Treatment" }), true);
await assert.rejects(signGrant(clinicSigner, domain, { ...message, patient }), {
  code: "WRONG_SIGNER",
  expected: patient,
  actual: clinic,
});

// #region clients
import { AuditAnchorClient, TrustRegistryClient, blindEmergencyScopes } from "@hygeia/chain";

const registry = new ConsentRegistryClient(address, patientSigner); // a Provider gives a read-only client
const observation = scopes.id("fhir:Observation"); // every scope argument is a keyed id from the wallet
const tx = await registry.grant({ grantee: clinic, scope: observation, purpose: "Treatment", expiry });
tx.events; // [{ type: "ConsentGranted", patient, grantee, scope: observation, purpose, expiry, version, position }]
await registry.isAllowed({ patient, grantee: clinic, scope: observation, purpose: 1 }); // true; optional blockTag
await registry.consentOf({ patient, grantee: clinic, scope: observation, purpose: 1 }); // { expiry, version: 1 }
await registry.revoke({ grantee: clinic, scope: observation, purpose: "Treatment" });
const medication = scopes.id("category:medication"); // an id the doctor may open in an emergency
const doctorCard = blindEmergencyScopes([medication, scopes.id("category:allergy")]); // + a random blinding id
await registry.setEmergencyGrantee(doctor, { maxDurationSeconds: 3600, scopes: doctorCard }); // one window, ≤ 7 days
await registry.connect(doctorSigner).breakGlass(patient, medication, { scopes: doctorCard }); // opens it

const trust = new TrustRegistryClient(deployment.contracts.TrustRegistry, governanceSigner);
await trust.accredit({ issuer, role: "irb", validFrom: now - 60, validUntil: now + 365 * 86400 }); // unix seconds
await trust.isTrustedAt(issuer, "irb", now); // true; roles: TrustRole, ids = keccak256("hygeia.role.<name>")

const anchors = new AuditAnchorClient(deployment.contracts.AuditAnchor, gatewaySigner, {
  fromBlock: deployment.deployedAt.block,
});
const root = hexlify(randomBytes(32)); // a Merkle root of audit events 0..9
await anchors.anchor(root, 0, 10);
await anchors.findAnchor(root); // AnchorRecord { root, gateway, firstIndex: 0n, count: 10, batch: 0, position }
// #endregion clients

assert.deepEqual(
  { ...tx.events[0]!, position: undefined },
  {
    type: "ConsentGranted",
    patient,
    grantee: clinic,
    scope: observation,
    purpose: 1,
    expiry: BigInt(expiry),
    version: 1,
    position: undefined,
  },
);
const key = { patient, grantee: clinic, scope: observation, purpose: "Treatment" };
assert.equal(await registry.isAllowed(key), false); // revoked
assert.deepEqual(await registry.consentOf(key), { expiry: 0n, version: 2 });
assert.equal(await registry.isAllowed(key, tx.blockNumber), true); // at the grant's block
assert.equal(await registry.isAllowed({ ...key, grantee: doctor, scope: medication, purpose: 3 }), true);
assert.equal(doctorCard.length, 3);
assert.equal(await trust.isTrustedAt(issuer, "irb", now), true);
assert.deepEqual(
  { ...(await anchors.findAnchor(root))!, position: undefined },
  { root, gateway: gatewaySigner.address, firstIndex: 0n, count: 10, batch: 0, position: undefined },
);

let refused: InvalidInputError | undefined;
// #region times
import { InvalidInputError } from "@hygeia/chain";

try {
  await trust.accredit({ issuer, role: "irb", validFrom: now - 60, validUntil: Date.now() + 3600_000 });
} catch (error) {
  if (!(error instanceof InvalidInputError)) throw error;
  error.field; // "validUntil"; nothing was sent
  error.detail; // "1767229200000 looks like milliseconds: divide by 1000 (expected unix seconds, e.g. 1767229200, …)"
  refused = error;
}
// Reads refuse a time in milliseconds too, rather than answer for the year ~58,000:
assert.throws(() => trust.isTrustedAt(issuer, "irb", Date.now()), InvalidInputError); // field "at"
// #endregion times

assert.equal(refused?.field, "validUntil");
assert.match(refused.detail, /^\d+ looks like milliseconds: divide by 1000 \(expected unix seconds, e\.g\. \d+, /);

const cid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"; // a lab result's ciphertext CID

// #region record-access
// Upload, in the wallet: the record's ids (its CID, FHIR type, categories), stored by the gateway beside its wraps.
const scopeIds = scopes.forRecord({ cid, resourceType: "Observation", categories: ["laboratory"] });

// The gateway (or the clinic) asks with those ids: it needs no key and learns no type or category.
const access = await registry.checkRecordAccess({
  patient,
  grantee: clinic,
  record: { scopeIds },
  purpose: "Treatment",
});
access.allowed; // true
access.scope; // scopeIds[2]: the id whose consent allowed it (log it)
access.scopes; // scopeIds, in the order checked (record, FHIR type, categories)
scopes.label(access.scope!, { cids: [cid] }); // "category:laboratory", in the patient's wallet only
// A denial is { allowed: false, scope: null, scopes }. The ConsentIndexer answers the same question
// synchronously: indexer.checkRecordAccess(query), throwing IndexerStaleError when it cannot vouch.
// #endregion record-access

assert.deepEqual(scopeIds, scopes.ids([recordScope(cid), "fhir:Observation", "category:laboratory"]));
assert.deepEqual(access, { allowed: true, scope: laboratory, scopes: scopeIds });
assert.equal(scopes.label(scopeIds[0]!, { cids: [cid] }), `record:${cid}`);
assert.equal(scopes.label(access.scope!, { cids: [cid] }), "category:laboratory");
const recordOnly = { scopeIds: [scopes.id(recordScope(cid))] };
assert.deepEqual(
  await registry.checkRecordAccess({ patient, grantee: clinic, record: recordOnly, purpose: "Research" }),
  { allowed: false, scope: null, scopes: recordOnly.scopeIds },
);
// Ids under any other key (someone hashing the vocabulary with a guess) match none of the patient's consents.
const otherScopes = new PatientScopes(Uint8Array.from(randomBytes(32)), patient);
assert.equal(
  (
    await registry.checkRecordAccess({
      patient,
      grantee: clinic,
      record: { scopeIds: otherScopes.forRecord({ cid, resourceType: "Observation", categories: ["laboratory"] }) },
      purpose: "Treatment",
    })
  ).allowed,
  false,
);

let windowEnd = 0n;

// #region emergency
import { ZERO_SCOPES_ROOT, signEmergencyGrantee } from "@hygeia/chain"; // blindEmergencyScopes: imported above

// The patient names the grantee, the length of its ONE window (at most 7 days) and the scopes it may open, as
// the patient's ids: the emergency card, which the patient gives the grantee (the chain keeps only its root).
// blindEmergencyScopes adds one fresh random id: the root is an unsalted function of the list, and the patient's
// ids also appear in its grants, so without it an observer could try subsets of them until one gives the root.
const named = scopes.ids(["category:allergy", "category:medication", "fhir:Condition"]);
const card = blindEmergencyScopes(named); // the three ids (sorted) and the blinding id, which no record carries
const [allergy, , condition] = named; // the wallet keeps the whole card: the chain has only its root
await registry.setEmergencyGrantee(er, { maxDurationSeconds: 4 * 3600, scopes: card });

// In an emergency the grantee breaks the glass with an id from the card; it needs no key. The proof is computed
// from the card (its Merkle root is compared with the registered one first). The first call opens the window.
const erRegistry = registry.connect(erSigner);
const opened = await erRegistry.breakGlass(patient, allergy!, { scopes: card }); // allergies: now + 4 hours
opened.events; // [{ type: "EmergencyAccess", purpose: 3, expiry: windowEnd, version: 1, ... }]
await erRegistry.breakGlass(patient, condition!, { scopes: card }); // conditions: joins the window, never extends it
await erRegistry.breakGlass(patient, condition!, { scopes: card }); // open already: writes nothing, same version
// Each proof shows its sibling leaf hashes: once the glass is broken an observer can tell which of the patient's
// ids seen in its grants are on the card too (not what they mean); the blinding id protects the card until then.
windowEnd = (await registry.emergencyGranteeOf(patient, er)).windowEnd; // { maxDurationSeconds: 14400, windowEnd, scopesRoot, epoch: 1 }
// After windowEnd, breakGlass reverts EmergencyWindowUsed until the patient registers the grantee again.

// The patient ends it early without ETH: a signed removal that anyone relays. It carries the pair's epoch
// (emergencyGranteeOf(patient, er).epoch, here 1): only the patient's own changes move it, so nothing the
// grantee does can make the signature stale, and every change of the registration kills messages signed before.
const removal = await relayer.nextEmergencyGranteeTypedData({
  patient,
  grantee: er,
  maxDurationSeconds: 0, // 0 removes; a registration gives a duration and scopes
  deadline: now + 600, // a removal's deadline only must not be in the past
  skipEpochs: 1, // one message signed for this grantee before may be held unrelayed: it cannot make this stale
});
const signedRemoval = await signEmergencyGrantee({ eip1193: ethereum, account: patient }, removal.domain, {
  ...removal.message,
  patient,
});
await relayer.setEmergencyGranteeBySig(signedRemoval); // every window of the grantee closes at once
await registry.emergencyGranteeOf(patient, er); // { maxDurationSeconds: 0, windowEnd: 0n, scopesRoot: ZERO_SCOPES_ROOT, epoch: 3 }
// #endregion emergency

assert.equal(opened.events[0]!.type, "EmergencyAccess");
assert.equal((opened.events[0] as { expiry: bigint }).expiry, windowEnd);
assert.deepEqual(await registry.emergencyGranteeOf(patient, er), {
  maxDurationSeconds: 0,
  windowEnd: 0n,
  scopesRoot: ZERO_SCOPES_ROOT,
  epoch: 3,
});
for (const scope of card) assert.equal(await registry.isAllowed({ patient, grantee: er, scope, purpose: 3 }), false);
assert.deepEqual(card.slice(0, 3), [...named].sort()); // the named ids, sorted, then the blinding id
assert.equal(card.length, 4);
assert.equal(scopes.label(card[3]!), undefined); // the blinding id stands for no scope
assert.equal(scopes.label(allergy!), "category:allergy");
await assert.rejects(erRegistry.breakGlass(patient, card[0]!, { scopes: card }), {
  errorName: "NotEmergencyGrantee",
});
assert.equal(removal.message.epoch, 2); // the pair's epoch 1, plus skipEpochs

let overlap: InvalidInputError | undefined;
const chainNow = (await provider.getBlock("latest"))!.timestamp;

// #region trust-history
await trust.revokeAccreditation(issuer, "irb"); // e.g. its key was compromised
try {
  // Back-dating the new window would make the revoked period trusted again: refused before sending.
  await trust.accredit({ issuer, role: "irb", validFrom: now - 60, validUntil: now + 365 * 86400 });
} catch (error) {
  if (!(error instanceof InvalidInputError)) throw error;
  error.field; // "validFrom"; "... start the new window at <the chain's time> or later ..."
  overlap = error;
}
await trust.accredit({ issuer, role: "irb", validFrom: chainNow + 60, validUntil: chainNow + 365 * 86400 });
await trust.accreditationHistory(issuer, "irb"); // both windows, oldest first: [{ ..., revokedAt }, { ..., revokedAt: 0n }]
await trust.accreditationOf(issuer, "irb"); // the latest window
// #endregion trust-history

assert.equal(overlap?.field, "validFrom");
assert.match(overlap.message, /start the new window at \d+ or later/);
const history = await trust.accreditationHistory(issuer, "irb");
assert.equal(history.length, 2);
assert.notEqual(history[0]!.revokedAt, 0n);
assert.deepEqual(await trust.accreditationOf(issuer, "irb"), history[1]);
assert.equal(await trust.isTrustedAt(issuer, "irb", now), true); // the old window still vouches for its time
assert.equal(await trust.isTrustedAt(issuer, "irb", Number(history[0]!.revokedAt)), false);

// #region consent-batch
import { signConsentBatch } from "@hygeia/chain";

// Several grants and revokes, ONE signature: the wallet prompts once, the relayer sends one transaction.
const batch = await relayer.nextConsentBatchTypedData({
  patient,
  grants: ["fhir:Observation", "category:imaging"].map((scope) => ({
    grantee: doctor,
    scope: scopes.id(scope),
    purpose: "Treatment",
    expiry,
  })),
  revokes: [{ grantee: clinic, scope: scopes.id("category:laboratory"), purpose: "Treatment" }],
  deadline: now + 600,
}); // every item's version read from the chain now (a slot named twice: + 1 the second time)
const signedBatch = await signConsentBatch({ eip1193: ethereum, account: patient }, batch.domain, {
  ...batch.message,
  patient,
});
const batchTx = await relayer.consentBatchBySig(signedBatch); // grants first, then revokes, all or nothing
// #endregion consent-batch

assert.equal(batch.typedData.primaryType, "ConsentBatch");
assert.deepEqual(
  batchTx.events.map((event) => event.type),
  ["ConsentGranted", "ConsentGranted", "ConsentRevoked"],
);
assert.equal(await relayer.isAllowed({ patient, grantee: clinic, scope: laboratory, purpose: "Treatment" }), false);
assert.equal(
  await relayer.isAllowed({ patient, grantee: doctor, scope: scopes.id("category:imaging"), purpose: "Treatment" }),
  true,
);

await stop();
console.log("consent: ok");
