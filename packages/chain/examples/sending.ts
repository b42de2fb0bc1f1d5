// Sending transactions: one TransactionSender per account, concurrent writes, a revert that does not
// block the next write, and a wait that times out (anvil told not to mine).
// Run: node packages/chain/examples/sending.ts
/* eslint-disable @typescript-eslint/no-unused-expressions -- the README shows values as bare expressions, results in comments */
import assert from "node:assert/strict";
import { hexlify, randomBytes } from "ethers";
import { PatientScopes, startLocalDeployment } from "@hygeia/chain";
import { deriveConsentSecretFromKeystoreSecret, deriveScopeKey } from "@hygeia/crypto";

// anvil on a free port with Hygeia deployed; accounts from the public test mnemonic
const { provider, deployment, account, stop } = await startLocalDeployment();
const address = deployment.contracts.ConsentRegistry;
const patientWallet = account(2);
const clinic = account(3).address;
const lab = account(4).address;
const now = Math.floor(Date.now() / 1000);
const expiry = now + 30 * 86400;
// The patient's keyed scope ids, as its wallet computes them (here a CLI keystore's secret; see vocabulary.ts).
const scopeKeyOf = (keystoreSecret: Uint8Array) =>
  deriveScopeKey(deriveConsentSecretFromKeystoreSecret(keystoreSecret));
const scopes = new PatientScopes(scopeKeyOf(randomBytes(32)), patientWallet.address);
const laboratory = scopes.id("category:laboratory");
const observation = scopes.id("fhir:Observation");
const someId = hexlify(randomBytes(32)); // an id from an emergency card the lab never gave this account

// #region sending
import { ConsentRegistryClient, ContractRevertError, TransactionSender } from "@hygeia/chain";

// One sender per account, shared by every client that writes as it (a relayer: its hot wallet).
const sender = new TransactionSender(patientWallet, {
  sendTimeoutMs: 30_000, // preparing (simulation, fees), reading the nonce, broadcasting: each bounded
  inclusionTimeoutMs: 180_000, // until mined
  confirmationTimeoutMs: 600_000, // until `confirmations` blocks deep
});
// A plain Signer would be wrapped in a sender; every read of the client is bounded too.
const registry = new ConsentRegistryClient(address, sender, { readTimeoutMs: 30_000 });

// Concurrent writes get consecutive nonces, in call order; each resolves once mined.
const [first, second] = await Promise.all([
  registry.grant({ grantee: clinic, scope: laboratory, purpose: "Treatment", expiry }), // ids from the wallet
  registry.grant({ grantee: lab, scope: laboratory, purpose: "Treatment", expiry }),
]);
second.nonce - first.nonce; // 1

// A write that would revert fails in simulation, before it takes a nonce (here: breaking the glass on
// the lab's records, which never registered this account as an emergency grantee) ...
try {
  await registry.breakGlass(lab, someId, { proof: [] });
} catch (error) {
  if (!(error instanceof ContractRevertError)) throw error;
  error.errorName; // "NotEmergencyGrantee"
}
// ... so the next write is not stuck behind a gap.
const third = await registry.revoke({ grantee: lab, scope: laboratory, purpose: "Treatment" });
third.nonce; // second.nonce + 1
// #endregion sending

assert.equal(second.nonce - first.nonce, 1);
assert.equal(third.nonce, second.nonce + 1);
await assert.rejects(registry.breakGlass(lab, someId, { proof: [] }), {
  errorName: "NotEmergencyGrantee",
});

await provider.send("evm_setAutomine", [false]); // from here on anvil mines only when asked
let timedOut = false;

// #region timeout
import { TransactionTimeoutError } from "@hygeia/chain";

const impatient = registry.connect(new TransactionSender(patientWallet, { inclusionTimeoutMs: 2_000 }));
try {
  await impatient.grant({ grantee: lab, scope: observation, purpose: "Research", expiry });
} catch (error) {
  if (!(error instanceof TransactionTimeoutError)) throw error;
  error.code; // "TX_TIMEOUT"; error.phase is "inclusion"
  // error.hash and error.nonce name the transaction. It may still be mined: check the hash before
  // sending the write again. The sender rereads the account's nonce from the chain for the next write.
  timedOut = true;
}
// #endregion timeout

assert.ok(timedOut);
await provider.send("evm_setAutomine", [true]);
await provider.send("evm_mine", []); // the timed-out transaction is mined after all
const after = await impatient.grant({ grantee: lab, scope: observation, purpose: "Research", expiry });
assert.equal(after.nonce, third.nonce + 2); // nonces third + 1 (the timed-out one) and third + 2

let unfunded = "";
const newPatientScopeKey = scopeKeyOf(randomBytes(32)); // the new patient's wallet

// #region funds
import { Wallet } from "ethers";
import { InsufficientFundsError } from "@hygeia/chain";

const newPatient = Wallet.createRandom(provider); // no ETH yet
const immunization = new PatientScopes(newPatientScopeKey, newPatient.address).id("fhir:Immunization");
try {
  await registry.connect(newPatient).grant({ grantee: lab, scope: immunization, purpose: "Treatment", expiry });
} catch (error) {
  if (!(error instanceof InsufficientFundsError)) throw error;
  error.code; // "INSUFFICIENT_FUNDS": nothing was sent
  unfunded = error.address!; // newPatient.address: fund it (a relayer: its hot wallet), then send again
}
// #endregion funds

assert.equal(unfunded, newPatient.address);
assert.equal(await provider.getTransactionCount(newPatient.address, "pending"), 0);

await stop();
console.log("sending: ok");
