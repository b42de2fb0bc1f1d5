// The screens every page shares while a wallet is being connected: the choice among several wallets (EIP-6963 lets
// each announce itself) and the progress of the steps, announced to screen readers.
import type { DiscoveredWallet } from "./discover.ts";

export function ChooseWallet(props: { wallets: DiscoveredWallet[]; onChoose: (wallet: DiscoveredWallet) => void }) {
  return (
    <section aria-labelledby="choose-title">
      <h1 id="choose-title">Choose a wallet</h1>
      <ul class="wallets">
        {props.wallets.map((wallet) => (
          <li key={wallet.info.uuid}>
            <button type="button" onClick={() => props.onChoose(wallet)}>
              {wallet.info.icon.startsWith("data:image/") && (
                <img src={wallet.info.icon} alt="" width={24} height={24} />
              )}
              {wallet.info.name}
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function Working(props: { text: string; onCancel: () => void }) {
  return (
    <section aria-labelledby="working-title" aria-busy="true">
      <h1 id="working-title">Connecting</h1>
      <p role="status" aria-live="polite">
        {props.text}
      </p>
      <button type="button" onClick={props.onCancel}>
        Cancel
      </button>
    </section>
  );
}
