/**
 * `hygeia issuer …`: governance accredits issuers in the TrustRegistry; an accredited issuer issues credentials
 * and revokes, suspends or reinstates them through its status lists (IssuerClient). The status-list state (which
 * indexes were handed out, what is revoked) lives in `<home>/state/<wallet>.issuer.json`: keep it, run one issuer
 * command at a time.
 */
import { open, readFile, rm, type FileHandle } from "node:fs/promises";
import { resolve } from "node:path";
import { Option, type Command } from "commander";
import type { Cli } from "../cli.ts";
import { CliError, CliUsageError } from "../errors.ts";
import { fields, formatDate } from "../output.ts";
import { printedDid } from "../ids.ts";
import type { Act } from "../program.ts";
import type { AccreditationChange, IssuedCredential, IssuerClient, StatusChange } from "../sdk.ts";

const ROLES = ["medical-board", "clinic", "irb", "insurer", "identity-issuer"] as const;
export const CREDENTIAL_TYPES = [
  "PatientIdentityCredential",
  "HealthInsuranceCredential",
  "ClinicAccreditationCredential",
  "ResearcherCredential",
  "EthicsApprovalCredential",
  "HealthRecordCredential",
] as const;

export function registerIssuer(program: Command, act: Act): void {
  const issuer = program
    .command("issuer")
    .description("accredit issuers (governance), issue credentials, and revoke, suspend or reinstate them")
    .addHelpText(
      "after",
      `
Examples:
  $ hygeia --wallet governance issuer accredit did:ethr:0x7a69:0x23618e81… --role medical-board --until 2027-12-31
  $ hygeia --wallet board issuer issue --type ClinicAccreditationCredential --subject 0x15d34aaf… \\
      --claims '{"clinicName":"Harbor Virtual Clinic","accreditationNumber":"HB-1","specialties":["gp"],"virtual":true,"jurisdiction":"NL"}' \\
      --expires 2027-06-30 -o clinic.jwt
  $ hygeia --wallet board issuer suspend clinic.jwt`,
    );

  issuer
    .command("accredit")
    .argument("<issuer>", "the issuer to accredit: a did:ethr or an address")
    .description("accredit an issuer for a role in the TrustRegistry (governance only; one transaction)")
    .addOption(new Option("-r, --role <role>", "the role").choices(ROLES).makeOptionMandatory())
    .option("--from <date>", "start of the window (default: now, or the end of the current window to renew it)")
    .option("--until <date>", "end of the window (default: one year from now)")
    .addHelpText(
      "after",
      `
Only the TrustRegistry's owner (governance) may accredit; any other wallet is refused (exit 2) before anything is
sent. Roles: medical-board (accredits clinics and researchers), clinic (issues health records), irb (approves
studies), insurer, identity-issuer.

Examples:
  $ hygeia --wallet governance issuer accredit 0x23618e81e3f5cdf7f54c3d65f7fbc0abf5b21e8f --role medical-board
  $ hygeia --wallet governance issuer accredit did:ethr:0x7a69:0xa0ee7a14… --role insurer --until 2027-01-01`,
    )
    .action(
      act(async (cli: Cli, subject: string, opts: { role: (typeof ROLES)[number]; from?: string; until?: string }) => {
        const client = await cli.issuer();
        const changed = await client.accredit({
          issuer: subject,
          role: opts.role,
          ...(opts.from === undefined ? {} : { validFrom: date("--from", opts.from) }),
          ...(opts.until === undefined ? {} : { validUntil: date("--until", opts.until) }),
        });
        cli.output.result(printedChange(changed), accreditationLines);
      }),
    );

  issuer
    .command("deaccredit")
    .argument("<issuer>", "the issuer: a did:ethr or an address")
    .description("end an issuer's accreditation for a role at once (governance only)")
    .addOption(new Option("-r, --role <role>", "the role").choices(ROLES).makeOptionMandatory())
    .addHelpText(
      "after",
      "\nExamples:\n  $ hygeia --wallet governance issuer deaccredit 0x23618e81… --role medical-board",
    )
    .action(
      act(async (cli: Cli, subject: string, opts: { role: (typeof ROLES)[number] }) => {
        const client = await cli.issuer();
        cli.output.result(
          printedChange(await client.deaccredit({ issuer: subject, role: opts.role })),
          accreditationLines,
        );
      }),
    );

  issuer
    .command("standing")
    .argument("<issuer>", "a did:ethr or an address")
    .description("show what the TrustRegistry says about an issuer's roles (read only)")
    .addHelpText("after", "\nExamples:\n  $ hygeia issuer standing did:ethr:0x7a69:0x23618e81…")
    .action(
      act(async (cli: Cli, subject: string) => {
        const client = await cli.issuer();
        const found = await client.accreditation(subject);
        const standing = { ...found, did: printedDid(found.did) };
        cli.output.result(standing, (s) =>
          [
            fields([
              ["issuer", s.did],
              ["trusted now as", s.trustedRoles.join(", ") || "nothing"],
            ]),
            ...s.roles.map(
              (r) =>
                `  ${r.role}: ${r.state}${r.validUntil === undefined ? "" : ` (until ${formatDate(r.validUntil * 1000)})`}`,
            ),
          ].join("\n"),
        );
      }),
    );

  issuer
    .command("issue")
    .description("issue a credential signed by this wallet's DID, with a status entry (revocable)")
    .addOption(new Option("-t, --type <type>", "the credential type").choices(CREDENTIAL_TYPES).makeOptionMandatory())
    .requiredOption("-s, --subject <did>", "the holder: a did:ethr or an address")
    .requiredOption("--claims <json|@file>", "the subject's claims as JSON, or @path of a JSON file")
    .addOption(
      new Option("--format <format>", "jwt (every type) or sd-jwt (identity, insurance)")
        .choices(["jwt", "sd-jwt"])
        .default("jwt"),
    )
    .option("--holder-key <hex>", "sd-jwt: the holder's public key (0x04… or 0x02/0x03…), bound to the credential")
    .option("--expires <date>", "end of validity (ISO 8601; a ClinicAccreditationCredential needs one)")
    .option("--no-status", "issue without a status entry (it can never be revoked)")
    .option("-o, --output <file>", "write the credential to this file (it is in the output too)")
    .addHelpText(
      "after",
      `
The issuer must be accredited now for a role the type counts from (medical-board: clinic accreditations and
researcher credentials; clinic: health records; irb: ethics approvals; insurer: insurance; identity-issuer:
identity). The status list the credential points at is published at the gateway before it is returned.

Examples:
  $ hygeia --wallet board issuer issue --type ClinicAccreditationCredential --subject 0x15d34aaf… \\
      --claims @clinic-claims.json --expires 2027-06-30 -o clinic.jwt
  $ hygeia --wallet insurer issuer issue --type HealthInsuranceCredential --format sd-jwt \\
      --subject did:ethr:0x7a69:0x3c44… --holder-key 0x04… --claims @insurance.json -o insurance.sdjwt`,
    )
    .action(
      act(
        async (
          cli: Cli,
          opts: {
            type: (typeof CREDENTIAL_TYPES)[number];
            subject: string;
            claims: string;
            format: "jwt" | "sd-jwt";
            holderKey?: string;
            expires?: string;
            status: boolean;
            output?: string;
          },
        ) => {
          const claims = await readClaims(opts.claims);
          const expires = opts.expires === undefined ? undefined : date("--expires", opts.expires);
          const client = await cli.issuer();
          // The file is created before anything is signed: a credential that could not be saved (or that would
          // overwrite an earlier one, which then could no longer be revoked) is never issued.
          const path = opts.output === undefined ? undefined : resolve(opts.output);
          const file = path === undefined ? undefined : await createOutput(path);
          let issued: IssuedCredential | undefined;
          try {
            issued = await client.issue({
              type: opts.type,
              subject: opts.subject,
              claims: claims as never,
              format: opts.format,
              ...(opts.holderKey === undefined ? {} : { holderKey: opts.holderKey }),
              ...(expires === undefined ? {} : { expires }),
              status: opts.status,
            });
            await file?.writeFile(`${issued.credential}\n`);
          } finally {
            await file?.close();
            if (file !== undefined && issued === undefined) await rm(path!, { force: true });
          }
          // The credential itself keeps the DIDs as signed; the fields beside it are printed like everywhere else.
          const printed = { ...issued!, issuer: printedDid(issued!.issuer), subject: printedDid(issued!.subject) };
          cli.output.result({ ...printed, ...(path === undefined ? {} : { path }) }, (r) =>
            [
              `Issued ${/^[AEIOU]/.test(r.type) ? "an" : "a"} ${r.type} (${r.format}) to ${r.subject}${r.status ? ", revocable" : ""}.`,
              r.path === undefined ? r.credential : `Saved to ${r.path}.`,
            ].join("\n"),
          );
        },
      ),
    );

  for (const [name, verb, description] of [
    ["revoke", "revoked", "revoke a credential this wallet issued, for good"],
    ["suspend", "suspended", "suspend a credential this wallet issued (reinstate lifts it)"],
    ["reinstate", "reinstated", "lift a suspension"],
  ] as const) {
    issuer
      .command(name)
      .argument("<credential>", "the credential: a file holding it, - for stdin, or the credential itself")
      .description(description)
      .addHelpText(
        "after",
        `
The change is published at once in the issuer's status list at the gateway; verifiers see it within their
status-list cache time.${name === "revoke" ? " Revocation is final." : ""}

Examples:
  $ hygeia --wallet board issuer ${name} clinic.jwt`,
      )
      .action(
        act(async (cli: Cli, credential: string) => {
          const text = await readCredential(cli, credential);
          const client: IssuerClient = await cli.issuer();
          const change: StatusChange = await client[name](text);
          cli.output.result(change, (c) =>
            c.changed
              ? `The credential is ${verb} (was ${c.previous}).`
              : `The credential was already ${c.status}: nothing changed.`,
          );
        }),
      );
  }
  registerStatusCommands(issuer, act);
}

function registerStatusCommands(issuer: Command, act: Act): void {
  issuer
    .command("status")
    .argument("<credential>", "the credential: a file holding it, - for stdin, or the credential itself")
    .description("show a credential's status as this wallet's status lists hold it (valid, suspended, revoked)")
    .addHelpText("after", "\nExamples:\n  $ hygeia --wallet board issuer status clinic.jwt")
    .action(
      act(async (cli: Cli, credential: string) => {
        const text = await readCredential(cli, credential);
        const client = await cli.issuer();
        const status = await client.statusOf(text);
        cli.output.result(status, (s) =>
          fields([
            ["status", s.status],
            ["list", s.pointer.format === "token" ? s.pointer.url : s.pointer.revocation],
            ["index", s.pointer.index],
          ]),
        );
      }),
    );

  issuer
    .command("refresh")
    .description("publish this wallet's status lists again before they expire (run it from cron, at least twice a day)")
    .option("--force", "publish every list, not only those with changes or less than half their lifetime left")
    .addHelpText(
      "after",
      `
A status-list version is valid for a day: once it expires, verifiers refuse every credential on it. Publishing
is also retried here after a change that could not reach the gateway.

Examples:
  $ hygeia --wallet board issuer refresh
  # from cron, every 6 hours (HYGEIA_PASSWORD in the job's environment):
  0 */6 * * * hygeia --wallet board issuer refresh`,
    )
    .action(
      act(async (cli: Cli, opts: { force?: boolean }) => {
        const client = await cli.issuer();
        const published = await client.refreshStatusLists({ force: opts.force === true });
        cli.output.result({ published }, (r) =>
          r.published.length === 0
            ? "Every status list is current: nothing published."
            : r.published.map((p) => `published ${p.url} (valid until ${formatDate(p.expiresAt * 1000)})`).join("\n"),
        );
      }),
    );
}

/** Creates `path` for a credential (0600), refusing to overwrite a file. */
async function createOutput(path: string): Promise<FileHandle> {
  try {
    return await open(path, "wx", 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST")
      throw new CliError(
        "OUTPUT_EXISTS",
        "conflict",
        `${path} already exists`,
        "Give another --output file (keep the old credential: it is what revoke or suspend takes).",
      );
    throw new CliUsageError(
      "--output",
      `cannot create ${path} (${code ?? "error"})`,
      "Give a file in a writable directory.",
    );
  }
}

/** IssuerClient writes DIDs with the checksummed address: printed in the didOf form of every other command. */
function printedChange(change: AccreditationChange): AccreditationChange {
  return { ...change, did: printedDid(change.did) };
}

function accreditationLines(c: AccreditationChange): string {
  return [
    c.changed
      ? `${c.did} is now ${c.standing.state} as ${c.role} (${c.transaction ?? "no transaction"}).`
      : `Nothing to do: ${c.did} is already ${c.standing.state} as ${c.role}.`,
    fields([
      ["from", c.standing.validFrom === undefined ? undefined : formatDate(c.standing.validFrom * 1000)],
      ["until", c.standing.validUntil === undefined ? undefined : formatDate(c.standing.validUntil * 1000)],
      ["trusted now", c.standing.trusted ? "yes" : "no"],
    ]),
  ].join("\n");
}

function date(field: string, value: string): Date {
  const parsed = new Date(value);
  if (Number.isNaN(parsed.getTime()))
    throw new CliUsageError(field, `"${value}" is not a date`, "Give an ISO 8601 date, e.g. 2027-01-31.");
  return parsed;
}

async function readClaims(value: string): Promise<Record<string, unknown>> {
  let text = value;
  if (value.startsWith("@")) {
    try {
      text = await readFile(value.slice(1), "utf8");
    } catch (error) {
      throw new CliUsageError(
        "--claims",
        `cannot read ${value.slice(1)} (${(error as NodeJS.ErrnoException).code ?? "error"})`,
        "Give @<path> of an existing JSON file.",
      );
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliUsageError(
      "--claims",
      "is not JSON",
      `Give the claims as a JSON object, e.g. '{"name":"…"}', or @file.json.`,
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new CliUsageError("--claims", "is not a JSON object", "Give the subject's claims as one JSON object.");
  return parsed as Record<string, unknown>;
}

/** A credential from a file, from stdin (`-`), or given as is. */
export async function readCredential(cli: Cli, value: string): Promise<string> {
  if (value === "-") {
    const chunks: Buffer[] = [];
    for await (const chunk of cli.io.stdin) chunks.push(Buffer.from(chunk as Buffer));
    return Buffer.concat(chunks).toString("utf8").trim();
  }
  if (/^ey[A-Za-z0-9_-]+\./.test(value)) return value.trim(); // a JWT / SD-JWT itself
  try {
    return (await readFile(value, "utf8")).trim();
  } catch (error) {
    throw new CliError(
      "CREDENTIAL_NOT_FOUND",
      "usage",
      `cannot read the credential file ${value} (${(error as NodeJS.ErrnoException).code ?? "error"})`,
      "Give the file the credential was saved to (-o of `hygeia issuer issue`), - for stdin, or the credential itself.",
    );
  }
}
