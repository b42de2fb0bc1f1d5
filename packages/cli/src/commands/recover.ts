/**
 * `hygeia recover`: on a new device, after `hygeia wallet import`, rebuild what the patient has from the wallet
 * alone: the keys (derived from the wallet's signature; the key index found from the DID document), the record list
 * (the SDK's records.recover(): the list anchored on chain, merged into the gateway's, the records a gateway lost
 * registered again), the live consents. Nothing is read from this machine; safe to run again at any time.
 */
import type { Command } from "commander";
import type { Cli } from "../cli.ts";
import { fields } from "../output.ts";
import type { Act } from "../program.ts";
import { sameBytes } from "../bytes.ts";
import { recordsTable } from "./record.ts";
import type { RecoveryReport } from "../sdk.ts";

export function registerRecover(program: Command, act: Act): void {
  program
    .command("recover")
    .description("rebuild your keys, record list and consents on this device from the wallet alone")
    .addHelpText(
      "after",
      `
Import the wallet from its recovery phrase first; everything else comes from the chain and IPFS. The record list
is read from its anchor on chain, so this also restores a gateway that lost its database: records it no longer
knew are registered again (wrapped to you and to the grantees whose consent covers them now). Records whose
encrypted content this gateway does not hold are listed as unavailable.

Examples:
  $ hygeia wallet import laptop --mnemonic
  $ hygeia --wallet laptop recover
  $ hygeia --json recover`,
    )
    .action(
      act(async (cli: Cli) => {
        const patient = await cli.patient();
        const [published] = await patient.publishedKeys();
        const recovery = await patient.records.recover();
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
          recovery,
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
              ["record list on chain", anchorLine(r.recovery)],
              ["restored here", restoredLine(r.recovery)],
              ["live consents", r.consents],
            ]),
            ...r.recovery.unavailable.map((u) => `unavailable: ${u.cid} (${u.code}: ${u.reason})`),
            ...(r.records.length > 0 ? ["", recordsTable(r.records)] : []),
          ].join("\n"),
        );
      }),
    );
}

function anchorLine(recovery: RecoveryReport): string {
  const found =
    recovery.anchoredVersion === undefined ? "none anchored before" : `version ${recovery.anchoredVersion} found`;
  const { anchor } = recovery;
  if (anchor.status === "anchored") return `${found}; version ${anchor.version} anchored now`;
  if (anchor.status === "current") return anchor.version === 0 ? found : `${found}; up to date`;
  if (anchor.status === "behind")
    return `${found}; the chain anchors version ${anchor.anchoredVersion}, written meanwhile: run hygeia recover again`;
  return `${found}; not anchored now (${anchor.code}): run hygeia recover again later`;
}

function restoredLine(recovery: RecoveryReport): string {
  return `${recovery.relisted} listed again, ${recovery.reregistered} registered again at this gateway, ${recovery.unavailable.length} unavailable`;
}
