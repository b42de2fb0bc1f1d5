// Emergency contacts: grantees (an ER, a GP on call) the patient pre-registers for break-glass access to a few
// categories, for ONE window of a chosen length. Registering is one EIP-712 signature, relayed (no fee); the patient
// then hands the contact its emergency card (the blinded scope list it needs to break the glass), offered here as a
// file. Every emergency release is audited as such and arrives as an alert.
import { useEffect, useState } from "preact/hooks";
import type { EmergencyGrantee, EmergencyRegistrationResult, PatientClient } from "@hygeia/sdk/browser";
import { describeProblem } from "../problems.ts";
import { useAction } from "../use-action.ts";
import { ProblemAlert } from "../problem-alert.tsx";

/** What an emergency usually needs; a patient picks among them (sensitive categories are never pre-selected). */
const EMERGENCY_CATEGORIES = ["allergy", "medication", "condition", "immunization", "laboratory", "vital-signs"];
const WINDOWS = [
  { value: "4h", label: "4 hours" },
  { value: "12h", label: "12 hours" },
  { value: "1d", label: "1 day" },
  { value: "3d", label: "3 days" },
  { value: "7d", label: "7 days" },
];

const short = (address: string) => `${address.slice(0, 6)}…${address.slice(-4)}`;
const hours = (seconds: number) =>
  seconds % 86_400 === 0 ? `${seconds / 86_400} day(s)` : `${seconds / 3600} hour(s)`;

function statusText(contact: EmergencyGrantee): string {
  if (contact.status === "ready") return `may open ${hours(contact.windowSeconds)} of emergency access, once`;
  if (contact.status === "open")
    return `EMERGENCY ACCESS OPEN until ${contact.windowEnd?.toLocaleString() ?? "the window ends"}`;
  return "used its emergency access (register again to renew)";
}

export function EmergencyView(props: { client: PatientClient }) {
  const { client } = props;
  const [contacts, setContacts] = useState<EmergencyGrantee[] | undefined>(undefined);
  const [grantee, setGrantee] = useState("");
  const [categories, setCategories] = useState<string[]>(["allergy", "medication"]);
  const [windowLength, setWindowLength] = useState("12h");
  const [registered, setRegistered] = useState<{ result: EmergencyRegistrationResult; url: string } | undefined>();

  const refresh = async () => setContacts(await client.emergency.list());
  const { busy, problem, setProblem, run } = useAction(refresh);
  useEffect(() => {
    refresh().catch((error: unknown) => setProblem(describeProblem(error)));
  }, [client]);

  const add = () =>
    run("Approve the emergency registration in your wallet (a signature, no fee)…", async () => {
      const result = await client.emergency.add({
        grantee: grantee.trim(),
        scopes: categories.map((name) => `category:${name}`),
        window: windowLength,
      });
      // The card the contact needs to break the glass: a file the patient hands over.
      const card = {
        patient: client.address,
        grantee: result.grantee,
        card: result.card,
        windowSeconds: result.windowSeconds,
      };
      if (registered) URL.revokeObjectURL(registered.url);
      setRegistered({
        result,
        url: URL.createObjectURL(new Blob([JSON.stringify(card, null, 2)], { type: "application/json" })),
      });
    });

  const remove = (contact: EmergencyGrantee) =>
    run("Approve the removal in your wallet (a signature, no fee)…", async () => {
      await client.emergency.remove({ grantee: contact.grantee });
      setRegistered(undefined);
    });

  return (
    <section aria-labelledby="emergency-title">
      <h2 id="emergency-title">Emergency contacts</h2>
      <p>
        An emergency contact can open the categories you choose once, for the time you choose, without asking you first.
        Every such access is logged as an emergency and shown to you at once.
      </p>
      {contacts?.length === 0 && <p>No emergency contact.</p>}
      {contacts && contacts.length > 0 && (
        <ul class="consents" data-testid="emergency-contacts">
          {contacts.map((contact) => (
            <li key={contact.grantee} data-testid="emergency-contact" data-status={contact.status}>
              <span>
                <strong title={contact.grantee}>{short(contact.grantee)}</strong> {statusText(contact)}.
              </span>
              <button
                type="button"
                disabled={busy !== undefined}
                onClick={() => void remove(contact)}
                aria-label={`Remove ${short(contact.grantee)} as an emergency contact`}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      <form
        class="grant"
        onSubmit={(event) => {
          event.preventDefault();
          void add();
        }}
      >
        <label for="emergency-grantee">Emergency contact (their DID or Ethereum address)</label>
        <input
          id="emergency-grantee"
          required
          autocomplete="off"
          spellcheck={false}
          value={grantee}
          onInput={(event) => setGrantee((event.currentTarget as HTMLInputElement).value)}
        />
        <fieldset>
          <legend>What they may open in an emergency</legend>
          {EMERGENCY_CATEGORIES.map((name) => (
            <label key={name} class="check">
              <input
                type="checkbox"
                checked={categories.includes(name)}
                onChange={(event) => {
                  const on = (event.currentTarget as HTMLInputElement).checked;
                  setCategories((chosen) => (on ? [...chosen, name] : chosen.filter((item) => item !== name)));
                }}
              />{" "}
              {name.replaceAll("-", " ")} records
            </label>
          ))}
        </fieldset>
        <label for="emergency-window">For how long, once opened</label>
        <select
          id="emergency-window"
          value={windowLength}
          onChange={(event) => setWindowLength((event.currentTarget as HTMLSelectElement).value)}
        >
          {WINDOWS.map((item) => (
            <option key={item.value} value={item.value}>
              {item.label}
            </option>
          ))}
        </select>
        <button
          type="submit"
          class="primary"
          disabled={busy !== undefined || grantee.trim() === "" || categories.length === 0}
        >
          Add emergency contact
        </button>
      </form>
      {busy && <p role="status">{busy}</p>}
      {problem && <ProblemAlert problem={problem} />}
      {registered && (
        <div role="status" class="card" data-testid="emergency-card">
          <p>
            {short(registered.result.grantee)} is now an emergency contact
            {registered.result.shared > 0 ? ` (${registered.result.shared} record(s) prepared for them)` : ""}. Give
            them this emergency card: they need it to open your records in an emergency.
          </p>
          <a href={registered.url} download="hygeia-emergency-card.json">
            Download the emergency card
          </a>
        </div>
      )}
    </section>
  );
}
