// The test wallet: a small EIP-1193 provider injected into the page (addInitScript), announced through EIP-6963 and
// set as window.ethereum, backed by an ethers Wallet in the test process (exposeBinding). It speaks the standard
// methods, so the page under test runs unchanged against MetaMask: eth_requestAccounts / eth_accounts, eth_chainId,
// personal_sign, eth_signTypedData_v4, eth_sendTransaction (signed here, sent to the chain), and forwards reads
// (eth_call, receipts, …) to the chain. Every request the page makes is recorded; `reject` makes the "user" decline
// one with EIP-1193's 4001, as a wallet's Reject button does.
import type { Page } from "playwright-core";
import { getBytes, type HDNodeWallet, type JsonRpcProvider, type TypedDataField, type Wallet } from "ethers";

export interface WalletRequest {
  method: string;
  params: unknown[];
}

export interface TestWalletOptions {
  /** Decline a request (EIP-1193 error 4001) when this returns true. */
  reject?: (request: WalletRequest) => boolean;
  /** Never answer a request when this returns true (a wallet whose prompt the person never sees). */
  hang?: (request: WalletRequest) => boolean;
}

export interface TestWallet {
  /** Every request the page sent, in order. */
  requests: WalletRequest[];
}

const BINDING = "__hygeiaTestWallet";

/** Runs in the page before its scripts: the provider object and its EIP-6963 announcement. */
function initScript(binding: string): void {
  type Answer = { result?: unknown; error?: { code: number; message: string } };
  // globalThis is the page's window here (typed without the DOM library, which the tests do not load).
  const page = globalThis as unknown as EventTarget & Record<string, unknown>;
  const call = page[binding] as (method: string, params: string) => Promise<Answer>;
  const provider = {
    isHygeiaTestWallet: true,
    async request(args: { method: string; params?: unknown[] }) {
      const answer = await call(args.method, JSON.stringify(args.params ?? []));
      if (answer.error) throw Object.assign(new Error(answer.error.message), { code: answer.error.code });
      return answer.result;
    },
    on() {},
    removeListener() {},
  };
  const info = {
    uuid: "5f6c1e7a-8f0e-4a57-9d7c-2b1a7d0c9e11",
    name: "Hygeia Test Wallet",
    icon: "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 1 1'/%3E",
    rdns: "org.hygeia.test-wallet",
  };
  const announce = () =>
    page.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info, provider }) }));
  page.addEventListener("eip6963:requestProvider", announce);
  page.ethereum = provider;
  announce();
}

type SigningWallet = Wallet | HDNodeWallet;

/** Installs the wallet of `wallet` (connected to `provider`, the chain) in `page`; call before `page.goto`. */
export async function installTestWallet(
  page: Page,
  wallet: SigningWallet,
  provider: JsonRpcProvider,
  options: TestWalletOptions = {},
): Promise<TestWallet> {
  const requests: WalletRequest[] = [];
  const chainId = (await provider.getNetwork()).chainId;
  const signer = wallet.connect(provider);
  const handle = async (method: string, params: unknown[]): Promise<unknown> => {
    switch (method) {
      case "eth_requestAccounts":
      case "eth_accounts":
        return [wallet.address];
      case "eth_chainId":
        return `0x${chainId.toString(16)}`;
      case "personal_sign":
        return signer.signMessage(getBytes(String(params[0])));
      case "eth_signTypedData_v4": {
        const typed = JSON.parse(String(params[1])) as {
          domain: Record<string, unknown>;
          types: Record<string, TypedDataField[]>;
          message: Record<string, unknown>;
        };
        const { EIP712Domain: _domain, ...types } = typed.types;
        return signer.signTypedData(typed.domain, types, typed.message);
      }
      case "eth_sendTransaction": {
        const tx = params[0] as { to?: string; data?: string; value?: string; gas?: string };
        const sent = await signer.sendTransaction({
          ...(tx.to ? { to: tx.to } : {}),
          ...(tx.data ? { data: tx.data } : {}),
          ...(tx.value ? { value: BigInt(tx.value) } : {}),
          ...(tx.gas ? { gasLimit: BigInt(tx.gas) } : {}),
        });
        return sent.hash;
      }
      default:
        return provider.send(method, params);
    }
  };
  await page.exposeBinding(BINDING, async (_source, method: string, paramsJson: string) => {
    const request = { method, params: JSON.parse(paramsJson) as unknown[] };
    requests.push(request);
    if (options.reject?.(request)) return { error: { code: 4001, message: "User rejected the request." } };
    if (options.hang?.(request)) return new Promise<never>(() => undefined);
    try {
      return { result: await handle(method, request.params) };
    } catch (error) {
      return { error: { code: -32603, message: error instanceof Error ? error.message : String(error) } };
    }
  });
  await page.addInitScript(initScript, BINDING);
  return { requests };
}
