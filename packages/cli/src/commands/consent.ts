/**
 * `hygeia consent …`: grant, revoke, list and export consent over PatientClient.consent. Gasless by default (the
 * wallet signs, the gateway relays); `--direct` sends the transaction from the wallet, paid in ETH.
 */
import { writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { Option, type Command } from "commander";
import type { Cli } from "../cli.ts";
import { CliError } from "../errors.ts";
import { formatDate, table } from "../output.ts";
import { printedAddress } from "../ids.ts";
import type { Act } from "../program.ts";
import { HygeiaSdkError, type ConsentMode, type ListedConsent, type PatientClient } from "../sdk.ts";

const SCOPE_HELP = `Scopes are canonical: category:<category> (category:laboratory), fhir:<ResourceType>
(fhir:Observation), record:<cid> (one record), study:<id>. Purposes: Treatment, Research, Payment, PublicHealth.`;

function modeOption(): Option {
  return new Option("--direct", "send the transaction from the wallet (pays gas) instead of the gateway's relay");
}

function modeOf(opts: { direct?: boolean }): ConsentMode {
  return opts.direct ? "direct" : "relay";
}

export function registerConsent(program: Command, act: Act): void {
  const consent = program
    .command("consent")
    .description("grant, revoke, list and export who may read which of your records, for what, until when")
    .addHelpText(
      "after",
      `
Examples:
  $ hygeia consent grant did:ethr:0x7a69:0x15d3… --scope category:laboratory --purpose Treatment --expires 30d
  $ hygeia consent list
  $ hygeia consent revoke 0x15d3… --scope category:laboratory --purpose Treatment
  $ hygeia consent export --fhir -o consents.json`,
    );

  consent
    .command("grant")
    .argument("<grantee>", "the clinic, doctor or researcher: a did:ethr or an address")
    .description("grant consent (one signature for up to 32 scopes; the gateway relays it, you pay nothing)")
    .requiredOption("-s, --scope <scope...>", "what the consent covers (repeat or list several)")
    .requiredOption("-p, --purpose <purpose>", "Treatment, Research, Payment or PublicHealth")
    .requiredOption("-e, --expires <when>", 'a duration ("30d", "12h", "1y") or a date ("2027-01-31")')
    .addOption(modeOption())
    .addHelpText(
      "after",
      `
${SCOPE_HELP}
Once the gateway lists the grant, your existing records in those scopes are shared with the grantee (their keys
wrapped to the grantee's published key), so the grantee can read them without another step.

Examples:
  $ hygeia consent grant did:ethr:0x7a69:0x15d3… --scope category:laboratory --purpose Treatment --expires 30d
  $ hygeia consent grant 0x15d3… -s fhir:Observation fhir:DiagnosticReport -p Treatment -e 2027-01-31
  $ hygeia consent grant 0x15d3… -s category:imaging -p Treatment -e 7d --direct`,
    )
    .action(
      act(
        async (
          cli: Cli,
          grantee: string,
          opts: { scope: string[]; purpose: string; expires: string; direct?: boolean },
        ) => {
          const patient = await cli.patient();
          await assertGranteeHasKey(patient, grantee);
          const granted = await patient.consent.grant({
            grantee,
            scopes: opts.scope,
            purpose: opts.purpose as never,
            expires: opts.expires,
            mode: modeOf(opts),
          });
          cli.output.result(granted, (g) =>
            [
              `Granted ${g.grantee} ${g.purpose} access to ${g.scopes.map((s) => s.scope ?? s.id).join(", ")} until ${formatDate(g.expiry)} (${g.mode === "relay" ? "relayed by the gateway" : "sent from your wallet"}).`,
              `Transactions: ${g.transactions.join(", ")}`,
              `Existing records shared with the grantee: ${g.shared}`,
            ].join("\n"),
          );
        },
      ),
    );

  consent
    .command("revoke")
    .argument("<grantee>", "the grantee: a did:ethr or an address")
    .description("revoke consent: the grantee's next request is refused")
    .requiredOption("-s, --scope <scope...>", "the scopes to revoke")
    .requiredOption("-p, --purpose <purpose>", "the purpose the consent was for")
    .addOption(modeOption())
    .addHelpText(
      "after",
      `
${SCOPE_HELP}
What the grantee already decrypted cannot be un-seen; new versions of your records in those scopes get new keys.

Examples:
  $ hygeia consent revoke did:ethr:0x7a69:0x15d3… --scope category:laboratory --purpose Treatment`,
    )
    .action(
      act(async (cli: Cli, grantee: string, opts: { scope: string[]; purpose: string; direct?: boolean }) => {
        const patient = await cli.patient();
        const revoked = await patient.consent.revoke({
          grantee,
          scopes: opts.scope,
          purpose: opts.purpose as never,
          mode: modeOf(opts),
        });
        cli.output.result(revoked, (r) =>
          [
            `Revoked ${r.grantee}'s ${r.purpose} access to ${r.scopes.map((s) => s.scope ?? s.id).join(", ")}.`,
            `Transactions: ${r.transactions.join(", ")}`,
          ].join("\n"),
        );
      }),
    );

  consent
    .command("list")
    .description("list your live consents (scopes labelled by your wallet; the gateway sees only opaque ids)")
    .addHelpText("after", "\nExamples:\n  $ hygeia consent list\n  $ hygeia --json consent list")
    .action(
      act(async (cli: Cli) => {
        const patient = await cli.patient();
        // The record CIDs label record:<cid> scopes; the gateway never learns them from this.
        const cids = (await patient.records.list()).map((r) => r.cid);
        // The gateway lists addresses lowercase; grant and revoke print them EIP-55 like every command.
        const consents = (await patient.consent.list({ cids })).map((c) => ({
          ...c,
          grantee: printedAddress(c.grantee),
          consentAddress: printedAddress(c.consentAddress),
        }));
        cli.output.result({ consents }, ({ consents: rows }) =>
          rows.length === 0 ? "No live consents." : consentsTable(rows),
        );
      }),
    );

  consent
    .command("export")
    .description("export your live consents as a FHIR R4 Bundle of Consent resources")
    .option("--fhir", "FHIR R4 JSON (the only format, and the default)", true)
    .option("-o, --output <file>", "write the Bundle to this file instead of stdout")
    .option("--force", "replace the output file when it exists")
    .addHelpText(
      "after",
      `
Examples:
  $ hygeia consent export --fhir
  $ hygeia consent export --fhir -o consents.json`,
    )
    .action(
      act(async (cli: Cli, opts: { output?: string; force?: boolean }) => {
        const patient = await cli.patient();
        const cids = (await patient.records.list()).map((r) => r.cid);
        const bundle = await patient.consent.exportFhir({ cids });
        if (opts.output === undefined) {
          cli.output.result(bundle, (b) => JSON.stringify(b, null, 2));
          return;
        }
        const path = resolve(opts.output);
        try {
          await writeFile(path, `${JSON.stringify(bundle, null, 2)}\n`, { flag: opts.force ? "w" : "wx", mode: 0o600 });
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "EEXIST")
            throw new CliError(
              "OUTPUT_EXISTS",
              "conflict",
              `${opts.output} already exists`,
              "Choose another file, or pass --force.",
            );
          throw error;
        }
        const count = bundle.entry?.length ?? 0;
        cli.output.result(
          { path, consents: count },
          (r) => `Wrote ${r.consents} FHIR Consent resource(s) to ${r.path}.`,
        );
      }),
    );
}

function consentsTable(rows: readonly ListedConsent[]): string {
  return table(rows, [
    { header: "grantee", value: (c) => c.grantee },
    { header: "scope", value: (c) => c.scope ?? `${c.id} (unlabelled)` },
    { header: "purpose", value: (c) => c.purpose },
    { header: "expires", value: (c) => formatDate(c.expiry) },
    { header: "status", value: (c) => c.status },
  ]);
}

/**
 * A grantee without a published X25519 key could read nothing: records are wrapped to that key. Refused before
 * anything is signed (otherwise the consent would stand on chain while sharing fails). An argument that is no
 * DID or address is left to the grant's own check, which names it.
 */
async function assertGranteeHasKey(patient: PatientClient, grantee: string): Promise<void> {
  let keys: unknown[];
  try {
    keys = await patient.encryptionKeysOf(grantee);
  } catch (error) {
    if (error instanceof HygeiaSdkError && error.kind === "usage") return;
    throw error;
  }
  if (keys.length === 0)
    throw new CliError(
      "GRANTEE_HAS_NO_KEY",
      "refused",
      `${grantee} publishes no encryption key, so it could read none of your records; nothing was signed or sent`,
      "Ask the grantee to publish its key (hygeia did publish-key), then grant again.",
    );
}
