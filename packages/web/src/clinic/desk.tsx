// The clinic's desk: which records of a patient its consent covers now (the gateway asks the chain), each opened by a
// key release (audited at the gateway, seen by the patient) and decrypted here. A refusal says why in words.
import { useState } from "preact/hooks";
import type { ConsentPurpose, CoveredRecord, FetchedRecord } from "@hygeia/sdk/browser";
import { useAction } from "../use-action.ts";
import { ProblemAlert } from "../problem-alert.tsx";
import type { ClinicSignedIn } from "./session.ts";

const PURPOSES: { name: ConsentPurpose; label: string }[] = [
  { name: "Treatment", label: "Treatment" },
  { name: "Payment", label: "Payment" },
  { name: "PublicHealth", label: "Public health" },
  { name: "Research", label: "Research" },
  { name: "Emergency", label: "Emergency (after breaking the glass)" },
];

interface Listing {
  patient: string;
  purpose: ConsentPurpose;
  records: CoveredRecord[];
}

export function ClinicDesk(props: { clinic: ClinicSignedIn }) {
  const { client } = props.clinic;
  const [patient, setPatient] = useState("");
  const [purpose, setPurpose] = useState<ConsentPurpose>("Treatment");
  const [listing, setListing] = useState<Listing | undefined>(undefined);
  const [opened, setOpened] = useState<FetchedRecord | undefined>(undefined);
  const { busy, problem, run } = useAction();

  const list = () =>
    run("Asking which records the patient's consent covers…", async () => {
      setOpened(undefined);
      const records = await client.records(patient.trim(), { purpose });
      setListing({ patient: patient.trim(), purpose, records });
    });

  const open = (record: CoveredRecord, from: Listing) =>
    run("Releasing the key (checked against the patient's consent on chain) and decrypting…", async () => {
      setOpened(undefined);
      setOpened(await client.fetchRecord(from.patient, record.cid, { purpose: from.purpose }));
    });

  return (
    <>
      <section aria-labelledby="desk-title">
        <h1 id="desk-title">Clinic desk</h1>
        <p role="status">
          {props.clinic.transactions.length > 0
            ? "The clinic's encryption key is now published."
            : "The clinic's encryption key is published."}{" "}
          Patients grant access to this DID:
        </p>
        <p class="did" data-testid="clinic-did">
          {client.did}
        </p>
      </section>
      <section aria-labelledby="patient-title">
        <h2 id="patient-title">A patient's records</h2>
        <form
          class="grant"
          onSubmit={(event) => {
            event.preventDefault();
            void list();
          }}
        >
          <label for="patient">Patient (DID or Ethereum address)</label>
          <input
            id="patient"
            required
            autocomplete="off"
            spellcheck={false}
            value={patient}
            onInput={(event) => setPatient((event.currentTarget as HTMLInputElement).value)}
          />
          <label for="purpose">Purpose of use</label>
          <select
            id="purpose"
            value={purpose}
            onChange={(event) => setPurpose((event.currentTarget as HTMLSelectElement).value as ConsentPurpose)}
          >
            {PURPOSES.map((item) => (
              <option key={item.name} value={item.name}>
                {item.label}
              </option>
            ))}
          </select>
          <button type="submit" class="primary" disabled={busy !== undefined || patient.trim() === ""}>
            Show records
          </button>
        </form>
        {busy && <p role="status">{busy}</p>}
        {problem && <ProblemAlert problem={problem} />}
        {listing && listing.records.length === 0 && (
          <p>The patient's consent covers no record for {listing.purpose} now.</p>
        )}
        {listing && listing.records.length > 0 && (
          <ol class="timeline" data-testid="covered-records">
            {listing.records.map((record) => (
              <li key={record.cid} data-testid="covered-record">
                <span class="record-title">{record.cid.slice(0, 16)}…</span>
                <span class="record-meta">{`covered by the consent of ${record.consentAddress.slice(0, 10)}…`}</span>
                <button
                  type="button"
                  disabled={busy !== undefined}
                  onClick={() => void open(record, listing)}
                  aria-label={`Open record ${record.cid.slice(0, 16)}`}
                >
                  Open
                </button>
              </li>
            ))}
          </ol>
        )}
      </section>
      {opened && (
        <section aria-labelledby="opened-title" class="opened">
          <h2 id="opened-title">Record {opened.cid.slice(0, 16)}…, decrypted in this page</h2>
          <pre data-testid="clinic-record-content" tabIndex={0}>
            {/* Exactly as stored: re-serializing would round large numbers and drop meaningful trailing zeros. */}
            {opened.fhir ? new TextDecoder().decode(opened.bytes) : `${opened.bytes.byteLength} bytes (not FHIR JSON)`}
          </pre>
        </section>
      )}
    </>
  );
}
