/**
 * `hygeia recover`: on a new device, after `hygeia wallet import`, rebuild what the patient has from the wallet
 * alone: the keys (derived from the wallet's signature; the key index found from the DID document), the record list
 * (the sealed manifest, opened with those keys), the live consents. Nothing is read from this machine.
 */
import type { Command } from "commander";
import type { Cli } from "../cli.ts";
import { fields } from "../output.ts";
import type { Act } from "../program.ts";
import { sameBytes } from "../bytes.ts";
import { recordsTable } from "./record.ts";

export function registerRecover(program: Command, act: Act): void {
  program
    .command("recover")
    .description("rebuild your keys, record list and consents on this device from the wallet alone")
    .addHelpText(
      "after",
      `
Import the wallet from its recovery phrase first; everything else comes from the chain and IPFS.

Examples:
  $ hygeia wallet import laptop --mnemonic
  $ hygeia --wallet laptop recover
  $ hygeia --json recover`,
    )
    .action(
      act(async (cli: Cli) => {
        const patient = await cli.patient();
        const [published] = await patient.publishedKeys();
        const records = await patient.records.list();
        const consents = await patient.consent.list({ cids: records.map((r) => r.cid) });
        const result = {
          address: patient.address,
          did: patient.did,
          keyIndex: patient.keyIndex,
          encryptionKey: {
            publicKeyBase64: Buffer.from(patient.keys.encryption.publicKey).toString("base64"),
            published: published !== undefined && sameBytes(published.publicKey, patient.keys.encryption.publicKey),
          },
          records,
          consents: consents.length,
        };
        cli.output.result(result, (r) =>
          [
            fields([
              ["did", r.did],
              [
                "encryption key",
                `derived (key index ${r.keyIndex}), ${r.encryptionKey.published ? "matches the published key" : "not published yet: run `hygeia did publish-key`"}`,
              ],
              ["records", r.records.length],
              ["live consents", r.consents],
            ]),
            ...(r.records.length > 0 ? ["", recordsTable(r.records)] : []),
          ].join("\n"),
        );
      }),
    );
}
