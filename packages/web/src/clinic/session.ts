// The clinic's sign-in, loaded on the first click (with the SDK): the wallet signs in, the clinic's X25519 key is
// derived from its signature (as a patient's is) and published in its DID document when it is not already, so
// patients' wallets can wrap record keys to it.
import { BrowserClinicClient } from "@hygeia/sdk/browser";
import type { Eip1193Provider } from "../wallet/discover.ts";
import { connectWallet, hex } from "../wallet/connect.ts";

export type ClinicStep = "account" | "sign-in" | "publish";

export interface ClinicSignedIn {
  client: BrowserClinicClient;
  publicKeyHex: string;
  /** Transactions publishing the key (none when it was current already). */
  transactions: string[];
}

export async function signInClinic(
  wallet: Eip1193Provider,
  onStep: (step: ClinicStep) => void,
): Promise<ClinicSignedIn> {
  onStep("account");
  const { connection, signer } = await connectWallet(wallet);
  try {
    onStep("sign-in");
    const client = await BrowserClinicClient.connect({ signer, connection });
    onStep("publish");
    const transactions = (await client.keyPublished()) ? [] : (await client.publishKey()).transactions;
    return { client, publicKeyHex: hex(client.publicKey), transactions };
  } catch (error) {
    connection.close();
    throw error;
  }
}
