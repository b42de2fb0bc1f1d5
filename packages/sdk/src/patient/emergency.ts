/**
 * The patient's emergency (break-glass) grantees.
 *
 * Rules (the ConsentRegistry's, chain README "Break-glass"):
 * - A registration names the scopes the grantee may open and the length of ONE window (at most 7 days) that its first
 *   `breakGlass` opens; after that window it cannot break the glass again until the patient registers it again. Any
 *   change (a new registration, a removal) closes every window it had open.
 * - The chain stores only a Merkle root of the named ids. The wallet registers a blinded card
 *   (`blindEmergencyScopes`: the ids plus one random id that covers nothing), so an observer cannot test subsets of
 *   the patient's ids against the root; the grantee needs the card (`card`) to break the glass: hand it over with the
 *   registration (an emergency card in the clinic's system).
 * - Registering wraps the patient's existing records in those scopes to the grantee in advance (sharing), so a
 *   break-glass release has a key to release; the gateway still releases nothing before the glass is broken.
 * - Gasless by default (a signed `EmergencyGrantee` message the gateway relays); `direct` sends it from the wallet.
 *   The removal is always relayable: nothing the grantee does can make the patient's signed removal stale.
 *
 * Browser-safe: no `node:*` import.
 */
import {
  ConsentRegistryClient,
  blindEmergencyScopes,
  emergencyScopes,
  signEmergencyGrantee,
  signedConsentToJson,
} from "@hygeia/chain/browser";
import type { Signer } from "ethers";
import { HygeiaSdkError, SdkInputError } from "../errors.ts";
import type { PatientContext, RecordSharing } from "./context.ts";
import {
  chainCall,
  checkMode,
  nowSeconds,
  parseDuration,
  parseGrantee,
  resolveScopes,
  sendingSigner,
  type ConsentMode,
  type ConsentScope,
} from "./consent.ts";

/** The longest break-glass window a registration may allow: 7 days. */
export const MAX_EMERGENCY_WINDOW_SECONDS = 604_800;
const SIGNATURE_LIFETIME_SECONDS = 600;

export interface EmergencyAddOptions {
  /** The emergency grantee (an ER, a GP on call): did:ethr or address. */
  grantee: string;
  /** Canonical scopes (or this wallet's keyed ids) the grantee may open in an emergency, 1 to 255. */
  scopes: readonly string[];
  /** How long the single window lasts once opened: seconds or a duration (`"4h"`, `"2d"`); at most 7 days. */
  window: number | string;
  mode?: ConsentMode;
}

export interface EmergencyRegistrationResult {
  mode: ConsentMode;
  grantee: string;
  windowSeconds: number;
  /** The scopes named (labels where known). */
  scopes: ConsentScope[];
  /**
   * The registered card: the ids plus the blinding id, sorted as registered. The grantee needs exactly this list to
   * break the glass (`ConsentRegistryClient.breakGlass(patient, id, { scopes: card })`).
   */
  card: string[];
  /** The Merkle root the chain holds. */
  scopesRoot: string;
  transaction: string;
  /** How many existing records were wrapped to the grantee. */
  shared: number;
}

export type EmergencyStatus = "ready" | "open" | "used";

export interface EmergencyGrantee {
  grantee: string;
  windowSeconds: number;
  /**
   * `ready`: registered, the glass not broken yet; `open`: broken, the window runs until `windowEnd`; `used`: the
   * window is over (the grantee cannot break the glass again until registered again).
   */
  status: EmergencyStatus;
  windowEnd: Date | undefined;
  scopesRoot: string;
  epoch: number;
}

export class PatientEmergency {
  readonly #context: PatientContext;
  readonly #sharing: RecordSharing;

  constructor(context: PatientContext, sharing: RecordSharing) {
    this.#context = context;
    this.#sharing = sharing;
  }

  /**
   * Registers `grantee` as an emergency grantee for `scopes` (replacing any earlier registration of it, which closes
   * its open windows), then wraps the patient's existing records in those scopes to it.
   */
  async add(options: EmergencyAddOptions): Promise<EmergencyRegistrationResult> {
    if (typeof options !== "object" || options === null)
      throw new SdkInputError("options", "expected { grantee, scopes, window }");
    const chainId = this.#context.connection.deployment.chainId;
    const grantee = parseGrantee(options.grantee, chainId);
    if (grantee.toLowerCase() === this.#context.address.toLowerCase())
      throw new SdkInputError("grantee", "is the patient itself", "Name the emergency service or doctor to register.");
    const scopes = resolveScopes(options.scopes, this.#context);
    const windowSeconds = parseDuration(options.window, "window");
    if (windowSeconds > MAX_EMERGENCY_WINDOW_SECONDS)
      throw new SdkInputError("window", `at most 7 days (604800 s), got ${windowSeconds} s`);
    const mode = checkMode(options.mode);
    const card = await chainCall(this.#context, async () => blindEmergencyScopes(scopes.map((s) => s.id)));
    const registry = this.#registry();
    let transaction: string;
    if (mode === "direct") {
      const tx = await chainCall(this.#context, () =>
        registry
          .connect(sendingSigner(this.#context))
          .setEmergencyGrantee(grantee, { maxDurationSeconds: windowSeconds, scopes: card }),
      );
      transaction = tx.hash;
    } else {
      const patient = this.#context.address;
      const typed = await chainCall(this.#context, () =>
        registry.nextEmergencyGranteeTypedData({
          patient,
          grantee,
          maxDurationSeconds: windowSeconds,
          scopes: card,
          deadline: nowSeconds() + SIGNATURE_LIFETIME_SECONDS,
        }),
      );
      const signed = await chainCall(this.#context, () =>
        signEmergencyGrantee(this.#signer(), typed.domain, { ...typed.message, patient }),
      );
      transaction = await this.#relay(signedConsentToJson(signed));
    }
    const tree = emergencyScopes(card); // sorted, as registered
    const result: EmergencyRegistrationResult = {
      mode,
      grantee,
      windowSeconds,
      scopes,
      card: [...tree.scopeIds],
      scopesRoot: tree.root.toLowerCase(),
      transaction,
      shared: 0,
    };
    try {
      result.shared = await this.#sharing.shareScopesWith(
        grantee,
        scopes.map((s) => s.id),
      );
    } catch (error) {
      throw new EmergencySharingError(result, error);
    }
    return result;
  }

  /** Removes `grantee`'s registration: every window it has open closes at once. */
  async remove(options: { grantee: string; mode?: ConsentMode }): Promise<{ grantee: string; transaction: string }> {
    const grantee = parseGrantee(options?.grantee, this.#context.connection.deployment.chainId);
    const mode = checkMode(options?.mode);
    const registry = this.#registry();
    if (mode === "direct") {
      const tx = await chainCall(this.#context, () =>
        registry.connect(sendingSigner(this.#context)).removeEmergencyGrantee(grantee),
      );
      return { grantee, transaction: tx.hash };
    }
    const patient = this.#context.address;
    const typed = await chainCall(this.#context, () =>
      registry.nextEmergencyGranteeTypedData({
        patient,
        grantee,
        maxDurationSeconds: 0,
        deadline: nowSeconds() + SIGNATURE_LIFETIME_SECONDS,
      }),
    );
    const signed = await chainCall(this.#context, () =>
      signEmergencyGrantee(this.#signer(), typed.domain, { ...typed.message, patient }),
    );
    return { grantee, transaction: await this.#relay(signedConsentToJson(signed)) };
  }

  /**
   * The patient's emergency grantees still registered, read from the chain (its `EmergencyGranteeSet` events since
   * the deployment, then each grantee's current registration). The scopes of a registration are not on chain (only
   * their root): keep each `add` result's card to know them.
   */
  async list(): Promise<EmergencyGrantee[]> {
    const registry = this.#registry();
    const patient = this.#context.address;
    const { deployment } = this.#context.connection;
    const events = await chainCall(this.#context, () =>
      registry.consentEventsOf(patient, { fromBlock: deployment.deployedAt.block }),
    );
    const grantees = [...new Set(events.filter((e) => e.type === "EmergencyGranteeSet").map((e) => e.grantee))];
    const registrations = await chainCall(this.#context, () =>
      Promise.all(grantees.map((g) => registry.emergencyGranteeOf(patient, g))),
    );
    const now = BigInt(nowSeconds());
    return registrations.flatMap((r, i): EmergencyGrantee[] =>
      r.maxDurationSeconds === 0
        ? []
        : [
            {
              grantee: grantees[i]!,
              windowSeconds: r.maxDurationSeconds,
              status: r.windowEnd === 0n ? "ready" : r.windowEnd > now ? "open" : "used",
              windowEnd: r.windowEnd === 0n ? undefined : new Date(Number(r.windowEnd) * 1000),
              scopesRoot: r.scopesRoot,
              epoch: r.epoch,
            },
          ],
    );
  }

  #registry(): ConsentRegistryClient {
    return new ConsentRegistryClient(
      this.#context.connection.deployment.contracts.ConsentRegistry,
      this.#context.connection.provider,
    );
  }

  #signer(): Signer {
    return this.#context.signer as unknown as Signer;
  }

  async #relay(signed: Record<string, string | number>): Promise<string> {
    const answer = await this.#context.connection.transport.request<{
      status: string;
      hash?: string;
      problem?: { code: string; detail: string };
    }>("POST", "/v1/consents/emergency-grantees", { json: { signed } });
    if (answer.status !== "mined" || !answer.hash)
      throw new HygeiaSdkError(
        answer.problem?.code ?? "RELAY_FAILED",
        "conflict",
        `the emergency registration was not mined: ${answer.problem?.detail ?? answer.status}`,
        { hint: "List the emergency grantees and register again." },
      );
    return answer.hash;
  }
}

/** The registration stands on chain, but wrapping existing records to the grantee failed. */
export class EmergencySharingError extends HygeiaSdkError {
  readonly registered: EmergencyRegistrationResult;
  constructor(registered: EmergencyRegistrationResult, cause: unknown) {
    const inner = cause instanceof HygeiaSdkError ? cause : undefined;
    super(
      inner?.code ?? "SHARING_FAILED",
      inner?.kind ?? "internal",
      `${registered.grantee} is registered for emergencies (${registered.transaction}), but sharing existing ` +
        `records failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        hint:
          "The registration holds, but a break-glass would find no key for existing records: share them again " +
          "(records.shareScopesWith)" +
          (inner ? `: ${inner.hint}` : "."),
        cause,
      },
    );
    this.registered = registered;
  }
}
