// The connect flow both pages share: find the wallet (choose when there are several), run the page's own steps with
// progress, end on the page's ready value or on a problem in words. A wallet that never answers must not trap the
// person: `cancel` returns to the start at once, and whatever the abandoned attempt still produces is discarded.
import { useRef, useState } from "preact/hooks";
import { requireWallets, type DiscoveredWallet, type Eip1193Provider } from "./discover.ts";
import { describeProblem, type ShownProblem } from "../problems.ts";

export type FlowScreen<Step extends string, Ready> =
  | { name: "welcome"; problem?: ShownProblem }
  | { name: "choose"; wallets: DiscoveredWallet[] }
  | { name: "working"; step: Step | "discover" }
  | { name: "ready"; ready: Ready };

const CANCELLED: ShownProblem = {
  title: "Connecting was cancelled.",
  next: "If your wallet still shows a request, reject it there. Press “Connect wallet” to start again.",
};

export function useConnectFlow<Step extends string, Ready>(
  connect: (wallet: Eip1193Provider, onStep: (step: Step) => void) => Promise<Ready>,
  discard: (ready: Ready) => void = () => undefined,
) {
  const [screen, setScreen] = useState<FlowScreen<Step, Ready>>({ name: "welcome" });
  const attempt = useRef(0);

  const start = async (chosen?: DiscoveredWallet) => {
    const mine = ++attempt.current;
    const current = () => attempt.current === mine;
    const show = (next: FlowScreen<Step, Ready>) => {
      if (current()) setScreen(next);
    };
    try {
      let wallet = chosen;
      if (wallet === undefined) {
        show({ name: "working", step: "discover" });
        const wallets = await requireWallets();
        if (wallets.length > 1) {
          show({ name: "choose", wallets });
          return;
        }
        wallet = wallets[0]!;
      }
      const ready = await connect(wallet.provider, (step) => show({ name: "working", step }));
      if (current()) setScreen({ name: "ready", ready });
      else discard(ready);
    } catch (error) {
      show({ name: "welcome", problem: describeProblem(error) });
    }
  };

  const cancel = () => {
    attempt.current++;
    setScreen({ name: "welcome", problem: CANCELLED });
  };

  return { screen, start, cancel };
}
