/**
 * `hygeia clinic …`: a clinic's (or virtual clinic's) commands over ClinicClient. A CLI session lasts one command,
 * so the clinic's accreditation credential is kept (state.ts) and presented at every sign-in; its X25519 key is
 * derived from the wallet like a patient's and published with `hygeia did publish-key`.
 */
import { chmod, mkdir, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import qrcode from "qrcode-terminal";
import type { Cli } from "../cli.ts";
import { CliError, CliUsageError } from "../errors.ts";
import { fields, formatBytes, formatDate, table } from "../output.ts";
import { printedAddress, printedDid } from "../ids.ts";
import type { Act } from "../program.ts";
import { AccessRefusedError, HygeiaSdkError, addressOf, didOf, type CheckInResult } from "../sdk.ts";
import { CREDENTIAL_TYPES, readCredential } from "./issuer.ts";

export function registerClinic(program: Command, act: Act): void {
  const clinic = program
    .command("clinic")
    .description("a clinic's commands: prove accreditation, check patients in, fetch the records you have consent for")
    .addHelpText(
      "after",
      `
Examples:
  $ hygeia --wallet clinic clinic accreditation --import clinic.jwt
  $ hygeia --wallet clinic clinic checkin --ask PatientIdentityCredential:givenName,birthDate
  $ hygeia --wallet clinic clinic fetch did:ethr:0x7a69:0x3c44… --purpose Treatment -o ./records`,
    );

  clinic
    .command("accreditation")
    .description("present the clinic's accreditation at the gateway (and keep it for later commands with --import)")
    .option("--import <file>", "the ClinicAccreditationCredential a medical board issued (a file, - for stdin)")
    .addHelpText(
      "after",
      `
The gateway verifies the credential (issuer accredited as a medical board on the TrustRegistry, not revoked, not
expired, issued to this wallet) and gives the session the clinic role; a refusal names the failed checks (exit 2).
With --import the credential is saved under <home>/state and presented by every clinic command afterwards.

Examples:
  $ hygeia --wallet clinic clinic accreditation --import clinic.jwt
  $ hygeia --wallet clinic --json clinic accreditation`,
    )
    .action(
      act(async (cli: Cli, opts: { import?: string }) => {
        const imported = opts.import === undefined ? undefined : await readCredential(cli, opts.import);
        const { client, state } = await cli.clinic({ present: false });
        const credential = imported ?? (await state.read()).accreditation;
        if (credential === undefined)
          throw new CliError(
            "NO_ACCREDITATION",
            "not-found",
            `wallet "${cli.activeWallet}" has no accreditation saved`,
            "Import the ClinicAccreditationCredential your medical board issued: hygeia clinic accreditation --import <file>.",
          );
        const granted = await client.presentAccreditation(credential);
        if (imported !== undefined) await state.update((s) => ({ ...s, accreditation: imported }));
        // The identity agent's DID and the credential's issuer carry checksummed addresses; the gateway's address is
        // lowercase: printed in the form of every other command.
        const printed = {
          did: printedDid(client.did),
          ...granted,
          address: printedAddress(granted.address),
          issuer: printedDid(granted.issuer),
          saved: imported !== undefined,
        };
        cli.output.result(printed, (g) =>
          [
            `The gateway accepted the accreditation: ${g.did} holds the ${g.role} role${g.saved ? " (credential saved for later commands)" : ""}.`,
            fields([
              ["issuer", g.issuer],
              ["valid until", g.validUntil === null ? "no expiry" : formatDate(g.validUntil)],
              ...Object.entries(g.claims).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)] as const),
            ]),
          ].join("\n"),
        );
      }),
    );

  clinic
    .command("checkin")
    .description("check a patient in: show a QR code and link, wait for the answer, print the verified claims")
    .requiredOption(
      "-a, --ask <credential...>",
      "credentials to ask for, each Type:claim,claim (PatientIdentityCredential:givenName,birthDate)",
    )
    .option("--ttl <seconds>", "how long the check-in stays open (30-3600)", "600")
    .option("--timeout <seconds>", "stop waiting for the answer after this long (default: until the check-in expires)")
    .addHelpText(
      "after",
      `
Needs the accreditation saved by \`hygeia clinic accreditation --import\` and the key published with \`hygeia did
publish-key\`. The patient's wallet first verifies this clinic (its accreditation, its standing on the
TrustRegistry; the command proves it while it waits), then answers with only the claims asked for, sealed to this
clinic's key. The result says which checks passed (signature, holder binding, challenge, expiry, status, issuer
trust) and shows only the disclosed claims; an answer that does not verify exits 2. The QR code goes to the
terminal (stderr, only when it is one); the link is printed on stderr as "check-in link: <url>" for scripts, with
--json too. No answer before the check-in expires (exit 6) or before --timeout (exit 5) is an error.

Examples:
  $ hygeia --wallet clinic clinic checkin --ask PatientIdentityCredential:givenName,familyName,birthDate
  $ hygeia --wallet clinic clinic checkin -a HealthInsuranceCredential:insurerName,memberId --ttl 300 --timeout 120`,
    )
    .action(
      act(async (cli: Cli, opts: { ask: string[]; ttl: string; timeout?: string }) => {
        const ttlSeconds = Number(opts.ttl);
        if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 30 || ttlSeconds > 3600)
          throw new CliUsageError("--ttl", `"${opts.ttl}" is not 30 to 3600 seconds`, "Give --ttl 30 to 3600.");
        const timeoutSeconds = opts.timeout === undefined ? undefined : Number(opts.timeout);
        if (timeoutSeconds !== undefined && !(Number.isFinite(timeoutSeconds) && timeoutSeconds > 0))
          throw new CliUsageError(
            "--timeout",
            `"${opts.timeout}" is not a number of seconds`,
            "Give --timeout in seconds, e.g. --timeout 120.",
          );
        const credentials = opts.ask.map(askedCredential);
        const { client, state } = await cli.clinic();
        if ((await state.read()).accreditation === undefined)
          throw new CliError(
            "NO_ACCREDITATION",
            "refused",
            `wallet "${cli.activeWallet}" has no accreditation saved: only an accredited clinic may check patients in`,
            "Import the ClinicAccreditationCredential your medical board issued: hygeia clinic accreditation --import <file>.",
          );
        const opened = await client.checkIns.open({ credentials, ttlSeconds });
        if (cli.io.stderr.isTTY && !cli.output.json)
          qrcode.generate(opened.url, { small: true }, (code) => cli.io.stderr.write(`${code}\n`));
        cli.io.stderr.write(`check-in link: ${opened.url}\n`);
        cli.output.note(`Waiting for the patient (until ${formatDate(opened.expiresAt)}); Ctrl-C to stop.`);
        try {
          await client.checkIns.waitForAnswer(opened.id, {
            ...(timeoutSeconds === undefined ? {} : { timeoutMs: Math.round(timeoutSeconds * 1000) }),
          });
        } catch (error) {
          if (error instanceof HygeiaSdkError && error.code === "CHECK_IN_TIMEOUT")
            throw new CliError(
              "CHECK_IN_TIMEOUT",
              error.kind,
              `no answer from the patient within ${timeoutSeconds} s (check-in ${opened.id} stays open until ${formatDate(opened.expiresAt)})`,
              "Ask the patient to scan the code or open the link, then run the check-in again (a longer --timeout, or none to wait until it expires).",
              { cause: error },
            );
          throw error;
        }
        const answered = await client.checkIns.result(opened.id);
        const result: CheckInResult = {
          ...answered,
          patient: answered.patient && {
            did: printedDid(answered.patient.did),
            address: printedAddress(answered.patient.address),
          },
        };
        cli.output.result(result, checkInLines);
        if (!result.ok)
          throw new AccessRefusedError(
            "CHECK_IN_NOT_VERIFIED",
            `the patient's answer did not verify: ${result.checks
              .filter((c) => !c.pass)
              .map((c) => `${c.name}: ${c.reason}`)
              .join("; ")}`,
            "Nothing the patient sent is trusted: ask the patient to check in again with valid credentials.",
          );
      }),
    );

  clinic
    .command("fetch")
    .argument("<patient>", "the patient: a did:ethr or an address")
    .description("download and decrypt the patient's records your consent covers now (each release is audited)")
    .option(
      "-p, --purpose <purpose>",
      "the purpose of use: Treatment, Research, Payment, PublicHealth, Emergency",
      "Treatment",
    )
    .option("-s, --scope <id>", "only records covered through this scope id (as listed)")
    .option("--cid <cid...>", "these records instead of every covered one (a refusal for each one not covered)")
    .requiredOption("-o, --output <dir>", "the directory to write the records to (created if missing)")
    .addHelpText(
      "after",
      `
Each record is written as <cid>.json (FHIR) or <cid>.bin (other files), mode 0600. A record the consent does not
cover is refused by the gateway (and logged in the patient's audit trail); when nothing could be read, the exit
code is 2.

Examples:
  $ hygeia --wallet clinic clinic fetch did:ethr:0x7a69:0x3c44… -o ./records
  $ hygeia --wallet clinic --json clinic fetch 0x3c44… --cid bafkrei… -o ./records`,
    )
    .action(
      act(
        async (
          cli: Cli,
          patient: string,
          opts: { purpose: string; scope?: string; cid?: string[]; output: string },
        ) => {
          const dir = resolve(opts.output);
          const existing = await stat(dir).catch(() => undefined);
          if (existing && !existing.isDirectory())
            throw new CliUsageError(
              "--output",
              `${opts.output} is not a directory`,
              "Give a directory for the records.",
            );
          // Reading records needs consent, not the clinic role: a saved accreditation is not presented (one that
          // was revoked or expired would otherwise stop every fetch).
          const { client } = await cli.clinic({ present: false });
          const bar = cli.output.progress("downloading");
          let fetched;
          try {
            fetched = await client.fetchAll(patient, {
              purpose: opts.purpose,
              ...(opts.scope === undefined ? {} : { scope: opts.scope }),
              ...(opts.cid === undefined ? {} : { cids: opts.cid }),
              onProgress: (_cid, p) => bar.transfer(p),
            });
          } finally {
            bar.stop();
          }
          if (fetched.readable.length === 0) {
            const first = fetched.refused[0]?.error;
            if (first) throw first;
            throw new AccessRefusedError(
              "CONSENT_REQUIRED",
              `no record of ${patient} is covered by your consent for ${opts.purpose}`,
              "Ask the patient to grant you consent (hygeia consent grant) for the records you need.",
            );
          }
          await mkdir(dir, { recursive: true, mode: 0o700 });
          const readable = [];
          for (const record of fetched.readable) {
            const path = join(dir, `${record.cid}${record.fhir ? ".json" : ".bin"}`);
            await writeFile(path, record.bytes, { mode: 0o600 });
            await chmod(path, 0o600); // a file of an earlier fetch keeps its mode otherwise
            readable.push({
              cid: record.cid,
              path,
              bytes: record.bytes.length,
              resourceType: typeof record.fhir?.["resourceType"] === "string" ? record.fhir["resourceType"] : undefined,
              emergency: record.emergency,
              auditIndex: record.auditIndex,
              auditLog: record.auditLog,
            });
          }
          const refused = fetched.refused.map((r) => ({
            cid: r.cid,
            code: r.error.code,
            message: r.error.message,
            hint: r.error.hint,
          }));
          const patientDid = didOf(addressOf(patient, "patient"), client.connection.deployment.chainId);
          cli.output.result({ patient: patientDid, purpose: opts.purpose, readable, refused }, (r) =>
            [
              table(
                [
                  ...r.readable.map((x) => ({
                    cid: x.cid,
                    outcome: `saved ${formatBytes(x.bytes)} to ${x.path}`,
                    kind: x.resourceType ?? "file",
                  })),
                  ...r.refused.map((x) => ({ cid: x.cid, outcome: `refused: ${x.code}`, kind: "-" })),
                ],
                [
                  { header: "cid", value: (row) => row.cid },
                  { header: "kind", value: (row) => row.kind },
                  { header: "outcome", value: (row) => row.outcome },
                ],
              ),
            ].join("\n"),
          );
        },
      ),
    );
}

/** `Type[:claim,claim]` of --ask. */
function askedCredential(ask: string): { type: (typeof CREDENTIAL_TYPES)[number]; claims?: string[] } {
  const colon = ask.indexOf(":");
  const type = colon === -1 ? ask : ask.slice(0, colon);
  const claims =
    colon === -1
      ? []
      : ask
          .slice(colon + 1)
          .split(",")
          .map((c) => c.trim())
          .filter((c) => c !== "");
  if (!(CREDENTIAL_TYPES as readonly string[]).includes(type))
    throw new CliUsageError(
      "--ask",
      `"${type}" is not a credential type`,
      `Ask for one of ${CREDENTIAL_TYPES.join(", ")}, e.g. --ask PatientIdentityCredential:givenName,birthDate.`,
    );
  return { type: type as (typeof CREDENTIAL_TYPES)[number], ...(claims.length > 0 ? { claims } : {}) };
}

function checkInLines(result: CheckInResult): string {
  const lines = [
    result.ok
      ? `Checked in ${result.patient?.did ?? "the patient"}: every check passed.`
      : `The answer did NOT verify: do not trust it.`,
    table(result.checks, [
      { header: "check", value: (c) => c.name },
      { header: "pass", value: (c) => (c.pass ? "yes" : "NO") },
      { header: "reason", value: (c) => c.reason },
    ]),
  ];
  for (const [type, claims] of Object.entries(result.disclosed)) {
    lines.push("", `${type} (disclosed claims only):`);
    lines.push(
      fields(Object.entries(claims ?? {}).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)] as const)),
    );
  }
  return lines.join("\n");
}
