/**
 * Typed errors of @hygeia/chain and the input checks that raise them.
 *
 * Every error carries a stable `code` so callers in other packages (gateway, SDK, CLI) can branch
 * on it without `instanceof` across module copies.
 */
import { getAddress, isHexString } from "ethers";

export class HygeiaChainError extends Error {
  readonly code: string = "HYGEIA_CHAIN_ERROR";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An argument failed validation before anything was sent to the chain. */
export class InvalidInputError extends HygeiaChainError {
  override readonly code: string = "INVALID_INPUT";
  /** Name of the offending field, e.g. "grantee" or "expiry". */
  readonly field: string;
  /** What is wrong, without the field name. */
  readonly detail: string;
  constructor(field: string, detail: string, options?: { cause?: unknown }) {
    super(`${field}: ${detail}`, options);
    this.field = field;
    this.detail = detail;
  }

  /** The same error about a field nested under `prefix` (e.g. "items[2]"), keeping its class. */
  within(prefix: string): InvalidInputError {
    const Same = this.constructor as new (
      field: string,
      detail: string,
      options?: { cause?: unknown },
    ) => InvalidInputError;
    return new Same(`${prefix}.${this.field}`, this.detail, { cause: this });
  }
}

export class InvalidPurposeError extends InvalidInputError {
  override readonly code = "INVALID_PURPOSE";
}

export class InvalidScopeError extends InvalidInputError {
  override readonly code = "INVALID_SCOPE";
}

/**
 * breakGlass was given the registration's scope list, but its Merkle root is not the root the
 * patient registered (a list from another registration, or a scope missing or added). Nothing was
 * sent. `.field` is "scopes"; `.registeredRoot` is on chain, `.computedRoot` from the list.
 */
export class EmergencyScopesMismatchError extends InvalidInputError {
  override readonly code = "EMERGENCY_SCOPES_MISMATCH";
  readonly registeredRoot: string;
  readonly computedRoot: string;
  constructor(registeredRoot: string, computedRoot: string, options?: { cause?: unknown }) {
    super(
      "scopes",
      `the list's Merkle root ${computedRoot} is not the registered root ${registeredRoot}: ask the patient for ` +
        `the scope list of the current registration (a re-registration replaces it)`,
      options,
    );
    this.registeredRoot = registeredRoot;
    this.computedRoot = computedRoot;
  }
}

/** A signature is malformed or was not made by the expected account. */
export class SignatureError extends HygeiaChainError {
  override readonly code: string = "INVALID_SIGNATURE";
}

/**
 * The account that signs (or signed) a consent message is not the patient the message is for,
 * e.g. a clinic's wallet asked to sign a patient's grant. Nothing was signed when `stage` is "before".
 */
export class WrongSignerError extends SignatureError {
  override readonly code = "WRONG_SIGNER";
  /** The intended patient. */
  readonly expected: string;
  /** The account that signs / signed. */
  readonly actual: string;
  constructor(expected: string, actual: string, options?: { cause?: unknown }) {
    super(
      `the consent is for patient ${expected} but is signed by ${actual}: ` +
        `sign with the patient's own wallet (or connect the patient's account)`,
      options,
    );
    this.expected = expected;
    this.actual = actual;
  }
}

/** The contract reverted; `errorName`/`args` come from the contract's ABI custom errors. */
export class ContractRevertError extends HygeiaChainError {
  override readonly code = "CONTRACT_REVERT";
  /** Custom error name ("StaleVersion"), "Error" for require strings, "Panic", or "unknown". */
  readonly errorName: string;
  /** Decoded arguments by name (and by position for unnamed ones). */
  readonly args: Readonly<Record<string, unknown>>;
  /** Raw revert data, "0x" when the node did not return any. */
  readonly data: string;
  /** "ConsentRegistry.grant" and the like. */
  readonly operation: string;
  /**
   * The hash of a transaction that was sent, mined and reverted (status 0; also in `args.transactionHash`);
   * undefined for a simulation's revert, which sent nothing.
   */
  readonly transactionHash: string | undefined;
  /**
   * `options.hint`: what to do about it, appended to the message ("start the new window at …"); the
   * package adds one for the contracts' errors that have a clear remedy (chain-errors.ts).
   * `options.transactionHash`: set for a mined revert.
   */
  constructor(
    operation: string,
    errorName: string,
    args: Record<string, unknown>,
    data: string,
    options?: { cause?: unknown; hint?: string; transactionHash?: string },
  ) {
    const shown = Object.entries(args)
      .filter(([key]) => !/^\d+$/.test(key))
      .map(([key, value]) => `${key}=${String(value)}`)
      .join(", ");
    const hint = options?.hint ? `: ${options.hint}` : "";
    super(`${operation} reverted with ${errorName}(${shown})${hint}`, { cause: options?.cause });
    this.errorName = errorName;
    this.args = args;
    this.data = data;
    this.operation = operation;
    this.transactionHash = options?.transactionHash;
  }
}

/** The node could not be reached or did not answer; nothing can be concluded about chain state. */
export class ChainUnavailableError extends HygeiaChainError {
  override readonly code = "CHAIN_UNAVAILABLE";
}

/** What a transaction wait is waiting for when it times out. */
export type TransactionPhase = "send" | "inclusion" | "confirmations";

/**
 * A transaction did not get broadcast, mined or confirmed within its bound. The transaction may
 * still be mined later: look its hash up before sending it again (or send a replacement with the
 * same nonce). The sender resynchronizes its nonce from the chain after this error.
 */
export class TransactionTimeoutError extends HygeiaChainError {
  override readonly code = "TX_TIMEOUT";
  readonly operation: string;
  readonly phase: TransactionPhase;
  readonly timeoutMs: number;
  /** Known once the transaction is signed (always for local signers, after the node answers otherwise). */
  readonly hash: string | undefined;
  readonly nonce: number | undefined;
  constructor(
    operation: string,
    phase: TransactionPhase,
    timeoutMs: number,
    tx: { hash?: string | undefined; nonce?: number | undefined },
    options?: { cause?: unknown },
  ) {
    const what = {
      send: "was not accepted by the node",
      inclusion: "was not mined",
      confirmations: "did not reach its confirmations",
    }[phase];
    const id = [tx.hash && `hash ${tx.hash}`, tx.nonce !== undefined && `nonce ${tx.nonce}`].filter(Boolean).join(", ");
    super(
      `${operation}: the transaction ${what} within ${timeoutMs} ms${id ? ` (${id})` : ""}. ` +
        (tx.hash
          ? `It may still be mined: check ${tx.hash} before sending it again.`
          : "It may still be mined: check the account's transactions before sending it again."),
      options,
    );
    this.operation = operation;
    this.phase = phase;
    this.timeoutMs = timeoutMs;
    this.hash = tx.hash;
    this.nonce = tx.nonce;
  }
}

/** Another transaction with the same nonce was mined instead of ours: the write did not happen. */
export class TransactionReplacedError extends HygeiaChainError {
  override readonly code = "TX_REPLACED";
  readonly operation: string;
  readonly hash: string;
  readonly nonce: number;
  constructor(operation: string, hash: string, nonce: number, options?: { cause?: unknown }) {
    super(
      `${operation}: transaction ${hash} was replaced by another transaction with nonce ${nonce} ` +
        "(sent from the same account elsewhere); it did not take effect, send it again if still wanted",
      options,
    );
    this.operation = operation;
    this.hash = hash;
    this.nonce = nonce;
  }
}

/**
 * The account cannot pay for the transaction (gas × fee + value): the node refused it, nothing
 * was sent. Fund the account (for a relayer: its hot wallet) and send again.
 */
export class InsufficientFundsError extends HygeiaChainError {
  override readonly code = "INSUFFICIENT_FUNDS";
  readonly operation: string;
  /** The account that would have paid; undefined when not known. */
  readonly address: string | undefined;
  constructor(operation: string, address: string | undefined, options?: { cause?: unknown }) {
    const who = address ?? "the sending account";
    super(
      `${operation}: ${who} has not enough ETH to pay for the transaction (gas × fee + value); nothing was sent. ` +
        `Fund ${who} (for a relayer: its hot wallet) and send again`,
      options,
    );
    this.operation = operation;
    this.address = address;
  }
}

/**
 * The node refused the nonce: another sender of this account (another process, another provider
 * object) took it first, every time this call tried. Nothing was sent by this call; sending again
 * is safe. With a pinned nonce: that nonce is used, or a transaction with it is pending and the fee
 * is too low to replace it.
 */
export class NonceConflictError extends HygeiaChainError {
  override readonly code = "NONCE_CONFLICT";
  readonly operation: string;
  readonly address: string | undefined;
  /** The last nonce tried. */
  readonly nonce: number | undefined;
  /** How many nonces were tried. */
  readonly attempts: number;
  constructor(
    operation: string,
    tx: { address?: string | undefined; nonce?: number | undefined; attempts: number; pinned?: boolean },
    options?: { cause?: unknown },
  ) {
    const who = tx.address ?? "the sending account";
    const last = tx.nonce === undefined ? "" : ` (last tried: nonce ${tx.nonce})`;
    super(
      tx.pinned
        ? `${operation}: nonce ${tx.nonce} of ${who} is already used, or taken by a pending transaction whose fee ` +
            "this one does not outbid by 10%; nothing was sent by this call"
        : `${operation}: the nonce was taken by another sender of ${who}` +
            `${tx.attempts > 1 ? ` on each of ${tx.attempts} tries` : ""}${last}; nothing was sent by this call. ` +
            "Send again; better, give each process that writes its own account",
      options,
    );
    this.operation = operation;
    this.address = tx.address;
    this.nonce = tx.nonce;
    this.attempts = tx.attempts;
  }
}

/**
 * The node or the signer refused a request for a reason this package does not recognize. `reason`
 * is the ethers error code ("UNKNOWN_ERROR", "ACTION_REJECTED", ...), the original error is `cause`.
 * Whether anything was sent is not known: check the account's transactions before sending again.
 */
export class ChainRequestError extends HygeiaChainError {
  override readonly code = "CHAIN_REQUEST_FAILED";
  readonly operation: string;
  readonly reason: string;
  constructor(operation: string, reason: string, detail: string, options?: { cause?: unknown }) {
    super(`${operation} failed (${reason}): ${detail}`, options);
    this.operation = operation;
    this.reason = reason;
  }
}

/** No contract code at the configured address (wrong address, wrong chain, or not deployed yet). */
export class ContractNotDeployedError extends HygeiaChainError {
  override readonly code = "CONTRACT_NOT_DEPLOYED";
}

/**
 * The node is on another chain than the one expected (the indexer's `chainId` option or its
 * checkpoint's chain): a configuration error, not retried.
 */
export class WrongChainError extends HygeiaChainError {
  override readonly code = "WRONG_CHAIN";
  /** The chain id the node reports. */
  readonly actualChainId: number;
  /** The chain id expected. */
  readonly expectedChainId: number;
  constructor(actualChainId: number, expectedChainId: number, detail: string, options?: { cause?: unknown }) {
    super(`the node is on chain ${actualChainId}, ${detail} expects chain ${expectedChainId}`, options);
    this.actualChainId = actualChainId;
    this.expectedChainId = expectedChainId;
  }
}

/**
 * A chain id above 2^53 - 1 where the package keeps chain ids as JS numbers (deployHygeia and
 * deployment files, whose `chainId` other packages read as a number; the consent indexer's option,
 * status and checkpoints), which would round it (2^53 + 1 becomes 2^53): refused, never rounded.
 * The clients and EIP-712 signing keep any uint64 chain id exact. `.chainId` is the id as known
 * (exact, unless it came from a JSON number that was already rounded).
 */
export class UnsupportedChainIdError extends HygeiaChainError {
  override readonly code = "UNSUPPORTED_CHAIN_ID";
  readonly chainId: bigint;
  /** What refused it: "deployHygeia", "deployment file", "ConsentIndexer", ... */
  readonly operation: string;
  constructor(chainId: bigint, operation: string, options?: { cause?: unknown; note?: string }) {
    super(
      `${operation}: chain id ${chainId}${options?.note ? ` ${options.note}` : ""} is above 2^53 - 1 ` +
        `(${MAX_SAFE_CHAIN_ID}), which a JS number would round; deployment files and the consent indexer ` +
        "keep chain ids as numbers, so such a chain is refused (use a chain id up to 2^53 - 1)",
      options,
    );
    this.chainId = chainId;
    this.operation = operation;
  }
}

/** The indexer cannot vouch for its view of the chain; callers must fail closed. */
export class IndexerStaleError extends HygeiaChainError {
  override readonly code = "INDEXER_STALE";
}

/** A reorg went below the oldest block the indexer keeps undo data for. */
export class ReorgTooDeepError extends HygeiaChainError {
  override readonly code = "REORG_TOO_DEEP";
}

/** Events did not line up (a version skipped): the node served incomplete logs, so the index is rebuilt. */
export class IndexerInconsistencyError extends HygeiaChainError {
  override readonly code = "INDEXER_INCONSISTENT";
}

/** A checkpoint is malformed or belongs to another chain / contract. */
export class InvalidCheckpointError extends HygeiaChainError {
  override readonly code = "INVALID_CHECKPOINT";
}

// ---------------------------------------------------------------------------------------------
// Input checks. Each returns the normalized value or throws InvalidInputError naming the field.
// ---------------------------------------------------------------------------------------------

// Inputs already accepted -> their checksummed form. EIP-55 costs a keccak-256 per call, and a consent check
// validates the same few addresses on every request (the indexer's hot path). The answer is a pure function of the
// input string, so the cache changes no answer (a bad checksum is never cached: it throws again); it is bounded by
// clearing when full.
const CHECKSUMMED = new Map<string, string>();
const CHECKSUMMED_MAX = 4096;

/** A 20-byte address; mixed case must carry a valid EIP-55 checksum. Returns the checksummed form. */
export function requireAddress(value: unknown, field: string): string {
  if (typeof value === "string") {
    const known = CHECKSUMMED.get(value);
    if (known !== undefined) return known;
  }
  if (typeof value !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(value)) {
    // 32 bytes of hex where an address belongs may be a private key (an account's .privateKey): never echoed.
    const got =
      typeof value === "string" && /^(0x)?[0-9a-fA-F]{64}$/.test(value)
        ? "32 bytes of hex (a private key? pass the account's .address; the value is not shown)"
        : describe(value);
    throw new InvalidInputError(field, `expected a 0x-prefixed 20-byte hex address, got ${got}`);
  }
  let checksummed: string;
  try {
    checksummed = getAddress(value);
  } catch (error) {
    throw new InvalidInputError(field, `bad EIP-55 checksum in ${value}`, { cause: error });
  }
  if (CHECKSUMMED.size >= CHECKSUMMED_MAX) CHECKSUMMED.clear();
  CHECKSUMMED.set(value, checksummed);
  return checksummed;
}

/** Like requireAddress but also refuses the zero address, which the contracts reject anyway. */
export function requireNonZeroAddress(value: unknown, field: string): string {
  const address = requireAddress(value, field);
  if (/^0x0{40}$/.test(address)) throw new InvalidInputError(field, "the zero address is not allowed");
  return address;
}

/** A 32-byte hex value, returned lowercase. */
export function requireBytes32(value: unknown, field: string): string {
  if (typeof value !== "string" || !isHexString(value, 32)) {
    throw new InvalidInputError(field, `expected 0x-prefixed 32-byte hex, got ${describe(value)}`);
  }
  return value.toLowerCase();
}

/**
 * An unsigned integer that fits `bits` bits. Accepts bigint, safe-integer numbers and decimal
 * strings (the JSON form of uint64/uint256); refuses floats, negatives, hex and unsafe numbers.
 */
export function requireUint(value: unknown, bits: number, field: string): bigint {
  let result: bigint;
  if (typeof value === "bigint") {
    result = value;
  } else if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new InvalidInputError(field, `expected an integer, got ${describe(value)}`);
    result = BigInt(value);
  } else if (typeof value === "string" && /^(0|[1-9][0-9]*)$/.test(value)) {
    result = BigInt(value);
  } else {
    throw new InvalidInputError(field, `expected a uint${bits}, got ${describe(value)}`);
  }
  if (result < 0n) throw new InvalidInputError(field, `must not be negative, got ${result}`);
  if (result >= 1n << BigInt(bits)) throw new InvalidInputError(field, `does not fit in uint${bits}: ${result}`);
  return result;
}

/** Largest chain id kept as a JS number (deployment files, the indexer): 2^53 - 1. */
export const MAX_SAFE_CHAIN_ID = Number.MAX_SAFE_INTEGER;

/**
 * A chain id (bigint, number or decimal string) as an exact JS number: 1 .. 2^53 - 1. Above that,
 * UnsupportedChainIdError naming `operation` (an unsafe number too: it may already be rounded);
 * 0, negatives and non-integers are InvalidInputError for `field`.
 */
export function requireSafeChainId(value: unknown, field: string, operation: string): number {
  if (typeof value === "number" && Number.isInteger(value) && value > MAX_SAFE_CHAIN_ID)
    throw new UnsupportedChainIdError(BigInt(value), operation, { note: "(a JS number, possibly rounded already)" });
  const id = requireUint(value, 256, field);
  if (id === 0n) throw new InvalidInputError(field, "a chain id must not be 0");
  if (id > BigInt(MAX_SAFE_CHAIN_ID)) throw new UnsupportedChainIdError(id, operation);
  return Number(id);
}

/** Node fires a timer set longer than 2^31 − 1 ms (about 24.8 days) after 1 ms: the longest wait a timeout can mean. */
export const MAX_TIMEOUT_MS = 2_147_483_647;

/** A positive whole number of milliseconds that a timer can really wait (at most MAX_TIMEOUT_MS). */
export function requireTimeoutMs(value: unknown, field: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0 || value > MAX_TIMEOUT_MS) {
    throw new InvalidInputError(
      field,
      `expected a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS} (about 24.8 days; a longer timer ` +
        `would fire at once), got ${describe(value)}`,
    );
  }
  return value;
}

/**
 * For whole seconds refused as above `max`: "; <value> looks like milliseconds: divide by 1000 (<value / 1000> s)"
 * when value / 1000 is whole and within [min, max], else "" (a duration's milliseconds rule).
 */
export function millisecondsHint(value: number, min: number, max: number): string {
  const seconds = value / 1000;
  return value > max && value % 1000 === 0 && seconds >= min && seconds <= max
    ? `; ${value} looks like milliseconds: divide by 1000 (${seconds} s)`
    : "";
}

/** requireUint for widths that fit a JS number (uint8, uint32). */
export function requireSmallUint(value: unknown, bits: 8 | 16 | 32 | 48, field: string): number {
  return Number(requireUint(value, bits, field));
}

/** Short, PHI-safe rendering of a bad value for error messages (never dumps large inputs). */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "string")
    return value.length > 80 ? `a ${value.length}-character string` : JSON.stringify(value);
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "undefined") return String(value);
  return Array.isArray(value) ? "an array" : `a value of type ${typeof value}`;
}

/**
 * A scan of registry events (findConsentAccounts, consentEventsOf) stopped at a bound instead of running on: `.field`
 * names the option ("maxAccounts": more used accounts than allowed, "maxBlockWindows": the block range needs more
 * eth_getLogs calls than allowed). A node that forges events can cause either; a patient with that many accounts,
 * or a scan from block 0 of a long chain, too: raise the bound, or pass fromBlock (the registry's deployment block).
 */
export class ScanLimitError extends InvalidInputError {
  override readonly code = "SCAN_LIMIT_EXCEEDED";
}

/** A scan of registry events was stopped by its `signal` (`cause`: the signal's reason, e.g. a TimeoutError). */
export class ScanAbortedError extends HygeiaChainError {
  override readonly code = "SCAN_ABORTED";
  constructor(operation: string, reason: unknown) {
    super(
      `${operation}: stopped by its signal (${reason instanceof Error ? reason.name : "aborted"}); nothing is returned`,
      {
        cause: reason,
      },
    );
  }
}

/** Throws ScanAbortedError when `signal` is aborted; refuses a value that is not an AbortSignal. */
export function throwIfAborted(signal: AbortSignal | undefined, operation: string): void {
  if (signal?.aborted === true) throw new ScanAbortedError(operation, signal.reason);
}

/** An optional AbortSignal option, checked. */
export function requireSignal(value: unknown, field: string): AbortSignal | undefined {
  if (value === undefined || value instanceof AbortSignal) return value;
  throw new InvalidInputError(field, `expected an AbortSignal (e.g. AbortSignal.timeout(ms)), got ${describe(value)}`);
}

/**
 * A bad secret parameter (scope key, consent-account seed, consent secret) described by its type and length only:
 * a key passed as hex or base64 is still the key, so describe()'s echo of short strings must never see it.
 */
export function describeSecret(value: unknown): string {
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (typeof value === "string")
    return `a ${value.length}-character string (pass the bytes, e.g. getBytes(hex) from ethers, not a string)`;
  if (Array.isArray(value)) return `an array of ${value.length} elements`;
  if (value === null || value === undefined) return String(value);
  return `a value of type ${typeof value === "object" ? (value.constructor?.name ?? "object") : typeof value}`;
}

/**
 * A ConsentAddressLink (consent-address-link.ts) is not signed by whom it names. `.field` is the signature at fault:
 * "patientSignature" (not by `.expected`, the patient: someone attaches an address to a patient who never said
 * so; a changed field, or a link made for another chain or registry, shows here too) or "consentSignature" (not
 * by the consent address: someone claims an address they do not control, e.g. another patient's). `.actual` is
 * the address the signature recovers to, undefined when it is missing or malformed.
 */
export class ConsentAddressLinkError extends SignatureError {
  override readonly code = "INVALID_CONSENT_ADDRESS_LINK";
  readonly field: "patientSignature" | "consentSignature";
  readonly expected: string;
  readonly actual: string | undefined;
  constructor(
    field: "patientSignature" | "consentSignature",
    expected: string,
    actual: string | undefined,
    options?: { cause?: unknown },
  ) {
    const who = field === "patientSignature" ? "the patient" : "the consent address";
    const got = actual === undefined ? "is missing or malformed" : `was made by ${actual}`;
    super(
      `consent address link: ${field} must be made by ${who} ${expected} but ${got}. Ask the patient's wallet ` +
        "for a new link (signConsentAddressLink); a link is valid only exactly as signed, for one chain and registry",
      options,
    );
    this.field = field;
    this.expected = expected;
    this.actual = actual;
  }
}
