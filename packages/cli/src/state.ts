/**
 * Local state per wallet, in `<home>/state/<wallet>.json`: what the wallet learnt once and must hold the gateway to
 * afterwards. Today: the audit verifier key pinned per gateway at the first `audit show --verify` (trust on first
 * use), so a gateway that later swaps its checkpoint key is caught (VERIFIER_KEY_CHANGED) instead of believed; a
 * clinic's accreditation credential and a researcher's credential, presented at each sign-in (a session is one
 * command long). Study keys are not kept here: each has its own file (commands/study.ts).
 *
 * Written like the keystores: 0600, atomically. No key is kept here.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { CliError } from "./errors.ts";
import { checkName, writeAtomic } from "./wallet-store.ts";

export interface WalletState {
  /** Audit verifier keys pinned, by gateway URL (the answering gateway's own log; and dataset pull manifests). */
  auditVerifierKeys?: Record<string, string>;
  /** Audit verifier keys pinned, by log origin: every log of gateways sharing one database (scale-out). */
  auditLogKeys?: Record<string, string>;
  /** A clinic's ClinicAccreditationCredential (a JWT VC), presented at each sign-in. */
  accreditation?: string;
  /** A researcher's ResearcherCredential (a JWT VC), presented at each sign-in of a researcher command. */
  researcherCredential?: string;
}

export class LocalState {
  readonly #path: string;
  readonly #dir: string;

  constructor(home: string, wallet: string) {
    this.#dir = join(home, "state");
    this.#path = join(this.#dir, `${checkName(wallet)}.json`);
  }

  async read(): Promise<WalletState> {
    let text: string;
    try {
      text = await readFile(this.#path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
      throw error;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
      throw new CliError(
        "STATE_DAMAGED",
        "integrity",
        `the wallet's local state ${this.#path} is damaged (not a JSON object)`,
        "Restore it from a backup, or delete it: a clinic then imports its accreditation again, and the audit verifier key is pinned anew at the next verify.",
      );
    return parsed as WalletState;
  }

  async update(change: (state: WalletState) => WalletState): Promise<void> {
    const next = change(await this.read());
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    await writeAtomic(this.#path, `${JSON.stringify(next, null, 2)}\n`);
  }
}
