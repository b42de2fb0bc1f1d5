// The patient's wallet page: connect a wallet, sign in, derive and publish the encryption key. Each state is one
// screen; progress is announced to screen readers (role=status), problems as alerts with what to do next.
import { useState } from "preact/hooks";
import { discoverWallets, type DiscoveredWallet } from "./wallet/discover.ts";
import { describeProblem, PageProblem, type ShownProblem } from "./problems.ts";
import type { Onboarded, OnboardingStep } from "./patient/onboard.ts";

type Screen =
  | { name: "welcome"; problem?: ShownProblem }
  | { name: "choose"; wallets: DiscoveredWallet[] }
  | { name: "working"; step: OnboardingStep | "discover" }
  | { name: "ready"; patient: Onboarded };

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
        const wallets = await discoverWallets();
        if (wallets.length === 0)
          throw new PageProblem(
            "No wallet was found in this browser.",
            "Install a browser wallet such as MetaMask or Rabby, or open this page in your wallet app's browser, then reload.",
          );
        if (wallets.length > 1) {
          setScreen({ name: "choose", wallets });
          return;
        }
        wallet = wallets[0]!;
      }
      const { onboard } = await import("./patient/onboard.ts");
      const patient = await onboard(wallet.provider, (step) => setScreen({ name: "working", step }));
      setScreen({ name: "ready", patient });
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
        {screen.name === "ready" && <Ready patient={screen.patient} />}
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
      {props.problem && <Problem problem={props.problem} />}
      <button type="button" class="primary" onClick={props.onConnect}>
        Connect wallet
      </button>
    </section>
  );
}

function ChooseWallet(props: { wallets: DiscoveredWallet[]; onChoose: (wallet: DiscoveredWallet) => void }) {
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

function Working(props: { text: string }) {
  return (
    <section aria-labelledby="working-title" aria-busy="true">
      <h1 id="working-title">Connecting</h1>
      <p role="status" aria-live="polite">
        {props.text}
      </p>
    </section>
  );
}

function Problem(props: { problem: ShownProblem }) {
  return (
    <div role="alert" class="problem">
      <p class="problem-title">{props.problem.title}</p>
      <p>{props.problem.next}</p>
      {props.problem.detail && <p class="problem-detail">Detail: {props.problem.detail}</p>}
    </div>
  );
}

function Ready(props: { patient: Onboarded }) {
  const { patient } = props;
  return (
    <section aria-labelledby="ready-title">
      <h1 id="ready-title">You are signed in</h1>
      <p role="status">
        {patient.transactions.length > 0
          ? "Your encryption key is now published: clinics you consent to can seal record keys to it."
          : "Your encryption key was already published: clinics you consent to can seal record keys to it."}
      </p>
      <dl class="facts">
        <dt>Account</dt>
        <dd data-testid="address">{patient.address}</dd>
        <dt>Your DID</dt>
        <dd data-testid="did">{patient.did}</dd>
        <dt>Encryption key (X25519, public)</dt>
        <dd data-testid="public-key">{patient.publicKeyHex}</dd>
        <dt>Session ends</dt>
        <dd>{new Date(patient.sessionExpiresAt).toLocaleTimeString()} (you are signed out automatically)</dd>
      </dl>
    </section>
  );
}
