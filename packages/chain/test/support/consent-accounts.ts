/** Test helpers for consent accounts: a seed per label, and a grant by signature sent through a relayer. */
import { concat, getBytes, keccak256, toUtf8Bytes, type HDNodeWallet } from "ethers";
import { signGrant, type ConsentRegistryClient } from "../../src/index.ts";

/** A 64-byte consent-account seed per label (stands in for deriveConsentAccountSeed of a wallet's consent secret). */
export function seedOf(label: string): Uint8Array {
  return getBytes(concat([keccak256(toUtf8Bytes(`${label}/0`)), keccak256(toUtf8Bytes(`${label}/1`))]));
}

/** `account` grants `scope` to `grantee` (Treatment, one day) by signature; `relayer` sends it. */
export async function relayGrant(
  relayer: ConsentRegistryClient,
  account: HDNodeWallet,
  grantee: string,
  scope: string,
): ReturnType<ConsentRegistryClient["grantBySig"]> {
  const now = Math.floor(Date.now() / 1000);
  const { domain, message } = await relayer.nextGrantTypedData({
    patient: account.address,
    grantee,
    scope,
    purpose: "Treatment",
    expiry: now + 86_400,
    deadline: now + 600,
  });
  return relayer.grantBySig(await signGrant(account, domain, { ...message, patient: account.address }));
}
