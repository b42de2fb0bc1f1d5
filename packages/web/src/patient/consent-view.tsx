// Consent: who may read what, for which purpose, until when, in plain words; grant and revoke. Each is one EIP-712
// signature in the wallet (readable fields: grantee, scope, purpose, expiry), relayed by the gateway: no fee.
import { useEffect, useState } from "preact/hooks";
import { CONSENT_CATEGORIES } from "@hygeia/chain/browser";
import type { ConsentPurpose, ListedConsent, PatientClient } from "@hygeia/sdk/browser";
import { describeProblem, PageProblem } from "../problems.ts";
import { useAction } from "../use-action.ts";
import { ProblemAlert } from "../problem-alert.tsx";

/** Purposes a patient can grant (Emergency opens only through break-glass). */
const GRANTABLE: { name: ConsentPurpose; label: string }[] = [
  { name: "Treatment", label: "Treatment (your care)" },
  { name: "Payment", label: "Payment (billing and insurance)" },
  { name: "PublicHealth", label: "Public health reporting" },
  { name: "Research", label: "Research" },
];

const DURATIONS = [
  { value: "7d", label: "7 days" },
  { value: "30d", label: "30 days" },
  { value: "90d", label: "90 days" },
  { value: "1y", label: "1 year" },
];

/** "category:laboratory" → "laboratory records"; other scopes as they are. */
export function scopeWords(scope: string | undefined, id: string): string {
  if (scope === undefined) return `a scope this wallet cannot name (${id.slice(0, 10)}…)`;
  if (scope.startsWith("category:")) return `${scope.slice("category:".length).replaceAll("-", " ")} records`;
  if (scope.startsWith("fhir:")) return `FHIR ${scope.slice("fhir:".length)} resources`;
  if (scope.startsWith("record:")) return `one record (${scope.slice("record:".length, "record:".length + 12)}…)`;
  return scope;
}

const short = (address: string) => `${address.slice(0, 6)}…${address.slice(-4)}`;

export function ConsentView(props: { client: PatientClient }) {
  const { client } = props;
  const [consents, setConsents] = useState<ListedConsent[] | undefined>(undefined);
  const [grantee, setGrantee] = useState("");
  const [category, setCategory] = useState("laboratory");
  const [purpose, setPurpose] = useState<ConsentPurpose>("Treatment");
  const [duration, setDuration] = useState("30d");
  const [notice, setNotice] = useState<string | undefined>(undefined);

  const refresh = async () => setConsents(await client.consent.list());
  const { busy, problem, setProblem, run: runAction } = useAction(refresh);
  useEffect(() => {
    refresh().catch((error: unknown) => setProblem(describeProblem(error)));
  }, [client]);

  /** An action whose result is the notice shown after it. */
  const run = (what: string, action: () => Promise<string>) => {
    setNotice(undefined);
    return runAction(what, async () => setNotice(await action()));
  };

  const grant = () =>
    run(
      "Approve the consent in your wallet (a signature, no fee); then the gateway sends it to the chain…",
      async () => {
        // Sharing needs the grantee's published key: say so before the wallet is asked to sign anything.
        if ((await client.encryptionKeysOf(grantee.trim())).length === 0)
          throw new PageProblem(
            `${grantee.trim()} has not published an encryption key yet, so nothing could be shared with them.`,
            "Ask them to sign in to Hygeia once (the wallet page, or the clinic desk for a clinic), then grant again.",
          );
        const result = await client.consent.grant({
          grantee: grantee.trim(),
          scopes: [`category:${category}`],
          purpose,
          expires: duration,
        });
        return `Granted: ${short(result.grantee)} may read ${scopeWords(`category:${category}`, "")} for ${purpose} until ${result.expiry.toLocaleString()}.${result.shared === 1 ? " 1 existing record shared." : result.shared > 1 ? ` ${result.shared} existing records shared.` : ""}`;
      },
    );

  const revoke = (consent: ListedConsent) =>
    run("Approve the revocation in your wallet (a signature, no fee)…", async () => {
      await client.consent.revoke({
        grantee: consent.grantee,
        scopes: [consent.scope ?? consent.id],
        purpose: consent.purpose,
      });
      return `Revoked: ${short(consent.grantee)} may no longer read ${scopeWords(consent.scope, consent.id)}.`;
    });

  return (
    <section aria-labelledby="consent-title">
      <h2 id="consent-title">Who may read your records</h2>
      {consents === undefined && <p role="status">Reading your consents from the chain…</p>}
      {consents?.length === 0 && <p>Nobody but you. Grant access below.</p>}
      {consents && consents.length > 0 && (
        <ul class="consents" data-testid="consents">
          {consents.map((consent) => (
            <li key={`${consent.grantee}-${consent.id}-${consent.purpose}`} data-testid="consent">
              <span>
                <strong title={consent.grantee}>{short(consent.grantee)}</strong> may read{" "}
                {scopeWords(consent.scope, consent.id)} for <em>{consent.purposeLabel}</em> until{" "}
                {consent.expiry.toLocaleString()}.
              </span>
              <button
                type="button"
                disabled={busy !== undefined}
                onClick={() => void revoke(consent)}
                aria-label={`Revoke ${short(consent.grantee)}'s access to ${scopeWords(consent.scope, consent.id)}`}
              >
                Revoke
              </button>
            </li>
          ))}
        </ul>
      )}

      <h3>Grant access</h3>
      <form
        class="grant"
        onSubmit={(event) => {
          event.preventDefault();
          void grant();
        }}
      >
        <label for="grantee">Clinic or person (their DID or Ethereum address)</label>
        <input
          id="grantee"
          required
          autocomplete="off"
          spellcheck={false}
          placeholder="did:ethr:0x7a69:0x… or 0x…"
          value={grantee}
          onInput={(event) => setGrantee((event.currentTarget as HTMLInputElement).value)}
        />
        <label for="grant-category">What</label>
        <select
          id="grant-category"
          value={category}
          onChange={(e) => setCategory((e.currentTarget as HTMLSelectElement).value)}
        >
          {CONSENT_CATEGORIES.map((name) => (
            <option key={name} value={name}>
              {name.replaceAll("-", " ")} records
            </option>
          ))}
        </select>
        <label for="grant-purpose">For which purpose</label>
        <select
          id="grant-purpose"
          value={purpose}
          onChange={(e) => setPurpose((e.currentTarget as HTMLSelectElement).value as ConsentPurpose)}
        >
          {GRANTABLE.map((item) => (
            <option key={item.name} value={item.name}>
              {item.label}
            </option>
          ))}
        </select>
        <label for="grant-duration">For how long</label>
        <select
          id="grant-duration"
          value={duration}
          onChange={(e) => setDuration((e.currentTarget as HTMLSelectElement).value)}
        >
          {DURATIONS.map((item) => (
            <option key={item.value} value={item.value}>
              {item.label}
            </option>
          ))}
        </select>
        <button type="submit" class="primary" disabled={busy !== undefined || grantee.trim() === ""}>
          Grant access
        </button>
      </form>
      {busy && <p role="status">{busy}</p>}
      {notice && <p role="status">{notice}</p>}
      {problem && <ProblemAlert problem={problem} />}
    </section>
  );
}
