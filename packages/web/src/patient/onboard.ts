// The patient's onboarding, loaded on the first click (it brings the SDK: ethers, libsodium): the wallet's account,
// Sign-In with Ethereum, the X25519 key derived from the wallet's fixed EIP-712 signature (@hygeia/crypto, through the
// SDK), and that key published in the patient's DID document so clinics can seal keys to it. The page never holds a
// private key of its own: every signature comes from the wallet.
import { PatientClient } from "@hygeia/sdk/browser";
import type { Eip1193Provider } from "../wallet/discover.ts";
import { connectWallet, hex } from "../wallet/connect.ts";

export type OnboardingStep = "account" | "sign-in" | "publish";

export interface Onboarded {
  client: PatientClient;
  /** EIP-55. */
  address: string;
  did: string;
  /** The X25519 public key now current in the DID document, hex. */
  publicKeyHex: string;
  /** The transactions publishing it sent (none when it was already published). */
  transactions: string[];
  sessionExpiresAt: number;
}

export async function onboard(wallet: Eip1193Provider, onStep: (step: OnboardingStep) => void): Promise<Onboarded> {
  onStep("account");
  const { connection, signer } = await connectWallet(wallet);
  try {
    onStep("sign-in");
    const client = await PatientClient.connect({ signer, connection });
    onStep("publish");
    const current = client.keys.encryption.publicKey;
    const published = await client.publishedKeys();
    const alreadyCurrent = published.length === 1 && hex(published[0]!.publicKey) === hex(current);
    const transactions = alreadyCurrent ? [] : (await client.publishKey()).transactions;
    return {
      client,
      address: client.address,
      did: client.did,
      publicKeyHex: hex(current),
      transactions,
      sessionExpiresAt: client.session.expiresAt,
    };
  } catch (error) {
    connection.close();
    throw error;
  }
}
