// Sign-In with Ethereum messages built by hand (with `siwe`), so the hostile tests can bend one field at a
// time: another domain, chain, URI, an expired or replayed message. A normal sign-in is `signInWith`.
import { SiweMessage } from "siwe";
import type { Wallet, HDNodeWallet } from "ethers";
import { send, json } from "./http.ts";

export interface NonceAnswer {
  nonce: string;
  expiresAt: number;
  domain: string;
  uri: string;
  chainId: number;
  statement?: string;
}

export async function fetchNonce(baseUrl: string): Promise<NonceAnswer> {
  const res = await send(baseUrl, { method: "GET", path: "/v1/auth/nonce" });
  if (res.status !== 200) throw new Error(`nonce: ${res.status} ${res.text}`);
  return JSON.parse(res.text) as NonceAnswer;
}

export interface SiweFields {
  domain?: string;
  uri?: string;
  chainId?: number;
  nonce?: string;
  issuedAt?: string;
  expirationTime?: string;
  notBefore?: string;
}

/** A signed message for the wallet, from a fresh nonce of the gateway unless `fields.nonce` says otherwise. */
export async function signedSiwe(
  baseUrl: string,
  wallet: Wallet | HDNodeWallet,
  fields: SiweFields = {},
): Promise<{ message: string; signature: string }> {
  const offer = fields.nonce === undefined ? await fetchNonce(baseUrl) : undefined;
  const siwe = new SiweMessage({
    domain: fields.domain ?? offer?.domain ?? new URL(baseUrl).host,
    address: wallet.address,
    statement: offer?.statement ?? "Sign in to the Hygeia gateway.",
    uri: fields.uri ?? offer?.uri ?? baseUrl,
    version: "1",
    chainId: fields.chainId ?? offer?.chainId ?? 31337,
    nonce: fields.nonce ?? offer!.nonce,
    issuedAt: fields.issuedAt ?? new Date().toISOString(),
    ...(fields.expirationTime === undefined ? {} : { expirationTime: fields.expirationTime }),
    ...(fields.notBefore === undefined ? {} : { notBefore: fields.notBefore }),
  });
  const message = siwe.prepareMessage();
  return { message, signature: await wallet.signMessage(message) };
}

export async function verifySiwe(baseUrl: string, signed: { message: string; signature: string }) {
  return send(baseUrl, { method: "POST", path: "/v1/auth/verify", ...json(signed) });
}

/** A session token for the wallet (throws when the gateway refuses). */
export async function signInWith(baseUrl: string, wallet: Wallet | HDNodeWallet): Promise<string> {
  const res = await verifySiwe(baseUrl, await signedSiwe(baseUrl, wallet));
  if (res.status !== 200) throw new Error(`sign-in: ${res.status} ${res.text}`);
  return (JSON.parse(res.text) as { token: string }).token;
}
