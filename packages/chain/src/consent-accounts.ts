/**
 * Pairwise consent accounts: a separate address per grantee, so an observer cannot link one patient's grants
 * across clinics (each clinic sees grants from a different address, none of them the patient's did:ethr).
 *
 *   account(index) = BIP-32 node m/7424'/index' of seed = consentAccountSeed (@hygeia/crypto
 *                    deriveConsentAccountSeed, from the wallet's consent secret)
 *
 * What this module guarantees:
 * - Hardened steps only: one leaked account key reveals neither its siblings nor the seed. BIP-32 through ethers
 *   (HDNodeWallet.fromSeed), the field's library for it.
 * - Nobody learns the link from the chain: a consent account never holds ETH (funding it would link it to whoever
 *   paid); its grants and revokes are signed (signGrant / signRevoke) and relayed. Its scope ids are keyed with the
 *   same scope key and its own address (consentAccountFor, PatientScopes.forAddress), so shared ids link nothing.
 * - The gateway learns the link only from the patient, and only a true one: a ConsentAddressLink is signed by the
 *   patient's main account (nobody attaches a foreign address to a patient) and by the consent account (nobody
 *   claims an address they do not control); verifyConsentAddressLink checks both and the domain.
 * - Recovery needs the seed alone: findConsentAccounts scans the registry's events for accounts 0, 1, 2, ... until
 *   `gapLimit` consecutive unused ones, and fails loudly (typed errors) rather than answer "none" from a node
 *   that failed or a wrong registry address.
 */
import {
  HDNodeWallet,
  TypedDataEncoder,
  getAddress,
  hexlify,
  recoverAddress,
  type Provider,
  type TypedDataField,
} from "ethers";
import { DEFAULT_READ_TIMEOUT_MS } from "./clients/base.ts";
import { toChainError } from "./clients/chain-errors.ts";
import { consentRegistryInterface, type ConsentEvent } from "./clients/consent-events.ts";
import { ConsentRegistryClient } from "./clients/consent-registry.ts";
import * as node from "./clients/node-reads.ts";
import { askNode } from "./clients/sender.ts";
import {
  EIP712_DOMAIN_TYPE,
  consentDomain,
  consentDomainJson,
  signTypedDataAs,
  splitSignature,
  type ConsentDomainInput,
  type ConsentDomainJson,
  type ConsentSigner,
} from "./eip712.ts";
import {
  ConsentAddressLinkError,
  InvalidInputError,
  describe,
  requireAddress,
  requireNonZeroAddress,
  requireSmallUint,
  requireTimeoutMs,
} from "./errors.ts";
import { PatientScopes } from "./private-scopes.ts";

/** The BIP-32 purpose level of consent accounts ("hy" = 0x1d00 = 7424), hardened. */
export const CONSENT_ACCOUNT_PURPOSE = 7424;
/** Highest account index (BIP-32 hardened indexes are 31-bit). */
export const MAX_CONSENT_ACCOUNT_INDEX = 0x7fffffff;
const SEED_BYTES = 64;

/** The BIP-32 path of consent account `index`. */
export function consentAccountPath(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > MAX_CONSENT_ACCOUNT_INDEX) {
    throw new InvalidInputError("index", `expected an integer 0..${MAX_CONSENT_ACCOUNT_INDEX}, got ${describe(index)}`);
  }
  return `m/${CONSENT_ACCOUNT_PURPOSE}'/${index}'`;
}

/** Consent account `index` of a patient: an ethers wallet (connect it to a provider only to sign typed data). */
export function consentAccount(consentAccountSeed: Uint8Array, index: number): HDNodeWallet {
  if (!(consentAccountSeed instanceof Uint8Array) || consentAccountSeed.length !== SEED_BYTES) {
    throw new InvalidInputError(
      "consentAccountSeed",
      `expected ${SEED_BYTES} bytes (deriveConsentAccountSeed(consentSecret) from @hygeia/crypto), got ${consentAccountSeed instanceof Uint8Array ? `${consentAccountSeed.length} bytes` : describe(consentAccountSeed)}` +
        (consentAccountSeed instanceof Uint8Array && consentAccountSeed.length === 32
          ? ": the consent secret or the scope key? the seed is deriveConsentAccountSeed(consentSecret)"
          : ""),
    );
  }
  return HDNodeWallet.fromSeed(hexlify(consentAccountSeed)).derivePath(consentAccountPath(index));
}

// ---------------------------------------------------------------------------------------------
// An account and its keyed scope ids
// ---------------------------------------------------------------------------------------------

/** A consent account with the scope ids its grants must use. */
export interface PairwiseConsentAccount {
  readonly index: number;
  /** Signs the account's grants and revokes (signGrant / signRevoke) and its side of a ConsentAddressLink. */
  readonly account: HDNodeWallet;
  readonly address: string;
  /** Keyed under this account's address: ids under the patient's main address would not match its grants. */
  readonly scopes: PatientScopes;
}

/**
 * Consent account `index` with its PatientScopes (same scope key, the account's address). Use these ids for
 * everything the account grants, and attach them to records for this grantee: an id depends on the consent
 * address, so the main address's ids are not the pairwise account's.
 */
export function consentAccountFor(
  consentAccountSeed: Uint8Array,
  index: number,
  scopeKey: Uint8Array,
): PairwiseConsentAccount {
  const account = consentAccount(consentAccountSeed, index);
  return { index, account, address: account.address, scopes: new PatientScopes(scopeKey, account.address) };
}

// ---------------------------------------------------------------------------------------------
// ConsentAddressLink: "consent address X acts for patient P toward grantee G", for the gateway
// ---------------------------------------------------------------------------------------------

/**
 * The link's EIP-712 type, in the ConsentRegistry's consent domain (chain id and registry address), so a link
 * made for one deployment is refused by another; its own primary type, so no link signature is ever a Grant or
 * Revoke. The contract never sees it: the gateway stores it to map (patient, grantee) -> consent address.
 *
 * `issuedAt` (unix seconds), not a deadline: the link states a lasting fact (P controls X and uses it toward G)
 * that the gateway keeps for as long as the grants from X live, so it must not expire; replaying it only
 * repeats that fact. issuedAt orders the links of one (patient, grantee) pair (a newer one, e.g. after the wallet
 * moved the grantee to a new account, replaces the older one); verification refuses one issued in the future.
 */
export const CONSENT_ADDRESS_LINK_TYPES = {
  ConsentAddressLink: [
    { name: "patient", type: "address" },
    { name: "consentAddress", type: "address" },
    { name: "grantee", type: "address" },
    { name: "issuedAt", type: "uint64" },
  ],
} as const;

/** How far ahead of the verifier's clock a link's issuedAt may be (clock skew between devices), in seconds. */
export const MAX_LINK_CLOCK_SKEW_SECONDS = 300;

export interface ConsentAddressLinkMessage {
  /** The patient's main account (its did:ethr address). */
  readonly patient: string;
  /** The pairwise consent account that grants to `grantee` for the patient. */
  readonly consentAddress: string;
  readonly grantee: string;
  /** Unix seconds. */
  readonly issuedAt: number;
}

/** A link signed by both accounts; JSON-safe as it is (what the wallet sends and the gateway stores). */
export interface SignedConsentAddressLink extends ConsentAddressLinkMessage {
  /** 65-byte r‖s‖v hex by `patient`. */
  readonly patientSignature: string;
  /** 65-byte r‖s‖v hex by `consentAddress`. */
  readonly consentSignature: string;
}

export interface ConsentAddressLinkTypedData {
  readonly types: { readonly EIP712Domain: typeof EIP712_DOMAIN_TYPE } & typeof CONSENT_ADDRESS_LINK_TYPES;
  readonly primaryType: "ConsentAddressLink";
  readonly domain: ConsentDomainJson;
  readonly message: ConsentAddressLinkMessage;
}

/** The eth_signTypedData_v4 payload of a link (what the patient's wallet shows). */
export function buildConsentAddressLinkTypedData(
  domain: ConsentDomainInput,
  input: ConsentAddressLinkMessage,
): ConsentAddressLinkTypedData {
  return {
    types: { EIP712Domain: EIP712_DOMAIN_TYPE, ...CONSENT_ADDRESS_LINK_TYPES },
    primaryType: "ConsentAddressLink",
    domain: consentDomainJson(domain),
    message: toLinkMessage(input),
  };
}

/** The EIP-712 digest both accounts sign. */
export function consentAddressLinkDigest(domain: ConsentDomainInput, input: ConsentAddressLinkMessage): string {
  const json = consentDomainJson(domain);
  return TypedDataEncoder.hash(consentDomain(json.chainId, json.verifyingContract), LINK_FIELDS, toLinkMessage(input));
}

/**
 * Signs "consentSigner's address acts for patientSigner's address toward `grantee`" with both: the patient's
 * main wallet (its prompt shows the link) and the consent account (a local key: consentAccount(seed, index)).
 * `issuedAt` defaults to now. Checks the result as verifyConsentAddressLink does, so a wallet that signed with
 * another account than asked is caught here (ConsentAddressLinkError).
 */
export async function signConsentAddressLink(
  patientSigner: ConsentSigner,
  consentSigner: ConsentSigner,
  input: { readonly grantee: string; readonly issuedAt?: number },
  domain: ConsentDomainInput,
): Promise<SignedConsentAddressLink> {
  if (typeof input !== "object" || input === null)
    throw new InvalidInputError("input", `expected { grantee, issuedAt? }, got ${describe(input)}`);
  const patient = await signerAddress(patientSigner, "patientSigner");
  const consentAddress = await signerAddress(consentSigner, "consentSigner");
  const issuedAt = input.issuedAt ?? Math.floor(Date.now() / 1000);
  const payload = buildConsentAddressLinkTypedData(domain, {
    patient,
    consentAddress,
    grantee: input.grantee,
    issuedAt,
  });
  requireIssuedBy(payload.message.issuedAt, Date.now()); // before any prompt: a gateway would refuse it
  const consentSignature = await signTypedDataAs(consentSigner, payload, consentAddress);
  const patientSignature = await signTypedDataAs(patientSigner, payload, patient);
  return verifyConsentAddressLink({ ...payload.message, patientSignature, consentSignature }, domain);
}

/**
 * Checks a link received as JSON (the gateway, before storing it): every field, the domain, the patient's
 * signature and the consent account's. Returns the normalized link (checksummed addresses, signatures in
 * r‖s‖v form). Refuses with ConsentAddressLinkError a signature by anyone else (field "patientSignature" or
 * "consentSignature"), InvalidInputError a malformed field or an issuedAt more than MAX_LINK_CLOCK_SKEW_SECONDS
 * ahead of `options.now` (milliseconds, default Date.now()).
 */
export function verifyConsentAddressLink(
  link: unknown,
  domain: ConsentDomainInput,
  options: { readonly now?: number } = {},
): SignedConsentAddressLink {
  if (typeof link !== "object" || link === null || Array.isArray(link))
    throw new InvalidInputError("link", `expected a signed ConsentAddressLink object, got ${describe(link)}`);
  const record = link as Record<string, unknown>;
  const message = toLinkMessage(record as unknown as ConsentAddressLinkMessage);
  const digest = consentAddressLinkDigest(domain, message);
  const patientSignature = requireSignedBy(digest, record["patientSignature"], message.patient, "patientSignature");
  const consentSignature = requireSignedBy(
    digest,
    record["consentSignature"],
    message.consentAddress,
    "consentSignature",
  );
  requireIssuedBy(message.issuedAt, options.now ?? Date.now());
  return { ...message, patientSignature, consentSignature };
}

// ---------------------------------------------------------------------------------------------
// Recovery: which consent accounts did this seed use?
// ---------------------------------------------------------------------------------------------

/** Default run of consecutive unused accounts after which findConsentAccounts stops (BIP-44's gap limit). */
export const DEFAULT_CONSENT_GAP_LIMIT = 20;
/** Largest gapLimit: each eth_getLogs names up to gapLimit addresses, and nodes limit the size of a filter. */
export const MAX_CONSENT_GAP_LIMIT = 100;

export interface FindConsentAccountsOptions {
  /** The ConsentRegistry address; required with a Provider, taken from the client otherwise. */
  registry?: string;
  /** First block to scan: the registry's deployment block (HygeiaDeployment.deployedAt.block). Default 0. */
  fromBlock?: number;
  /** Stop after this many consecutive unused accounts (1..MAX_CONSENT_GAP_LIMIT). Default 20. */
  gapLimit?: number;
  /** Largest eth_getLogs block range; public RPC providers often cap it. Default 10,000. */
  maxBlockRange?: number;
  /** Bound on each request to the node, in milliseconds. Default: the client's, else 30 s. */
  readTimeoutMs?: number;
}

/** A consent account that wrote to the registry (a grant, revoke or emergency registration, or was broken into). */
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
  /** The used accounts, by index. */
  readonly accounts: readonly UsedConsentAccount[];
  /** The first index after the last used one: where the wallet takes its next account, so gaps stay short. */
  readonly nextIndex: number;
  /** The scan covered blocks fromBlock..toBlock (the head when it started). */
  readonly toBlock: number;
}

/**
 * Finds a patient's consent accounts from the seed alone (a new device, a restored wallet): scans the
 * registry's events by patient topic for accounts 0, 1, 2, ... (up to gapLimit addresses per eth_getLogs) and
 * stops after `gapLimit` consecutive accounts without any event. An account whose every grant is still unrelayed
 * is not found; nor is one past a longer gap (raise gapLimit). Node failures are typed (ChainUnavailableError
 * when it does not answer within readTimeoutMs, ChainRequestError when it refuses, e.g. a range too large:
 * lower maxBlockRange); a registry address without code is ContractNotDeployedError, not "no accounts".
 */
export async function findConsentAccounts(
  source: Provider | ConsentRegistryClient,
  consentAccountSeed: Uint8Array,
  options: FindConsentAccountsOptions = {},
): Promise<ConsentAccountScan> {
  const scan = checkScanOptions(source, options);
  consentAccount(consentAccountSeed, 0); // the seed is checked before the node is asked anything
  const { registry, timeoutMs } = scan;
  const operation = "findConsentAccounts";
  // One read-only client: its consentEventsOf pages the logs (the same code a wallet lists one address with).
  const client = new ConsentRegistryClient(registry, scan.provider, { readTimeoutMs: timeoutMs });
  try {
    const head = await askNode(node.blockNumber(scan.provider), timeoutMs, operation); // one head for every batch
    const used = new Map<number, { account: HDNodeWallet; events: ConsentEvent[] }>();
    let lastUsed = -1;
    let checkedTo = 0; // accounts [0, checkedTo) are scanned
    while (checkedTo < lastUsed + 1 + scan.gapLimit && checkedTo <= MAX_CONSENT_ACCOUNT_INDEX) {
      const end = Math.min(lastUsed + 1 + scan.gapLimit, MAX_CONSENT_ACCOUNT_INDEX + 1);
      const byAddress = new Map<string, { index: number; account: HDNodeWallet }>();
      for (let index = checkedTo; index < end; index++) {
        const account = consentAccount(consentAccountSeed, index);
        byAddress.set(account.address, { index, account });
      }
      const events = await client.consentEventsOf([...byAddress.keys()], {
        fromBlock: scan.fromBlock,
        toBlock: Math.max(head, scan.fromBlock), // fromBlock above the head is refused by consentEventsOf
        maxBlockRange: scan.maxBlockRange,
      });
      for (const event of events) {
        const { index, account } = byAddress.get(event.patient)!;
        const entry = used.get(index) ?? { account, events: [] };
        entry.events.push(event);
        used.set(index, entry);
        lastUsed = Math.max(lastUsed, index);
      }
      checkedTo = end;
    }
    const found = [...used.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, { account, events }]) => ({
        index,
        address: account.address,
        account,
        grantees: [...new Set(events.map((event) => event.grantee))],
        events,
      }));
    return { accounts: found, nextIndex: lastUsed + 1, toBlock: head };
  } catch (error) {
    throw toChainError(error, consentRegistryInterface, operation, registry);
  }
}

// ---------------------------------------------------------------------------------------------

const LINK_FIELDS: Record<string, TypedDataField[]> = {
  ConsentAddressLink: CONSENT_ADDRESS_LINK_TYPES.ConsentAddressLink.map((field) => ({ ...field })),
};

function toLinkMessage(input: ConsentAddressLinkMessage): ConsentAddressLinkMessage {
  if (typeof input !== "object" || input === null)
    throw new InvalidInputError(
      "link",
      `expected { patient, consentAddress, grantee, issuedAt }, got ${describe(input)}`,
    );
  const patient = requireNonZeroAddress(input.patient, "patient");
  const consentAddress = requireNonZeroAddress(input.consentAddress, "consentAddress");
  const grantee = requireNonZeroAddress(input.grantee, "grantee");
  if (consentAddress === patient)
    throw new InvalidInputError(
      "consentAddress",
      "is the patient's own address: a link names a pairwise consent account",
    );
  if (grantee === patient || grantee === consentAddress)
    throw new InvalidInputError(
      "grantee",
      "is the patient or the consent address itself: name the clinic or researcher",
    );
  return { patient, consentAddress, grantee, issuedAt: requireSmallUint(input.issuedAt, 48, "issuedAt") };
}

function requireIssuedBy(issuedAt: number, nowMs: unknown): void {
  if (typeof nowMs !== "number" || !Number.isFinite(nowMs))
    throw new InvalidInputError("now", `expected milliseconds since the epoch, got ${describe(nowMs)}`);
  if (issuedAt > Math.floor(nowMs / 1000) + MAX_LINK_CLOCK_SKEW_SECONDS) {
    throw new InvalidInputError(
      "issuedAt",
      `${issuedAt} lies more than ${MAX_LINK_CLOCK_SKEW_SECONDS} s in the future (unix seconds, not milliseconds?); ` +
        "a link is dated when it is signed: check the wallet's clock and sign it again",
    );
  }
}

/** The signature in r‖s‖v form when it recovers to `expected`; ConsentAddressLinkError otherwise. */
function requireSignedBy(
  digest: string,
  signature: unknown,
  expected: string,
  field: "patientSignature" | "consentSignature",
): string {
  let serialized: string;
  let actual: string;
  try {
    serialized = splitSignature(signature).signature;
    actual = recoverAddress(digest, serialized);
  } catch (error) {
    throw new ConsentAddressLinkError(field, expected, undefined, { cause: error });
  }
  if (actual !== expected) throw new ConsentAddressLinkError(field, expected, actual);
  return serialized;
}

async function signerAddress(signer: ConsentSigner, field: string): Promise<string> {
  if (typeof signer !== "object" || signer === null)
    throw new InvalidInputError(field, `expected an ethers Signer or { eip1193, account }, got ${describe(signer)}`);
  if ("eip1193" in signer) return requireAddress(signer.account, `${field}.account`);
  return getAddress(await signer.getAddress());
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
  timeoutMs: number;
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
  const maxBlockRange = requireSmallUint(options.maxBlockRange ?? 10_000, 32, "maxBlockRange");
  if (maxBlockRange === 0) throw new InvalidInputError("maxBlockRange", "must be at least 1");
  if (options.readTimeoutMs !== undefined) timeoutMs = requireTimeoutMs(options.readTimeoutMs, "readTimeoutMs");
  return {
    provider,
    registry,
    fromBlock: requireSmallUint(options.fromBlock ?? 0, 48, "fromBlock"),
    gapLimit,
    maxBlockRange,
    timeoutMs,
  };
}
