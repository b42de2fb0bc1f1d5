/**
 * `hygeia audit show`: who accessed (or was refused) what of the patient's records, from the gateway's audit log,
 * and with --verify every event proven against the checkpoints anchored on chain (PatientClient.audit.verify).
 *
 * The gateway's verifier key is pinned per wallet and gateway at the first verification (state.ts), so a later
 * change of key is reported as an integrity failure (exit 7), never silently accepted.
 */
import type { Command } from "commander";
import type { Cli } from "../cli.ts";
import { CliUsageError } from "../errors.ts";
import { formatDate, table } from "../output.ts";
import { printedAddress } from "../ids.ts";
import type { Act } from "../program.ts";
import { AuditIntegrityError, type AuditEntry, type VerifiedAuditEntry } from "../sdk.ts";
import { LocalState } from "../state.ts";

export function registerAudit(program: Command, act: Act): void {
  const audit = program
    .command("audit")
    .description("read your audit trail, and verify it against the chain")
    .addHelpText("after", "\nExamples:\n  $ hygeia audit show --verify\n  $ hygeia --json audit show --limit 20");

  audit
    .command("show")
    .description("list the access decisions on your records (permits and denies)")
    .option("--verify", "prove every event against the checkpoints the gateway anchored on chain")
    .option("--limit <n>", "without --verify: at most this many events (1-500)", "100")
    .option("--after <cursor>", "without --verify: the page after this cursor (the previous page's `next`)")
    .addHelpText(
      "after",
      `
With --verify, every event is checked for inclusion in a signed checkpoint whose root is anchored on chain, and
the checkpoints for consistency with each other: you do not have to trust the gateway's word about who saw what.
Events newer than the last anchor are "pending". Any failed proof exits with code 7.

Examples:
  $ hygeia audit show --verify
  $ hygeia audit show --limit 20
  $ hygeia --json audit show --verify | jq '.counts'`,
    )
    .action(
      act(async (cli: Cli, opts: { verify?: boolean; limit: string; after?: string }) => {
        const limit = Number(opts.limit);
        if (!Number.isSafeInteger(limit) || limit < 1 || limit > 500)
          throw new CliUsageError("--limit", `"${opts.limit}" is not a number from 1 to 500`, "Give --limit 1 to 500.");
        const patient = await cli.patient();
        if (!opts.verify) {
          const page = await patient.audit.events({
            limit,
            ...(opts.after === undefined ? {} : { after: opts.after }),
          });
          cli.output.result({ ...page, events: page.events.map(printedEvent) }, (p) =>
            [
              p.events.length === 0 ? "No audit events yet." : eventsTable(p.events),
              ...(p.next ? [`More: hygeia audit show --after ${p.next}`] : []),
            ].join("\n"),
          );
          return;
        }
        const state = new LocalState(cli.wallets.home, cli.activeWallet!);
        const gateway = patient.connection.transport.url;
        const saved = await state.read();
        const pinned = saved.auditVerifierKeys?.[gateway];
        const report = await patient.audit.verify({
          verifierKeys: saved.auditLogKeys ?? {},
          ...(pinned === undefined ? {} : { verifierKey: pinned }),
        });
        // Trust on first use, per log: a log first seen now is pinned once it verified.
        if (report.ok)
          await state.update((s) => ({
            ...s,
            auditVerifierKeys: {
              ...s.auditVerifierKeys,
              [gateway]: s.auditVerifierKeys?.[gateway] ?? report.verifierKey,
            },
            auditLogKeys: {
              ...Object.fromEntries(report.logs.map((log) => [log.origin, log.verifierKey])),
              ...s.auditLogKeys,
            },
          }));
        if (!report.ok) {
          // Human mode: show what verified and what did not, then fail; --json: the one document is the error.
          if (!cli.output.json) cli.io.stdout.write(`${eventsTable(report.events.map(printedEvent))}\n`);
          throw new AuditIntegrityError(report);
        }
        const { counts, anchoredSize, verifierKey, origin, problems, ok } = report;
        const events = report.events.map(printedEvent);
        const logs = report.logs.map(({ origin, gateway, verifierKey, anchoredSize }) => ({
          origin,
          gateway: printedAddress(gateway),
          verifierKey,
          anchoredSize,
        }));
        cli.output.result({ ok, origin, verifierKey, anchoredSize, counts, problems, events, logs }, (r) =>
          [
            r.events.length === 0 ? "No audit events yet." : eventsTable(r.events),
            "",
            `Verified against the chain: ${r.counts.verified} proven, ${r.counts.pending} pending (newer than the last anchor), ${r.counts.failed} failed.`,
            ...(r.logs.length > 1
              ? [`From ${r.logs.length} gateways' logs, each checked against its own gateway's anchors.`]
              : []),
          ].join("\n"),
        );
      }),
    );
}

/** The gateway logs addresses lowercase: printed EIP-55, like every command prints them. */
function printedEvent<T extends AuditEntry>(event: T): T {
  return {
    ...event,
    actor: printedAddress(event.actor),
    grantee: printedAddress(event.grantee),
    consentAddress: printedAddress(event.consentAddress),
  };
}

function eventsTable(events: readonly (AuditEntry | VerifiedAuditEntry)[]): string {
  const verified = events.some((e) => "verified" in e);
  // Several gateways' logs (one database behind a balancer): each index is a position in its own log.
  const logs = new Set(events.map((e) => e.log));
  return table(events, [
    ...(logs.size > 1 ? [{ header: "log", value: (e: AuditEntry | VerifiedAuditEntry) => e.log }] : []),
    { header: "#", value: (e) => e.index },
    { header: "time", value: (e) => formatDate(e.time) },
    { header: "event", value: (e) => e.type },
    { header: "decision", value: (e) => e.decision },
    { header: "reason", value: (e) => e.reason },
    { header: "who", value: (e) => e.actor },
    { header: "record", value: (e) => (e.record ? `${e.record.slice(0, 16)}…` : undefined) },
    { header: "scope", value: (e) => e.scope ?? (e.scopeId ? `${e.scopeId.slice(0, 10)}…` : undefined) },
    { header: "purpose", value: (e) => (e.emergency ? `${e.purpose ?? ""} (break-glass)` : e.purpose) },
    ...(verified
      ? [
          {
            header: "verified",
            value: (e: AuditEntry | VerifiedAuditEntry) =>
              "verified" in e
                ? e.verified === true
                  ? "yes"
                  : e.verified === false
                    ? `NO (${e.problem ?? "?"})`
                    : "pending"
                : undefined,
          },
        ]
      : []),
  ]);
}
