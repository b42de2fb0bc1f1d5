// DIDs and keys: an agent with a key store on disk, did:ethr DIDs, the X25519 encryption key a sender wraps to,
// delegates, owner-key rotation, closing, and reopening the store (the README's "DIDs and keys" samples).
// Run: node packages/identity/examples/dids-and-keys.ts
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { startLocalDeployment } from "@hygeia/chain";

// Setup: a local chain with Hygeia deployed (account #0 deploys and pays), a scratch directory for the key
// store, a wallet key to import, an address to make a delegate.
const { rpcUrl, deployment, account, stop } = await startLocalDeployment();
const bank = account(0);
const dir = await mkdtemp(join(tmpdir(), "hygeia-identity-example-"));
const walletPrivateKeyHex = Wallet.createRandom().privateKey;
const delegateAddress = Wallet.createRandom().address;
const fund = async (address: string) => (await bank.sendTransaction({ to: address, value: 10n ** 18n })).wait();

// #region agent
import { IdentityAgent, ethrNetworkFromDeployment } from "@hygeia/identity";

const secretBoxKey = IdentityAgent.generateSecretBoxKey(); // once; keep it secret: it unseals the key store
const agent = await IdentityAgent.create({
  network: ethrNetworkFromDeployment(deployment, rpcUrl), // { chainId, rpcUrl, registry }
  databasePath: join(dir, "identity.db"), // default ":memory:"; a file needs the secretBoxKey
  secretBoxKey,
});
const patient = await agent.createDid({ alias: "patient" }); // did:ethr:0x7a69:0x…  ({ method: "key" } for did:key)
const imported = await agent.importEthrDid(walletPrivateKeyHex); // a wallet's key as owner of its did:ethr
// #endregion agent

assert.match(patient.did, /^did:ethr:0x7a69:0x[0-9a-fA-F]{40}$/);
assert.equal(imported.ownerAddress, new Wallet(walletPrivateKeyHex).address);
// Chain writes are paid by the DID owner's address.
await fund(patient.ownerAddress!);

// #region encryption-keys
import { generateX25519KeyPair } from "@hygeia/crypto";

const laptop = generateX25519KeyPair();
await agent.publishEncryptionKey(patient.did, laptop.publicKey); // ERC-1056 attribute did/pub/X25519/enc/base64
// Onboarding again with a new key: publishing makes it the current key and revokes every other one.
const phone = generateX25519KeyPair();
const replaced = await agent.publishEncryptionKey(patient.did, phone.publicKey); // 2 transactions
const keys = await agent.encryptionKeys(patient.did); // [{ id, publicKey: phone's, current: true }]: wrap DEKs to these
const again = await agent.publishEncryptionKey(patient.did, phone.publicKey); // already current: no transaction
// A second device that should also receive records: add its key, keeping the others (history).
const tablet = generateX25519KeyPair();
await agent.addEncryptionKey(patient.did, tablet.publicKey);
const both = await agent.encryptionKeys(patient.did); // [tablet (current: true), phone (current: false)]
await agent.revokeEncryptionKey(patient.did, tablet.publicKey); // the resolver stops listing it at once
const noop = await agent.revokeEncryptionKey(patient.did, tablet.publicKey); // not listed: nothing sent, changed: false
// #endregion encryption-keys

assert.equal(replaced.transactions.length, 2);
assert.deepEqual(
  keys.map((k) => [Buffer.from(k.publicKey).toString("hex"), k.current]),
  [[Buffer.from(phone.publicKey).toString("hex"), true]],
);
assert.deepEqual(again, { changed: false, transactions: [], superseded: false });
assert.deepEqual(
  both.map((k) => [Buffer.from(k.publicKey).toString("hex"), k.current]),
  [
    [Buffer.from(tablet.publicKey).toString("hex"), true],
    [Buffer.from(phone.publicKey).toString("hex"), false],
  ],
);
assert.equal((await agent.encryptionKeys(patient.did)).length, 1);
assert.deepEqual(noop, { changed: false, transactions: [] });

// #region delegates-and-owner
await agent.addDelegate(patient.did, delegateAddress, { type: "veriKey", validitySeconds: 3600 });
const revoked = await agent.revokeDelegate(patient.did, delegateAddress); // { changed: true, transactions: [hash] }
const rotated = await agent.rotateOwnerKey(patient.did); // new secp256k1 owner on-chain, same DID
const document = await agent.resolve(patient.did); // DIDDocument; UnknownDidError / UnresolvableDidError
await agent.close(); // at any time; calls still pending reject with AgentClosedError
// #endregion delegates-and-owner

assert.equal(revoked.changed, true);
assert.equal(revoked.transactions.length, 1);
assert.equal(rotated.did, patient.did);
assert.notEqual(rotated.ownerAddress, patient.ownerAddress);
assert.ok(JSON.stringify(document).toLowerCase().includes(rotated.ownerAddress!.slice(2).toLowerCase()));

// #region reopen
import { WrongSecretBoxKeyError } from "@hygeia/identity";

const reopened = await IdentityAgent.create({
  network: ethrNetworkFromDeployment(deployment, rpcUrl),
  databasePath: join(dir, "identity.db"),
  secretBoxKey, // the same key: the DIDs and their keys are back
});
const dids = await reopened.listDids(); // [patient, imported]
await reopened.close();
const wrongKey = await IdentityAgent.create({
  network: ethrNetworkFromDeployment(deployment, rpcUrl),
  databasePath: join(dir, "identity.db"),
  secretBoxKey: IdentityAgent.generateSecretBoxKey(), // another key: refused at open
}).catch((error: unknown) => error); // WrongSecretBoxKeyError, code "SECRET_BOX_KEY_MISMATCH"
// #endregion reopen

assert.deepEqual(dids.map((d) => d.did).sort(), [patient.did, imported.did].sort());
assert.ok(wrongKey instanceof WrongSecretBoxKeyError);
assert.equal(wrongKey.code, "SECRET_BOX_KEY_MISMATCH");

await stop();
await rm(dir, { recursive: true, force: true });
console.log("dids-and-keys: ok");
