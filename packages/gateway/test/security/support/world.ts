// The client side of the security tests, written from the packages' public APIs (not from the gateway's
// code): a wallet encrypts a record with a fresh DEK, uploads the ciphertext, wraps the DEK to recipients'
// X25519 keys and registers the record with its keyed scope ids; a grantee asks for its wrap.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import type { HDNodeWallet } from "ethers";
import { ConsentRegistryClient, PatientScopes } from "@hygeia/chain";
import {
  deriveConsentSecretFromKeystoreSecret,
  deriveScopeKey,
  encryptToBuffer,
  generateDataKey,
  generateX25519KeyPair,
  wrapKey,
  type X25519KeyPair,
} from "@hygeia/crypto";
import type { TestStack } from "../../support/stack.ts";
import { json, send } from "./http.ts";

export const wrapContext = (cid: string): string => `hygeia:record:${cid}`;

export interface Actor {
  wallet: HDNodeWallet;
  /** Lowercase. */
  address: string;
  keys: X25519KeyPair;
  token: string;
}

export function actor(wallet: HDNodeWallet, token: string): Actor {
  return { wallet, address: wallet.address.toLowerCase(), keys: generateX25519KeyPair(), token };
}

export interface PatientKeys {
  scopeKey: Uint8Array;
  scopes: PatientScopes;
}

export function patientKeys(address: string): PatientKeys {
  const scopeKey = deriveScopeKey(deriveConsentSecretFromKeystoreSecret(randomBytes(32)));
  return { scopeKey: Uint8Array.from(scopeKey), scopes: new PatientScopes(scopeKey, address) };
}

export interface SealedRecord {
  plaintext: Uint8Array;
  dek: Uint8Array;
  ciphertext: Uint8Array;
}

export async function seal(text: string): Promise<SealedRecord> {
  const plaintext = new TextEncoder().encode(text);
  const dek = generateDataKey();
  return { plaintext, dek: Uint8Array.from(dek), ciphertext: await encryptToBuffer(plaintext, dek) };
}

/** Uploads the ciphertext and registers it with `scopeIds` under the owner's main address, wrapped to the owner and `to`. */
export async function addRecord(
  stack: TestStack,
  owner: Actor,
  record: SealedRecord,
  scopeIds: string[] | ((cid: string) => string[]),
  to: Actor[],
): Promise<string> {
  const up = await send(stack.url, {
    method: "PUT",
    path: "/v1/uploads",
    token: owner.token,
    headers: { "content-type": "application/octet-stream" },
    body: record.ciphertext,
  });
  expect(up.status, up.text).to.be.within(200, 201);
  const cid = (JSON.parse(up.text) as { cid: string }).cid;
  const wraps = [owner, ...to].map((p) => ({
    recipient: p.address,
    wrap: Buffer.from(wrapKey(record.dek, p.keys.publicKey, wrapContext(cid))).toString("base64url"),
  }));
  const ids = typeof scopeIds === "function" ? scopeIds(cid) : scopeIds;
  const res = await send(stack.url, {
    method: "POST",
    path: "/v1/records",
    token: owner.token,
    ...json({ cid, scopeIds: { [owner.address]: ids }, wraps }),
  });
  expect(res.status, res.text).to.be.within(200, 201);
  return cid;
}

export async function askKey(
  stack: TestStack,
  token: string | undefined,
  patient: string,
  cid: string,
  purpose: string,
) {
  return send(stack.url, {
    method: "POST",
    path: `/v1/patients/${patient}/records/${cid}/key`,
    ...(token === undefined ? {} : { token }),
    ...json({ purpose }),
  });
}

export function registryAs(stack: TestStack, wallet: HDNodeWallet): ConsentRegistryClient {
  return new ConsentRegistryClient(stack.deployment.contracts.ConsentRegistry, wallet);
}

/** The chain head's time (unix seconds). */
export async function chainNow(stack: TestStack): Promise<number> {
  const head = await stack.provider.getBlock("latest");
  return head?.timestamp ?? Math.floor(Date.now() / 1000);
}
