/**
 * `hygeia study …`: research studies over the SDK. A researcher proves the role (`study credential`), registers a
 * study on chain and serves it (`study register`, `study serve`) and closes it (`study close`); a patient lists and
 * checks studies (`study list`, `study show --verify`), opts in with a de-identified extract of FHIR files
 * (`study opt-in`: what is shared and what is not is shown, and approved, first) and opts out (`study opt-out`).
 *
 * The study's private key is written before the registration is sent, to a file only its owner can read (0600,
 * atomically, never over another file): `<home>/state/studies/<study id>.key.json` or `--key-out`. Without it
 * nothing the patients contributed can ever be read. `hygeia dataset pull` reads it (dataset.ts).
 */
import { mkdir, readdir, readFile, stat } from "node:fs/promises";
import { dirname, extname, join, resolve } from "node:path";
import { confirm } from "@inquirer/prompts";
import { keccak256 } from "ethers";
import type { Command } from "commander";
import type { Cli } from "../cli.ts";
import { CliError, CliUsageError } from "../errors.ts";
import { fields, formatDate, table } from "../output.ts";
import { printedAddress } from "../ids.ts";
import type { Act } from "../program.ts";
import { writeAtomic } from "../wallet-store.ts";
import {
  AccessRefusedError,
  SdkInputError,
  base64urlToBytes,
  bytesToBase64url,
  currentSession,
  generateStudyKeys,
  parseExpiry,
  studyIdOf,
  studyScopes,
  type OptInPreview,
  type Study,
} from "../sdk.ts";
import { readCredential } from "./issuer.ts";

const STUDY_ID = /^0x[0-9a-fA-F]{64}$/;
const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;
/** FHIR JSON files read for an opt-in, at most this large each. */
const MAX_FHIR_FILE = 64 * 1024 * 1024;
const KEY_FILE_TYPE = "hygeia-study-key";

/** A study key file's content. */
export interface StudyKeyFile {
  type: typeof KEY_FILE_TYPE;
  version: 1;
  studyId: string;
  slug: string;
  /** base64url, 32 bytes each. */
  publicKey: string;
  secretKey: string;
}

export function registerStudy(program: Command, act: Act): void {
  const study = program
    .command("study")
    .description("research studies: register and serve one (researcher), opt in with de-identified records (patient)")
    .addHelpText(
      "after",
      `
Examples:
  $ hygeia --wallet lab study credential --import researcher.jwt
  $ hygeia --wallet lab study register --slug hba1c-2026 --approval-file approval.jwt \\
      --scope fhir:Observation fhir:Condition fhir:Patient --ends 180d --protocol-file protocol.pdf
  $ hygeia study list
  $ hygeia study show 0x8f3c… --verify
  $ hygeia study opt-in 0x8f3c… --fhir ./my-records
  $ hygeia study opt-out 0x8f3c…
  $ hygeia --wallet lab dataset pull 0x8f3c… -o ./hba1c`,
    );

  study
    .command("credential")
    .description("researcher: present your ResearcherCredential at the gateway (and keep it with --import)")
    .option("--import <file>", "the ResearcherCredential a medical board issued (a file, - for stdin)")
    .addHelpText(
      "after",
      `
The gateway verifies the credential (issuer accredited as a medical board, not revoked, not expired, issued to
this wallet) and gives the session the researcher role; a refusal names the failed checks (exit 2). With --import
it is saved under <home>/state and presented by every researcher command afterwards.

Examples:
  $ hygeia --wallet lab study credential --import researcher.jwt
  $ hygeia --wallet lab --json study credential`,
    )
    .action(
      act(async (cli: Cli, opts: { import?: string }) => {
        const imported = opts.import === undefined ? undefined : await readCredential(cli, opts.import);
        const { client, state } = await cli.researcher({ present: false });
        const credential = imported ?? (await state.read()).researcherCredential;
        if (credential === undefined)
          throw new CliError(
            "NO_RESEARCHER_CREDENTIAL",
            "not-found",
            `wallet "${cli.activeWallet}" has no researcher credential saved`,
            "Import the ResearcherCredential a medical board issued you: hygeia study credential --import <file>.",
          );
        const granted = await client.presentCredential(credential);
        if (imported !== undefined) await state.update((s) => ({ ...s, researcherCredential: imported }));
        cli.output.result(
          { ...granted, address: printedAddress(granted.address), saved: imported !== undefined },
          (g) =>
            [
              `The gateway accepted the credential: ${g.address} holds the ${g.role} role${g.saved ? " (credential saved for later commands)" : ""}.`,
              fields([
                ["issuer", g.issuer],
                ["valid until", g.validUntil === null ? "no expiry" : formatDate(g.validUntil)],
              ]),
            ].join("\n"),
        );
      }),
    );

  study
    .command("protocol-hash")
    .argument("<file>", "the protocol document")
    .description("print keccak256 of a protocol document: the protocolHash the IRB's approval names")
    .addHelpText(
      "after",
      `
Examples:
  $ hygeia study protocol-hash protocol.pdf`,
    )
    .action(
      act(async (cli: Cli, file: string) => {
        const protocolHash = keccak256(await readInput(file, "<file>"));
        cli.output.result({ protocolHash }, (r) => r.protocolHash);
      }),
    );

  study
    .command("register")
    .description("researcher: register an IRB-approved study on chain (you pay the gas) and serve it at the gateway")
    .requiredOption("--slug <slug>", "the study's slug, as the approval's studyId names it ([a-z0-9-], 1-64)")
    .requiredOption("--approval-file <file>", "the EthicsApprovalCredential the IRB issued (a JWT file, - for stdin)")
    .requiredOption(
      "-s, --scope <scope...>",
      "what patients are asked to share (fhir:<Type>) or counted by (aggregate:<dimension>:<category>,...)",
    )
    .requiredOption("--ends <when>", 'when the study ends: a duration ("180d", "1y") or a date ("2027-06-30")')
    .option("--irb <address>", "the IRB (address or did:ethr; default: the approval's issuer)")
    .option("--protocol-file <file>", "the protocol document: its keccak256 is registered")
    .option("--protocol-hash <hash>", "keccak256 of the protocol document (default: the approval's protocolHash)")
    .option("--key-out <file>", "where to write the study key (default <home>/state/studies/<study id>.key.json)")
    .addHelpText(
      "after",
      `
Checked before anything is sent: the approval must be issued to this wallet, for this slug, by the IRB, for this
protocol; the session must hold the researcher role (hygeia study credential --import first). The study key is
written (0600) BEFORE the registration: keep it and back it up, nothing else opens the patients' contributions. A
key file left by an earlier attempt for the same study is used again; another file at --key-out is never
overwritten (exit 6).

Examples:
  $ hygeia --wallet lab study register --slug hba1c-2026 --approval-file approval.jwt \\
      --scope fhir:Observation fhir:Condition fhir:Patient --ends 180d --protocol-file protocol.pdf
  $ hygeia --wallet lab --json study register --slug hba1c-2026 --approval-file approval.jwt \\
      -s fhir:Observation -s fhir:Patient --ends 2027-06-30 --key-out ./hba1c.key.json`,
    )
    .action(
      act(
        async (
          cli: Cli,
          opts: {
            slug: string;
            approvalFile: string;
            scope: string[];
            ends: string;
            irb?: string;
            protocolFile?: string;
            protocolHash?: string;
            keyOut?: string;
          },
        ) => {
          if (!SLUG.test(opts.slug) || opts.slug.startsWith("0x"))
            throw new CliUsageError(
              "--slug",
              `"${opts.slug}" is not a slug`,
              "Use 1 to 64 of a-z, 0-9 and -, as the approval's studyId (e.g. hba1c-2026).",
            );
          const scopes = flag("--scope", () => studyScopes(opts.scope));
          const endsAt = flag("--ends", () => parseExpiry(opts.ends, "--ends"));
          if (opts.protocolFile !== undefined && opts.protocolHash !== undefined)
            throw new CliUsageError(
              "--protocol-hash",
              "given with --protocol-file",
              "Give the protocol document (--protocol-file) or its hash (--protocol-hash), not both.",
            );
          if (opts.protocolHash !== undefined && !BYTES32.test(opts.protocolHash))
            throw new CliUsageError(
              "--protocol-hash",
              `"${opts.protocolHash}" is not a bytes32 hash`,
              "Give keccak256 of the protocol document: 0x and 64 hex digits (or --protocol-file).",
            );
          const protocolHash =
            opts.protocolFile === undefined
              ? opts.protocolHash
              : keccak256(await readInput(opts.protocolFile, "--protocol-file"));
          const approval = await readCredential(cli, opts.approvalFile);

          const { client } = await cli.researcher();
          // The SDK refuses this too, but only after the key file below would be written for nothing.
          if (!(await currentSession(client.connection.transport)).roles.includes("researcher"))
            throw new AccessRefusedError(
              "ROLE_REQUIRED",
              `wallet "${cli.activeWallet}" does not hold the researcher role at this gateway, so it would not serve the study`,
              "Import your ResearcherCredential first: hygeia study credential --import <file>; nothing was sent.",
            );
          const studyId = studyIdOf(client.address, opts.slug);
          const keyFile = resolve(opts.keyOut ?? defaultKeyFile(cli, studyId));
          const { keys, reused } = await studyKeysFor(keyFile, studyId, opts.slug);
          if (reused) cli.output.note(`Using the study key left in ${keyFile} by an earlier attempt.`);
          else cli.output.note(`Study key written to ${keyFile} (0600): keep it and back it up.`);
          const registered = await client.registerStudy({
            slug: opts.slug,
            approval,
            scopes,
            endsAt: new Date(endsAt * 1000),
            keys,
            ...(opts.irb === undefined ? {} : { irb: opts.irb }),
            ...(protocolHash === undefined ? {} : { protocolHash }),
          });
          const result = {
            studyId: registered.studyId,
            slug: registered.slug,
            keyFile,
            transaction: registered.transaction,
            blockNumber: registered.blockNumber,
            study: studyView(registered.study),
          };
          cli.output.result(result, (r) =>
            [
              `Registered study ${r.studyId} on chain and served it at the gateway.`,
              studyFields(r.study),
              fields([
                ["transaction", r.transaction],
                ["study key", `${r.keyFile} (keep it: nothing else opens the contributions)`],
              ]),
            ].join("\n"),
          );
        },
      ),
    );

  study
    .command("serve")
    .argument("<study-id>", "the study's id (0x + 64 hex digits)")
    .description("researcher: present a registered study's approval at the gateway again")
    .requiredOption("--approval-file <file>", "the EthicsApprovalCredential the study was registered with")
    .requiredOption("-s, --scope <scope...>", "the scopes the study was registered with")
    .option(
      "--key-file <file>",
      "the study key, for a study that counts (default <home>/state/studies/<study id>.key.json)",
    )
    .addHelpText(
      "after",
      `
Examples:
  $ hygeia --wallet lab study serve 0x8f3c… --approval-file approval.jwt -s fhir:Observation fhir:Patient`,
    )
    .action(
      act(async (cli: Cli, id: string, opts: { approvalFile: string; scope: string[]; keyFile?: string }) => {
        const studyId = studyIdArg(id);
        const scopes = flag("--scope", () => studyScopes(opts.scope));
        const approval = await readCredential(cli, opts.approvalFile);
        const { client } = await cli.researcher();
        // A study that counts presents the researcher's tally key share, derived from the study key.
        const keys = scopes.some((scope) => scope.startsWith("aggregate:"))
          ? await readStudyKeyFile(resolve(opts.keyFile ?? defaultKeyFile(cli, studyId)), studyId, "--key-file")
          : undefined;
        const served = studyView(
          await client.serveStudy(
            studyId,
            approval,
            scopes,
            keys === undefined ? undefined : { publicKey: keys.publicKey, secretKey: keys.secretKey },
          ),
        );
        cli.output.result(served, (s) => [`Study ${s.studyId} is served.`, studyFields(s)].join("\n"));
      }),
    );

  study
    .command("list")
    .description("the studies the gateway serves now (open on chain, approval verified by the gateway)")
    .addHelpText(
      "after",
      `
Examples:
  $ hygeia study list
  $ hygeia --json study list`,
    )
    .action(
      act(async (cli: Cli) => {
        const patient = await cli.patient();
        const studies = (await patient.studies.list()).map(studyView);
        cli.output.result({ studies }, (r) =>
          r.studies.length === 0
            ? "No study is served here now."
            : table(r.studies, [
                { header: "study", value: (s) => s.studyId },
                { header: "title", value: (s) => s.title },
                { header: "researcher", value: (s) => s.researcher },
                { header: "ends", value: (s) => formatDate(s.endsAt) },
                { header: "asks for", value: (s) => s.scopes.join(" ") },
              ]),
        );
      }),
    );

  study
    .command("show")
    .argument("<study-id>", "the study's id (0x + 64 hex digits)")
    .description("one study; with --verify your wallet checks it against the chain and verifies its approval")
    .option("--verify", "check the study yourself: its registration on chain, and its ethics approval")
    .addHelpText(
      "after",
      `
Examples:
  $ hygeia study show 0x8f3c…
  $ hygeia --json study show 0x8f3c… --verify`,
    )
    .action(
      act(async (cli: Cli, id: string, opts: { verify?: boolean }) => {
        const studyId = studyIdArg(id);
        const patient = await cli.patient();
        const found = await patient.studies.get(studyId);
        const verification = opts.verify ? await patient.studies.verify(found) : undefined;
        cli.output.result({ ...studyView(found), ...(verification ? { verification } : {}) }, (r) =>
          [
            studyFields(r),
            ...(verification
              ? [
                  `Verified by your wallet: approval ${verification.approval.approvalNumber} by ${verification.approval.issuer}` +
                    ` (${verification.checks.join(", ")}).`,
                ]
              : []),
          ].join("\n"),
        );
      }),
    );

  study
    .command("opt-in")
    .argument("<study-id>", "the study's id (0x + 64 hex digits)")
    .description("patient: share a de-identified, encrypted extract of your FHIR records with a study")
    .requiredOption("--fhir <path...>", "FHIR R4 JSON files (a resource, a Bundle, a list, or .ndjson) or directories")
    .option("-t, --types <type...>", "FHIR types to share: fewer than the study asks for (default: all it asks for)")
    .option("-e, --expires <when>", "when your research consent ends (default: the study's end)")
    .option("-y, --yes", "share without a prompt (scripts); the study is still checked first")
    .option(
      "--fact <dimension=category...>",
      "for a study that counts: your category of a dimension the wallet cannot derive from your records (sex and age it derives)",
    )
    .addHelpText(
      "after",
      `
Your wallet first checks the study itself (its registration on chain, its ethics approval: a study that does not
verify is refused, exit 2 or 7, nothing shared). Then it de-identifies your records (HIPAA Safe Harbor: names,
addresses below the state, full dates, numbers, notes and every free text removed, ids replaced by pseudonyms only
this study sees) and shows what would be shared and what not, and asks you (--yes in scripts). Only then is the
extract encrypted to the study's key and uploaded, and the study's researcher granted research consent (one
signature, no ETH). \`hygeia study opt-out\` undoes both.

Examples:
  $ hygeia study opt-in 0x8f3c… --fhir ./my-records
  $ hygeia --json study opt-in 0x8f3c… --fhir labs.json conditions.json --types Observation Patient --yes`,
    )
    .action(
      act(
        async (
          cli: Cli,
          id: string,
          opts: { fhir: string[]; types?: string[]; expires?: string; yes?: boolean; fact?: string[] },
        ) => {
          const studyId = studyIdArg(id);
          const facts = factsArg(opts.fact);
          if (opts.expires !== undefined) flag("--expires", () => parseExpiry(opts.expires, "--expires"));
          const resources = await readFhirInputs(opts.fhir);
          if (!opts.yes && !cli.io.stdin.isTTY)
            throw new CliUsageError(
              "--yes",
              "no terminal to ask for approval",
              "Run it in a terminal to see what is shared and approve, or pass --yes to approve in a script.",
            );
          const options = {
            ...(opts.types === undefined ? {} : { resourceTypes: opts.types }),
            ...(opts.expires === undefined ? {} : { expires: opts.expires }),
            ...(facts === undefined ? {} : { facts }),
          };
          const patient = await cli.patient();
          const preview = await flagged(patient.studies.preview(studyId, resources, options));
          if (!opts.yes) {
            cli.io.stderr.write(`${previewLines(preview)}\n`);
            const ok = await confirm({ message: `Share this with "${preview.title}"?`, default: false });
            if (!ok) throw new CliError("DECLINED", "refused", "you declined: nothing was shared", "Nothing to do.");
          }
          const bar = cli.output.progress("uploading the encrypted extract");
          let joined;
          try {
            joined = await flagged(
              patient.studies.optIn(studyId, resources, { ...options, onProgress: (p) => bar.transfer(p) }),
            );
          } finally {
            bar.stop();
          }
          const result = {
            ...joined,
            researcher: printedAddress(joined.researcher),
            notShared: notShared(joined.report),
          };
          cli.output.result(result, (r) =>
            [
              previewLines(r),
              fields([
                ["contribution", r.cid],
                ["research consent", `granted to ${r.researcher} until ${formatDate(r.grant.expiry)}`],
                ["transaction", r.grant.transactions.join(", ")],
              ]),
              "Opt out at any time: hygeia study opt-out " + r.studyId,
            ].join("\n"),
          );
        },
      ),
    );

  study
    .command("opt-out")
    .argument("<study-id>", "the study's id (0x + 64 hex digits)")
    .description("patient: revoke your research consent on chain and delete your contribution")
    .addHelpText(
      "after",
      `
Both are attempted even if one fails; the error then says which failed (run it again: it only redoes what is
missing). Works for a closed study too. What the researcher already pulled cannot be un-seen.

Examples:
  $ hygeia study opt-out 0x8f3c…`,
    )
    .action(
      act(async (cli: Cli, id: string) => {
        const studyId = studyIdArg(id);
        const patient = await cli.patient();
        const out = await patient.studies.optOut(studyId);
        const result = { ...out, revoked: { ...out.revoked, grantees: out.revoked.grantees.map(printedAddress) } };
        cli.output.result(result, (r) =>
          [
            `Opted out of study ${r.studyId}.`,
            fields([
              [
                "research consent",
                r.revoked.grantees.length === 0
                  ? "none to revoke"
                  : `revoked for ${r.revoked.grantees.join(", ")} (${r.revoked.transactions.join(", ")})`,
              ],
              ["contribution", r.withdrawn === null ? "none at this gateway" : `deleted (${r.withdrawn.cid})`],
            ]),
          ].join("\n"),
        );
      }),
    );

  study
    .command("contributions")
    .description("patient: your contributions to studies at this gateway")
    .addHelpText(
      "after",
      `
Examples:
  $ hygeia study contributions`,
    )
    .action(
      act(async (cli: Cli) => {
        const patient = await cli.patient();
        const contributions = await patient.studies.contributions();
        cli.output.result({ contributions }, (r) =>
          r.contributions.length === 0
            ? "You contribute to no study at this gateway."
            : table(r.contributions, [
                { header: "study", value: (c) => c.studyId },
                { header: "contribution", value: (c) => c.cid },
                { header: "since", value: (c) => formatDate(c.createdAt) },
              ]),
        );
      }),
    );

  study
    .command("close")
    .argument("<study-id>", "the study's id (0x + 64 hex digits)")
    .description("researcher: close the study on chain for good (you pay the gas); no gateway serves it after")
    .addHelpText(
      "after",
      `
Examples:
  $ hygeia --wallet lab study close 0x8f3c…`,
    )
    .action(
      act(async (cli: Cli, id: string) => {
        const studyId = studyIdArg(id);
        const { client } = await cli.researcher({ present: false });
        const closed = await client.closeStudy(studyId);
        cli.output.result(closed, (r) => `Closed study ${r.studyId} on chain (${r.transaction}).`);
      }),
    );
}

/** A study id argument, or a one-line usage error. */
export function studyIdArg(value: string): string {
  if (!STUDY_ID.test(value))
    throw new CliUsageError(
      "<study-id>",
      `"${value.slice(0, 80)}" is not a study id`,
      "Give the study's id as `hygeia study list` prints it: 0x and 64 hex digits.",
    );
  return value.toLowerCase();
}

/** Where a study's key is kept unless --key-out / --key-file says otherwise. */
export function defaultKeyFile(cli: Cli, studyId: string): string {
  return join(cli.wallets.home, "state", "studies", `${studyId.toLowerCase()}.key.json`);
}

/** Reads a study key file, checked (a damaged or another study's key is a usage error naming the file). */
export async function readStudyKeyFile(
  path: string,
  studyId: string,
  option: string,
): Promise<{ publicKey: Uint8Array; secretKey: Uint8Array; slug: string }> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new CliUsageError(
      option,
      `cannot read the study key ${path} (${(error as NodeJS.ErrnoException).code ?? "error"})`,
      "Give the key file `hygeia study register` wrote (--key-file).",
    );
  }
  const bad = (detail: string) =>
    new CliUsageError(
      option,
      `${path} is not a study key file: ${detail}`,
      "Give the key file `study register` wrote.",
    );
  let parsed: Partial<StudyKeyFile>;
  try {
    parsed = JSON.parse(text) as Partial<StudyKeyFile>;
  } catch {
    throw bad("not JSON");
  }
  if (parsed?.type !== KEY_FILE_TYPE || parsed.version !== 1) throw bad("no hygeia-study-key header");
  if (typeof parsed.studyId !== "string" || parsed.studyId.toLowerCase() !== studyId.toLowerCase())
    throw new CliUsageError(
      option,
      `${path} is the key of study ${String(parsed.studyId)}, not ${studyId}`,
      "Give this study's key file.",
    );
  const decode = (value: unknown) =>
    typeof value === "string" && /^[A-Za-z0-9_-]{43}$/.test(value) ? base64urlToBytes(value) : undefined;
  const publicKey = decode(parsed.publicKey);
  const secretKey = decode(parsed.secretKey);
  if (publicKey?.length !== 32 || secretKey?.length !== 32) throw bad("its keys are not 32 bytes each");
  return { publicKey, secretKey, slug: typeof parsed.slug === "string" ? parsed.slug : "" };
}

/** The study's keys: those of an existing key file for it, or fresh ones written (0600, never over another file). */
async function studyKeysFor(path: string, studyId: string, slug: string) {
  const existing = await stat(path).catch(() => undefined);
  if (existing) {
    try {
      const keys = await readStudyKeyFile(path, studyId, "--key-out");
      return { keys: { publicKey: keys.publicKey, secretKey: keys.secretKey }, reused: true };
    } catch {
      throw new CliError(
        "KEY_FILE_EXISTS",
        "conflict",
        `${path} exists and is not this study's key: it is never overwritten`,
        "Give another --key-out, or move the file away.",
      );
    }
  }
  const keys = generateStudyKeys();
  const file: StudyKeyFile = {
    type: KEY_FILE_TYPE,
    version: 1,
    studyId,
    slug,
    publicKey: bytesToBase64url(keys.publicKey),
    secretKey: bytesToBase64url(keys.secretKey),
  };
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeAtomic(path, `${JSON.stringify(file, null, 2)}\n`, { replace: false });
  return { keys, reused: false };
}

/** Runs a flag's SDK validation, turning its input error into the flag's one-line usage error. */
function flag<T>(name: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if (error instanceof SdkInputError)
      throw new CliUsageError(name, error.message.replace(/^[^:]*: /, ""), error.hint);
    throw error;
  }
}

/** The SDK's input errors of an opt-in, said with the CLI's flags. */
async function flagged<T>(promise: Promise<T>): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    if (error instanceof SdkInputError) {
      if (error.field?.startsWith("facts.")) {
        const dimension = error.field!.slice("facts.".length);
        throw new CliUsageError(
          "--fact",
          error.message.replace(/^[^:]*: /, ""),
          `Give --fact ${dimension}=<category>, one of the study's (hygeia study show <id>).`,
        );
      }
      const name = error.field === "resourceTypes" ? "--types" : error.field === "expires" ? "--expires" : "--fhir";
      throw new CliUsageError(name, error.message.replace(/^[^:]*: /, ""), error.hint);
    }
    throw error;
  }
}

async function readInput(path: string, option: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    throw new CliUsageError(
      option,
      `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? "error"})`,
      "Give the path of an existing file.",
    );
  }
}

/** FHIR resources from files and directories (their .json and .ndjson files), read before anything else. */
async function readFhirInputs(paths: readonly string[]): Promise<unknown[]> {
  const files: string[] = [];
  for (const given of paths) {
    const path = resolve(given);
    const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
      throw new CliUsageError(
        "--fhir",
        `cannot read ${given} (${error.code ?? error.message})`,
        "Give FHIR files or folders.",
      );
    });
    if (info.isDirectory()) {
      const names = (await readdir(path)).filter((n) => [".json", ".ndjson"].includes(extname(n).toLowerCase())).sort();
      files.push(...names.map((n) => join(path, n)));
    } else files.push(path);
  }
  if (files.length === 0)
    throw new CliUsageError("--fhir", "no .json or .ndjson file found", "Give FHIR JSON files or a folder of them.");
  const resources: unknown[] = [];
  for (const file of files) {
    const info = await stat(file);
    if (info.size > MAX_FHIR_FILE)
      throw new CliUsageError("--fhir", `${file} is larger than 64 MiB`, "Split it, or give the records it holds.");
    const text = await readFile(file, "utf8");
    const lines = extname(file).toLowerCase() === ".ndjson" ? text.split("\n").filter((l) => l.trim() !== "") : [text];
    for (const [index, line] of lines.entries()) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        throw new CliUsageError(
          "--fhir",
          `${file}${lines.length > 1 ? ` line ${index + 1}` : ""} is not JSON`,
          "Give FHIR R4 JSON: a resource, a Bundle, or a list of them.",
        );
      }
      for (const item of Array.isArray(parsed) ? parsed : [parsed]) {
        if (
          typeof item !== "object" ||
          item === null ||
          typeof (item as { resourceType?: unknown }).resourceType !== "string"
        )
          throw new CliUsageError(
            "--fhir",
            `${file} holds something that is not a FHIR resource (no resourceType)`,
            "Give FHIR R4 JSON: a resource, a Bundle, or a list of them.",
          );
        resources.push(item);
      }
    }
  }
  return resources;
}

const OMIT_REASONS: Record<string, string> = {
  "not-requested": "the study does not ask for it",
  "unsupported-type": "never shared: no de-identification rule for this kind of record",
  "modifier-extension": "its meaning depends on an extension, which is never shared",
  incomplete: "too little would be left after de-identification",
};

function notShared(report: OptInPreview["report"]) {
  return report.omitted.map((o) => ({ ...o, why: OMIT_REASONS[o.reason] ?? o.reason }));
}

/** What is shared and what is not, for people (from the de-identification report: names, never content). */
function previewLines(preview: Pick<OptInPreview, "title" | "studyId" | "report" | "shared" | "counted">): string {
  const { report } = preview;
  const counted = Object.entries(preview.counted);
  const lines = [
    `Shared with "${preview.title}" (study ${preview.studyId}), de-identified: ${preview.shared} records`,
    `  ${Object.entries(report.kept)
      .map(([type, count]) => `${type} ${count}`)
      .join(", ")}${report.ageGrouped ? " (your age as 90 or more, without a birth year)" : ""}`,
  ];
  if (counted.length > 0)
    lines.push(
      `Counted (encrypted: neither the gateway nor the researcher can read it alone): ${counted
        .map(([dimension, category]) => `${dimension} ${category}`)
        .join(", ")}`,
    );
  if (report.omitted.length > 0) {
    lines.push("Not shared:");
    for (const o of notShared(report)) lines.push(`  ${o.resourceType} ${o.count}: ${o.why}`);
  }
  const removed = Object.entries(report.removed);
  if (removed.length > 0) {
    lines.push("Left out of what is shared (names, notes, identifiers, full dates, …):");
    lines.push(`  ${removed.map(([element, count]) => (count > 1 ? `${element} (${count})` : element)).join(", ")}`);
  }
  return lines.join("\n");
}

function studyView(study: Study) {
  return { ...study, researcher: printedAddress(study.researcher), irb: printedAddress(study.irb) };
}

function studyFields(study: ReturnType<typeof studyView>): string {
  return fields([
    ["study", study.studyId],
    ["title", study.title],
    ["researcher", study.researcher],
    ["irb", study.irb],
    ["asks for", study.scopes.join(" ")],
    ["counts", study.aggregates.length === 0 ? "nothing" : study.aggregates.map((d) => d.name).join(", ")],
    ["ends", formatDate(study.endsAt)],
  ]);
}

/** --fact dimension=category pairs, by dimension. */
function factsArg(pairs: readonly string[] | undefined): Record<string, string> | undefined {
  if (pairs === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const match = /^([a-z0-9-]{1,32})=([A-Za-z0-9._+<>=-]{1,32})$/.exec(pair);
    if (!match || Object.hasOwn(out, match[1]!))
      throw new CliUsageError(
        "--fact",
        `"${pair}" is not dimension=category (once per dimension)`,
        "Give --fact site=north, one per dimension the study counts.",
      );
    out[match[1]!] = match[2]!;
  }
  return out;
}
