/**
 * The patient's consent: grant, revoke, list and export, from the patient's wallet.
 *
 * Rules:
 * - Nothing is signed before everything is checked: the grantee, every scope, the purpose and the expiry are
 *   validated first, and a bad one is an `SdkInputError` naming it (the wallet never shows a prompt for a grant that
 *   cannot succeed).
 * - The chain sees ids only: scopes are the patient's keyed ids (`keys.scopes.id`), computed here in the wallet; a
 *   canonical string never leaves it. Only this wallet turns ids back into labels (`list`, `exportFhir`).
 * - Gasless by default: the wallet signs ONE EIP-712 `ConsentBatch` naming every scope (its items carry each slot's
 *   current version) and the gateway relays it as one `consentBatchBySig` transaction (`relay`, `POST
 *   /v1/consents/batches`): a grant or revoke of n scopes is one prompt, up to MAX_RELAY_BATCH scopes (more take one
 *   signature per MAX_RELAY_BATCH). The batch applies all or nothing. `direct` sends `grantBatch` (a revoke: one
 *   `revoke` per scope) from the wallet, paid in ETH.
 * - A grant is done when a release can use it: after the transaction is mined the gateway's consent listing is polled
 *   (bounded) until its indexer lists every granted slot (a revoke: until none is listed); a timeout is a typed
 *   `ConsentNotIndexedError` carrying the transaction hashes, never a silent return.
 * - A grant covers existing records: once indexed, `sharing.shareScopesWith` wraps their keys to the grantee. If
 *   that fails, the consent stands and the error (`ConsentSharingError`) says so and carries what was granted.
 * - Revocation is the contract's tombstone: a revoke always writes, so every outstanding signature for the slot is
 *   dead too. What a grantee already decrypted cannot be un-seen.
 *
 * Browser-safe: no `node:*` import.
 */
import { computeAddress, getAddress, isAddress, type Signer } from "ethers";
import {
  ConsentRegistryClient,
  parsePurpose,
  purposeLabel,
  purposeName,
  signConsentBatch,
  signedConsentBatchToJson,
  type ConsentEvent,
  type GrantablePurpose,
  type KnownScopeValues,
  type PatientScopes,
  type Purpose,
  type PurposeName,
} from "@hygeia/chain/browser";
import { HygeiaSdkError, SdkInputError, ServiceUnreachableError, type ErrorKind } from "../errors.ts";
import { walletSender } from "../session.ts";
import type { PatientContext, RecordSharing } from "./context.ts";

// --- public shapes ------------------------------------------------------------------------------

/** The ConsentRegistry's purposes by name. `Emergency` is opened only by break-glass (see `PatientEmergency`). */
export type ConsentPurpose = PurposeName;

/**
 * `relay` (default): the wallet signs EIP-712 messages and the gateway sends them (the patient needs no ETH).
 * `direct`: the wallet sends the transaction itself and pays for gas (its signer must be able to send).
 */
export type ConsentMode = "relay" | "direct";

/**
 * When a consent ends: a `Date`; a number of seconds from now; or a string: a duration (`"30d"`, `"12h"`, `"90m"`,
 * `"2w"`, `"1y"`, `"3600s"`) or an ISO 8601 date (`"2027-01-31"`, `"2027-01-31T12:00:00Z"`). At most 10 years ahead.
 */
export type ConsentExpiry = Date | number | string;

export interface GrantOptions {
  /** The grantee: a did:ethr (`did:ethr:0x7a69:0x…`) or an Ethereum address. */
  grantee: string;
  /**
   * Canonical scopes (`"category:laboratory"`, `"fhir:Observation"`, `"record:<cid>"`, `"study:<id>"`), or keyed ids
   * this wallet computed (bytes32 0x-hex, as `list()` shows an id it cannot label).
   */
  scopes: readonly string[];
  purpose: ConsentPurpose;
  expires: ConsentExpiry;
  mode?: ConsentMode;
  /** How long to wait for the gateway's indexer to list the grant (default 30 s). */
  waitTimeoutMs?: number;
}

export interface RevokeOptions {
  grantee: string;
  scopes: readonly string[];
  purpose: ConsentPurpose;
  mode?: ConsentMode;
  /** How long to wait for the gateway's indexer to drop the consents (default 30 s). */
  waitTimeoutMs?: number;
}

/** A scope as the wallet knows it: its keyed id and, when the wallet can tell, its canonical label. */
export interface ConsentScope {
  /** The bytes32 id the chain holds (lowercase 0x-hex). */
  id: string;
  /** The canonical scope (`"category:laboratory"`), or undefined for an id this wallet cannot label. */
  scope: string | undefined;
}

export interface GrantResult {
  mode: ConsentMode;
  /** EIP-55 checksummed. */
  grantee: string;
  purpose: ConsentPurpose;
  /** When the consent ends (whole seconds). */
  expiry: Date;
  scopes: ConsentScope[];
  /** The transaction hashes: one per batch of up to MAX_RELAY_BATCH scopes when relayed, one when direct. */
  transactions: string[];
  /** How many existing records were wrapped to the grantee. */
  shared: number;
}

export interface RevokeResult {
  mode: ConsentMode;
  grantee: string;
  purpose: ConsentPurpose;
  scopes: ConsentScope[];
  transactions: string[];
}

export type ConsentStatus = "active" | "expired";

export interface ListedConsent {
  /** Lowercase, as the gateway lists it. */
  grantee: string;
  /** The address that signed it: the patient's own, or a linked pairwise consent account. */
  consentAddress: string;
  /** The bytes32 scope id. */
  id: string;
  /** Its canonical label when this wallet can tell (the vocabulary, plus `cids` / `studies` given to `list`). */
  scope: string | undefined;
  purpose: ConsentPurpose;
  /** Wording for people ("Public health", "Emergency (break-glass)"). */
  purposeLabel: string;
  expiry: Date;
  version: number;
  /** `active` until its expiry; the gateway lists live consents only, so `expired` means it ended just now. */
  status: ConsentStatus;
}

/** A FHIR R4 Consent as the gateway exports it (only the members the SDK reads are typed). */
export interface FhirConsent {
  resourceType: "Consent";
  status: string;
  provision?: {
    type?: string;
    period?: { start?: string; end?: string };
    extension?: { url: string; valueString?: string }[];
    class?: { system?: string; code?: string }[];
    code?: { text?: string }[];
    [member: string]: unknown;
  };
  [member: string]: unknown;
}

/** A FHIR R4 Bundle (type collection) of Consent resources. */
export interface FhirConsentBundle {
  resourceType: "Bundle";
  type: "collection";
  timestamp?: string;
  entry?: { resource?: FhirConsent }[];
  [member: string]: unknown;
}

export interface ExportFhirOptions extends KnownScopeValues {
  /** Fill each provision's data class from this wallet's labels (default true); false: the gateway's bundle as is. */
  labels?: boolean;
}

/** The gateway's indexer did not list a change in time; the change is on chain (`transactions`). */
export class ConsentNotIndexedError extends HygeiaSdkError {
  readonly transactions: readonly string[];
  constructor(what: "grant" | "revoke", transactions: readonly string[], waitedMs: number, cause?: unknown) {
    super(
      "CONSENT_NOT_INDEXED",
      "unavailable",
      `the ${what} is mined (${transactions.join(", ")}), but the gateway had not ${
        what === "grant" ? "listed" : "dropped"
      } it after ${Math.round(waitedMs / 1000)} s`,
      {
        hint:
          "The change is on chain; the gateway's view lags (its indexer waits for confirmations, or cannot reach the " +
          "chain). Wait a few seconds and list consents again; key releases follow the same view.",
        cause,
      },
    );
    this.transactions = transactions;
  }
}

/** The grant stands on chain, but wrapping existing records to the grantee failed (`granted` says what stands). */
export class ConsentSharingError extends HygeiaSdkError {
  readonly granted: GrantResult;
  constructor(granted: GrantResult, cause: unknown) {
    const inner = cause instanceof HygeiaSdkError ? cause : undefined;
    super(
      inner?.code ?? "SHARING_FAILED",
      inner?.kind ?? "internal",
      `consent granted to ${granted.grantee} (${granted.transactions.join(", ")}), but sharing existing records ` +
        `failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        hint:
          "The consent holds; only existing records are not readable by the grantee yet. Share them again " +
          "(records.shareScopesWith) once the cause is fixed" +
          (inner ? `: ${inner.hint}` : "."),
        cause,
      },
    );
    this.granted = granted;
  }
}

/**
 * A grant or revoke of more than MAX_RELAY_BATCH scopes is relayed as several signed batches: some were mined, a
 * later one failed (each batch is all or nothing). The applied scopes of a grant are shared like a whole grant's:
 * their existing records are wrapped to the grantee before this is thrown (`shared`, or `sharingError`).
 */
export class ConsentPartlyAppliedError extends HygeiaSdkError {
  /** The scopes whose transaction was mined. */
  readonly applied: readonly ConsentScope[];
  /** The scopes that failed, with the gateway's problem code. */
  readonly failed: readonly (ConsentScope & { code: string; detail: string })[];
  readonly transactions: readonly string[];
  /** A grant: how many existing records in the applied scopes were wrapped to the grantee. */
  readonly shared: number;
  /** A grant: why wrapping the applied scopes' existing records failed, when it did (their consent stands). */
  readonly sharingError: unknown;
  constructor(
    what: "grant" | "revoke",
    applied: ConsentScope[],
    failed: (ConsentScope & { code: string; detail: string })[],
    transactions: string[],
    options: { cause?: unknown; shared?: number; sharingError?: unknown } = {},
  ) {
    const name = (s: ConsentScope) => s.scope ?? s.id;
    const unshared = options.sharingError !== undefined;
    super(
      failed[0]?.code ?? "RELAY_FAILED",
      "conflict",
      `${applied.length} of ${applied.length + failed.length} ${what}s were mined; ${failed
        .map((f) => `${name(f)}: ${f.detail} (${f.code})`)
        .join("; ")}` +
        (unshared
          ? `; sharing the applied scopes' existing records failed: ${
              options.sharingError instanceof Error ? options.sharingError.message : String(options.sharingError)
            }`
          : ""),
      {
        hint:
          `Read the consents (list) and ${what} the failed scopes again.` +
          (unshared ? " Then share the applied scopes' records again (records.shareScopesWith)." : ""),
        cause: options.cause,
      },
    );
    this.applied = applied;
    this.failed = failed;
    this.transactions = transactions;
    this.shared = options.shared ?? 0;
    this.sharingError = options.sharingError;
  }
}

// --- the class ------------------------------------------------------------------------------------

/** Most grants and revokes one signed batch carries (the gateway's MAX_RELAY_BATCH): one signature each. */
export const MAX_RELAY_BATCH = 32;
/** How long a relayed signature may wait to be sent (seconds). */
const SIGNATURE_LIFETIME_SECONDS = 600;
const DEFAULT_WAIT_MS = 30_000;
const POLL_MS = 250;
const MAX_SCOPES_PER_CALL = 256;

/** The gateway's answer to `POST /v1/consents/batches`. */
interface BatchRelayResult {
  kind: "consent-batch";
  consentAddress: string;
  grants: number;
  revokes: number;
  hash: string;
  blockNumber: number;
  status: "mined";
}

interface ConsentListing {
  patient: string;
  consentAddresses: string[];
  consents: {
    consentAddress: string;
    grantee: string;
    scope: string;
    purpose: number;
    purposeLabel: string;
    expiry: number;
    version: number;
  }[];
}

/** A slot and the version the indexer must show (grant) or must stop showing (revoke). */
interface Slot {
  scope: ConsentScope;
  /** The version the slot has once the change is mined. */
  version: number;
}

export class PatientConsent {
  readonly #context: PatientContext;
  readonly #sharing: RecordSharing;

  constructor(context: PatientContext, sharing: RecordSharing) {
    this.#context = context;
    this.#sharing = sharing;
  }

  /**
   * Grants `grantee` consent for each scope under `purpose` until `expires`, waits until the gateway lists it, then
   * wraps the patient's existing records in those scopes to the grantee.
   */
  async grant(options: GrantOptions): Promise<GrantResult> {
    const checked = this.#checkGrant(options);
    const { grantee, scopes, purpose, expiry, mode } = checked;
    const registry = this.#registry();
    let transactions: string[];
    let slots: Slot[];
    if (mode === "direct") {
      const sender = this.#sendingRegistry(registry);
      const tx = await chainCall(this.#context, () =>
        sender.grantBatch(scopes.map((s) => ({ grantee, scope: s.id, purpose, expiry }))),
      );
      transactions = [tx.hash];
      slots = slotsFromEvents(scopes, tx.events, "ConsentGranted");
    } else {
      const relayed = await this.#relayBatches(registry, "grant", scopes, (chunk) => ({
        grants: chunk.map((s) => ({ grantee, scope: s.id, purpose, expiry })),
      })).catch((error: unknown) => this.#sharePartlyApplied(grantee, error));
      transactions = relayed.transactions;
      slots = relayed.slots;
    }
    await this.#awaitListing("grant", grantee, purpose, slots, transactions, checked.waitTimeoutMs);
    const granted: GrantResult = {
      mode,
      grantee,
      purpose: purposeName(purpose),
      expiry: new Date(expiry * 1000),
      scopes,
      transactions,
      shared: 0,
    };
    try {
      granted.shared = await this.#sharing.shareScopesWith(
        grantee,
        scopes.map((s) => s.id),
      );
    } catch (error) {
      throw new ConsentSharingError(granted, error);
    }
    return granted;
  }

  /**
   * Revokes `grantee`'s consent for each scope under `purpose` (a tombstone: any signature the patient made for the
   * slot before is dead too) and waits until the gateway no longer lists it, so the grantee's next release is refused.
   */
  async revoke(options: RevokeOptions): Promise<RevokeResult> {
    const grantee = parseGrantee(options?.grantee, this.#context.connection.deployment.chainId);
    const scopes = resolveScopes(options?.scopes, this.#context);
    const purpose = checkPurpose(options?.purpose, false);
    const mode = checkMode(options?.mode);
    const waitTimeoutMs = checkWait(options?.waitTimeoutMs);
    const registry = this.#registry();
    let transactions: string[];
    let slots: Slot[];
    if (mode === "direct") {
      const sender = this.#sendingRegistry(registry);
      // The registry has no revoke batch: one transaction per scope, consecutive nonces from one sender.
      const txs = await chainCall(this.#context, () =>
        Promise.all(scopes.map((s) => sender.revoke({ grantee, scope: s.id, purpose }))),
      );
      transactions = txs.map((tx) => tx.hash);
      slots = slotsFromEvents(
        scopes,
        txs.flatMap((tx) => tx.events),
        "ConsentRevoked",
      );
    } else {
      const relayed = await this.#relayBatches(registry, "revoke", scopes, (chunk) => ({
        revokes: chunk.map((s) => ({ grantee, scope: s.id, purpose })),
      }));
      transactions = relayed.transactions;
      slots = relayed.slots;
    }
    await this.#awaitListing("revoke", grantee, purpose, slots, transactions, waitTimeoutMs);
    return { mode, grantee, purpose: purposeName(purpose), scopes, transactions };
  }

  /**
   * The patient's live consents as the gateway's indexer lists them (its main address and every linked consent
   * account), with each scope id labelled where this wallet can tell: the fixed vocabulary always, record CIDs and
   * studies when given in `known`.
   */
  async list(known: KnownScopeValues = {}): Promise<ListedConsent[]> {
    const listing = await this.#context.connection.transport.request<ConsentListing>("GET", "/v1/consents");
    const now = nowSeconds();
    const scopesOf = this.#context.keys.scopes;
    if (typeof known !== "object" || known === null) throw new SdkInputError("known", "expected { cids?, studies? }");
    return listing.consents.map((c) => {
      const purpose = parsePurpose(c.purpose);
      // Ids under a pairwise consent account are keyed under that address.
      const keyed =
        c.consentAddress.toLowerCase() === this.#context.address.toLowerCase()
          ? scopesOf
          : scopesOf.forAddress(c.consentAddress);
      return {
        grantee: c.grantee.toLowerCase(),
        consentAddress: c.consentAddress.toLowerCase(),
        id: c.scope.toLowerCase(),
        scope: labelOf(keyed, c.scope, known),
        purpose: purposeName(purpose),
        purposeLabel: purposeLabel(purpose),
        expiry: new Date(c.expiry * 1000),
        version: c.version,
        status: c.expiry > now ? "active" : "expired",
      };
    });
  }

  /**
   * The patient's live consents as a FHIR R4 Bundle of Consent resources (the gateway's `GET /v1/consents/fhir`).
   * The gateway cannot say what a scope id means; with `labels` (default) this wallet fills each provision's data
   * class: `fhir:<Type>` as its class (a FHIR resource type), any other label as its code text.
   */
  async exportFhir(options: ExportFhirOptions = {}): Promise<FhirConsentBundle> {
    const bundle = await this.#context.connection.transport.request<FhirConsentBundle>("GET", "/v1/consents/fhir");
    if (options.labels === false) return bundle;
    const known: KnownScopeValues = {
      ...(options.cids ? { cids: options.cids } : {}),
      ...(options.studies ? { studies: options.studies } : {}),
    };
    for (const entry of bundle.entry ?? []) {
      const provision = entry.resource?.provision;
      const id = provision?.extension?.find((e) => e.url === SCOPE_ID_EXTENSION)?.valueString;
      if (!provision || id === undefined) continue;
      const performer = performerAddress(entry.resource);
      const keyed =
        performer === undefined || performer === this.#context.address.toLowerCase()
          ? this.#context.keys.scopes
          : this.#context.keys.scopes.forAddress(performer);
      const label = labelOf(keyed, id, known);
      if (label === undefined) continue;
      const resourceType = /^fhir:([A-Z][A-Za-z]{1,63})$/.exec(label)?.[1];
      if (resourceType !== undefined) provision.class = [{ system: RESOURCE_TYPES_SYSTEM, code: resourceType }];
      else provision.code = [{ text: label }];
    }
    return bundle;
  }

  // --- internals ---------------------------------------------------------------------------------

  #checkGrant(options: GrantOptions): {
    grantee: string;
    scopes: ConsentScope[];
    purpose: GrantablePurpose;
    expiry: number;
    mode: ConsentMode;
    waitTimeoutMs: number;
  } {
    if (typeof options !== "object" || options === null)
      throw new SdkInputError("options", "expected { grantee, scopes, purpose, expires }");
    const grantee = parseGrantee(options.grantee, this.#context.connection.deployment.chainId);
    if (grantee === getAddress(this.#context.address))
      throw new SdkInputError("grantee", "is the patient itself", "Name the clinic or researcher to grant consent to.");
    const scopes = resolveScopes(options.scopes, this.#context);
    const purpose = checkPurpose(options.purpose, true) as GrantablePurpose; // Emergency refused above
    const expiry = parseExpiry(options.expires);
    return {
      grantee,
      scopes,
      purpose,
      expiry,
      mode: checkMode(options.mode),
      waitTimeoutMs: checkWait(options.waitTimeoutMs),
    };
  }

  #registry(): ConsentRegistryClient {
    return new ConsentRegistryClient(
      this.#context.connection.deployment.contracts.ConsentRegistry,
      this.#context.connection.provider,
    );
  }

  /** A registry client that sends from the patient's wallet (direct mode). */
  #sendingRegistry(registry: ConsentRegistryClient): ConsentRegistryClient {
    return registry.connect(sendingSigner(this.#context));
  }

  /** The wallet as @hygeia/chain's signing helpers take it: they call only getAddress and signTypedData. */
  #signer(): Signer {
    return this.#context.signer as unknown as Signer;
  }

  /**
   * Relay mode: for each run of at most MAX_RELAY_BATCH scopes, reads every slot's version, asks the wallet for ONE
   * signature over the ConsentBatch and posts it (`POST /v1/consents/batches`), which the gateway sends as one
   * transaction. Resolves to the hashes (one per batch) and the versions the slots have once mined. A later batch
   * failing after earlier ones were mined is a ConsentPartlyAppliedError naming both.
   */
  async #relayBatches(
    registry: ConsentRegistryClient,
    what: "grant" | "revoke",
    scopes: ConsentScope[],
    items: (
      chunk: ConsentScope[],
    ) => Pick<Parameters<ConsentRegistryClient["nextConsentBatchTypedData"]>[0], "grants" | "revokes">,
  ): Promise<{ transactions: string[]; slots: Slot[] }> {
    const patient = this.#context.address;
    const transactions: string[] = [];
    const slots: Slot[] = [];
    for (let at = 0; at < scopes.length; at += MAX_RELAY_BATCH) {
      const chunk = scopes.slice(at, at + MAX_RELAY_BATCH);
      try {
        const deadline = nowSeconds() + SIGNATURE_LIFETIME_SECONDS;
        const typed = await chainCall(this.#context, () =>
          registry.nextConsentBatchTypedData({ patient, ...items(chunk), deadline }),
        );
        const signed = await chainCall(this.#context, () =>
          signConsentBatch(this.#signer(), typed.domain, { ...typed.message, patient }),
        );
        const answer = await this.#context.connection.transport.request<BatchRelayResult>(
          "POST",
          "/v1/consents/batches",
          { json: { signed: signedConsentBatchToJson(signed) } },
        );
        transactions.push(answer.hash);
        const written = what === "grant" ? typed.message.grants : typed.message.revokes;
        chunk.forEach((scope, i) => slots.push({ scope, version: written[i]!.version + 1 }));
      } catch (error) {
        if (at === 0) throw error;
        const applied = slots.map((slot) => slot.scope);
        const code = error instanceof HygeiaSdkError ? error.code : "RELAY_FAILED";
        const detail = error instanceof Error ? error.message : String(error);
        const failed = scopes.slice(at).map((scope) => ({ ...scope, code, detail }));
        throw new ConsentPartlyAppliedError(what, applied, failed, transactions, { cause: error });
      }
    }
    return { transactions, slots };
  }

  /**
   * A grant whose later batch failed: the mined batches' consent stands, so the existing records in those scopes are
   * wrapped to the grantee as a whole grant's would be, then the error is thrown again saying how that went.
   */
  async #sharePartlyApplied(grantee: string, error: unknown): Promise<never> {
    if (!(error instanceof ConsentPartlyAppliedError)) throw error;
    const again = (sharing: { shared?: number; sharingError?: unknown }) =>
      new ConsentPartlyAppliedError("grant", [...error.applied], [...error.failed], [...error.transactions], {
        cause: error.cause,
        ...sharing,
      });
    let shared: number;
    try {
      shared = await this.#sharing.shareScopesWith(
        grantee,
        error.applied.map((s) => s.id),
      );
    } catch (sharingError) {
      throw again({ sharingError });
    }
    throw again({ shared });
  }

  /**
   * Polls the gateway's listing until every slot shows at least its new version (grant) or none shows a version
   * below it (revoke). A 503 (indexer stale) while waiting is waited out like a lag.
   */
  async #awaitListing(
    what: "grant" | "revoke",
    grantee: string,
    purpose: Purpose,
    slots: Slot[],
    transactions: string[],
    timeoutMs: number,
  ): Promise<void> {
    const started = Date.now();
    const consentAddress = this.#context.address.toLowerCase();
    const wanted = grantee.toLowerCase();
    let lastError: unknown;
    for (;;) {
      try {
        const listing = await this.#context.connection.transport.request<ConsentListing>("GET", "/v1/consents");
        const versionOf = (id: string): number | undefined =>
          listing.consents.find(
            (c) =>
              c.grantee.toLowerCase() === wanted &&
              c.scope.toLowerCase() === id &&
              c.purpose === purpose &&
              c.consentAddress.toLowerCase() === consentAddress,
          )?.version;
        const done = slots.every((slot) => {
          const listed = versionOf(slot.scope.id);
          return what === "grant" ? listed !== undefined && listed >= slot.version : listed === undefined;
        });
        if (done) return;
        lastError = undefined;
      } catch (error) {
        if (!(error instanceof HygeiaSdkError) || error.kind !== "unavailable") throw error;
        lastError = error;
      }
      if (Date.now() - started >= timeoutMs)
        throw new ConsentNotIndexedError(what, transactions, Date.now() - started, lastError);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}

// --- input parsing, shared with emergency.ts -----------------------------------------------------------

/** The extension of the gateway's FHIR export that carries a provision's scope id. */
export const SCOPE_ID_EXTENSION = "urn:hygeia:fhir:StructureDefinition:consent-scope-id";
const RESOURCE_TYPES_SYSTEM = "http://hl7.org/fhir/resource-types";

const MAX_AHEAD_SECONDS = 315_576_000; // 10 years: the registry clients' bound
const DURATION = /^(\d{1,12})\s*(s|m|h|d|w|y)$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800, y: 31_557_600 };
const ISO_DATE = /^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/**
 * A duration in whole seconds: a number of seconds, or `"<n><unit>"` with unit s, m, h, d, w or y (`"30d"`, `"12h"`).
 */
export function parseDuration(input: unknown, field: string): number {
  if (typeof input === "number") {
    if (!Number.isSafeInteger(input) || input <= 0)
      throw new SdkInputError(field, `expected a positive whole number of seconds, got ${String(input)}`);
    return input;
  }
  if (typeof input === "string") {
    const match = DURATION.exec(input.trim());
    if (match) {
      const seconds = Number(match[1]) * UNIT_SECONDS[match[2]!]!;
      if (seconds > 0 && Number.isSafeInteger(seconds)) return seconds;
    }
  }
  throw new SdkInputError(
    field,
    `expected a duration such as "30d", "12h", "90m" or a number of seconds, got ${describe(input)}`,
  );
}

/** An expiry as unix seconds: in the future and at most 10 years ahead (checked before anything is signed). */
export function parseExpiry(input: unknown, field = "expires"): number {
  const now = nowSeconds();
  let at: number;
  if (input instanceof Date) {
    if (Number.isNaN(input.getTime())) throw new SdkInputError(field, "is an invalid Date");
    at = Math.floor(input.getTime() / 1000);
  } else if (typeof input === "string" && ISO_DATE.test(input.trim())) {
    const ms = Date.parse(input.trim());
    if (Number.isNaN(ms)) throw new SdkInputError(field, `"${input}" is not a valid date`);
    at = Math.floor(ms / 1000);
  } else if (typeof input === "number" || typeof input === "string") {
    at = now + parseDuration(input, field);
  } else {
    throw new SdkInputError(
      field,
      `expected a Date, a number of seconds or a duration like "30d", got ${describe(input)}`,
    );
  }
  if (at <= now)
    throw new SdkInputError(
      field,
      `${new Date(at * 1000).toISOString()} is in the past`,
      'Give an expiry in the future, e.g. "30d" or a later Date.',
    );
  if (at - now > MAX_AHEAD_SECONDS)
    throw new SdkInputError(
      field,
      `${new Date(at * 1000).toISOString()} is more than 10 years ahead`,
      typeof input === "number"
        ? "A number is a duration in seconds from now; for a point in time pass a Date."
        : "Give an expiry within 10 years.",
    );
  return at;
}

/**
 * The grantee as an EIP-55 address: an address, or a did:ethr on this chain (`did:ethr:0x<chain id hex>:<address>`,
 * `did:ethr:<address>`, or the public-key form `did:ethr:0x<chain>:0x02…`).
 */
export function parseGrantee(input: unknown, chainId: number, field = "grantee"): string {
  if (typeof input !== "string" || input.length === 0)
    throw new SdkInputError(field, `expected a did:ethr or an address, got ${describe(input)}`);
  let identifier = input.trim();
  if (identifier.startsWith("did:")) {
    const parts = identifier.split(":");
    if (parts[1] !== "ethr" || parts.length < 3 || parts.length > 4)
      throw new SdkInputError(field, `"${input}" is not a did:ethr`, "Give the grantee's did:ethr or its address.");
    if (parts.length === 4) {
      const network = parts[2]!;
      const onChain = /^0x[0-9a-fA-F]+$/.test(network) ? Number.parseInt(network, 16) : undefined;
      if (onChain !== chainId)
        throw new SdkInputError(
          field,
          `"${input}" names network ${network}, not this chain (0x${chainId.toString(16)})`,
          `Use the grantee's did:ethr:0x${chainId.toString(16)}:… or its address.`,
        );
    }
    identifier = parts[parts.length - 1]!;
    if (/^0x0[23][0-9a-fA-F]{64}$/.test(identifier)) identifier = computeAddress(identifier);
  }
  if (!isAddress(identifier) || /^0x0{40}$/i.test(identifier))
    throw new SdkInputError(field, `"${input}" is not an Ethereum address or did:ethr`);
  try {
    return getAddress(identifier);
  } catch {
    // A mixed-case address whose checksum is wrong: a typo.
    throw new SdkInputError(field, `"${input}" has a bad EIP-55 checksum (a typo?)`);
  }
}

/** Canonical scopes (or keyed ids) to this wallet's ids, deduplicated, each named by its place when bad. */
export function resolveScopes(input: unknown, context: PatientContext, field = "scopes"): ConsentScope[] {
  if (!Array.isArray(input) || input.length === 0)
    throw new SdkInputError(
      field,
      `expected a non-empty list of scopes, got ${describe(input)}`,
      'Name at least one scope, e.g. "category:laboratory" or "fhir:Observation".',
    );
  if (input.length > MAX_SCOPES_PER_CALL)
    throw new SdkInputError(field, `at most ${MAX_SCOPES_PER_CALL} scopes per call, got ${input.length}`);
  const seen = new Map<string, ConsentScope>();
  input.forEach((scope: unknown, index) => {
    let resolved: ConsentScope;
    if (typeof scope === "string" && BYTES32.test(scope)) {
      const id = scope.toLowerCase();
      resolved = { id, scope: context.keys.scopes.label(id) };
    } else {
      try {
        resolved = { id: context.keys.scopes.id(scope as string), scope: scope as string };
      } catch (error) {
        throw new SdkInputError(
          `${field}[${index}]`,
          chainDetail(error),
          'Use a canonical scope: "category:<category>", "fhir:<ResourceType>", "record:<cid>" or "study:<id>".',
        );
      }
    }
    if (!seen.has(resolved.id)) seen.set(resolved.id, resolved);
  });
  return [...seen.values()];
}

/** A purpose name (or number); Emergency only where allowed (a revoke may close a break-glass window). */
export function checkPurpose(input: unknown, grant: boolean): Purpose {
  let purpose: Purpose;
  try {
    purpose = parsePurpose(input);
  } catch {
    throw new SdkInputError(
      "purpose",
      `unknown purpose ${describe(input)}`,
      "Use one of Treatment, Research, Payment, PublicHealth (Emergency is opened by break-glass only).",
    );
  }
  if (grant && purpose === 3)
    throw new SdkInputError(
      "purpose",
      "Emergency cannot be granted: only a registered emergency grantee opens it, by breaking the glass",
      "Register the grantee for emergencies instead (emergency.add).",
    );
  return purpose;
}

export function checkMode(input: unknown): ConsentMode {
  if (input === undefined || input === "relay") return "relay";
  if (input === "direct") return "direct";
  throw new SdkInputError("mode", `expected "relay" or "direct", got ${describe(input)}`);
}

function checkWait(input: unknown): number {
  if (input === undefined) return DEFAULT_WAIT_MS;
  if (typeof input !== "number" || !Number.isFinite(input) || input < 0)
    throw new SdkInputError("waitTimeoutMs", `expected milliseconds, got ${describe(input)}`);
  return input;
}

/**
 * The wallet as a transaction sender (direct mode): an ethers Signer, connected to the connection's provider when it
 * has none of its own.
 */
export function sendingSigner(context: PatientContext): Signer {
  try {
    return walletSender(context.signer, context.connection);
  } catch (error) {
    if (!(error instanceof HygeiaSdkError) || error.code !== "SIGNER_CANNOT_SEND") throw error;
    throw new SdkInputError(
      "mode",
      "this wallet cannot send transactions (direct mode needs an ethers Signer with a provider)",
      'Use mode "relay" (the gateway sends it, no ETH needed).',
    );
  }
}

/** The slot versions a mined transaction's events show, by scope id (the last event of a slot wins). */
function slotsFromEvents(
  scopes: ConsentScope[],
  events: readonly ConsentEvent[],
  type: "ConsentGranted" | "ConsentRevoked",
): Slot[] {
  return scopes.map((scope) => {
    let version = 0;
    for (const event of events)
      if (event.type === type && event.scope === scope.id) version = Math.max(version, event.version);
    return { scope, version };
  });
}

/** The label of an id, refusing a malformed `known` list as the SDK's input error. */
function labelOf(scopes: PatientScopes, id: string, known: KnownScopeValues): string | undefined {
  try {
    return scopes.label(id, known);
  } catch (error) {
    throw fromChainError(error, "");
  }
}

function performerAddress(resource: FhirConsent | undefined): string | undefined {
  const performer = (resource?.["performer"] as { identifier?: { value?: string } }[] | undefined)?.[0];
  const value = performer?.identifier?.value;
  const address = value?.split(":").at(-1);
  return address && isAddress(address) ? address.toLowerCase() : undefined;
}

// --- errors of @hygeia/chain, as the SDK's -----------------------------------------------------------

const CHAIN_KINDS: Record<string, { kind: ErrorKind; hint: string }> = {
  ACTION_REJECTED: {
    kind: "auth",
    hint: "The wallet declined to sign, so nothing was sent: approve the request in the wallet to go on.",
  },
  WRONG_SIGNER: {
    kind: "usage",
    hint: "Sign with the patient's own wallet (the account the consent is for).",
  },
  INVALID_SIGNATURE: { kind: "integrity", hint: "The wallet's signature did not verify: sign again." },
  INSUFFICIENT_FUNDS: {
    kind: "refused",
    hint: 'The wallet has no ETH for gas: fund it, or use mode "relay" (the gateway pays).',
  },
  CONTRACT_REVERT: {
    kind: "conflict",
    hint: "The registry refused it before anything was paid (the state changed meanwhile): list consents and retry.",
  },
  TX_TIMEOUT: {
    kind: "unavailable",
    hint: "The transaction may still be mined: list consents before sending it again.",
  },
  TX_REPLACED: {
    kind: "conflict",
    hint: "Another transaction of this wallet took its place: list consents and retry.",
  },
  NONCE_CONFLICT: { kind: "conflict", hint: "Another app sent from this wallet at the same time: try again." },
  CONTRACT_NOT_DEPLOYED: {
    kind: "usage",
    hint: "The deployment does not match this chain: point the SDK at the gateway's chain and deployment.",
  },
  WRONG_CHAIN: { kind: "usage", hint: "Point the SDK at the chain the deployment is on." },
  SCAN_LIMIT_EXCEEDED: { kind: "usage", hint: "Read from the deployment block (a narrower range)." },
  SCAN_ABORTED: { kind: "unavailable", hint: "The read was stopped; try again." },
  CHAIN_REQUEST_FAILED: {
    kind: "unavailable",
    hint: "The chain node refused the request; try again or use another node.",
  },
};

/** A chain package error's code, when `error` is one (duck-typed: no instanceof across module copies). */
function chainCode(error: unknown): string | undefined {
  if (!(error instanceof Error) || error instanceof HygeiaSdkError) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

function chainDetail(error: unknown): string {
  const detail = (error as { detail?: unknown } | undefined)?.detail;
  if (typeof detail === "string") return detail;
  return error instanceof Error ? error.message : String(error);
}

/** An error of @hygeia/chain as the SDK's typed error with a hint; SDK errors and others pass through. */
export function fromChainError(error: unknown, rpcUrl: string): unknown {
  const code = chainCode(error);
  if (code === undefined) return error;
  if (code === "INVALID_INPUT" || code === "INVALID_PURPOSE" || code === "INVALID_SCOPE") {
    const field = (error as { field?: unknown }).field;
    return new SdkInputError(typeof field === "string" ? field : "input", chainDetail(error));
  }
  if (code === "CHAIN_UNAVAILABLE")
    return new ServiceUnreachableError("chain", rpcUrl, (error as Error).message, { cause: error });
  const known = CHAIN_KINDS[code];
  return new HygeiaSdkError(code, known?.kind ?? "internal", (error as Error).message, {
    hint: known?.hint ?? "Unexpected chain error: try again, and report it if it persists.",
    cause: error,
  });
}

/** Runs a chain call, turning its typed errors into the SDK's. */
export async function chainCall<T>(context: PatientContext, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw fromChainError(error, context.connection.rpcUrl);
  }
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Date) return "a Date";
  return typeof value === "object" ? "an object" : `${typeof value} ${String(value)}`;
}
