/**
 * Local state per wallet, in `<home>/state/<wallet>.json`: what the wallet learnt once and must hold the gateway to
 * afterwards. Today: the audit verifier key pinned per gateway at the first `audit show --verify` (trust on first
 * use), so a gateway that later swaps its checkpoint key is caught (VERIFIER_KEY_CHANGED) instead of believed; a
 * clinic's accreditation credential, presented at each sign-in (a session is one command long).
 *
 * Written like the keystores: 0600, atomically. No key is kept here.
 */
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { checkName, writeAtomic } from "./wallet-store.ts";

export interface WalletState {
  /** Audit verifier keys pinned, by gateway URL. */
  auditVerifierKeys?: Record<string, string>;
  /** A clinic's ClinicAccreditationCredential (a JWT VC), presented at each sign-in. */
  accreditation?: string;
}

export class LocalState {
  readonly #path: string;
  readonly #dir: string;

  constructor(home: string, wallet: string) {
    this.#dir = join(home, "state");
    this.#path = join(this.#dir, `${checkName(wallet)}.json`);
  }

  async read(): Promise<WalletState> {
    try {
      const parsed = JSON.parse(await readFile(this.#path, "utf8")) as unknown;
      return typeof parsed === "object" && parsed !== null ? (parsed as WalletState) : {};
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
      throw error;
    }
  }

  async update(change: (state: WalletState) => WalletState): Promise<void> {
    const next = change(await this.read());
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    await writeAtomic(this.#path, `${JSON.stringify(next, null, 2)}\n`);
  }
}
