/**
 * `hygeia wallet …`: named wallets kept as encrypted keystores under <home>/wallets (wallet-store.ts), created and
 * imported with the SDK's wallet module. Secrets never come from argv.
 */
import { Option, type Command } from "commander";
import { createWallet, deriveEncryptionKey, didOf, importWallet, type SdkWallet } from "../sdk.ts";
import { HDNodeWallet } from "ethers";
import type { Cli } from "../cli.ts";
import { CliUsageError } from "../errors.ts";
import { fields, table } from "../output.ts";
import type { Act } from "../program.ts";
import { readSecret } from "../secrets.ts";
import type { DamagedWalletEntry, WalletEntry } from "../wallet-store.ts";

export function registerWallet(program: Command, act: Act): void {
  const wallet = program
    .command("wallet")
    .description("create, import and list the wallets (encrypted keystores) this machine holds")
    .addHelpText(
      "after",
      `
Examples:
  $ hygeia wallet create alice
  $ hygeia wallet import bob --mnemonic < phrase.txt
  $ hygeia wallet list
  $ hygeia wallet default alice`,
    );

  wallet
    .command("create")
    .argument("[name]", "a name for the wallet (lowercase letters, digits, - and _)", "default")
    .description("create a new wallet (a random key with a 12-word recovery phrase) and save it encrypted")
    .option("--force", "replace an existing wallet of that name (its key is lost unless you kept its secret)")
    .option("--show-mnemonic", "with --json: put the recovery phrase in the JSON (it is always shown without --json)")
    .addHelpText(
      "after",
      `
The password comes from a prompt (typed twice) or from HYGEIA_PASSWORD. Write the recovery phrase down: it
alone restores the wallet, its keys and its records on another device (hygeia wallet import, hygeia recover).

Examples:
  $ hygeia wallet create alice
  $ HYGEIA_PASSWORD=… hygeia --json wallet create ci-bot`,
    )
    .action(
      act(async (cli: Cli, name: string, opts: { force?: boolean; showMnemonic?: boolean }) => {
        await cli.wallets.assertAvailable(name, opts.force === true);
        const created = createWallet();
        const entry = await save(cli, name, created, opts.force === true);
        const phrase = created.mnemonic?.phrase;
        const showPhrase = !cli.options.json || opts.showMnemonic === true;
        cli.output.result(
          { ...(await describe(cli, entry)), ...(showPhrase && phrase ? { mnemonic: phrase } : {}) },
          (w) =>
            [
              `Created wallet "${w.name}" (${w.address})${w.default ? ", the default wallet" : ""}.`,
              `Keystore: ${w.path}`,
              "",
              "Recovery phrase (write it down and keep it offline; it is shown only now):",
              `  ${phrase ?? "-"}`,
            ].join("\n"),
        );
      }),
    );

  wallet
    .command("import")
    .argument("[name]", "a name for the wallet", "default")
    .description("import a wallet from its recovery phrase or private key (read from a prompt, stdin or a file)")
    .addOption(new Option("--mnemonic", "the secret is a BIP-39 recovery phrase").conflicts("privateKey"))
    .addOption(new Option("--private-key", "the secret is a private key (64 hex digits)").conflicts("mnemonic"))
    .option("--from-file <path>", "read the secret from this file instead of a prompt or stdin")
    .option("--force", "replace an existing wallet of that name")
    .addHelpText(
      "after",
      `
The secret is never taken from the command line (it would land in your shell's history): it is read from a hidden
prompt in a terminal, from stdin when piped, or from --from-file. Without --mnemonic or --private-key the kind is
recognized from the secret itself.

Examples:
  $ hygeia wallet import alice --mnemonic                 (type the phrase at the prompt)
  $ hygeia wallet import bob --private-key < key.txt
  $ hygeia wallet import carol --from-file ./phrase.txt`,
    )
    .action(
      act(
        async (
          cli: Cli,
          name: string,
          opts: { mnemonic?: boolean; privateKey?: boolean; fromFile?: string; force?: boolean },
        ) => {
          const secret = await readSecret(
            { io: cli.io, env: cli.env },
            {
              message: opts.privateKey
                ? "Private key:"
                : opts.mnemonic
                  ? "Recovery phrase:"
                  : "Recovery phrase or private key:",
              ...(opts.fromFile === undefined ? {} : { fromFile: opts.fromFile }),
            },
          );
          const imported = importWallet(secret);
          const isPhrase = imported instanceof HDNodeWallet;
          if (opts.mnemonic && !isPhrase)
            throw new CliUsageError(
              "secret",
              "--mnemonic was given but the secret is a private key",
              "Drop --mnemonic, or give the recovery phrase.",
            );
          if (opts.privateKey && isPhrase)
            throw new CliUsageError(
              "secret",
              "--private-key was given but the secret is a recovery phrase",
              "Drop --private-key, or give the private key.",
            );
          const entry = await save(cli, name, imported, opts.force === true);
          cli.output.result(await describe(cli, entry), (w) =>
            [
              `Imported wallet "${w.name}" (${w.address}) from its ${isPhrase ? "recovery phrase" : "private key"}${w.default ? ", the default wallet" : ""}.`,
              `Keystore: ${w.path}`,
            ].join("\n"),
          );
        },
      ),
    );

  wallet
    .command("list")
    .description("list the wallets in <home>/wallets")
    .addHelpText(
      "after",
      `
A keystore that cannot be read (truncated, not JSON, no address or key) is listed as damaged, with its file and
why ("damaged" in --json); the other wallets work as before, and only commands using it fail (exit 7).

Examples:
  $ hygeia wallet list
  $ hygeia --json wallet list`,
    )
    .action(
      act(async (cli: Cli) => {
        const entries = await cli.wallets.list();
        const wallets = await Promise.all(entries.map((e) => ("damaged" in e ? e : describe(cli, e))));
        cli.output.result({ wallets }, (r) => walletsTable(r.wallets));
      }),
    );

  wallet
    .command("show")
    .argument("[name]", "the wallet (default: --wallet, else the default wallet)")
    .description("show a wallet's address and DID (no password needed)")
    .addHelpText(
      "after",
      `
The DID needs the chain id: from --deployment (or HYGEIA_DEPLOYMENT) when given, else from the gateway. Whether the wallet's
encryption key is published is what \`hygeia did show\` tells.

Examples:
  $ hygeia wallet show
  $ hygeia --json wallet show alice`,
    )
    .action(
      act(async (cli: Cli, name: string | undefined) => {
        const resolved = await cli.wallets.resolve(name ?? cli.options.wallet);
        const entry = await describe(cli, await cli.wallets.entry(resolved), { askGateway: true });
        cli.output.result(entry, (w) =>
          fields([
            ["name", w.name],
            ["address", w.address],
            ["did", w.did],
            ["default", w.default ? "yes" : "no"],
            ["recovery phrase", w.hasMnemonic ? "in the keystore" : "none (imported from a private key)"],
            ["keystore", w.path],
          ]),
        );
      }),
    );

  wallet
    .command("export-public")
    .argument("[name]", "the wallet (default: --wallet, else the default wallet)")
    .description(
      "print what others need to reach this wallet: address, DID, X25519 encryption key and signing key (asks the password)",
    )
    .addHelpText(
      "after",
      `
The encryption key is derived from the wallet's signature over Hygeia's fixed key-derivation message (the same key
a browser wallet derives), so the keystore is unlocked to sign it. Nothing is sent anywhere.

Examples:
  $ hygeia wallet export-public
  $ hygeia --json wallet export-public alice > alice.public.json`,
    )
    .action(
      act(async (cli: Cli, name: string | undefined) => {
        const { name: resolved, wallet: unlocked } = await cli.unlock(name);
        const keyPair = await deriveEncryptionKey(unlocked, 0);
        const entry = await describe(cli, await cli.wallets.entry(resolved), { askGateway: true });
        const publicKey = Buffer.from(keyPair.publicKey).toString("base64");
        cli.output.result(
          {
            name: entry.name,
            address: entry.address,
            did: entry.did,
            encryptionKey: { type: "X25519", publicKeyBase64: publicKey },
            // What an SD-JWT issuer binds a credential to (issuer issue --holder-key): only this wallet can present it.
            signingKey: { type: "secp256k1", publicKeyHex: unlocked.signingKey.publicKey },
          },
          (w) =>
            fields([
              ["name", w.name],
              ["address", w.address],
              ["did", w.did],
              ["X25519 key", w.encryptionKey.publicKeyBase64],
              ["signing key", w.signingKey.publicKeyHex],
            ]),
        );
      }),
    );

  wallet
    .command("default")
    .argument("<name>", "the wallet to use when --wallet is not given")
    .description("mark a wallet as the default")
    .addHelpText("after", "\nExamples:\n  $ hygeia wallet default alice")
    .action(
      act(async (cli: Cli, name: string) => {
        await cli.wallets.setDefault(name);
        cli.output.result(
          await describe(cli, await cli.wallets.entry(name)),
          (w) => `"${w.name}" (${w.address}) is now the default wallet.`,
        );
      }),
    );
}

function walletsTable(wallets: readonly ((WalletEntry & { did: string | null }) | DamagedWalletEntry)[]): string {
  if (wallets.length === 0) return "No wallets yet: create one with `hygeia wallet create <name>`.";
  const damaged = wallets.filter((w) => "damaged" in w);
  return [
    table(wallets, [
      { header: "name", value: (w) => (w.default ? `${w.name} *` : w.name) },
      { header: "address", value: (w) => ("damaged" in w ? `damaged: ${w.damaged}` : w.address) },
      { header: "phrase", value: (w) => ("damaged" in w ? undefined : w.hasMnemonic ? "yes" : "no") },
    ]),
    ...(damaged.length > 0 ? [""] : []),
    ...damaged.map(
      (w) =>
        `"${w.name}" cannot be used: restore ${w.path} from a backup, or import the wallet again (hygeia wallet import ${w.name} --force).`,
    ),
  ].join("\n");
}

async function save(cli: Cli, name: string, wallet: SdkWallet, force: boolean): Promise<WalletEntry> {
  await cli.wallets.assertAvailable(name, force);
  const password = await cli.password(`A password for wallet "${name}":`, true);
  const bar = cli.output.progress("encrypting");
  try {
    return await cli.wallets.save(name, wallet, password, { force, onProgress: (f) => bar.fraction(f) });
  } finally {
    bar.stop();
  }
}

/** A wallet as commands print it: the entry plus its DID when the chain id is known (--deployment). */
async function describe(
  cli: Cli,
  entry: WalletEntry,
  options: { askGateway?: boolean } = {},
): Promise<WalletEntry & { did: string | null }> {
  const chainId = (await cli.deployment())?.chainId ?? (options.askGateway ? await gatewayChainId(cli) : undefined);
  return { ...entry, did: chainId === undefined ? null : didOf(entry.address, chainId) };
}

/** The chain id of the gateway's deployment, or undefined (with a note) when the gateway cannot be asked. */
async function gatewayChainId(cli: Cli): Promise<number | undefined> {
  try {
    return (await cli.connection()).deployment.chainId;
  } catch (error) {
    cli.output.note(
      `(no DID: the chain is not known without the gateway (${error instanceof Error ? error.message : String(error)}); start the stack or pass --deployment)`,
    );
    return undefined;
  }
}
