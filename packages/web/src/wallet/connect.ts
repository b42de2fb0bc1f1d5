// From a discovered wallet to what the SDK needs: the gateway's settings (GET /config.json), the wallet's account
// and chain (checked: a wallet's answers are input like any other), a connection to the gateway and the chain, and
// the wallet as an ethers signer. Loaded with the SDK, on the first click.
import { BrowserProvider, getAddress, isAddress, type JsonRpcSigner } from "ethers";
import { HygeiaConnection } from "@hygeia/sdk/browser";
import type { Eip1193Provider } from "./discover.ts";
import { PageProblem } from "../problems.ts";

/** What the gateway tells its pages (GET /config.json). */
export interface WebConfig {
  /** The chain's JSON-RPC URL for browsers; null when the gateway publishes none. */
  rpcUrl: string | null;
}

export interface WalletConnection {
  connection: HygeiaConnection;
  signer: JsonRpcSigner;
  /** EIP-55. */
  address: string;
}

export async function loadWebConfig(): Promise<WebConfig> {
  const response = await fetch("/config.json", { headers: { accept: "application/json" } });
  if (!response.ok)
    throw new PageProblem("The Hygeia gateway did not give this page its settings.", "Reload the page.");
  const body = (await response.json()) as { rpcUrl?: unknown };
  return { rpcUrl: typeof body.rpcUrl === "string" ? body.rpcUrl : null };
}

/** The wallet's first account. */
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

/** Opens the connection and checks the wallet is on the deployment's chain. The caller closes the connection. */
export async function connectWallet(wallet: Eip1193Provider): Promise<WalletConnection> {
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
    const signer = await new BrowserProvider(wallet, chainId).getSigner(address);
    return { connection, signer, address };
  } catch (error) {
    connection.close();
    throw error;
  }
}

/** Lowercase hex of bytes (keys shown to people). */
export const hex = (bytes: Uint8Array) => Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
