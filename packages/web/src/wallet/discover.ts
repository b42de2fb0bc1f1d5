// Finding the user's wallet: EIP-6963 first (every installed wallet announces itself, so two wallets do not fight
// over window.ethereum), then the legacy window.ethereum. Nothing here imports the SDK: it runs before the first
// click and stays in the initial bundle.
import { PageProblem } from "../problems.ts";

/** The EIP-1193 provider interface, as much of it as this page uses. */
export interface Eip1193Provider {
  request(args: { method: string; params?: unknown[] | Record<string, unknown> }): Promise<unknown>;
}

/** EIP-6963's provider info: what the wallet says about itself. */
export interface WalletInfo {
  uuid: string;
  name: string;
  icon: string;
  rdns: string;
}

export interface DiscoveredWallet {
  info: WalletInfo;
  provider: Eip1193Provider;
}

interface AnnounceEvent extends Event {
  detail?: { info?: Partial<WalletInfo>; provider?: unknown };
}

function isProvider(value: unknown): value is Eip1193Provider {
  return typeof value === "object" && value !== null && typeof (value as Eip1193Provider).request === "function";
}

/**
 * The wallets the browser has, announced through EIP-6963 within `waitMs`, else window.ethereum as one unnamed
 * wallet; empty when there is none. An announcement whose provider has no `request` is ignored (a page script
 * could dispatch anything).
 */
export async function discoverWallets(waitMs = 250): Promise<DiscoveredWallet[]> {
  const found = new Map<string, DiscoveredWallet>();
  const onAnnounce = (event: Event) => {
    const detail = (event as AnnounceEvent).detail;
    const info = detail?.info;
    if (!isProvider(detail?.provider) || typeof info?.uuid !== "string" || typeof info.name !== "string") return;
    found.set(info.uuid, {
      info: { uuid: info.uuid, name: info.name, icon: String(info.icon ?? ""), rdns: String(info.rdns ?? "") },
      provider: detail.provider,
    });
  };
  window.addEventListener("eip6963:announceProvider", onAnnounce);
  window.dispatchEvent(new Event("eip6963:requestProvider"));
  await new Promise((resolve) => setTimeout(resolve, waitMs));
  window.removeEventListener("eip6963:announceProvider", onAnnounce);
  if (found.size > 0) return [...found.values()];
  const legacy = (window as { ethereum?: unknown }).ethereum;
  if (isProvider(legacy))
    return [{ info: { uuid: "window.ethereum", name: "Browser wallet", icon: "", rdns: "" }, provider: legacy }];
  return [];
}

/** The browser's wallets; none is a problem the page shows with what to install. */
export async function requireWallets(): Promise<DiscoveredWallet[]> {
  const wallets = await discoverWallets();
  if (wallets.length === 0)
    throw new PageProblem(
      "No wallet was found in this browser.",
      "Install a browser wallet such as MetaMask or Rabby, or open this page in your wallet app's browser, then reload.",
    );
  return wallets;
}
