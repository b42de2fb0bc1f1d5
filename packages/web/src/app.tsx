// The patient's wallet page: connect a wallet, sign in, derive and publish the encryption key. Each state is one
// screen; progress is announced to screen readers (role=status), problems as alerts with what to do next.
import { useState } from "preact/hooks";
import { requireWallets, type DiscoveredWallet } from "./wallet/discover.ts";
import { ChooseWallet, Working } from "./wallet/choose.tsx";
import { describeProblem, type ShownProblem } from "./problems.ts";
import { ProblemAlert } from "./problem-alert.tsx";
import type { Onboarded, OnboardingStep } from "./patient/onboard.ts";
import type { Dashboard as DashboardComponent } from "./patient/dashboard.tsx";

type Screen =
  | { name: "welcome"; problem?: ShownProblem }
  | { name: "choose"; wallets: DiscoveredWallet[] }
  | { name: "working"; step: OnboardingStep | "discover" }
  | { name: "ready"; patient: Onboarded; Dashboard: typeof DashboardComponent };

const STEP_TEXT: Record<OnboardingStep | "discover", string> = {
  discover: "Looking for your wallet…",
  account: "Asking your wallet for your account…",
  "sign-in": "Sign in and derive your encryption key: approve the two signature requests in your wallet.",
  publish: "Publishing your encryption key in your DID document: approve the transaction in your wallet.",
};

export function App() {
  const [screen, setScreen] = useState<Screen>({ name: "welcome" });

  const start = async (chosen?: DiscoveredWallet) => {
    try {
      let wallet = chosen;
      if (wallet === undefined) {
        setScreen({ name: "working", step: "discover" });
        const wallets = await requireWallets();
        if (wallets.length > 1) {
          setScreen({ name: "choose", wallets });
          return;
        }
        wallet = wallets[0]!;
      }
      // The SDK and the signed-in screens load now, not on the first visit.
      const [{ onboard }, { Dashboard }] = await Promise.all([
        import("./patient/onboard.ts"),
        import("./patient/dashboard.tsx"),
      ]);
      const patient = await onboard(wallet.provider, (step) => setScreen({ name: "working", step }));
      setScreen({ name: "ready", patient, Dashboard });
    } catch (error) {
      setScreen({ name: "welcome", problem: describeProblem(error) });
    }
  };

  return (
    <>
      <header class="bar">
        <span class="brand">Hygeia</span>
        <span class="tagline">Your health records, encrypted in this browser, shared only with your consent.</span>
      </header>
      <main id="main">
        {screen.name === "welcome" && <Welcome problem={screen.problem} onConnect={() => void start()} />}
        {screen.name === "choose" && (
          <ChooseWallet wallets={screen.wallets} onChoose={(wallet) => void start(wallet)} />
        )}
        {screen.name === "working" && <Working text={STEP_TEXT[screen.step]} />}
        {screen.name === "ready" && <screen.Dashboard patient={screen.patient} />}
      </main>
    </>
  );
}

function Welcome(props: { problem?: ShownProblem | undefined; onConnect: () => void }) {
  return (
    <section aria-labelledby="welcome-title">
      <h1 id="welcome-title">Your health wallet</h1>
      <p>
        Connect your Ethereum wallet to sign in. Hygeia derives your encryption key from one signature of your wallet:
        this page holds no key of its own, and the gateway only ever sees encrypted data.
      </p>
      {props.problem && <ProblemAlert problem={props.problem} />}
      <button type="button" class="primary" onClick={props.onConnect}>
        Connect wallet
      </button>
    </section>
  );
}
