/**
 * `hygeia checkin <link>`: the patient's side of a clinic's check-in. Rules, in order: the clinic is verified first
 * (its accreditation, proved for this wallet's own challenge through the gateway, and its standing on the
 * TrustRegistry); then the person sees who the clinic is and exactly which claims it asks for, and approves (a
 * prompt, or --yes in scripts); only then are those claims, and nothing else, sent sealed to the clinic's key.
 */
import { readFile } from "node:fs/promises";
import { confirm } from "@inquirer/prompts";
import type { Command } from "commander";
import type { Cli } from "../cli.ts";
import { CliError, CliUsageError } from "../errors.ts";
import { fields } from "../output.ts";
import { printedDid } from "../ids.ts";
import type { Act } from "../program.ts";
import { IdentityAgent, ethrNetworkFromDeployment } from "@hygeia/identity";
import {
  answerCheckIn,
  readCheckIn,
  verifyCheckInClinic,
  type CheckInCredential,
  type PatientCheckIn,
} from "../sdk.ts";

export function registerCheckIn(program: Command, act: Act): void {
  program
    .command("checkin")
    .description("answer a clinic's check-in: verify the clinic, then show only the claims it asks for")
    .argument("<link>", "the check-in link (the clinic's QR code) or its id")
    .requiredOption(
      "-p, --present <file...>",
      "your credentials to show (SD-JWT or JWT files, as their issuers gave them)",
    )
    .option("-y, --yes", "approve without a prompt (scripts); the clinic is still verified first")
    .option("--timeout <seconds>", "how long to wait for the clinic to prove itself", "120")
    .addHelpText(
      "after",
      `
The clinic proves its accreditation for a challenge of this wallet (relayed by the gateway) before anything is
shown; an unaccredited clinic is refused (exit 2) and sees nothing. Then the clinic and the claims it asks for are
shown, and you approve. From an SD-JWT only the claims asked for are disclosed; a JWT credential is shown whole.

Examples:
  $ hygeia checkin http://127.0.0.1:8787/v1/checkins/0f3a… --present insurance.sdjwt
  $ hygeia --json checkin 0f3a… --present insurance.sdjwt --yes`,
    )
    .action(
      act(async (cli: Cli, link: string, opts: { present: string[]; yes?: boolean; timeout: string }) => {
        const timeoutMs = seconds(opts.timeout) * 1000;
        const credentials = await Promise.all(opts.present.map((file) => credentialFile(file)));
        const patient = await cli.patient();
        const transport = patient.connection.transport;
        const checkIn = await readCheckIn(transport, link);
        cli.output.note(`Check-in ${checkIn.id} from ${describeClaimed(checkIn)}: verifying the clinic first…`);

        const agent = await IdentityAgent.create({
          network: ethrNetworkFromDeployment(patient.connection.deployment, cli.options.rpc),
          watchRegistry: false,
        });
        cli.onClose(() => agent.close());
        const { did } = await agent.importEthrDid(cli.unlockedWallet!.privateKey, "patient");
        const wallet = { agent, did, trustRegistry: patient.connection.deployment.contracts.TrustRegistry };
        const verified = await verifyCheckInClinic({ wallet, checkIn, transport, relay: { timeoutMs } });
        const clinic = { ...verified.clinic!, did: printedDid(verified.clinic!.did) };
        const asked = checkIn.request.credentials.map((c) => `${c.type}: ${(c.claims ?? ["(whole)"]).join(", ")}`);
        cli.output.note(
          fields([
            ["clinic", `${clinic.clinicName} (${clinic.virtual ? "virtual clinic" : "clinic"}), verified on chain`],
            ["accreditation", clinic.accreditationNumber],
            ["clinic DID", clinic.did],
            ["asks for", asked.join("; ")],
          ]),
        );
        if (!opts.yes) await approve(cli, clinic.clinicName);
        const answered = await answerCheckIn({ transport, wallet, checkIn, clinic: verified, credentials });
        cli.output.result(
          { id: answered.id, status: answered.status, answeredAt: answered.answeredAt, clinic, shown: answered.shown },
          (r) =>
            `Checked in at ${r.clinic.clinicName}: shown ${r.shown.map((s) => `${s.type} (${s.claims.join(", ")})`).join("; ")}.`,
        );
      }),
    );
}

/** A credential file: an SD-JWT (`~`-separated) or a compact JWT. */
async function credentialFile(path: string): Promise<CheckInCredential> {
  let text: string;
  try {
    text = (await readFile(path, "utf8")).trim();
  } catch (error) {
    throw new CliUsageError(
      "--present",
      `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      "Give the credential file your issuer gave you.",
    );
  }
  if (/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*~/.test(text)) return { sdJwt: text };
  if (/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(text)) return { jwt: text };
  throw new CliUsageError(
    "--present",
    `${path} holds neither an SD-JWT nor a JWT credential`,
    "Give the credential file exactly as your issuer gave it.",
  );
}

async function approve(cli: Cli, clinicName: string): Promise<void> {
  if (!cli.io.stdin.isTTY)
    throw new CliUsageError(
      "--yes",
      "no terminal to ask for approval",
      "Run it in a terminal to approve, or pass --yes to approve in a script.",
    );
  const ok = await confirm({ message: `Show these claims to ${clinicName}?`, default: false });
  if (!ok) throw new CliError("DECLINED", "refused", "you declined: nothing was shown to the clinic", "Nothing to do.");
}

function describeClaimed(checkIn: PatientCheckIn): string {
  const { clinicName, virtual } = checkIn.clinic.claimed;
  return `${clinicName ?? printedDid(checkIn.clinic.did)}${virtual ? " (virtual clinic)" : ""} (not verified yet)`;
}

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 3600)
    throw new CliUsageError(
      "--timeout",
      `${value} is not a whole number of seconds from 1 to 3600`,
      "E.g. --timeout 60.",
    );
  return n;
}
