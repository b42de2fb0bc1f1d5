// The clinic page: connect the clinic's wallet, then read the records patients consented to (the desk). The flow is
// wallet/connect-flow.ts, shared with the patient's page.
import { ProblemAlert } from "../problem-alert.tsx";
import { ChooseWallet, Working } from "../wallet/choose.tsx";
import { useConnectFlow } from "../wallet/connect-flow.ts";
import type { Eip1193Provider } from "../wallet/discover.ts";
import type { ClinicStep } from "./session.ts";

const STEP_TEXT: Record<ClinicStep | "discover", string> = {
  discover: "Looking for your wallet…",
  account: "Asking your wallet for the clinic's account…",
  "sign-in": "Sign in and derive the clinic's encryption key: approve the two signature requests in your wallet.",
  publish: "Publishing the clinic's encryption key in its DID document: approve the transaction in your wallet.",
};

/** The signed-in clinic and the desk, both loaded now (the SDK), not on the first visit. */
async function signIn(wallet: Eip1193Provider, onStep: (step: ClinicStep) => void) {
  const [{ signInClinic }, { ClinicDesk }] = await Promise.all([import("./session.ts"), import("./desk.tsx")]);
  return { clinic: await signInClinic(wallet, onStep), Desk: ClinicDesk };
}

export function ClinicApp() {
  const { screen, start, cancel } = useConnectFlow(signIn, (late) => void late.clinic.client.close());
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
        {screen.name === "working" && <Working text={STEP_TEXT[screen.step]} onCancel={cancel} />}
        {screen.name === "ready" && <screen.ready.Desk clinic={screen.ready.clinic} />}
      </main>
    </>
  );
}
