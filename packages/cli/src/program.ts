/**
 * The `hygeia` program: global options, the command groups (one file each under commands/), and `run`, which parses
 * argv, runs one command and turns whatever it threw into an exit code and one line (errors.ts).
 */
import { Command, Option } from "commander";
import pkg from "../package.json" with { type: "json" };
import { Cli, DEFAULTS } from "./cli.ts";
import { describeError, errorDetail, errorLine, isCleanExit } from "./errors.ts";
import type { Io } from "./output.ts";
import { registerWallet } from "./commands/wallet.ts";
import { registerDid } from "./commands/did.ts";
import { registerStatus } from "./commands/status.ts";
import { registerRecord } from "./commands/record.ts";
import { registerConsent } from "./commands/consent.ts";
import { registerEmergency } from "./commands/emergency.ts";
import { registerAudit } from "./commands/audit.ts";
import { registerRecover } from "./commands/recover.ts";
import { registerClinic } from "./commands/clinic.ts";
import { registerIssuer } from "./commands/issuer.ts";
import { registerCheckIn } from "./commands/checkin.ts";
import { registerStudy } from "./commands/study.ts";
import { registerDataset } from "./commands/dataset.ts";

/** Wraps a command's action: builds its `Cli` from the global options and closes it after. */
export type Act = <A extends unknown[]>(
  fn: (cli: Cli, ...args: A) => Promise<void>,
) => (...args: unknown[]) => Promise<void>;

interface RunState {
  cli: Cli | undefined;
}

export function buildProgram(
  io: Io,
  env: Record<string, string | undefined>,
  state: RunState = { cli: undefined },
): Command {
  const program = new Command("hygeia");
  program
    .description(
      "Hygeia from a terminal: wallets, and every role's commands (patient, clinic, researcher, issuer) over the gateway, the chain and IPFS. Records are encrypted and consent is signed here, never on the gateway.",
    )
    .version(pkg.version, "-V, --version", "print the version")
    .addOption(new Option("--json", "print exactly one JSON document on stdout (errors too: { error: … })"))
    .addOption(new Option("-v, --verbose", "show details and stack traces of errors on stderr"))
    .addOption(new Option("--gateway <url>", "the gateway's URL").env("HYGEIA_GATEWAY_URL").default(DEFAULTS.gateway))
    .addOption(new Option("--rpc <url>", "the chain's JSON-RPC URL").env("HYGEIA_RPC_URL").default(DEFAULTS.rpc))
    .addOption(
      new Option("--deployment <file>", "the contracts' deployment file (default: ask the gateway)").env(
        "HYGEIA_DEPLOYMENT",
      ),
    )
    .addOption(
      new Option("--home <dir>", "where wallets and local state live").env("HYGEIA_HOME").default(DEFAULTS.home),
    )
    .addOption(new Option("--wallet <name>", "the wallet to act as (default: the default wallet)").env("HYGEIA_WALLET"))
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: () => {}, // run() prints the one-line error itself
    })
    .showSuggestionAfterError(true)
    .helpCommand(true)
    .addHelpText(
      "after",
      `
Examples:
  $ hygeia wallet create alice                 create a wallet (prompts for a password)
  $ hygeia --wallet alice did publish-key      publish the wallet's encryption key in its DID document
  $ hygeia record add lab.json --category laboratory
  $ hygeia --json record list                  one JSON document on stdout, for scripts
  $ hygeia --wallet governance issuer accredit 0x2361… --role medical-board
  $ hygeia --wallet board issuer issue --type ClinicAccreditationCredential --subject 0x15d3… \\
      --claims @clinic.json --expires 2027-06-30 -o clinic.jwt
  $ hygeia --wallet clinic clinic accreditation --import clinic.jwt
  $ hygeia --wallet clinic clinic fetch did:ethr:0x7a69:0x3c44… --purpose Treatment -o ./records
  $ hygeia study opt-in 0x8f3c… --fhir ./my-records   share a de-identified extract with a study
  $ hygeia --wallet lab dataset pull 0x8f3c… -o ./hba1c

Environment: HYGEIA_GATEWAY_URL, HYGEIA_RPC_URL, HYGEIA_DEPLOYMENT, HYGEIA_HOME, HYGEIA_WALLET, and
HYGEIA_PASSWORD (the keystore password, for scripts).

Exit codes: 0 ok, 1 usage, 2 refused by policy, 3 a service cannot be reached, 4 sign-in / password failure,
5 not found, 6 conflict, 7 integrity failure, 8 rate-limited, 10 internal error.`,
    );

  const act: Act =
    <A extends unknown[]>(fn: (cli: Cli, ...args: A) => Promise<void>) =>
    async (...args: unknown[]) => {
      const command = args[args.length - 1] as Command;
      const cli = new Cli(Cli.globalsOf(command), io, env);
      state.cli = cli;
      try {
        await fn(cli, ...(args as A)); // commander's (...arguments, options, command)
      } finally {
        await cli.close();
      }
    };

  registerStatus(program, act);
  registerWallet(program, act);
  registerDid(program, act);
  registerRecord(program, act);
  registerConsent(program, act);
  registerEmergency(program, act);
  registerAudit(program, act);
  registerRecover(program, act);
  registerCheckIn(program, act);
  registerClinic(program, act);
  registerIssuer(program, act);
  registerStudy(program, act);
  registerDataset(program, act);
  return program;
}

/** Runs one `hygeia` invocation (`argv` without node and the script); resolves to the exit code. */
export async function run(argv: readonly string[], io: Io, env: Record<string, string | undefined>): Promise<number> {
  const state: RunState = { cli: undefined };
  const program = buildProgram(io, env, state);
  try {
    await program.parseAsync([...argv], { from: "user" });
    if (state.cli?.options.json && !state.cli.output.printed) state.cli.output.result({ ok: true }, () => "");
    return 0;
  } catch (error) {
    if (isCleanExit(error)) return 0;
    const json = state.cli?.options.json ?? argv.includes("--json");
    const verbose = state.cli?.options.verbose ?? (argv.includes("--verbose") || argv.includes("-v"));
    const described = describeError(error);
    if (json && !(state.cli?.output.printed ?? false)) {
      const { exitCode: _exitCode, ...body } = described;
      io.stdout.write(`${JSON.stringify({ error: body }, null, 2)}\n`);
    } else if (!isHelpShownForError(error)) io.stderr.write(`${errorLine(described)}\n`);
    if (verbose) io.stderr.write(`${errorDetail(error)}\n`);
    return described.exitCode;
  }
}

/** A group command run without its subcommand: commander already printed the help on stderr. */
function isHelpShownForError(error: unknown): boolean {
  return (error as { code?: unknown }).code === "commander.help";
}
