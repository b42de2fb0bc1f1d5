// Pairwise consent accounts: a patient consents to each clinic from its own derived address, relayed so the
// address never holds ETH; tells the gateway which address acts for it (a link both accounts sign); and a new
// device finds every consent account used on chain again from the wallet secret alone.
// Run: node packages/chain/examples/pairwise.ts
/* eslint-disable @typescript-eslint/no-unused-expressions -- the README shows values as bare expressions, results in comments */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startLocalDeployment } from "@hygeia/chain";

const { provider, deployment, account, stop } = await startLocalDeployment();
const registry = deployment.contracts.ConsentRegistry;
const patientSigner = account(2); // the patient's main wallet (its did:ethr address)
const patient = patientSigner.address;
const clinic = account(3).address;
const lab = account(4).address;
const relayerSigner = account(9); // pays the gas: a gateway's relayer
const keystoreSecret = randomBytes(32); // what the patient's keystore holds (a browser wallet: a signature instead)
const now = Math.floor(Date.now() / 1000);

// #region derive
import { consentAccountFor } from "@hygeia/chain";
import { deriveConsentAccountSeed, deriveConsentSecretFromKeystoreSecret, deriveScopeKey } from "@hygeia/crypto";

const consentSecret = deriveConsentSecretFromKeystoreSecret(keystoreSecret);
const scopeKey = deriveScopeKey(consentSecret);
const seed = deriveConsentAccountSeed(consentSecret); // 64 bytes, BIP-32 seed of the consent accounts
const forClinic = consentAccountFor(seed, 0, scopeKey); // m/7424'/0': { index, account, address, scopes }
const forLab = consentAccountFor(seed, 1, scopeKey); // m/7424'/1': unrelated to the first, and to `patient`
const laboratory = forClinic.scopes.id("category:laboratory"); // ids are keyed under the pairwise address
// #endregion derive

assert.notEqual(forClinic.address, forLab.address);
assert.notEqual(forClinic.scopes.id("category:laboratory"), forLab.scopes.id("category:laboratory"));

// #region grant
import { ConsentRegistryClient, signGrant } from "@hygeia/chain";

const relayer = new ConsentRegistryClient(registry, relayerSigner);
const { domain, message } = await relayer.nextGrantTypedData({
  patient: forClinic.address, // the consent account is "the patient" as far as the chain knows
  grantee: clinic,
  scope: laboratory,
  purpose: "Treatment",
  expiry: now + 30 * 86400,
  deadline: now + 600,
});
// The consent account's key lives in the wallet: it signs without a prompt, and never needs ETH.
const signed = await signGrant(forClinic.account, domain, { ...message, patient: forClinic.address });
const granted = await relayer.grantBySig(signed); // from the relayer; names forClinic.address, not `patient`

await relayer.isAllowed({ patient: forClinic.address, grantee: clinic, scope: laboratory, purpose: "Treatment" }); // true
// #endregion grant

assert.equal(
  await relayer.isAllowed({ patient: forClinic.address, grantee: clinic, scope: laboratory, purpose: "Treatment" }),
  true,
);
const tx = await provider.getTransaction(granted.hash);
const receipt = await provider.getTransactionReceipt(granted.hash);
const onChain = [tx!.data, ...receipt!.logs.flatMap((log) => [...log.topics, log.data])].join("").toLowerCase();
assert.equal(tx!.from, relayerSigner.address);
assert.ok(!onChain.includes(patient.slice(2).toLowerCase()), "the patient's main address is not in the grant");
assert.equal(await provider.getBalance(forClinic.address), 0n);

// The lab gets its own account (index 1) the same way.
const labGrant = await relayer.nextGrantTypedData({
  patient: forLab.address,
  grantee: lab,
  scope: forLab.scopes.id("fhir:Observation"),
  purpose: "Treatment",
  expiry: now + 30 * 86400,
  deadline: now + 600,
});
await relayer.grantBySig(
  await signGrant(forLab.account, labGrant.domain, { ...labGrant.message, patient: forLab.address }),
);

// #region link
import { signConsentAddressLink, verifyConsentAddressLink } from "@hygeia/chain";

// Wallet: both the main account (the patient's prompt shows the link) and the consent account sign it.
const link = await signConsentAddressLink(patientSigner, forClinic.account, { grantee: clinic }, domain);
const body = JSON.stringify(link); // sent to the gateway over the patient's authenticated session

// Gateway: checks both signatures and the domain, then maps (patient, clinic) -> consent address.
const checked = verifyConsentAddressLink(JSON.parse(body), await relayer.domain());
// { patient, consentAddress: forClinic.address, grantee: clinic, issuedAt, patientSignature, consentSignature }
// #endregion link

assert.deepEqual(
  { patient: checked.patient, consentAddress: checked.consentAddress, grantee: checked.grantee },
  { patient, consentAddress: forClinic.address, grantee: clinic },
);
assert.throws(() => verifyConsentAddressLink({ ...link, grantee: lab }, domain), {
  code: "INVALID_CONSENT_ADDRESS_LINK",
  field: "patientSignature",
});

// #region recover
import { findConsentAccounts } from "@hygeia/chain";

// A new device: the keystore secret (or the wallet's signature) is all it has.
const restoredSeed = deriveConsentAccountSeed(deriveConsentSecretFromKeystoreSecret(keystoreSecret));
const scan = await findConsentAccounts(provider, restoredSeed, {
  registry,
  fromBlock: deployment.deployedAt.block, // the registry's deployment block
  gapLimit: 20, // stop after 20 unused accounts in a row
  // The node is asked for the registry's events only and never learns which addresses are the patient's
  // (revealAddressesToNode: true would ask by address instead, linking them for the node).
});
scan.accounts; // [{ index: 0, address, account, grantees: [clinic], events }, { index: 1, ..., grantees: [lab] }]
scan.nextIndex; // 2: the account for the next new grantee
// #endregion recover

assert.deepEqual(
  scan.accounts.map((found) => [found.index, found.address, found.grantees]),
  [
    [0, forClinic.address, [clinic]],
    [1, forLab.address, [lab]],
  ],
);
assert.equal(scan.nextIndex, 2);

await stop();
