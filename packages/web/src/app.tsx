// The patient's wallet page: connect a wallet, sign in, derive and publish the encryption key, then the dashboard.
// Each state is one screen; progress is announced to screen readers (role=status), problems as alerts with what to
// do next (the flow itself is wallet/connect-flow.ts, shared with the clinic page).
import type { ShownProblem } from "./problems.ts";
import { ProblemAlert } from "./problem-alert.tsx";
import { ChooseWallet, Working } from "./wallet/choose.tsx";
import { useConnectFlow } from "./wallet/connect-flow.ts";
import type { Eip1193Provider } from "./wallet/discover.ts";
import type { OnboardingStep } from "./patient/onboard.ts";

const STEP_TEXT: Record<OnboardingStep | "discover", string> = {
  discover: "Looking for your wallet…",
  account: "Asking your wallet for your account…",
  "sign-in": "Sign in and derive your encryption key: approve the two signature requests in your wallet.",
  publish: "Publishing your encryption key in your DID document: approve the transaction in your wallet.",
};

/** The signed-in patient and the dashboard, both loaded now (the SDK), not on the first visit. */
async function signIn(wallet: Eip1193Provider, onStep: (step: OnboardingStep) => void) {
  const [{ onboard }, { Dashboard }] = await Promise.all([
    import("./patient/onboard.ts"),
    import("./patient/dashboard.tsx"),
  ]);
  return { patient: await onboard(wallet, onStep), Dashboard };
}

export function App() {
  const { screen, start, cancel } = useConnectFlow(signIn, (late) => void late.patient.client.close());
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
        {screen.name === "working" && <Working text={STEP_TEXT[screen.step]} onCancel={cancel} />}
        {screen.name === "ready" && <screen.ready.Dashboard patient={screen.ready.patient} />}
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
