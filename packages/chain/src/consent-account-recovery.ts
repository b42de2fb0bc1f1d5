/**
 * Recovery of pairwise consent accounts from the seed alone (a new device, a restored wallet): which accounts
 * m/7424'/i' did this seed use?
 *
 * What this module guarantees:
 * - By default the node is not told which addresses belong together: the scan asks for every consent event of
 *   the registry in the range (address and event topics only) and matches the derived addresses locally.
 *   `revealAddressesToNode: true` asks by patient topic instead (faster on a busy registry), which hands the node
 *   the list of the patient's consent addresses in one filter: it links them all.
 * - A hostile or broken node cannot keep it running: every request is bounded (readTimeoutMs), the whole scan by
 *   `signal`, the accounts checked by `maxAccounts` and the eth_getLogs calls by `maxBlockWindows` (ScanLimitError);
 *   logs from another contract or outside the block window asked are dropped.
 * - It fails loudly (typed errors) rather than answer "none" from a node that failed or a wrong registry address.
 */
import type { HDNodeWallet, Provider } from "ethers";
import { DEFAULT_READ_TIMEOUT_MS } from "./clients/base.ts";
import { toChainError } from "./clients/chain-errors.ts";
import { consentRegistryInterface, type ConsentEvent } from "./clients/consent-events.ts";
import { ConsentRegistryClient, checkEventRange } from "./clients/consent-registry.ts";
import * as node from "./clients/node-reads.ts";
import { askNode } from "./clients/sender.ts";
import { MAX_CONSENT_ACCOUNT_INDEX, consentAccount } from "./consent-accounts.ts";
import {
  InvalidInputError,
  ScanLimitError,
  describe,
  requireAddress,
  requireNonZeroAddress,
  requireTimeoutMs,
  throwIfAborted,
} from "./errors.ts";
import { untilAborted } from "./clients/abortable.ts";

/** Default run of consecutive unused accounts after which findConsentAccounts stops (BIP-44's gap limit). */
export const DEFAULT_CONSENT_GAP_LIMIT = 20;
/** Largest gapLimit: with revealAddressesToNode each eth_getLogs names up to gapLimit addresses. */
export const MAX_CONSENT_GAP_LIMIT = 100;
/** Default maxAccounts: account indexes a scan derives and checks at most. */
export const DEFAULT_MAX_CONSENT_ACCOUNTS = 1000;

export interface FindConsentAccountsOptions {
  /** The ConsentRegistry address; required with a Provider, taken from the client otherwise. */
  registry?: string;
  /** First block to scan: the registry's deployment block (HygeiaDeployment.deployedAt.block). Default 0. */
  fromBlock?: number;
  /** Stop after this many consecutive unused accounts (1..MAX_CONSENT_GAP_LIMIT). Default 20. */
  gapLimit?: number;
  /** Largest eth_getLogs block range; public RPC providers often cap it. Default 10,000. */
  maxBlockRange?: number;
  /** Most eth_getLogs calls per pass over the range (ScanLimitError beyond: pass fromBlock). Default 1,000. */
  maxBlockWindows?: number;
  /**
   * Most account indexes derived and checked (0..maxAccounts-1): when the gap after the last used account reaches
   * past it, ScanLimitError (a node forging events for the addresses it was asked about does this too). Default 1,000.
   */
  maxAccounts?: number;
  /** Stops the whole scan (ScanAbortedError), e.g. AbortSignal.timeout(120_000). */
  signal?: AbortSignal;
  /** Bound on each request to the node, in milliseconds. Default: the client's, else 30 s. */
  readTimeoutMs?: number;
  /**
   * Ask the node by patient topic, gapLimit derived addresses per filter: fewer logs to download, but the node (and
   * whoever reads its logs) learns that these addresses are one patient's. Default false: the node is asked for
   * the registry's events only, and the addresses are matched here.
   */
  revealAddressesToNode?: boolean;
  /**
   * Consent addresses known to be in use although they may have no event yet (the wallet's own record, the
   * addresses of the ConsentAddressLinks the gateway holds for this patient): they count as used, so nextIndex is
   * past them and a new grantee never shares an account that is linked to another one but not yet granted.
   */
  knownAddresses?: readonly string[];
}

/**
 * A consent account in use: it wrote to the registry (grant, revoke, emergency registration or break-glass on it),
 * or the caller named it in `knownAddresses` (then `events` may be empty).
 */
export interface UsedConsentAccount {
  readonly index: number;
  readonly address: string;
  /** Its key: sign revokes with it (signRevoke), or new grants. */
  readonly account: HDNodeWallet;
  /** Everyone its events name, in order of first appearance. */
  readonly grantees: readonly string[];
  /** Its ConsentRegistry events, oldest first (scope ids: PatientScopes.forAddress(address).label reads them). */
  readonly events: readonly ConsentEvent[];
}

export interface ConsentAccountScan {
  /** The used accounts (with an event, or named in knownAddresses), by index. */
  readonly accounts: readonly UsedConsentAccount[];
  /** The first index after the last used one: where the wallet takes its next account, so gaps stay short. */
  readonly nextIndex: number;
  /** The scan covered blocks fromBlock..toBlock (the head when it started). */
  readonly toBlock: number;
}

/**
 * Finds a patient's consent accounts from the seed alone: accounts 0, 1, 2, ... until `gapLimit` consecutive
 * accounts without any event (or knownAddresses entry). By default it reads every consent event of the registry
 * from fromBlock to the head and matches the derived addresses locally, so the node learns nothing about which
 * addresses are the patient's (pass fromBlock to keep the download short); `revealAddressesToNode` trades that
 * for a topic filter. An account whose every grant is still unrelayed is not found unless named in knownAddresses;
 * nor is one past a longer gap (raise gapLimit). Errors: ChainUnavailableError (no answer within readTimeoutMs),
 * ChainRequestError (the node refuses, e.g. a range too large: lower maxBlockRange), ContractNotDeployedError (no
 * registry code at the address), ScanLimitError (maxAccounts, maxBlockWindows), ScanAbortedError (signal).
 */
export async function findConsentAccounts(
  source: Provider | ConsentRegistryClient,
  consentAccountSeed: Uint8Array,
  options: FindConsentAccountsOptions = {},
): Promise<ConsentAccountScan> {
  const scan = checkScanOptions(source, options);
  consentAccount(consentAccountSeed, 0); // the seed is checked before the node is asked anything
  const { registry, timeoutMs, signal } = scan;
  const operation = "findConsentAccounts";
  const client = new ConsentRegistryClient(registry, scan.provider, { readTimeoutMs: timeoutMs });
  try {
    throwIfAborted(signal, operation);
    // One head for every pass.
    const head = await untilAborted(askNode(node.blockNumber(scan.provider), timeoutMs, operation), signal, operation);
    const range = {
      fromBlock: scan.fromBlock,
      toBlock: Math.max(head, scan.fromBlock), // fromBlock above the head is refused by the event scan
      maxBlockRange: scan.maxBlockRange,
      maxBlockWindows: scan.maxBlockWindows,
      ...(signal === undefined ? {} : { signal }),
    };
    const accounts = new Map<number, { account: HDNodeWallet; events: ConsentEvent[] }>();
    let lastUsed = -1;
    let checkedTo = 0; // accounts [0, checkedTo) are checked
    // Without revealAddressesToNode: one pass over the registry's events, grouped by consent address here.
    const byPatient = scan.reveal ? undefined : groupByPatient(await client.allConsentEvents(range));
    while (checkedTo < lastUsed + 1 + scan.gapLimit) {
      const end = lastUsed + 1 + scan.gapLimit;
      if (end > scan.maxAccounts) {
        throw new ScanLimitError(
          "maxAccounts",
          `account ${lastUsed} is used, and checking the ${scan.gapLimit} after it passes maxAccounts ` +
            `${scan.maxAccounts}: raise maxAccounts if the patient really used that many, else the node may be ` +
            "forging events (try another node)",
        );
      }
      throwIfAborted(signal, operation);
      const batch = new Map<string, { index: number; account: HDNodeWallet }>();
      for (let index = checkedTo; index < end; index++) {
        const account = consentAccount(consentAccountSeed, index);
        batch.set(account.address, { index, account });
      }
      const events =
        byPatient === undefined
          ? await client.consentEventsOf([...batch.keys()], range)
          : [...batch.keys()].flatMap((address) => byPatient.get(address) ?? []);
      const hits: [{ index: number; account: HDNodeWallet }, ConsentEvent | undefined][] = [
        ...events.map((event): [{ index: number; account: HDNodeWallet }, ConsentEvent] => [
          batch.get(event.patient)!,
          event,
        ]),
        ...[...batch.entries()]
          .filter(([address]) => scan.known.has(address))
          .map(([, entry]): [{ index: number; account: HDNodeWallet }, undefined] => [entry, undefined]),
      ];
      for (const [{ index, account }, event] of hits) {
        const entry = accounts.get(index) ?? { account, events: [] };
        if (event !== undefined) entry.events.push(event);
        accounts.set(index, entry);
        lastUsed = Math.max(lastUsed, index);
      }
      checkedTo = end;
    }
    const found = [...accounts.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, { account, events }]) => ({
        index,
        address: account.address,
        account,
        grantees: [...new Set(events.map((event) => event.grantee))],
        events: events.sort(
          (a, b) => a.position.blockNumber - b.position.blockNumber || a.position.logIndex - b.position.logIndex,
        ),
      }));
    return { accounts: found, nextIndex: lastUsed + 1, toBlock: head };
  } catch (error) {
    throw toChainError(error, consentRegistryInterface, operation, registry);
  }
}

function groupByPatient(events: readonly ConsentEvent[]): Map<string, ConsentEvent[]> {
  const byPatient = new Map<string, ConsentEvent[]>();
  for (const event of events) {
    const list = byPatient.get(event.patient) ?? [];
    list.push(event);
    byPatient.set(event.patient, list);
  }
  return byPatient;
}

function checkScanOptions(
  source: Provider | ConsentRegistryClient,
  options: FindConsentAccountsOptions,
): {
  provider: Provider;
  registry: string;
  fromBlock: number;
  gapLimit: number;
  maxBlockRange: number;
  maxBlockWindows: number;
  maxAccounts: number;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  reveal: boolean;
  known: Set<string>;
} {
  if (typeof options !== "object" || options === null)
    throw new InvalidInputError("options", `expected { registry, fromBlock, gapLimit, ... }, got ${describe(options)}`);
  let provider: Provider;
  let registry: string;
  let timeoutMs = DEFAULT_READ_TIMEOUT_MS;
  if (source instanceof ConsentRegistryClient) {
    provider = source.provider;
    registry = source.address;
    timeoutMs = source.readTimeoutMs;
    if (options.registry !== undefined && requireAddress(options.registry, "registry") !== registry)
      throw new InvalidInputError("registry", `${options.registry} is not the client's registry ${registry}`);
  } else if (typeof source === "object" && source !== null && typeof source.getLogs === "function") {
    provider = source;
    if (options.registry === undefined)
      throw new InvalidInputError(
        "registry",
        "name the ConsentRegistry address (deployment.contracts.ConsentRegistry)",
      );
    registry = requireNonZeroAddress(options.registry, "registry");
  } else {
    throw new InvalidInputError(
      "source",
      `expected an ethers Provider or a ConsentRegistryClient, got ${describe(source)}`,
    );
  }
  const gapLimit = options.gapLimit ?? DEFAULT_CONSENT_GAP_LIMIT;
  if (!Number.isInteger(gapLimit) || gapLimit < 1 || gapLimit > MAX_CONSENT_GAP_LIMIT) {
    throw new InvalidInputError(
      "gapLimit",
      `expected an integer 1..${MAX_CONSENT_GAP_LIMIT} (consecutive unused accounts before the scan stops), got ${describe(gapLimit)}`,
    );
  }
  // fromBlock, maxBlockRange, maxBlockWindows and signal as the event scan checks them, before the node is asked.
  const { fromBlock, maxBlockRange, maxBlockWindows, signal } = checkEventRange({
    fromBlock: options.fromBlock ?? 0,
    maxBlockRange: options.maxBlockRange,
    maxBlockWindows: options.maxBlockWindows,
    signal: options.signal,
  });
  if (options.readTimeoutMs !== undefined) timeoutMs = requireTimeoutMs(options.readTimeoutMs, "readTimeoutMs");
  const maxAccounts = options.maxAccounts ?? DEFAULT_MAX_CONSENT_ACCOUNTS;
  if (!Number.isInteger(maxAccounts) || maxAccounts < gapLimit || maxAccounts > MAX_CONSENT_ACCOUNT_INDEX + 1) {
    throw new InvalidInputError(
      "maxAccounts",
      `expected an integer gapLimit (${gapLimit})..${MAX_CONSENT_ACCOUNT_INDEX + 1}, got ${describe(maxAccounts)}`,
    );
  }
  if (options.revealAddressesToNode !== undefined && typeof options.revealAddressesToNode !== "boolean")
    throw new InvalidInputError(
      "revealAddressesToNode",
      `expected true or false, got ${describe(options.revealAddressesToNode)}`,
    );
  const knownList: unknown = options.knownAddresses ?? [];
  if (!Array.isArray(knownList))
    throw new InvalidInputError("knownAddresses", `expected an array of addresses, got ${describe(knownList)}`);
  const known = new Set(knownList.map((address, index) => requireAddress(address, `knownAddresses[${index}]`)));
  return {
    provider,
    registry,
    fromBlock,
    gapLimit,
    maxBlockRange,
    maxBlockWindows,
    maxAccounts,
    timeoutMs,
    signal,
    reveal: options.revealAddressesToNode === true,
    known,
  };
}
