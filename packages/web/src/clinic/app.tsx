// The clinic page: connect the clinic's wallet, then read the records patients consented to (the desk).
import { useState } from "preact/hooks";
import { requireWallets, type DiscoveredWallet } from "../wallet/discover.ts";
import { ChooseWallet, Working } from "../wallet/choose.tsx";
import { describeProblem, type ShownProblem } from "../problems.ts";
import { ProblemAlert } from "../problem-alert.tsx";
import type { ClinicSignedIn, ClinicStep } from "./session.ts";
import type { ClinicDesk as DeskComponent } from "./desk.tsx";

type Screen =
  | { name: "welcome"; problem?: ShownProblem }
  | { name: "choose"; wallets: DiscoveredWallet[] }
  | { name: "working"; step: ClinicStep | "discover" }
  | { name: "ready"; clinic: ClinicSignedIn; Desk: typeof DeskComponent };

const STEP_TEXT: Record<ClinicStep | "discover", string> = {
  discover: "Looking for your wallet…",
  account: "Asking your wallet for the clinic's account…",
  "sign-in": "Sign in and derive the clinic's encryption key: approve the two signature requests in your wallet.",
  publish: "Publishing the clinic's encryption key in its DID document: approve the transaction in your wallet.",
};

export function ClinicApp() {
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
      const [{ signInClinic }, { ClinicDesk }] = await Promise.all([import("./session.ts"), import("./desk.tsx")]);
      const clinic = await signInClinic(wallet.provider, (step) => setScreen({ name: "working", step }));
      setScreen({ name: "ready", clinic, Desk: ClinicDesk });
    } catch (error) {
      setScreen({ name: "welcome", problem: describeProblem(error) });
    }
  };

  return (
    <>
      <header class="bar">
        <span class="brand">Hygeia for clinics</span>
        <span class="tagline">Records your patients consented to, decrypted in this page only.</span>
      </header>
      <main id="main">
        {screen.name === "welcome" && (
          <section aria-labelledby="clinic-title">
            <h1 id="clinic-title">Clinic desk</h1>
            <p>
              Connect the clinic's wallet. Its encryption key is derived from one signature of the wallet and published
              in the clinic's DID, so patients can share records with it; the page stores no key.
            </p>
            {screen.problem && <ProblemAlert problem={screen.problem} />}
            <button type="button" class="primary" onClick={() => void start()}>
              Connect wallet
            </button>
          </section>
        )}
        {screen.name === "choose" && (
          <ChooseWallet wallets={screen.wallets} onChoose={(wallet) => void start(wallet)} />
        )}
        {screen.name === "working" && <Working text={STEP_TEXT[screen.step]} />}
        {screen.name === "ready" && <screen.Desk clinic={screen.clinic} />}
      </main>
    </>
  );
}
