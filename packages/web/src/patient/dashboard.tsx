// The signed-in patient's page: records, consent, access log, one at a time (a tab list: arrow keys move between
// the tabs, as WAI-ARIA's tabs pattern says). Loaded with the SDK, after the wallet is connected.
import { useRef, useState } from "preact/hooks";
import type { Onboarded } from "./onboard.ts";
import { RecordsView } from "./records-view.tsx";
import { ConsentView } from "./consent-view.tsx";
import { EmergencyView } from "./emergency-view.tsx";
import { AccessLog } from "./access-log.tsx";

const TABS = [
  { id: "records", label: "Records" },
  { id: "consent", label: "Consent" },
  { id: "log", label: "Access log" },
] as const;
type TabId = (typeof TABS)[number]["id"];

export function Dashboard(props: { patient: Onboarded }) {
  const { patient } = props;
  const [tab, setTab] = useState<TabId>("records");
  const tabRefs = useRef<Record<string, HTMLButtonElement | null>>({});
  const move = (step: number) => {
    const next = TABS[(TABS.findIndex((item) => item.id === tab) + step + TABS.length) % TABS.length]!;
    setTab(next.id);
    tabRefs.current[next.id]?.focus();
  };
  return (
    <>
      <section aria-labelledby="ready-title" class="identity">
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
      <div
        role="tablist"
        aria-label="Your wallet"
        class="tabs"
        onKeyDown={(event) => {
          const at = TABS.findIndex((item) => item.id === tab);
          if (event.key === "ArrowRight") move(1);
          if (event.key === "ArrowLeft") move(-1);
          if (event.key === "Home") move(-at);
          if (event.key === "End") move(TABS.length - 1 - at);
        }}
      >
        {TABS.map((item) => (
          <button
            key={item.id}
            type="button"
            role="tab"
            id={`tab-${item.id}`}
            aria-selected={tab === item.id}
            aria-controls={`panel-${item.id}`}
            tabIndex={tab === item.id ? 0 : -1}
            ref={(element) => {
              tabRefs.current[item.id] = element;
            }}
            onClick={() => setTab(item.id)}
          >
            {item.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} class="panel">
        {tab === "records" && <RecordsView client={patient.client} />}
        {tab === "consent" && (
          <>
            <ConsentView client={patient.client} />
            <EmergencyView client={patient.client} />
          </>
        )}
        {tab === "log" && <AccessLog client={patient.client} />}
      </div>
    </>
  );
}
