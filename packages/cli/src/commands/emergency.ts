/**
 * `hygeia emergency …`: pre-registered emergency (break-glass) grantees over PatientClient.emergency.
 */
import type { Command } from "commander";
import type { Cli } from "../cli.ts";
import { formatDate, formatSeconds, table } from "../output.ts";
import { printedAddress } from "../ids.ts";
import type { Act } from "../program.ts";

export function registerEmergency(program: Command, act: Act): void {
  const emergency = program
    .command("emergency")
    .description("register who may break the glass on your records in an emergency")
    .addHelpText(
      "after",
      `
Examples:
  $ hygeia emergency add did:ethr:0x7a69:0x9965… --scope category:allergy category:medication --window 4h
  $ hygeia emergency list
  $ hygeia emergency remove did:ethr:0x7a69:0x9965…`,
    );

  emergency
    .command("add")
    .argument("<grantee>", "the emergency service or doctor on call: a did:ethr or an address")
    .description("register an emergency grantee: in an emergency it may open one time-boxed window on these scopes")
    .requiredOption(
      "-s, --scope <scope...>",
      "what the grantee may open (category:allergy, fhir:MedicationStatement, …)",
    )
    .requiredOption("-w, --window <duration>", 'how long the window lasts once opened ("4h", "2d"; at most 7 days)')
    .option("--direct", "send the transaction from the wallet (pays gas) instead of the gateway's relay")
    .addHelpText(
      "after",
      `
Breaking the glass is logged in your audit trail, and opens one window only; register the grantee again to allow
another. Your existing records in those scopes are shared with the grantee now, so it can read them at once.

Examples:
  $ hygeia emergency add did:ethr:0x7a69:0x9965… --scope category:allergy --window 4h`,
    )
    .action(
      act(async (cli: Cli, grantee: string, opts: { scope: string[]; window: string; direct?: boolean }) => {
        const patient = await cli.patient();
        const registered = await patient.emergency.add({
          grantee,
          scopes: opts.scope,
          window: opts.window,
          mode: opts.direct ? "direct" : "relay",
        });
        cli.output.result(registered, (r) =>
          [
            `Registered ${r.grantee} for emergencies on ${r.scopes.map((s) => s.scope ?? s.id).join(", ")} (window ${formatSeconds(r.windowSeconds)}).`,
            `Transaction: ${r.transaction}`,
            `Existing records shared with the grantee: ${r.shared}`,
          ].join("\n"),
        );
      }),
    );

  emergency
    .command("list")
    .description("list your emergency grantees and whether their window is ready, open or used")
    .addHelpText("after", "\nExamples:\n  $ hygeia emergency list\n  $ hygeia --json emergency list")
    .action(
      act(async (cli: Cli) => {
        const patient = await cli.patient();
        const grantees = (await patient.emergency.list()).map((g) => ({ ...g, grantee: printedAddress(g.grantee) }));
        cli.output.result({ grantees }, ({ grantees: rows }) =>
          rows.length === 0
            ? "No emergency grantees."
            : table(rows, [
                { header: "grantee", value: (g) => g.grantee },
                { header: "status", value: (g) => g.status },
                { header: "window", value: (g) => formatSeconds(g.windowSeconds) },
                { header: "window ends", value: (g) => formatDate(g.windowEnd) },
              ]),
        );
      }),
    );

  emergency
    .command("remove")
    .argument("<grantee>", "the emergency grantee: a did:ethr or an address")
    .description("remove an emergency grantee (closes an open window)")
    .option("--direct", "send the transaction from the wallet (pays gas) instead of the gateway's relay")
    .addHelpText("after", "\nExamples:\n  $ hygeia emergency remove did:ethr:0x7a69:0x9965…")
    .action(
      act(async (cli: Cli, grantee: string, opts: { direct?: boolean }) => {
        const patient = await cli.patient();
        const removed = await patient.emergency.remove({ grantee, mode: opts.direct ? "direct" : "relay" });
        cli.output.result(removed, (r) => `Removed ${r.grantee} as emergency grantee (${r.transaction}).`);
      }),
    );
}
