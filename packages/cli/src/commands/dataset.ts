/**
 * `hygeia dataset pull`: a researcher's study dataset, as FHIR Bulk Data files.
 *
 * Rules:
 * - Nothing is written before the pull verified (the SDK checks the gateway's signed manifest against what it
 *   received, and opens every contribution with the study key): a pull that does not verify leaves the folder as
 *   it was (exit 7).
 * - Output like a FHIR Bulk Data export: one `<ResourceType>.ndjson` per type (one resource a line),
 *   `manifest.json` in the Bulk Data export manifest's shape (`transactionTime`, `request`, `requiresAccessToken`,
 *   `output: [{ type, url, count }]`, `error`), and `pull-manifest.txt`, the gateway's signed note (what the IRB can
 *   check). Contributions that did not open are listed as OperationOutcome resources in `error`.
 * - A folder that is not empty is refused (exit 6) unless --force, which replaces the files of an earlier pull
 *   (and removes its files this pull does not write). Each file is written under a temporary name and renamed
 *   (mode 0600); manifest.json comes last, so its presence says the pull was written whole.
 * - The gateway's verifier key is pinned per gateway in the wallet's state on first use (as `audit show --verify`
 *   does): a gateway that later signs with another key is refused.
 */
import { mkdir, readdir, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Command } from "commander";
import type { Cli } from "../cli.ts";
import { CliError, CliUsageError } from "../errors.ts";
import { fields, formatDate, table } from "../output.ts";
import type { Act } from "../program.ts";
import { writeAtomic } from "../wallet-store.ts";
import type { PulledDataset } from "../sdk.ts";
import { defaultKeyFile, readStudyKeyFile, studyIdArg } from "./study.ts";

/** What this command writes into the output folder (and so what --force may replace). */
const OWN_FILE = /^(?:[A-Z][A-Za-z]{0,63}\.ndjson|manifest\.json|pull-manifest\.txt)$/;

export function registerDataset(program: Command, act: Act): void {
  const dataset = program
    .command("dataset")
    .description("researcher: pull a study's dataset (de-identified, consent checked now, verified, decrypted here)")
    .addHelpText(
      "after",
      `
Examples:
  $ hygeia --wallet lab dataset pull 0x8f3c… -o ./hba1c`,
    );

  dataset
    .command("aggregate")
    .argument("<study-id>", "the study's id (0x + 64 hex digits)")
    .description("count the study's consenting contributors per category of one of its aggregate dimensions")
    .requiredOption("-d, --dimension <name>", "one of the study's aggregate dimensions (its aggregate: scopes)")
    .option("--key-file <file>", "the study key (default <home>/state/studies/<study id>.key.json)")
    .addHelpText(
      "after",
      `
The gateway sums the contributors' encrypted categories (only those whose research consent is live now), this
command decrypts its share of each sum, and the gateway answers only what small-cell suppression releases: a
withheld count is "withheld" (fewer than k contributors: nothing; a cell of 1 to k-1 withholds every cell; a change of 1 to k-1 contributors
since an earlier count withholds everything).

Examples:
  $ hygeia --wallet lab dataset aggregate 0x8f3c… --dimension sex
  $ hygeia --wallet lab --json dataset aggregate 0x8f3c… -d age --key-file ./hba1c.key.json`,
    )
    .action(
      act(async (cli: Cli, id: string, opts: { dimension: string; keyFile?: string }) => {
        const studyId = studyIdArg(id);
        if (!/^[a-z0-9-]{1,32}$/.test(opts.dimension))
          throw new CliUsageError(
            "--dimension",
            `"${opts.dimension}" is not a dimension name`,
            "Give one of the study's aggregate dimensions (hygeia study show <id>).",
          );
        const { client } = await cli.researcher();
        const keys = await readStudyKeyFile(
          resolve(opts.keyFile ?? defaultKeyFile(cli, studyId)),
          studyId,
          "--key-file",
        );
        const release = await client.aggregate(
          studyId,
          { publicKey: keys.publicKey, secretKey: keys.secretKey },
          opts.dimension,
        );
        cli.output.result(release, (r) =>
          [
            `${r.dimension} (k = ${r.k}; withheld: under k, or it would single someone out)`,
            ...Object.entries(r.cells).map(([category, count]) => `  ${category}: ${count ?? "withheld"}`),
            `  total: ${r.total ?? "withheld"}`,
          ].join("\n"),
        );
      }),
    );

  dataset
    .command("pull")
    .argument("<study-id>", "the study's id (0x + 64 hex digits)")
    .description("pull the study's dataset into a folder as FHIR Bulk Data NDJSON files")
    .requiredOption("-o, --output <dir>", "the folder to write to (created if missing; must be empty unless --force)")
    .option("--key-file <file>", "the study key (default <home>/state/studies/<study id>.key.json)")
    .option("--force", "write into a folder that is not empty, replacing the files of an earlier pull")
    .option("--concurrency <n>", "contributions fetched at once (1-32)", "4")
    .addHelpText(
      "after",
      `
Only the contributions of patients whose research consent is live now are pulled (each pull is in their audit
logs). The gateway's signed manifest is checked against what was received (nothing added, dropped or changed:
exit 7 otherwise, nothing written), then each contribution is decrypted with the study key.

Writes <Type>.ndjson (Patient, Observation, Condition, …), manifest.json (FHIR Bulk Data export manifest) and
pull-manifest.txt (the gateway's signed note: study, researcher, block, time, count, Merkle root).

Examples:
  $ hygeia --wallet lab dataset pull 0x8f3c… -o ./hba1c
  $ hygeia --wallet lab --json dataset pull 0x8f3c… -o ./hba1c --force --key-file ./hba1c.key.json`,
    )
    .action(
      act(
        async (
          cli: Cli,
          id: string,
          opts: { output: string; keyFile?: string; force?: boolean; concurrency: string },
        ) => {
          const studyId = studyIdArg(id);
          const concurrency = Number(opts.concurrency);
          if (!Number.isSafeInteger(concurrency) || concurrency < 1 || concurrency > 32)
            throw new CliUsageError(
              "--concurrency",
              `"${opts.concurrency}" is not 1 to 32`,
              "Give --concurrency 1 to 32 (default 4).",
            );
          const dir = resolve(opts.output);
          const existing = await stat(dir).catch(() => undefined);
          if (existing && !existing.isDirectory())
            throw new CliUsageError("--output", `${opts.output} is not a folder`, "Give a folder for the dataset.");
          const present = existing ? await readdir(dir) : [];
          if (present.length > 0 && !opts.force)
            throw new CliError(
              "OUTPUT_NOT_EMPTY",
              "conflict",
              `${opts.output} is not empty`,
              "Give an empty or new folder, or --force to replace the files of an earlier pull there.",
              { field: "--output" },
            );
          const { client, state } = await cli.researcher();
          const keyFile = resolve(opts.keyFile ?? defaultKeyFile(cli, studyId));
          const keys = await readStudyKeyFile(keyFile, studyId, "--key-file");
          const gateway = client.connection.transport.url;
          const saved = await state.read();
          const pinned = saved.auditVerifierKeys?.[gateway];

          const bar = cli.output.progress("pulling");
          let pulled: PulledDataset;
          try {
            pulled = await client.pullDataset(
              studyId,
              { publicKey: keys.publicKey, secretKey: keys.secretKey },
              {
                concurrency,
                ...(pinned === undefined ? {} : { verifierKey: pinned }),
                verifierKeys: saved.auditLogKeys ?? {},
                onProgress: (p) => bar.count(p.done, p.total, p.bytes),
              },
            );
          } finally {
            bar.stop();
          }
          // Trust on first use, per signing log: behind a load balancer each gateway signs with its own key.
          const origin = pulled.manifest.verifierKey.split("+")[0]!;
          await state.update((s) => ({
            ...s,
            auditVerifierKeys: {
              ...s.auditVerifierKeys,
              [gateway]: s.auditVerifierKeys?.[gateway] ?? pulled.manifest.verifierKey,
            },
            auditLogKeys: { [origin]: pulled.manifest.verifierKey, ...s.auditLogKeys },
          }));

          const written = await writeDataset(dir, pulled, `${gateway}/v1/studies/${studyId}/dataset`, present);
          const result = {
            studyId,
            dir,
            contributions: pulled.extracts.length,
            excluded: pulled.excluded,
            unreadable: pulled.unreadable,
            files: written,
            manifest: {
              block: pulled.manifest.block,
              time: pulled.manifest.time,
              count: pulled.manifest.count,
              root: pulled.manifest.root,
              verifierKey: pulled.manifest.verifierKey,
            },
          };
          cli.output.result(result, (r) =>
            [
              `Pulled ${r.contributions} contributions of study ${r.studyId} into ${r.dir} (manifest verified).`,
              r.files.length === 0
                ? "No resources."
                : table(r.files, [
                    { header: "file", value: (f) => f.file },
                    { header: "type", value: (f) => f.type },
                    { header: "resources", value: (f) => f.count },
                  ]),
              fields([
                ["left out", `${r.excluded} (no live research consent now)`],
                [
                  "did not open",
                  r.unreadable.length === 0 ? "none" : r.unreadable.map((u) => `${u.cid}: ${u.code}`).join("; "),
                ],
                ["consent checked at", `block ${r.manifest.block}, ${formatDate(r.manifest.time)}`],
                ["signed manifest", join(r.dir, "pull-manifest.txt")],
              ]),
            ].join("\n"),
          );
        },
      ),
    );
}

/** Writes the NDJSON files, the signed note and the Bulk Data manifest; removes own files of an earlier pull. */
async function writeDataset(
  dir: string,
  pulled: PulledDataset,
  request: string,
  present: readonly string[],
): Promise<{ file: string; type: string; count: number }[]> {
  const byType = new Map<string, string[]>();
  for (const extract of pulled.extracts)
    for (const resource of extract.resources) {
      const lines = byType.get(resource.resourceType) ?? [];
      lines.push(JSON.stringify(resource));
      byType.set(resource.resourceType, lines);
    }
  const outcomes = pulled.unreadable.map((u) =>
    JSON.stringify({
      resourceType: "OperationOutcome",
      issue: [
        {
          severity: "error",
          code: "processing",
          diagnostics: `contribution ${u.cid} did not open (${u.code}): ${u.message}; none of it is in this dataset`,
        },
      ],
    }),
  );
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const output: { file: string; type: string; count: number }[] = [];
  for (const type of [...byType.keys()].sort()) {
    const lines = byType.get(type)!;
    const file = `${type}.ndjson`;
    await writeAtomic(join(dir, file), `${lines.join("\n")}\n`);
    output.push({ file, type, count: lines.length });
  }
  const errors: { file: string; type: string; count: number }[] = [];
  if (outcomes.length > 0) {
    await writeAtomic(join(dir, "OperationOutcome.ndjson"), `${outcomes.join("\n")}\n`);
    errors.push({ file: "OperationOutcome.ndjson", type: "OperationOutcome", count: outcomes.length });
  }
  await writeAtomic(join(dir, "pull-manifest.txt"), pulled.manifest.note);
  const keep = new Set([...output, ...errors].map((f) => f.file).concat(["pull-manifest.txt", "manifest.json"]));
  for (const name of present) if (OWN_FILE.test(name) && !keep.has(name)) await rm(join(dir, name), { force: true });
  const url = (file: string) => pathToFileURL(join(dir, file)).href;
  const manifest = {
    transactionTime: pulled.manifest.time.toISOString(),
    request,
    requiresAccessToken: false,
    output: output.map((f) => ({ type: f.type, url: url(f.file), count: f.count })),
    error: errors.map((f) => ({ type: f.type, url: url(f.file), count: f.count })),
    extension: {
      "https://hygeia.dev/bulk/study": pulled.studyId,
      "https://hygeia.dev/bulk/pull-manifest": url("pull-manifest.txt"),
      "https://hygeia.dev/bulk/consent-block": pulled.manifest.block,
      "https://hygeia.dev/bulk/contributions": pulled.extracts.length,
      "https://hygeia.dev/bulk/excluded": pulled.excluded,
    },
  };
  await writeAtomic(join(dir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  return output;
}
