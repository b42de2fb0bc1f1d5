/**
 * What every command gets: the global options resolved (flags, then HYGEIA_* variables, then defaults), the output,
 * the wallet store, and lazily a connection to the gateway and the chain and an unlocked wallet. Commands stay thin:
 * they parse their arguments, call the SDK, and print what it returned.
 */
import { mkdir, readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import {
  ClinicClient,
  HygeiaConnection,
  IssuerClient,
  IssuerStateFile,
  LOCAL_GATEWAY_URL,
  LOCAL_RPC_URL,
  PatientClient,
  ResearcherClient,
  deriveEncryptionKey,
  type Deployment,
} from "./sdk.ts";
import { LocalState } from "./state.ts";
import { CliUsageError } from "./errors.ts";
import { Output, type Io } from "./output.ts";
import { readPassword } from "./secrets.ts";
import { WalletStore, type UnlockedWallet } from "./wallet-store.ts";

export interface GlobalOptions {
  json: boolean;
  verbose: boolean;
  gateway: string;
  rpc: string;
  home: string;
  wallet: string | undefined;
  deployment: string | undefined;
}

export const DEFAULTS = {
  gateway: LOCAL_GATEWAY_URL,
  rpc: LOCAL_RPC_URL,
  home: join(homedir(), ".hygeia"),
};

export class Cli {
  readonly options: GlobalOptions;
  readonly output: Output;
  readonly io: Io;
  readonly env: Record<string, string | undefined>;
  readonly wallets: WalletStore;
  /** The wallet unlocked by this command, once it is. */
  activeWallet: string | undefined;
  /** Its keys, once unlocked (a check-in imports the DID key into an identity agent). */
  unlockedWallet: UnlockedWallet | undefined;
  #connection: Promise<HygeiaConnection> | undefined;
  readonly #cleanups: (() => Promise<void> | void)[] = [];

  constructor(options: GlobalOptions, io: Io, env: Record<string, string | undefined>) {
    this.options = options;
    this.io = io;
    this.env = env;
    this.output = new Output(io, { json: options.json, verbose: options.verbose });
    this.wallets = new WalletStore(resolve(options.home));
  }

  /** The global options of `command` (flags win over HYGEIA_* variables, which win over defaults). */
  static globalsOf(command: Command): GlobalOptions {
    const all = command.optsWithGlobals<Record<string, unknown>>();
    return {
      json: all["json"] === true,
      verbose: all["verbose"] === true,
      gateway: stringOr(all["gateway"], DEFAULTS.gateway),
      rpc: stringOr(all["rpc"], DEFAULTS.rpc),
      home: stringOr(all["home"], DEFAULTS.home),
      wallet: typeof all["wallet"] === "string" ? all["wallet"] : undefined,
      deployment: typeof all["deployment"] === "string" ? all["deployment"] : undefined,
    };
  }

  /** Runs `fn` when the command ends (connections closed, agents stopped). */
  onClose(fn: () => Promise<void> | void): void {
    this.#cleanups.push(fn);
  }

  async close(): Promise<void> {
    for (const fn of this.#cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (error) {
        this.output.debug(`while closing: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  /** The keystore password (prompt, or HYGEIA_PASSWORD). */
  password(message: string, confirm = false): Promise<string> {
    return readPassword({ io: this.io, env: this.env }, { message, confirm });
  }

  /** The wallet this command acts as (`name`, else --wallet / HYGEIA_WALLET, else the default), unlocked. */
  async unlock(name?: string): Promise<{ name: string; wallet: UnlockedWallet }> {
    const resolved = await this.wallets.resolve(name ?? this.options.wallet);
    const password = await this.password(`Password of wallet "${resolved}":`);
    const bar = this.output.progress("unlocking");
    try {
      const wallet = await this.wallets.unlock(resolved, password, (fraction) => bar.fraction(fraction));
      this.activeWallet = resolved;
      this.unlockedWallet = wallet;
      return { name: resolved, wallet };
    } finally {
      bar.stop();
    }
  }

  /** The wallet as a patient: unlocked, signed in at the gateway (SIWE), its keys derived; closed at the end. */
  async patient(): Promise<PatientClient> {
    const { name, wallet } = await this.unlock();
    const connection = await this.connection();
    this.output.debug(`signing in as wallet "${name}" (${wallet.address}) at ${connection.transport.url}`);
    const client = await PatientClient.connect({ signer: wallet, connection });
    this.onClose(() => client.close());
    return client;
  }

  /**
   * The wallet as an issuer (governance, a medical board, an insurer, a clinic issuing records): its status-list
   * state is kept in `<home>/state/<wallet>.issuer.json` between runs.
   */
  async issuer(): Promise<IssuerClient> {
    const { name, wallet } = await this.unlock();
    const connection = await this.connection();
    const state = join(this.wallets.home, "state", `${name}.issuer.json`);
    await mkdir(dirname(state), { recursive: true, mode: 0o700 });
    const client = await IssuerClient.connect({ signer: wallet, connection, state: new IssuerStateFile(state) });
    this.onClose(() => client.close());
    return client;
  }

  /**
   * The wallet as a clinic: signed in, its did:ethr key in an in-memory identity agent, its X25519 key derived from
   * the wallet like a patient's (so `hygeia did publish-key` publishes the same key), and its accreditation (saved
   * by `hygeia clinic accreditation --import`) presented when it has one.
   */
  async clinic(options: { present?: boolean } = {}): Promise<{ client: ClinicClient; state: LocalState }> {
    const { name, wallet } = await this.unlock();
    const connection = await this.connection();
    const state = new LocalState(this.wallets.home, name);
    const accreditation = (await state.read()).accreditation;
    const client = await ClinicClient.connect({
      signer: wallet,
      connection,
      encryptionKeys: [await deriveEncryptionKey(wallet, 0)],
    });
    this.onClose(() => client.close());
    if (options.present !== false && accreditation !== undefined) await client.presentAccreditation(accreditation);
    return { client, state };
  }

  /**
   * The wallet as a researcher: signed in, its did:ethr key in an in-memory identity agent, and its
   * ResearcherCredential (saved by `hygeia study credential --import`) presented when it has one.
   */
  async researcher(options: { present?: boolean } = {}): Promise<{ client: ResearcherClient; state: LocalState }> {
    const { name, wallet } = await this.unlock();
    const connection = await this.connection();
    const state = new LocalState(this.wallets.home, name);
    const credential = (await state.read()).researcherCredential;
    const client = await ResearcherClient.connect({ signer: wallet, connection });
    this.onClose(() => client.close());
    if (options.present !== false && credential !== undefined) await client.presentCredential(credential);
    return { client, state };
  }

  /** The deployment from --deployment / HYGEIA_DEPLOYMENT, when one was given. */
  async deployment(): Promise<Deployment | undefined> {
    const file = this.options.deployment;
    if (file === undefined) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(file, "utf8"));
    } catch (error) {
      throw new CliUsageError(
        "--deployment",
        `cannot read ${file} as JSON (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
        "Give the deployment file the stack wrote (deployments/<network>.json), or leave the option out to ask the gateway.",
      );
    }
    const d = parsed as Partial<Deployment> | null;
    if (
      typeof d?.chainId !== "number" ||
      typeof d.contracts?.ConsentRegistry !== "string" ||
      typeof d.contracts.EthereumDIDRegistry !== "string"
    )
      throw new CliUsageError(
        "--deployment",
        `${file} is not a Hygeia deployment (no chainId or contracts)`,
        "Give the deployment file the stack wrote (deployments/<network>.json).",
      );
    return d as Deployment;
  }

  /** The gateway and the chain, opened once per command and closed at its end. */
  connection(): Promise<HygeiaConnection> {
    this.#connection ??= (async () => {
      const deployment = await this.deployment();
      const connection = await HygeiaConnection.open({
        gatewayUrl: this.options.gateway,
        rpcUrl: this.options.rpc,
        ...(deployment ? { deployment } : {}),
      });
      this.onClose(() => connection.close());
      return connection;
    })();
    return this.#connection;
  }
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === "string" && value !== "" ? value : fallback;
}
