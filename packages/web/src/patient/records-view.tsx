// The patient's records: upload (drag and drop or a file picker; encrypted in this page, then streamed to the
// gateway with a progress bar), a timeline of the records, the lab values charted, and any record decrypted to view
// or download.
import { useEffect, useState } from "preact/hooks";
import { CONSENT_CATEGORIES } from "@hygeia/chain/browser";
import type { PatientClient, PatientRecord, Progress } from "@hygeia/sdk/browser";
import { describeProblem, type ShownProblem } from "../problems.ts";
import { ProblemAlert } from "../problem-alert.tsx";
import { LabChart } from "./lab-chart.tsx";
import { labSeries, labValuesOf, type LabValue } from "./observations.ts";

interface Upload {
  name: string;
  progress: Progress | undefined;
}

interface Opened {
  record: PatientRecord;
  text: string | undefined;
  url: string;
}

const size = (bytes: number) =>
  bytes < 1024
    ? `${bytes} B`
    : bytes < 1024 * 1024
      ? `${(bytes / 1024).toFixed(1)} KB`
      : `${(bytes / 1048576).toFixed(1)} MB`;
const titleOf = (record: PatientRecord) =>
  record.kind === "fhir" ? `FHIR ${record.resourceType ?? "resource"}` : `File (${record.mediaType})`;
/** A .json file the browser could not type is offered to the SDK as JSON (it checks it is FHIR). */
const mediaTypeOf = (file: File) =>
  file.type !== ""
    ? file.type
    : file.name.toLowerCase().endsWith(".json")
      ? "application/json"
      : "application/octet-stream";

export function RecordsView(props: { client: PatientClient }) {
  const { client } = props;
  const [records, setRecords] = useState<PatientRecord[] | undefined>(undefined);
  const [labValues, setLabValues] = useState<LabValue[]>([]);
  // No default: the category decides which consents cover a record, so the person chooses it every time.
  const [category, setCategory] = useState<string>("");
  const [files, setFiles] = useState<File[]>([]);
  const [upload, setUpload] = useState<Upload | undefined>(undefined);
  const [problem, setProblem] = useState<ShownProblem | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const [opened, setOpened] = useState<Opened | undefined>(undefined);
  const [dragging, setDragging] = useState(false);

  const refresh = async () => {
    const listed = await client.records.list();
    const sorted = [...listed].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    // Lab values come from the decrypted FHIR records (decrypted here, in the page).
    const values: LabValue[] = [];
    for (const record of sorted)
      if (record.kind === "fhir" && (record.resourceType === "Observation" || record.resourceType === "Bundle"))
        values.push(...labValuesOf(await client.records.getFhir(record.cid)));
    setRecords(sorted);
    setLabValues(values);
  };

  useEffect(() => {
    refresh().catch((error: unknown) => setProblem(describeProblem(error)));
  }, [client]);

  const uploadAll = async () => {
    setProblem(undefined);
    setNotice(undefined);
    try {
      for (const file of files) {
        setUpload({ name: file.name, progress: undefined });
        await client.records.add(file, {
          categories: [category],
          mediaType: mediaTypeOf(file),
          onProgress: (progress) => setUpload({ name: file.name, progress }),
        });
      }
      setNotice(`${files.length === 1 ? "1 record" : `${files.length} records`} encrypted and stored.`);
      setFiles([]);
      await refresh();
    } catch (error) {
      setProblem(describeProblem(error));
    } finally {
      setUpload(undefined);
    }
  };

  const open = async (record: PatientRecord) => {
    setProblem(undefined);
    try {
      const { bytes } = await client.records.getBytes(record.cid);
      if (opened) URL.revokeObjectURL(opened.url);
      const url = URL.createObjectURL(new Blob([new Uint8Array(bytes)], { type: record.mediaType }));
      const isText =
        record.kind === "fhir" || record.mediaType.startsWith("text/") || record.mediaType.endsWith("json");
      const text = isText ? new TextDecoder().decode(bytes) : undefined;
      setOpened({
        record,
        url,
        // Exactly as stored: re-serializing would round large numbers and drop FHIR's meaningful trailing zeros.
        text,
      });
    } catch (error) {
      setProblem(describeProblem(error));
    }
  };

  const series = labSeries(labValues);
  const progress = upload?.progress;
  return (
    <section aria-labelledby="records-title">
      <h2 id="records-title">Your records</h2>
      <form
        class={dragging ? "dropzone dragging" : "dropzone"}
        onSubmit={(event) => {
          event.preventDefault();
          void uploadAll();
        }}
        onDragOver={(event) => {
          event.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={(event) => {
          event.preventDefault();
          setDragging(false);
          setFiles([...(event.dataTransfer?.files ?? [])]);
        }}
      >
        <p>Drop FHIR JSON or other files here, or choose them. They are encrypted in this page before they leave it.</p>
        <label for="record-files">Files to add</label>
        <input
          id="record-files"
          type="file"
          multiple
          onChange={(event) => setFiles([...((event.currentTarget as HTMLInputElement).files ?? [])])}
        />
        {files.length > 0 && <p data-testid="chosen-files">Chosen: {files.map((file) => file.name).join(", ")}</p>}
        <label for="record-category">Category (decides which consents cover them)</label>
        <select
          id="record-category"
          value={category}
          onChange={(e) => setCategory((e.currentTarget as HTMLSelectElement).value)}
        >
          <option value="" disabled>
            Choose a category…
          </option>
          {CONSENT_CATEGORIES.map((name) => (
            <option key={name} value={name}>
              {name.replaceAll("-", " ")}
            </option>
          ))}
        </select>
        <button type="submit" class="primary" disabled={files.length === 0 || category === "" || upload !== undefined}>
          Encrypt and upload
        </button>
        {upload && (
          <div class="progress">
            <label for="upload-progress">Uploading {upload.name}</label>
            <progress id="upload-progress" max={progress?.total ?? 1} value={progress?.bytes ?? 0} />
            <span role="status">
              {progress
                ? `${size(progress.bytes)}${progress.total ? ` of ${size(progress.total)}` : ""}`
                : "Encrypting…"}
            </span>
          </div>
        )}
      </form>
      {notice && <p role="status">{notice}</p>}
      {problem && <ProblemAlert problem={problem} />}

      {series.length > 0 && (
        <>
          <h3>Lab values over time</h3>
          {series.map((one, index) => (
            <LabChart key={`${one.key}-${one.unit}`} series={one} id={`lab-${index}`} />
          ))}
        </>
      )}

      <h3>Timeline</h3>
      {records === undefined && <p role="status">Decrypting your record list…</p>}
      {records?.length === 0 && <p>No records yet.</p>}
      {records && records.length > 0 && (
        <ol class="timeline" data-testid="records">
          {records.map((record) => (
            <li key={record.cid} data-testid="record">
              <time dateTime={record.createdAt}>{new Date(record.createdAt).toLocaleString()}</time>
              <span class="record-title">{titleOf(record)}</span>
              <span class="record-meta">
                {record.categories.join(", ") || "no category"} · {size(record.size)} ·{" "}
                {record.sharedWith.length === 0 ? "only you" : `shared with ${record.sharedWith.length}`}
              </span>
              <button
                type="button"
                onClick={() => void open(record)}
                aria-label={`View ${titleOf(record)} of ${new Date(record.createdAt).toLocaleString()}`}
              >
                View
              </button>
            </li>
          ))}
        </ol>
      )}

      {opened && (
        <section aria-labelledby="opened-title" class="opened">
          <h3 id="opened-title">{titleOf(opened.record)}, decrypted in this page</h3>
          {opened.text !== undefined ? (
            <pre data-testid="record-content" tabIndex={0}>
              {opened.text}
            </pre>
          ) : (
            <p>This file cannot be shown here.</p>
          )}
          <a href={opened.url} download={`${opened.record.cid}${opened.record.kind === "fhir" ? ".json" : ""}`}>
            Download the decrypted record
          </a>
        </section>
      )}
    </section>
  );
}
