/**
 * `hygeia did …`: the wallet's did:ethr and the X25519 encryption key it publishes (PatientClient.publishKey,
 * encryptionKeysOf).
 */
import type { Command } from "commander";
import type { Cli } from "../cli.ts";
import { fields, table } from "../output.ts";
import type { Act } from "../program.ts";
import { printedDid } from "../ids.ts";
import { addressOf, didOf, encryptionKeysOf, type EncryptionKey } from "../sdk.ts";

export function registerDid(program: Command, act: Act): void {
  const did = program
    .command("did")
    .description("the wallet's DID (did:ethr) and the encryption key it publishes")
    .addHelpText(
      "after",
      `
Examples:
  $ hygeia did publish-key
  $ hygeia did show
  $ hygeia did show did:ethr:0x7a69:0x15d34aaf54267db7d7c367839aaf71a00a2c6a65`,
    );

  did
    .command("publish-key")
    .description("publish the wallet's X25519 encryption key in its DID document (one transaction, paid in ETH)")
    .option("--renew", "publish again even when the key is already current (extends its on-chain validity)")
    .addHelpText(
      "after",
      `
Senders wrap record keys to this key, and clinics seal check-in answers to it. The key is derived from the
wallet, so running this again on another device publishes the same key and sends nothing. The wallet's address
needs a little ETH for the ERC-1056 transaction (every other patient command is gasless).

Examples:
  $ hygeia did publish-key
  $ hygeia --wallet alice --json did publish-key`,
    )
    .action(
      act(async (cli: Cli, opts: { renew?: boolean }) => {
        const patient = await cli.patient();
        const published = await patient.publishKey(opts.renew ? { renew: true } : {});
        cli.output.result(
          {
            did: patient.did,
            address: patient.address,
            changed: published.changed,
            transactions: published.transactions,
            keys: published.keys.map(keyView),
          },
          (r) =>
            [
              r.changed
                ? `Published the encryption key of ${r.did} (${r.transactions.join(", ")}).`
                : `The encryption key of ${r.did} was already published: nothing sent.`,
              keysTable(r.keys),
            ].join("\n"),
        );
      }),
    );

  did
    .command("show")
    .argument("[did]", "a did:ethr or address (default: the wallet's own)")
    .description("show a DID and the X25519 keys it publishes (no password needed)")
    .addHelpText(
      "after",
      `
Examples:
  $ hygeia did show
  $ hygeia --json did show 0x9965507d1a55bcc2695c58ba16fb37d819b0a4dc`,
    )
    .action(
      act(async (cli: Cli, subject: string | undefined) => {
        const address =
          subject === undefined
            ? (await cli.wallets.entry(await cli.wallets.resolve(cli.options.wallet))).address
            : addressOf(subject, "did");
        const connection = await cli.connection();
        const keys = await encryptionKeysOf(connection, address);
        // The DID that was resolved (this chain's), in the one form every command prints.
        const did = didOf(address, connection.deployment.chainId);
        cli.output.result({ did, published: keys.length > 0, keys: keys.map(keyView) }, (r) =>
          [
            fields([
              ["did", r.did],
              ["encryption key", r.published ? "published" : "none published (hygeia did publish-key)"],
            ]),
            ...(r.keys.length > 0 ? ["", keysTable(r.keys)] : []),
          ].join("\n"),
        );
      }),
    );
}

export interface KeyView {
  id: string;
  publicKeyBase64: string;
  current: boolean;
}

export function keyView(key: EncryptionKey): KeyView {
  return {
    id: printedDid(key.id),
    publicKeyBase64: Buffer.from(key.publicKey).toString("base64"),
    current: key.current,
  };
}

function keysTable(keys: readonly KeyView[]): string {
  return table(keys, [
    { header: "key id", value: (k) => k.id },
    { header: "X25519 public key", value: (k) => k.publicKeyBase64 },
    { header: "current", value: (k) => (k.current ? "yes" : "no") },
  ]);
}
