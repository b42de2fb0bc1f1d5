// What a patient's wallet and a grantee do around the records routes, client side and over HTTP: encrypt a
// record with a fresh DEK, upload the ciphertext, wrap the DEK to recipients, register the record with its keyed
// scope ids, grant consent on chain; a grantee releases its wrap, unwraps it and decrypts the ciphertext.
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import type { HDNodeWallet } from "ethers";
import { ConsentRegistryClient, PatientScopes } from "@hygeia/chain";
import {
  decryptToBuffer,
  deriveConsentSecretFromKeystoreSecret,
  deriveScopeKey,
  encryptToBuffer,
  generateDataKey,
  generateX25519KeyPair,
  unwrapKey,
  wrapKey,
  type X25519KeyPair,
} from "@hygeia/crypto";
import { loadKeyFile } from "../../src/auth/tokens.ts";
import { RegistrationReceipts } from "../../src/plugins/records/receipts.ts";
import type { TestStack } from "../support/stack.ts";
import { request, type TestResponse } from "../support/http.ts";
import { signIn } from "../support/auth.ts";

/** The wrap context the wallet binds a record's DEK to. */
export const wrapContext = (cid: string): string => `hygeia:record:${cid}`;

export const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64url");

/** A party with a wallet (its address signs in and on chain) and an X25519 key pair (its wraps). */
export interface Party {
  wallet: HDNodeWallet;
  address: string;
  keys: X25519KeyPair;
  token: string;
}

export function party(wallet: HDNodeWallet, token: string): Party {
  return { wallet, address: wallet.address.toLowerCase(), keys: generateX25519KeyPair(), token };
}

/** Signs each wallet in (in parallel) and gives it a fresh wrap key pair; the parties in the wallets' order. */
export async function signInParties(stack: TestStack, wallets: HDNodeWallet[]): Promise<Party[]> {
  return Promise.all(wallets.map(async (wallet) => party(wallet, await signIn(stack, wallet))));
}

/** The scope ids of an Observation in `category`, attached under the owner's main address (addRecord's scopeIds). */
export function observationIds(
  owner: Party,
  scopes: PatientScopes,
  category: string,
): (cid: string) => Record<string, string[]> {
  return (cid) => ({
    [owner.address]: scopes.forRecord({ cid, resourceType: "Observation", categories: [category] }),
  });
}

/** A patient's scope key (from a keystore secret) and its ids under its main address. */
export function patientScopes(address: string): PatientScopes {
  return new PatientScopes(deriveScopeKey(deriveConsentSecretFromKeystoreSecret(randomBytes(32))), address);
}

export interface Encrypted {
  plaintext: Uint8Array;
  dek: Uint8Array;
  ciphertext: Uint8Array;
}

export async function encryptRecord(text: string): Promise<Encrypted> {
  const plaintext = new TextEncoder().encode(text);
  const dek = generateDataKey();
  return { plaintext, dek, ciphertext: await encryptToBuffer(plaintext, dek) };
}

export async function upload(stack: TestStack, token: string, bytes: Uint8Array): Promise<TestResponse> {
  return request(stack, "PUT", "/v1/uploads", {
    token,
    body: bytes,
    headers: { "content-type": "application/octet-stream" },
  });
}

export function wrapFor(dek: Uint8Array, cid: string, recipient: Party): { recipient: string; wrap: string } {
  return { recipient: recipient.address, wrap: b64url(wrapKey(dek, recipient.keys.publicKey, wrapContext(cid))) };
}

/** Uploads, then registers a record wrapped to the owner and `recipients`, with `scopeIds`; returns its CID. */
export async function addRecord(
  stack: TestStack,
  owner: Party,
  record: Encrypted,
  scopeIds: (cid: string) => Record<string, string[]>,
  recipients: Party[] = [],
): Promise<string> {
  const up = await upload(stack, owner.token, record.ciphertext);
  expect(up.status, up.text).to.equal(201);
  const cid = (up.json as { cid: string }).cid;
  const res = await request(stack, "POST", "/v1/records", {
    token: owner.token,
    json: { cid, scopeIds: scopeIds(cid), wraps: [owner, ...recipients].map((p) => wrapFor(record.dek, cid, p)) },
  });
  expect(res.status, res.text).to.equal(201);
  return cid;
}

export interface KeyAnswer {
  cid: string;
  wrap: string;
  scope: string | null;
  consentAddress: string;
  purpose: string;
  emergency: boolean;
  auditIndex: number;
  auditLog: string;
}

export async function askKey(
  stack: TestStack,
  grantee: Party,
  patient: Party,
  cid: string,
  purpose = "Treatment",
): Promise<TestResponse> {
  return request(stack, "POST", `/v1/patients/${patient.address}/records/${cid}/key`, {
    token: grantee.token,
    json: { purpose },
  });
}

/** The grantee's whole read: key release, unwrap, ciphertext fetch, decrypt. */
export async function readRecord(
  stack: TestStack,
  grantee: Party,
  patient: Party,
  cid: string,
  purpose = "Treatment",
): Promise<{ key: KeyAnswer; plaintext: Uint8Array }> {
  const res = await askKey(stack, grantee, patient, cid, purpose);
  expect(res.status, res.text).to.equal(200);
  const key = res.json as KeyAnswer;
  const dek = unwrapKey(Buffer.from(key.wrap, "base64url"), grantee.keys, wrapContext(cid));
  const content = await fetch(`${stack.url}/v1/patients/${patient.address}/records/${cid}/content?purpose=${purpose}`, {
    headers: { authorization: `Bearer ${grantee.token}` },
  });
  expect(content.status).to.equal(200);
  expect(content.headers.get("content-type")).to.match(/^application\/octet-stream/);
  const ciphertext = new Uint8Array(await content.arrayBuffer());
  return { key, plaintext: await decryptToBuffer(ciphertext, dek) };
}

/** A registry client signing as `wallet` (the patient's main or pairwise account, or an emergency grantee). */
export function registryAs(stack: TestStack, wallet: HDNodeWallet): ConsentRegistryClient {
  return new ConsentRegistryClient(stack.deployment.contracts.ConsentRegistry, wallet);
}

/** Unix seconds, a day ahead of the chain's head. */
export async function dayAhead(stack: TestStack): Promise<number> {
  const head = await stack.provider.getBlock("latest");
  return (head?.timestamp ?? Math.floor(Date.now() / 1000)) + 86_400;
}

/** Makes the gateway's indexer read up to the chain head now (it also polls on its own). */
export async function synced(stack: TestStack): Promise<void> {
  await stack.services.chain.indexer.sync();
}

/** The patient's audit events as the store holds them (decoded canonical JSON), oldest first. */
export async function auditEventsOf(stack: TestStack, patient: string): Promise<Record<string, unknown>[]> {
  const rows = await stack.services.store.auditOf(patient, { limit: 1000 });
  return rows.map((row) => JSON.parse(new TextDecoder().decode(row.event)) as Record<string, unknown>);
}

/** The gateway's registration receipts (its receipt key file, its content store), as the records plugin has them. */
export async function receiptsOf(stack: TestStack): Promise<RegistrationReceipts> {
  const key = await loadKeyFile(stack.config.dataDir, "receipt.key", "test");
  return new RegistrationReceipts(key, stack.services.content);
}
