/**
 * Turns what ethers (and Node's HTTP stack) throw into the package's typed errors, so callers can
 * tell "the contract said no" (ContractRevertError) from "we could not ask" (ChainUnavailableError).
 */
import { isError, type Interface } from "ethers";
import {
  ChainRequestError,
  ChainUnavailableError,
  ContractNotDeployedError,
  ContractRevertError,
  HygeiaChainError,
  InsufficientFundsError,
  NonceConflictError,
} from "../errors.ts";

/** Socket-level failures Node reports before ethers sees a response. */
const NODE_NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EPIPE",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

/** Why the node could not be used, or undefined when `error` is not a transport failure. */
export function networkFailureReason(error: unknown): string | undefined {
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    if (typeof current !== "object") break;
    const { code, message } = current as { code?: unknown; message?: unknown };
    if (typeof code === "string" && NODE_NETWORK_CODES.has(code))
      return `${code}${typeof message === "string" ? `: ${message}` : ""}`;
    if (isError(current, "NETWORK_ERROR")) return `network error: ${current.shortMessage}`;
    if (isError(current, "TIMEOUT")) return `timeout: ${current.shortMessage}`;
    if (isError(current, "SERVER_ERROR")) return `server error: ${current.shortMessage}`;
    if (current instanceof ChainUnavailableError) return current.message;
    current = (current as { cause?: unknown; error?: unknown }).cause ?? (current as { error?: unknown }).error;
  }
  return undefined;
}

/**
 * Maps any error from a contract interaction to a typed error: never a raw one (anything
 * unrecognized becomes a ChainRequestError with the original as `cause`). `address` is the
 * contract, `account` the sending account when there is one.
 */
export function toChainError(
  error: unknown,
  iface: Interface,
  operation: string,
  address: string,
  account?: string,
): HygeiaChainError {
  if (error instanceof HygeiaChainError) return error;
  const unreachable = networkFailureReason(error);
  if (unreachable)
    return new ChainUnavailableError(`${operation}: the chain node is unavailable (${unreachable})`, { cause: error });
  if (isError(error, "INSUFFICIENT_FUNDS")) return new InsufficientFundsError(operation, account, { cause: error });
  if (isError(error, "NONCE_EXPIRED") || isError(error, "REPLACEMENT_UNDERPRICED"))
    return new NonceConflictError(operation, { address: account, attempts: 1 }, { cause: error });

  if (isError(error, "CALL_EXCEPTION")) {
    const data = typeof error.data === "string" ? error.data : "0x";
    const decoded = decodeRevert(iface, data);
    if (decoded) {
      const hint = revertHint(decoded.name, decoded.args);
      return new ContractRevertError(operation, decoded.name, decoded.args, data, { cause: error, hint });
    }
    if (error.revert) {
      const args = Object.fromEntries(error.revert.args.map((value, index) => [String(index), value as unknown]));
      return new ContractRevertError(operation, error.revert.name, args, data, { cause: error });
    }
    if (error.receipt) {
      // Mined with status 0: receipts carry no revert data. Usually a state change between
      // estimation and inclusion, or an explicit gasLimit that skipped estimation.
      return new ContractRevertError(operation, "unknown", { transactionHash: error.receipt.hash }, "0x", {
        cause: error,
        transactionHash: error.receipt.hash,
      });
    }
    return new ContractRevertError(operation, "unknown", {}, data, { cause: error });
  }
  if (isError(error, "BAD_DATA") && error.value === "0x") {
    return new ContractNotDeployedError(`${operation}: no contract answered at ${address} (wrong address or chain?)`, {
      cause: error,
    });
  }
  return unrecognized(error, operation);
}

/**
 * What to do about a custom error with a clear remedy (appended to the ContractRevertError's
 * message; callers branch on `.errorName`, never on the text). Every other error is decoded the same
 * way, by name and arguments, without a hint.
 */
const REVERT_HINTS: Readonly<Record<string, (args: Readonly<Record<string, unknown>>) => string>> = {
  WindowOverlapsHistory: (a) =>
    `a new window may not start before ${String(a["earliestAllowed"])} (the end of the previous window, or the ` +
    `time of its revocation): start the new window at ${String(a["earliestAllowed"])} or later`,
  StaleVersion: (a) => `the slot is now at version ${String(a["current"])}: sign again for that version`,
  StaleEpoch: (a) =>
    `the (patient, grantee) pair is at epoch ${String(a["current"])}, the message was signed for epoch ` +
    `${String(a["signed"])}: the registration changed since it was signed, so it can never be used; have the ` +
    "patient sign again with nextEmergencyGranteeTypedData (skipEpochs passes messages that may be held unrelayed)",
  EpochTooFarAhead: (a) =>
    `the message was signed for epoch ${String(a["signed"])}, more than 1000 above the (patient, grantee) pair's ` +
    `epoch ${String(a["current"])}: have the patient sign again with nextEmergencyGranteeTypedData (skipEpochs at most 1000)`,
  EmergencyWindowUsed: (a) =>
    `the registration's single window ended at ${String(a["windowEnd"])}: the patient must register the grantee again`,
  ScopeNotRegistered: () =>
    "the scope is not among the registration's scopes (or the proof is for another list); ask the patient",
  ZeroScopesRoot: () => "a registration must name its scopes (a Merkle root of at least one scope)",
  VersionOverflow: () => "the slot's version is at 2^32 - 1: it can never be written again",
  RenounceOwnershipDisabled: () =>
    "governance cannot be renounced; hand it over with transferOwnership + acceptOwnership",
};

function revertHint(name: string, args: Readonly<Record<string, unknown>>): string | undefined {
  return Object.hasOwn(REVERT_HINTS, name) ? REVERT_HINTS[name]!(args) : undefined;
}

/** A ChainRequestError naming ethers' code and short message (never the whole transaction dump). */
function unrecognized(error: unknown, operation: string): ChainRequestError {
  const { code, shortMessage, message } = (typeof error === "object" && error !== null ? error : {}) as {
    code?: unknown;
    shortMessage?: unknown;
    message?: unknown;
  };
  const reason = typeof code === "string" ? code : error instanceof Error ? error.name : "unknown";
  const text = typeof shortMessage === "string" ? shortMessage : typeof message === "string" ? message : String(error);
  const detail = text.length > 300 ? `${text.slice(0, 300)}…` : text;
  return new ChainRequestError(operation, reason, `${detail}; see the error's cause`, { cause: error });
}

/** Decodes custom-error revert data against the contract's ABI, named arguments by name. */
export function decodeRevert(
  iface: Interface,
  data: string,
): { name: string; args: Record<string, unknown> } | undefined {
  if (data.length < 10) return undefined;
  let parsed;
  try {
    parsed = iface.parseError(data);
  } catch {
    return undefined;
  }
  if (!parsed) return undefined;
  const args: Record<string, unknown> = {};
  parsed.fragment.inputs.forEach((input, index) => {
    args[input.name || String(index)] = parsed.args[index] as unknown;
  });
  return { name: parsed.name, args };
}
