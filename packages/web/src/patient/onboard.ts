// The patient's onboarding, loaded on the first click (it brings the SDK: ethers, libsodium): the wallet's account,
// Sign-In with Ethereum, the X25519 key derived from the wallet's fixed EIP-712 signature (@hygeia/crypto, through the
// SDK), and that key published in the patient's DID document so clinics can seal keys to it. The page never holds a
// private key of its own: every signature comes from the wallet.
import { BrowserProvider, getAddress, isAddress } from "ethers";
import { HygeiaConnection, PatientClient } from "@hygeia/sdk/browser";
import type { Eip1193Provider } from "../wallet/discover.ts";
import { PageProblem } from "../problems.ts";

/** What the gateway tells its pages (GET /config.json). */
export interface WebConfig {
  /** The chain's JSON-RPC URL for browsers; null when the gateway publishes none. */
  rpcUrl: string | null;
}

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

export async function loadWebConfig(): Promise<WebConfig> {
  const response = await fetch("/config.json", { headers: { accept: "application/json" } });
  if (!response.ok)
    throw new PageProblem("The Hygeia gateway did not give this page its settings.", "Reload the page.");
  const body = (await response.json()) as { rpcUrl?: unknown };
  return { rpcUrl: typeof body.rpcUrl === "string" ? body.rpcUrl : null };
}

/** The wallet's first account, checked (a wallet's answer is input like any other). */
async function requestAccount(wallet: Eip1193Provider): Promise<string> {
  const accounts = await wallet.request({ method: "eth_requestAccounts" });
  const first = Array.isArray(accounts) ? accounts[0] : undefined;
  if (typeof first !== "string" || !isAddress(first))
    throw new PageProblem(
      "Your wallet did not share an account with this page.",
      "Unlock your wallet, then connect again.",
    );
  return getAddress(first);
}

async function walletChainId(wallet: Eip1193Provider): Promise<number> {
  const answer = await wallet.request({ method: "eth_chainId" });
  const chainId =
    typeof answer === "string" && /^0x[0-9a-f]+$/i.test(answer) ? Number.parseInt(answer, 16) : Number.NaN;
  if (!Number.isSafeInteger(chainId))
    throw new PageProblem("Your wallet did not say which chain it is on.", "Reconnect your wallet and try again.");
  return chainId;
}

const hex = (bytes: Uint8Array) => Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");

export async function onboard(wallet: Eip1193Provider, onStep: (step: OnboardingStep) => void): Promise<Onboarded> {
  onStep("account");
  const config = await loadWebConfig();
  if (config.rpcUrl === null)
    throw new PageProblem(
      "This Hygeia gateway publishes no chain address for browsers.",
      "Ask its operator to set HYGEIA_WEB_RPC_URL.",
    );
  const address = await requestAccount(wallet);
  const connection = await HygeiaConnection.open({ gatewayUrl: location.origin, rpcUrl: config.rpcUrl });
  try {
    const chainId = await walletChainId(wallet);
    if (chainId !== connection.deployment.chainId)
      throw new PageProblem(
        `Your wallet is on chain ${chainId}, but Hygeia runs on chain ${connection.deployment.chainId}.`,
        `Switch your wallet to chain ${connection.deployment.chainId}, then connect again.`,
      );
    onStep("sign-in");
    const signer = await new BrowserProvider(wallet, chainId).getSigner(address);
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
