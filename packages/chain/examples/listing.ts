// Listing a patient's consents in the wallet: the chain holds only keyed scope ids, so the wallet reads its own
// consent address's history (consentEventsOf) or live consents (ConsentIndexer.consentsOf) and labels each id with
// its scope key (PatientScopes.label). Also: why a fresh grant reads false on an automining chain, and how to tell.
// Run: node packages/chain/examples/listing.ts
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { ConsentRegistryClient, PatientScopes, startLocalDeployment } from "@hygeia/chain";
import { deriveConsentSecretFromKeystoreSecret, deriveScopeKey } from "@hygeia/crypto";

const { provider, deployment, account, stop } = await startLocalDeployment(); // blockTime 0: a block per transaction
const patient = account(2).address;
const clinic = account(3).address;
const lab = account(4).address;
const keystoreSecret = randomBytes(32); // the patient's keystore (a browser wallet: its key-derivation signature)
const scopes = new PatientScopes(deriveScopeKey(deriveConsentSecretFromKeystoreSecret(keystoreSecret)), patient);
const cids = ["bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"]; // the record CIDs of the manifest
const registry = new ConsentRegistryClient(deployment.contracts.ConsentRegistry, account(2));
const expiry = Math.floor(Date.now() / 1000) + 30 * 86400;
const laboratory = scopes.id("category:laboratory");
const allergy = scopes.id("category:allergy");
await registry.grant({ grantee: clinic, scope: laboratory, purpose: "Treatment", expiry });
await registry.grant({ grantee: lab, scope: scopes.id(`record:${cids[0]}`), purpose: "Treatment", expiry });
await registry.grant({ grantee: clinic, scope: scopes.id("category:imaging"), purpose: "Treatment", expiry });
await registry.revoke({ grantee: clinic, scope: scopes.id("category:imaging"), purpose: "Treatment" });

// #region events
import { purposeLabel } from "@hygeia/chain";

// Straight from the chain, no indexer: every event that names the consent address, oldest first.
const events = await registry.consentEventsOf(patient, { fromBlock: deployment.deployedAt.block });
const history = events.map((e) =>
  e.type === "EmergencyGranteeSet"
    ? `${e.type} ${e.grantee} for ${e.maxDuration} s`
    : `${e.type} ${e.grantee} ${scopes.label(e.scope, { cids })} ${purposeLabel(e.purpose)}`,
);
// ["ConsentGranted 0x90F7… category:laboratory Treatment", "ConsentGranted 0x15d3… record:bafkrei… Treatment",
//  "ConsentGranted 0x90F7… category:imaging Treatment", "ConsentRevoked 0x90F7… category:imaging Treatment"]
// #endregion events

assert.deepEqual(history, [
  `ConsentGranted ${clinic} category:laboratory Treatment`,
  `ConsentGranted ${lab} record:${cids[0]} Treatment`,
  `ConsentGranted ${clinic} category:imaging Treatment`,
  `ConsentRevoked ${clinic} category:imaging Treatment`,
]);

// The last grant, just mined: nothing is built on it yet.
await registry.grant({ grantee: lab, scope: allergy, purpose: "Treatment", expiry });

// #region consents
import { ConsentIndexer } from "@hygeia/chain";

const indexer = new ConsentIndexer({
  provider,
  address: deployment.contracts.ConsentRegistry,
  startBlock: deployment.deployedAt.block, // confirmations: 2, the default
});
await indexer.start();
// The live, confirmed consents of the consent address, labelled in the wallet (fail closed when stale).
const listed = indexer.consentsOf(patient).map((c) => ({
  grantee: c.grantee,
  scope: scopes.label(c.scope, { cids }),
  purpose: purposeLabel(c.purpose),
  expiry: c.expiry,
}));
// [{ grantee: clinic, scope: "category:laboratory", ... }, { grantee: lab, scope: "record:bafkrei…", ... }]

// The allergy grant is mined but has no block on top: isAllowed says false, consentsOf leaves it out, and
// awaitsConfirmation tells that this is why. On anvil's automine nothing else mines: mine two blocks (or give a
// demo indexer confirmations: 0).
const allowedAtOnce = indexer.isAllowed(patient, lab, allergy, "Treatment"); // false
const waiting = indexer.awaitsConfirmation(patient, lab, allergy, "Treatment"); // true
await provider.send("evm_mine", []);
await provider.send("evm_mine", []);
await indexer.sync();
const allowedLater = indexer.isAllowed(patient, lab, allergy, "Treatment"); // true
// #endregion consents

assert.equal(allowedAtOnce, false);
assert.equal(waiting, true);
assert.equal(allowedLater, true);

const byGrantee = (a: { grantee: string }, b: { grantee: string }) =>
  a.grantee.toLowerCase().localeCompare(b.grantee.toLowerCase());
assert.deepEqual(
  listed,
  [
    { grantee: clinic, scope: "category:laboratory", purpose: "Treatment", expiry: BigInt(expiry) },
    { grantee: lab, scope: `record:${cids[0]}`, purpose: "Treatment", expiry: BigInt(expiry) },
  ].sort(byGrantee),
);
assert.equal(indexer.awaitsConfirmation(patient, lab, allergy, "Treatment"), false);
assert.deepEqual(
  indexer.consentsOf(patient).map((c) => scopes.label(c.scope, { cids })),
  [
    { grantee: clinic, scope: "category:laboratory" },
    { grantee: lab, scope: "category:allergy" },
    { grantee: lab, scope: `record:${cids[0]}` },
  ]
    .sort((a, b) => byGrantee(a, b) || (scopes.id(a.scope) < scopes.id(b.scope) ? -1 : 1))
    .map((c) => c.scope),
);
await indexer.stop();

await stop();
console.log("listing: ok");
