// Typed errors of @hygeia/identity. Every error carries a stable `code` callers can switch on.

export type IdentityErrorCode =
  | "INVALID_INPUT"
  | "UNKNOWN_DID"
  | "UNRESOLVABLE_DID"
  | "KEY_NOT_FOUND"
  | "SCHEMA_VIOLATION"
  | "CHAIN_UNAVAILABLE"
  | "TRANSACTION_FAILED"
  | "STATUS_LIST_UNAVAILABLE"
  | "INVALID_STATUS_LIST"
  | "INVALID_CREDENTIAL";

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

export class KeyNotFoundError extends HygeiaIdentityError {
  constructor(message: string) {
    super("KEY_NOT_FOUND", message);
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

/** A registry transaction (key publication, delegate, owner change) reverted or was not mined in time. */
export class TransactionFailedError extends HygeiaIdentityError {
  readonly txHash: string;
  constructor(txHash: string, reason: string) {
    super("TRANSACTION_FAILED", `transaction ${txHash} failed: ${reason}`);
    this.txHash = txHash;
  }
}

export class StatusListUnavailableError extends HygeiaIdentityError {
  constructor(url: string, reason: string, options?: { cause?: unknown }) {
    super("STATUS_LIST_UNAVAILABLE", `status list ${truncate(url)} unavailable: ${reason}`, options);
  }
}

export class InvalidStatusListError extends HygeiaIdentityError {
  constructor(message: string) {
    super("INVALID_STATUS_LIST", message);
  }
}

export class InvalidCredentialError extends HygeiaIdentityError {
  constructor(message: string) {
    super("INVALID_CREDENTIAL", message);
  }
}

/** Shortens untrusted strings before they go into messages (an oversized DID must not flood logs). */
export function truncate(value: string, max = 120): string {
  return value.length <= max ? value : `${value.slice(0, max)}…(${value.length} chars)`;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
