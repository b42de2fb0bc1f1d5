/**
 * `hygeia record …`: the patient's records over PatientClient.records. Files are streamed (encrypted on the way to
 * the gateway, decrypted on the way back), with a progress bar on stderr. A downloaded file is written under a
 * temporary name and renamed only once the last chunk verified, so a tampered or truncated download never leaves a
 * plausible-looking file behind.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { open, readFile, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, extname, resolve } from "node:path";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import type { Cli } from "../cli.ts";
import { CliError, CliUsageError } from "../errors.ts";
import { fields, formatBytes, formatDate, table } from "../output.ts";
import type { Act } from "../program.ts";
import type { PatientClient, PatientRecord, RecordInput } from "../sdk.ts";

/** Media types by file extension, for files given without --type. */
const MEDIA_TYPES: Record<string, string> = {
  ".json": "application/fhir+json",
  ".pdf": "application/pdf",
  ".dcm": "application/dicom",
  ".dicom": "application/dicom",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".txt": "text/plain",
  ".xml": "application/xml",
};

/** A FHIR JSON file is parsed (and checked) in memory by the SDK: larger ones go as opaque files. */
const MAX_FHIR_FILE = 64 * 1024 * 1024;

export function registerRecord(program: Command, act: Act): void {
  const record = program
    .command("record")
    .description("add, list and read your encrypted health records")
    .addHelpText(
      "after",
      `
Examples:
  $ hygeia record add bundle.json --category laboratory
  $ hygeia record add scan.pdf --category imaging
  $ hygeia record list
  $ hygeia record get bafkrei… -o scan.pdf`,
    );

  record
    .command("add")
    .argument("<file>", "a FHIR resource or Bundle (.json), or any file (PDF, DICOM, …)")
    .description("encrypt a record here, upload the ciphertext, and share its key with whoever your consent covers")
    .option("-c, --category <category...>", "consent categories the record belongs to (laboratory, imaging, …)")
    .option("-t, --type <media-type>", "the file's media type (default from its extension)")
    .option("--created <date>", "when the record was made (ISO 8601; default now)")
    .addHelpText(
      "after",
      `
The record is encrypted on this machine with a fresh key; the gateway and IPFS see ciphertext only. Its key is
wrapped to you and to every grantee whose consent covers one of its scopes (its categories, its FHIR types).
Categories: demographics, allergy, condition, encounter, clinical-note, laboratory, imaging, vital-signs,
medication, immunization, procedure, care-plan, family-history, social-history, billing, genomics, mental-health,
reproductive-health, sexual-health, substance-use.

Examples:
  $ hygeia record add labs.json --category laboratory
  $ hygeia record add mri.dcm --category imaging --type application/dicom
  $ hygeia --json record add visit.pdf -c clinical-note`,
    )
    .action(
      act(async (cli: Cli, file: string, opts: { category?: string[]; type?: string; created?: string }) => {
        const path = resolve(file);
        const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
          throw new CliUsageError(
            "file",
            `cannot read ${file} (${error.code ?? error.message})`,
            "Give the path of an existing file.",
          );
        });
        if (!info.isFile()) throw new CliUsageError("file", `${file} is not a file`, "Give the path of a file.");
        const mediaType = opts.type ?? MEDIA_TYPES[extname(path).toLowerCase()] ?? "application/octet-stream";
        let created: Date | undefined;
        if (opts.created !== undefined) {
          created = new Date(opts.created);
          if (Number.isNaN(created.getTime()))
            throw new CliUsageError(
              "--created",
              `"${opts.created}" is not a date`,
              "Give an ISO 8601 date, e.g. 2026-03-01.",
            );
        }
        const input: RecordInput =
          mediaType === "application/fhir+json" && info.size <= MAX_FHIR_FILE
            ? new Uint8Array(await readFile(path))
            : {
                stream: Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>,
                size: info.size,
                mediaType,
              };
        const patient = await cli.patient();
        const bar = cli.output.progress(`uploading ${basename(path)}`);
        let added;
        try {
          added = await patient.records.add(input, {
            ...(opts.category ? { categories: opts.category } : {}),
            mediaType,
            ...(created ? { created } : {}),
            onProgress: (p) => bar.transfer(p),
          });
        } finally {
          bar.stop();
        }
        cli.output.result({ ...added, file: path }, (r) =>
          [
            `Added ${basename(r.file)} as record ${r.cid}.`,
            fields([
              ["kind", r.kind === "fhir" ? `FHIR ${r.resourceType ?? ""}`.trim() : r.mediaType],
              ["categories", r.categories.join(", ")],
              ["size", `${formatBytes(r.size)} (stored encrypted: ${formatBytes(r.storedSize)})`],
              ["shared with", r.wrappedTo.length > 0 ? r.wrappedTo.join(", ") : "only you"],
              ...r.notWrapped.map((n) => ["not shared with", `${n.grantee}: ${n.reason}`] as const),
              [
                "record list on chain",
                r.anchor.status === "anchored" || r.anchor.status === "current"
                  ? `anchored (version ${r.anchor.version})`
                  : `not anchored now (${r.anchor.status === "failed" ? r.anchor.code : "another list is newer"}); \`hygeia recover\` anchors it`,
              ],
            ]),
          ].join("\n"),
        );
      }),
    );

  record
    .command("list")
    .description("list your records (from your encrypted record list; the gateway cannot read it)")
    .addHelpText(
      "after",
      `
An empty list says whether the chain anchors a record list of yours all the same (--json: "anchoredVersion"): then
this gateway lost it or never had it, and \`hygeia recover\` brings it back.

Examples:
  $ hygeia record list
  $ hygeia --json record list`,
    )
    .action(
      act(async (cli: Cli) => {
        const patient = await cli.patient();
        const records = await patient.records.list();
        // An empty list at a gateway that lost its state (or another gateway) while the chain anchors one: say so.
        const anchored = records.length === 0 ? await patient.records.anchored() : undefined;
        const result = records.length === 0 ? { records, anchoredVersion: anchored?.version ?? null } : { records };
        cli.output.result(result, ({ records: rows }) =>
          rows.length > 0
            ? recordsTable(rows)
            : anchored
              ? `This gateway lists none of your records, but your record list is anchored on chain (version ${anchored.version}): run \`hygeia recover\`.`
              : "No records yet: add one with `hygeia record add <file> --category <category>`.",
        );
      }),
    );

  record
    .command("get")
    .argument("<cid>", "the record's CID (from `hygeia record list`)")
    .description("download a record and decrypt it here")
    .option("-o, --output <file>", "write the plaintext to this file (default: stdout)")
    .option("--force", "replace the output file when it exists")
    .addHelpText(
      "after",
      `
The file is written (mode 0600) only once every chunk decrypted and verified; a damaged download leaves nothing.
With --json and no -o, a FHIR record's resource is part of the JSON document; any other record (a PDF, an image)
is refused before anything is downloaded (exit 1): give -o <file> for it.

Examples:
  $ hygeia record get bafkrei… -o scan.pdf
  $ hygeia record get bafkrei… | jq .resourceType
  $ hygeia --json record get bafkrei…`,
    )
    .action(
      act(async (cli: Cli, cid: string, opts: { output?: string; force?: boolean }) => {
        const target = opts.output === undefined || opts.output === "-" ? undefined : resolve(opts.output);
        if (target !== undefined && !opts.force && (await exists(target)))
          throw new CliError(
            "OUTPUT_EXISTS",
            "conflict",
            `${opts.output} already exists`,
            "Choose another file with -o, or pass --force to replace it.",
          );
        if (target !== undefined) await checkOutputPath(target, opts.output!);
        const patient = await cli.patient();
        if (target === undefined && cli.options.json) {
          await assertFitsInJson(patient, cid);
          const { metadata, bytes } = await patient.records.getBytes(cid);
          if (metadata.kind !== "fhir") throw notJson(cid, metadata); // dropped from the list meanwhile
          cli.output.result(
            { record: metadata, resource: JSON.parse(new TextDecoder().decode(bytes)) as unknown },
            () => "",
          );
          return;
        }
        const bar = cli.output.progress("downloading");
        let metadata: PatientRecord;
        try {
          const content = await patient.records.get(cid, { onProgress: (p) => bar.transfer(p) });
          metadata = content.metadata;
          if (target === undefined) await pipeline(Readable.fromWeb(content.body as never), stdoutSink(cli));
          else await writeVerified(target, content.body);
        } finally {
          bar.stop();
        }
        if (target === undefined) return; // stdout carried the record itself
        cli.output.result(
          { record: metadata, path: target },
          (r) =>
            `Saved record ${r.record.cid} (${r.record.kind === "fhir" ? `FHIR ${r.record.resourceType ?? ""}`.trim() : r.record.mediaType}, ${formatBytes(r.record.size)}) to ${r.path}.`,
        );
      }),
    );
}

/**
 * With --json and no -o only a FHIR record can be printed (inside the JSON document). Its kind is read from the
 * record list before anything is downloaded: a file record would be refused only after a download of any size.
 * A CID the list does not hold has no kind to tell by, so it is refused too (the SDK could fetch such a record,
 * but only as an opaque file).
 */
async function assertFitsInJson(patient: PatientClient, cid: string): Promise<void> {
  const listed = await patient.records.find(cid); // a malformed CID: a usage error, as without --json
  if (listed === undefined)
    throw new CliError(
      "RECORD_NOT_FOUND",
      "not-found",
      `record ${cid} is not in your record list`,
      "Copy the CID from `hygeia record list`, or save a record missing from the list with -o <file>.",
      { field: "cid" },
    );
  if (listed.kind !== "fhir") throw notJson(cid, listed);
}

function notJson(cid: string, record: PatientRecord): CliUsageError {
  return new CliUsageError(
    "--output",
    `record ${cid} is a file (${record.mediaType}, ${formatBytes(record.size)}), which does not fit in a JSON document`,
    "Give -o <file> to save it.",
  );
}

export function recordsTable(rows: readonly PatientRecord[]): string {
  return table(rows, [
    { header: "cid", value: (r) => r.cid },
    { header: "kind", value: (r) => (r.kind === "fhir" ? `FHIR ${r.resourceType ?? ""}`.trim() : r.mediaType) },
    { header: "categories", value: (r) => r.categories.join(",") },
    { header: "size", value: (r) => formatBytes(r.size) },
    { header: "created", value: (r) => formatDate(r.createdAt) },
    { header: "shared", value: (r) => r.sharedWith.length },
  ]);
}

/** Streams `body` to `<target>.<random>.partial` (0600) and renames it to `target` only after the stream ended cleanly. */
async function writeVerified(target: string, body: ReadableStream<Uint8Array>): Promise<void> {
  const partial = `${target}.${process.pid}.${Date.now()}.partial`;
  const handle = await open(partial, "wx", 0o600);
  try {
    await pipeline(Readable.fromWeb(body as never), createWriteStream("", { fd: handle.fd, autoClose: false }));
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(partial, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { force: true }); // it holds the decrypted record: never leave it beside the target
    throw error;
  }
}

/** Refuses an output path that cannot be written before anything is downloaded (a folder, a missing parent). */
async function checkOutputPath(target: string, given: string): Promise<void> {
  const parent = await stat(dirname(target)).catch(() => undefined);
  if (!parent?.isDirectory())
    throw new CliUsageError(
      "--output",
      `the folder of ${given} does not exist`,
      "Create the folder first, or give another path.",
    );
  if ((await stat(target).catch(() => undefined))?.isDirectory())
    throw new CliUsageError("--output", `${given} is a folder`, "Give a file path, e.g. -o <folder>/record.pdf.");
}

function stdoutSink(cli: Cli): Writable {
  const out = cli.io.stdout;
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (out.write(chunk)) callback();
      else out.once("drain", () => callback());
    },
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
