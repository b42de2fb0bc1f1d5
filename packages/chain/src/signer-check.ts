/**
 * Internal (not exported from the package): the signer parameter of signGrant, signRevoke, signEmergencyGrantee
 * and signConsentAddressLink, checked before use and described without ever showing a key.
 */
import { describe } from "./errors.ts";
import type { ConsentSigner } from "./eip712.ts";

/**
 * Whether `value` can sign as ConsentSigner says: { eip1193 with request(), account } or an object with getAddress()
 * and signTypedData() (an ethers Signer). Anything else is refused before use, not met with a TypeError mid-call.
 */
export function isConsentSigner(value: unknown): value is ConsentSigner {
  if (typeof value !== "object" || value === null) return false;
  const signer = value as Record<string, unknown>;
  if ("eip1193" in signer) {
    const provider = signer["eip1193"] as { request?: unknown } | null | undefined;
    return typeof provider === "object" && provider !== null && typeof provider.request === "function";
  }
  return typeof signer["getAddress"] === "function" && typeof signer["signTypedData"] === "function";
}

/**
 * A bad signer parameter, for messages: a string there is most likely a private key (a consent account's
 * `.privateKey`), so only its length is told, never its text.
 */
export function describeSigner(value: unknown): string {
  if (typeof value === "string")
    return `a ${value.length}-character string (a private key? wrap it in an ethers Wallet; a key is never shown)`;
  return describe(value);
}
