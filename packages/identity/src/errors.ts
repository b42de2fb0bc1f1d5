// Typed errors of @hygeia/identity. Every error class carries its own stable `code` (no two classes share one),
// so callers can switch on the code alone.

export type IdentityErrorCode =
  | "INVALID_INPUT"
  | "UNKNOWN_DID"
  | "UNRESOLVABLE_DID"
  | "KEY_NOT_FOUND"
  | "SCHEMA_VIOLATION"
  | "CHAIN_UNAVAILABLE"
  | "WRONG_CHAIN"
  | "REGISTRY_NOT_FOUND"
  | "TRANSACTION_FAILED"
  | "STATUS_LIST_UNAVAILABLE"
  | "INVALID_STATUS_LIST"
  | "INVALID_CREDENTIAL"
  | "CLINIC_NOT_TRUSTED"
  | "AGENT_CLOSED"
  | "SECRET_BOX_KEY_MISMATCH"
  | "UNKNOWN_CLAIM"
  | "HOLDER_MISMATCH"
  | "HOLDER_KEY_FAILED"
  | "NO_ENCRYPTION_KEY"
  | "DATABASE_BUSY"
  | "DATABASE_FAILED"
  | "CHALLENGE_STORE_FULL";

export class HygeiaIdentityError extends Error {
  readonly code: IdentityErrorCode;
  constructor(code: IdentityErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** An argument failed validation; `field` names it. */
export class InvalidIdentityInputError extends HygeiaIdentityError {
  readonly field: string;
  constructor(field: string, message: string) {
    super("INVALID_INPUT", `${field}: ${message}`);
    this.field = field;
  }
}

/** The DID method or network is not one this agent resolves, or the DID is malformed. */
export class UnknownDidError extends HygeiaIdentityError {
  constructor(did: string, reason: string) {
    super("UNKNOWN_DID", `unknown DID ${truncate(did)}: ${reason}`);
  }
}

/** The DID is well-formed but could not be resolved (network failure, not found, deactivated). */
export class UnresolvableDidError extends HygeiaIdentityError {
  readonly resolutionError: string;
  constructor(did: string, resolutionError: string, options?: { cause?: unknown }) {
    super("UNRESOLVABLE_DID", `cannot resolve ${truncate(did)}: ${resolutionError}`, options);
    this.resolutionError = resolutionError;
  }
}

/** This agent holds no key for a DID (or key) it was asked to sign with; `field` names the argument, if any. */
export class KeyNotFoundError extends HygeiaIdentityError {
  readonly field: string | undefined;
  constructor(message: string, options?: { field?: string }) {
    super("KEY_NOT_FOUND", options?.field ? `${options.field}: ${message}` : message);
    this.field = options?.field;
  }
}

/** A credential subject does not match its type's JSON schema. */
export class SchemaViolationError extends HygeiaIdentityError {
  readonly violations: readonly string[];
  constructor(type: string, violations: readonly string[]) {
    super("SCHEMA_VIOLATION", `${type}: ${violations.join("; ")}`);
    this.violations = violations;
  }
}

export class IdentityChainUnavailableError extends HygeiaIdentityError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("CHAIN_UNAVAILABLE", message, options);
  }
}

/**
 * The node at `network.rpcUrl` serves another chain than `network.chainId`: DIDs would be read from, and
 * registry writes sent to, the wrong chain. Checked at the first call that needs the chain.
 */
export class WrongChainError extends HygeiaIdentityError {
  readonly field = "network.chainId";
  readonly rpcUrl: string;
  /** The chain id the node reports. */
  readonly actualChainId: number;
  /** The chain id the network settings say. */
  readonly expectedChainId: number;
  constructor(rpcUrl: string, actualChainId: number, expectedChainId: number) {
    super(
      "WRONG_CHAIN",
      `network.chainId: the node at ${redactUrl(rpcUrl)} is on chain ${actualChainId}, the network says ` +
        `${expectedChainId} (build the network with ethrNetworkFromDeployment(deployment, rpcUrl) from the ` +
        "deployment on that node, or point rpcUrl at a node of the right chain)",
    );
    this.rpcUrl = rpcUrl;
    this.actualChainId = actualChainId;
    this.expectedChainId = expectedChainId;
  }
}

/**
 * There is no ERC-1056 registry at `network.registry` on the node's chain (no contract there, or a contract that
 * is not one), so no did:ethr can be read or written there. The message says which.
 */
export class RegistryNotFoundError extends HygeiaIdentityError {
  readonly field = "network.registry";
  readonly registry: string;
  readonly chainId: number;
  constructor(registry: string, chainId: number, reason = "no contract code there") {
    super(
      "REGISTRY_NOT_FOUND",
      `network.registry: no ERC-1056 registry at ${truncate(registry)} on chain ${chainId} (${reason}; use ` +
        "deployment.contracts.EthereumDIDRegistry of the deployment on this chain)",
    );
    this.registry = registry;
    this.chainId = chainId;
  }
}

/**
 * A registry write (key publication, delegate, owner change) did not complete. The message says what happened:
 * nothing was sent (no funds for gas, refused by the registry in simulation, timed out before sending), or
 * transaction `txHash` was sent and then reverted, was replaced, or was not mined in time (it may still be).
 * `mined` lists the transactions of the same call that were mined before the failure (a publish sends several).
 */
export class TransactionFailedError extends HygeiaIdentityError {
  readonly txHash: string | undefined;
  readonly mined: readonly string[];
  constructor(txHash: string | undefined, message: string, options?: { cause?: unknown; mined?: readonly string[] }) {
    const mined = options?.mined ?? [];
    super(
      "TRANSACTION_FAILED",
      mined.length > 0 ? `${message} (mined before this: ${mined.join(", ")})` : message,
      options,
    );
    this.txHash = txHash;
    this.mined = mined;
  }
}

/** A status list could not be fetched, or the one fetched has expired (`expired`). */
export class StatusListUnavailableError extends HygeiaIdentityError {
  readonly expired: boolean;
  constructor(url: string, reason: string, options?: { cause?: unknown; expired?: boolean }) {
    super(
      "STATUS_LIST_UNAVAILABLE",
      `status list ${truncate(url)} unavailable: ${reason}`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.expired = options?.expired ?? false;
  }
}

/**
 * Which rule a status list broke (verifyStatusListCredential): its form (`MALFORMED`: not a JWT, no issuer, an
 * unknown type or purpose, an undecodable list), another issuer than expected, another URL than the one it is
 * served at, an algorithm other than ES256K, an issuer DID that could not be resolved (the resolution error is
 * the `cause`), a signature that does not verify, or its times (`VALIDITY`: no `iat` / `exp`, issued in the
 * future, valid too long).
 */
export type StatusListProblem =
  | "MALFORMED"
  | "ISSUER_MISMATCH"
  | "URL_MISMATCH"
  | "UNSUPPORTED_ALGORITHM"
  | "ISSUER_UNRESOLVABLE"
  | "BAD_SIGNATURE"
  | "VALIDITY";

export class InvalidStatusListError extends HygeiaIdentityError {
  /** Which rule the list broke; `MALFORMED` unless said otherwise. */
  readonly problem: StatusListProblem;
  constructor(message: string, options?: { problem?: StatusListProblem; cause?: unknown }) {
    super("INVALID_STATUS_LIST", message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.problem = options?.problem ?? "MALFORMED";
  }
}

/** A credential handed to the agent (to present, to disclose from) is not one; `field` names the argument. */
export class InvalidCredentialError extends HygeiaIdentityError {
  readonly field: string | undefined;
  constructor(message: string, options?: { field?: string; cause?: unknown }) {
    super("INVALID_CREDENTIAL", options?.field ? `${options.field}: ${message}` : message, options);
    this.field = options?.field;
  }
}

/**
 * The agent was closed: before the call (`pending` false), or while the call was waiting on the chain or the
 * key store (`pending` true; a transaction already sent may still be mined).
 */
export class AgentClosedError extends HygeiaIdentityError {
  readonly operation: string;
  readonly pending: boolean;
  constructor(operation: string, pending: boolean, options?: { cause?: unknown }) {
    super(
      "AGENT_CLOSED",
      pending
        ? `${operation} was cancelled: the identity agent was closed while it was pending`
        : `${operation}: the identity agent is closed (create a new one with IdentityAgent.create)`,
      options,
    );
    this.operation = operation;
    this.pending = pending;
  }
}

/**
 * The secretBoxKey given to IdentityAgent.create does not open the keys of an existing database: it is not the
 * key the database was created with.
 */
export class WrongSecretBoxKeyError extends HygeiaIdentityError {
  readonly field = "secretBoxKey";
  constructor(databasePath: string) {
    super(
      "SECRET_BOX_KEY_MISMATCH",
      `secretBoxKey: does not match the key store ${truncate(databasePath)} (its keys were sealed with another ` +
        "key); pass the secretBoxKey the database was created with",
    );
  }
}

/**
 * Another process kept the database (key store or challenge store) locked for longer than the busy timeout.
 * Several processes may share one database; each write waits for the others up to the timeout. Retry.
 */
export class DatabaseBusyError extends HygeiaIdentityError {
  readonly field = "databasePath";
  readonly databasePath: string;
  readonly busyTimeoutMs: number;
  constructor(databasePath: string, busyTimeoutMs: number, options?: { cause?: unknown }) {
    super(
      "DATABASE_BUSY",
      `databasePath: ${truncate(databasePath)} stayed locked by another process's write for more than ` +
        `${busyTimeoutMs} ms; retry (processes sharing one database take turns writing)`,
      options,
    );
    this.databasePath = databasePath;
    this.busyTimeoutMs = busyTimeoutMs;
  }
}

/** The database failed for another reason than a lock (disk full, I/O error, corrupt file); the message says which. */
export class DatabaseError extends HygeiaIdentityError {
  readonly field = "databasePath";
  readonly databasePath: string;
  constructor(databasePath: string, reason: string, options?: { cause?: unknown }) {
    super("DATABASE_FAILED", `databasePath: ${truncate(databasePath)}: ${reason}`, options);
    this.databasePath = databasePath;
  }
}

/** Claim names that the credential does not have (e.g. `disclose: ["ssn"]`); `disclosable` lists those it has. */
export class UnknownClaimError extends HygeiaIdentityError {
  readonly field: string;
  readonly unknownClaims: readonly string[];
  readonly disclosable: readonly string[];
  constructor(field: string, unknownClaims: readonly string[], disclosable: readonly string[]) {
    super(
      "UNKNOWN_CLAIM",
      `${field}: the credential has no claim ${unknownClaims.map((c) => JSON.stringify(truncate(c, 60))).join(", ")}` +
        ` (disclosable: ${disclosable.join(", ") || "none"})`,
    );
    this.field = field;
    this.unknownClaims = unknownClaims;
    this.disclosable = disclosable;
  }
}

/**
 * A holder was asked to present a credential that is not bound to it: a JWT VC whose subject is another DID, or
 * an SD-JWT VC whose subject or `cnf` key is not the holder's. A verifier would fail its holder-binding check, so
 * nothing is signed. `holder` and `subject` name both DIDs; `field` the argument to change.
 */
export class HolderMismatchError extends HygeiaIdentityError {
  readonly field: string;
  readonly holder: string;
  readonly subject: string | undefined;
  readonly reason: string;
  constructor(field: string, holder: string, subject: string | undefined, reason: string) {
    super(
      "HOLDER_MISMATCH",
      `${field}: ${truncate(holder)} cannot present this credential: ${reason}; a verifier would refuse it ` +
        `(holder-binding)${subject && subject !== holder ? `: only ${truncate(subject)} can present it` : ""}`,
    );
    this.field = field;
    this.holder = holder;
    this.subject = subject;
    this.reason = reason;
  }
}

/**
 * A DID publishes no X25519 keyAgreement key, so nothing can be sealed to it (at check-in: the verified clinic,
 * field "clinic"). Its holder publishes one with agent.publishEncryptionKey(did, publicKey).
 */
export class NoEncryptionKeyError extends HygeiaIdentityError {
  readonly field: string;
  readonly did: string;
  constructor(field: string, did: string) {
    super(
      "NO_ENCRYPTION_KEY",
      `${field}: ${truncate(did)} publishes no X25519 keyAgreement key, so nothing can be sealed to it (its ` +
        "holder publishes one with agent.publishEncryptionKey(did, publicKey))",
    );
    this.field = field;
    this.did = did;
  }
}

/**
 * A challenge store holds `maxLive` unexpired challenges already (a flood of issue() calls); none was issued.
 * Retry once some expired or were used, or raise maxLive.
 */
export class ChallengeStoreFullError extends HygeiaIdentityError {
  readonly maxLive: number;
  constructor(maxLive: number) {
    super(
      "CHALLENGE_STORE_FULL",
      `the challenge store holds ${maxLive} live challenges (maxLive): retry when some have expired or raise maxLive`,
    );
    this.maxLive = maxLive;
  }
}

/** Shortens untrusted strings before they go into messages (an oversized DID must not flood logs). */
export function truncate(value: string, max = 120): string {
  return value.length <= max ? value : `${value.slice(0, max)}…(${value.length} chars)`;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * An RPC URL fit for a message: scheme, host and port only. Providers put API keys in the path, the query or the
 * user info, and messages end up in logs and check reasons; the full URL stays on the error's `rpcUrl`.
 */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const hidden = parsed.username !== "" || parsed.pathname.length > 1 || parsed.search !== "" || parsed.hash !== "";
    return `${parsed.protocol}//${parsed.host}${hidden ? "/…" : ""}`;
  } catch {
    return "(an unparsable URL)";
  }
}

/**
 * A HolderKey failed to sign: its sign() threw, or returned something that is not an ES256K signature by its own
 * publicJwk() (checked before anything signed leaves the package). The signer's own error is `cause` only: its text
 * is the wallet's, not ours to copy into a message.
 */
export class HolderKeyError extends HygeiaIdentityError {
  readonly holder: string;
  constructor(holder: string, reason: string, options?: { cause?: unknown }) {
    super("HOLDER_KEY_FAILED", `the holder key of ${truncate(holder)} ${reason}`, options);
    this.holder = holder;
  }
}
