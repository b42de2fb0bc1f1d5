// The vocabulary of consent: purposes and scopes, and the ids the ConsentRegistry stores for them.
// Run: node packages/chain/examples/vocabulary.ts
/* eslint-disable @typescript-eslint/no-unused-expressions -- the README shows values as bare expressions, results in comments */
import assert from "node:assert/strict";
import { keccak256, toUtf8Bytes } from "ethers";

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

// #region scopes
import { InvalidScopeError, parseScope, scopeId, scopesForRecord } from "@hygeia/chain";

scopeId("fhir:Observation"); // keccak256("fhir:Observation"), what the contract stores
try {
  parseScope("fhir:observation");
} catch (error) {
  // InvalidScopeError: "FHIR resource types are case-sensitive: use fhir:Observation"
  assert.ok(error instanceof InvalidScopeError);
}
scopesForRecord({ cid, resourceType: "Observation", categories: ["laboratory"] });
// ["record:<cid>", "fhir:Observation", "category:laboratory"] — consent for any one of them covers the record
// #endregion scopes

assert.equal(scopeId("fhir:Observation"), keccak256(toUtf8Bytes("fhir:Observation")));
assert.throws(() => parseScope("fhir:observation"), /case-sensitive: use fhir:Observation/);
assert.deepEqual(scopesForRecord({ cid, resourceType: "Observation", categories: ["laboratory"] }), [
  `record:${cid}`,
  "fhir:Observation",
  "category:laboratory",
]);
console.log("vocabulary: ok");
