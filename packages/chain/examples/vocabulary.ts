// The vocabulary of consent: purposes and scopes, and the keyed ids the ConsentRegistry stores for them.
// Run: node packages/chain/examples/vocabulary.ts
/* eslint-disable @typescript-eslint/no-unused-expressions -- the README shows values as bare expressions, results in comments */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Wallet } from "ethers";

// #region purposes
import { Purpose, parsePurpose, purposeLabel } from "@hygeia/chain";

Purpose.Treatment; // 1   Research 2, Emergency 3, Payment 4, PublicHealth 5 (as the contract's uint8)
parsePurpose("public-health"); // 5 — numbers, decimal strings and names in any case are accepted
purposeLabel(3); // "Emergency (break-glass)"
// #endregion purposes

assert.equal(Purpose.Treatment, 1);
assert.equal(parsePurpose("public-health"), 5);
assert.equal(purposeLabel(3), "Emergency (break-glass)");

const cid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"; // a record's ciphertext CID
const alice = Wallet.createRandom().address; // two patients' accounts
const bob = Wallet.createRandom().address;
const aliceKeystoreSecret = randomBytes(32); // what a CLI keystore holds (a browser wallet: a signature instead)
const bobKeystoreSecret = randomBytes(32);
let notAnId: InvalidScopeError | undefined;

// #region scopes
import { InvalidScopeError, PatientScopes, parseScope, scopesForRecord, toScopeId } from "@hygeia/chain";
import { deriveConsentSecretFromKeystoreSecret, deriveScopeKey } from "@hygeia/crypto";

// Canonical scopes: parsed strictly, never folded into shape.
parseScope("category:laboratory"); // { kind: "category", value: "laboratory", canonical: "category:laboratory" }
try {
  parseScope("fhir:observation");
} catch (error) {
  // InvalidScopeError: "FHIR resource types are case-sensitive: use fhir:Observation"
  assert.ok(error instanceof InvalidScopeError);
}
scopesForRecord({ cid, resourceType: "Observation", categories: ["laboratory"] });
// ["record:<cid>", "fhir:Observation", "category:laboratory"] — consent for any one of them covers the record

// What the chain stores is the patient's keyed id of a scope, computed in the patient's wallet:
const aliceScopes = new PatientScopes(
  deriveScopeKey(deriveConsentSecretFromKeystoreSecret(aliceKeystoreSecret)),
  alice,
);
const laboratory = aliceScopes.id("category:laboratory"); // "0x…" (bytes32): HMAC-SHA256 under Alice's scope key
aliceScopes.label(laboratory); // "category:laboratory": only where the key is can an id be read
// The same category has an unrelated id for another patient, so ids link no two patients' consents:
const bobScopes = new PatientScopes(deriveScopeKey(deriveConsentSecretFromKeystoreSecret(bobKeystoreSecret)), bob);
bobScopes.id("category:laboratory"); // another "0x…", not laboratory
bobScopes.label(laboratory); // undefined: Bob's key cannot read Alice's ids

// Contract calls, signed messages and emergency lists take ids only: a canonical string is refused, not hashed.
try {
  toScopeId("category:laboratory");
} catch (error) {
  // InvalidScopeError: "... is a scope, not a scope id; a plain hash of it would be readable by anyone on chain:
  // use the patient's keyed id, PatientScopes.id("category:laboratory")"
  if (!(error instanceof InvalidScopeError)) throw error;
  notAnId = error;
}
toScopeId(laboratory); // the id itself, lowercase: what a relayer, gateway or clinic passes on
// #endregion scopes

assert.deepEqual(parseScope("category:laboratory"), {
  kind: "category",
  value: "laboratory",
  canonical: "category:laboratory",
});
assert.throws(() => parseScope("fhir:observation"), /case-sensitive: use fhir:Observation/);
assert.deepEqual(scopesForRecord({ cid, resourceType: "Observation", categories: ["laboratory"] }), [
  `record:${cid}`,
  "fhir:Observation",
  "category:laboratory",
]);
assert.match(laboratory, /^0x[0-9a-f]{64}$/);
assert.equal(aliceScopes.label(laboratory), "category:laboratory");
assert.notEqual(bobScopes.id("category:laboratory"), laboratory);
assert.equal(bobScopes.label(laboratory), undefined);
assert.match(notAnId?.message ?? "", /is a scope, not a scope id.*PatientScopes\.id\("category:laboratory"\)/);
assert.equal(toScopeId(laboratory), laboratory);
// The same keystore secret (the same wallet on a new device) gives the same ids:
const again = new PatientScopes(deriveScopeKey(deriveConsentSecretFromKeystoreSecret(aliceKeystoreSecret)), alice);
assert.equal(again.id("category:laboratory"), laboratory);
console.log("vocabulary: ok");
