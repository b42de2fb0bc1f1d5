// Typed errors. Every failure this package reports is a HygeiaCryptoError with a stable `code`, so callers can
// branch on `err.code` (or `instanceof`) without parsing messages. Messages never contain key material.

export const CryptoErrorCode = {
  /** A caller-supplied argument (option, length, type) is out of range or malformed. */
  InvalidArgument: "INVALID_ARGUMENT",
  /** Ciphertext, header binding or authentication tag failed verification (bit flip, reorder, wrong key). */
  Integrity: "INTEGRITY",
  /** The record ended before its final chunk: it was cut short or its final chunk was dropped. */
  Truncated: "TRUNCATED",
  /** Bytes follow the final chunk. */
  TrailingData: "TRAILING_DATA",
  /** Magic, format version, algorithm, flags or chunk size are not ones this implementation reads. */
  UnsupportedFormat: "UNSUPPORTED_FORMAT",
  /** A key (DEK, X25519 public or secret key, DID verification method) is malformed or unusable. */
  InvalidKey: "INVALID_KEY",
  /** A key wrap could not be opened: not addressed to this key pair, or tampered with. */
  UnwrapFailed: "UNWRAP_FAILED",
  /** A key wrap opened but was made for a different context (e.g. another record). */
  WrapContextMismatch: "WRAP_CONTEXT_MISMATCH",
  /** A wallet signature is malformed, not over the expected message, or not from the expected signer. */
  InvalidSignature: "INVALID_SIGNATURE",
  /** Two signatures over the same key-derivation message differ: the signer is not deterministic. */
  NonDeterministicSigner: "NON_DETERMINISTIC_SIGNER",
} as const;
export type CryptoErrorCode = (typeof CryptoErrorCode)[keyof typeof CryptoErrorCode];

/** Base class of every error thrown by @hygeia/crypto. */
export class HygeiaCryptoError extends Error {
  readonly code: CryptoErrorCode;

  constructor(code: CryptoErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export interface InvalidArgumentOptions extends ErrorOptions {
  /**
   * The offending argument or field ("plaintext", "keyIndex"): required, so every refusal says what to fix. A nested
   * field is named by its path in the argument ("metadata.created", "recipients[1].id"), an option by its name.
   */
  readonly field: string;
}

export class InvalidArgumentError extends HygeiaCryptoError {
  /** The offending argument or field (always set). */
  readonly field: string;

  constructor(message: string, options: InvalidArgumentOptions) {
    super(CryptoErrorCode.InvalidArgument, message, options);
    this.field = options.field;
  }
}

/**
 * The ciphertext is not authentic. Any plaintext already emitted by a streaming decrypt must be discarded.
 * TruncatedError and TrailingDataError are subclasses, so `instanceof IntegrityError` catches every integrity failure.
 */
export class IntegrityError extends HygeiaCryptoError {
  constructor(message: string, options?: ErrorOptions, code: CryptoErrorCode = CryptoErrorCode.Integrity) {
    super(code, message, options);
  }
}

export class TruncatedError extends IntegrityError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options, CryptoErrorCode.Truncated);
  }
}

export class TrailingDataError extends IntegrityError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options, CryptoErrorCode.TrailingData);
  }
}

export class UnsupportedFormatError extends HygeiaCryptoError {
  constructor(message: string, options?: ErrorOptions) {
    super(CryptoErrorCode.UnsupportedFormat, message, options);
  }
}

export class InvalidKeyError extends HygeiaCryptoError {
  constructor(message: string, options?: ErrorOptions) {
    super(CryptoErrorCode.InvalidKey, message, options);
  }
}

/** A wrap could not be opened. WrapContextMismatchError is a subclass. */
export class UnwrapError extends HygeiaCryptoError {
  constructor(message: string, options?: ErrorOptions, code: CryptoErrorCode = CryptoErrorCode.UnwrapFailed) {
    super(code, message, options);
  }
}

export class WrapContextMismatchError extends UnwrapError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options, CryptoErrorCode.WrapContextMismatch);
  }
}

export class InvalidSignatureError extends HygeiaCryptoError {
  constructor(message: string, options?: ErrorOptions) {
    super(CryptoErrorCode.InvalidSignature, message, options);
  }
}

export class NonDeterministicSignerError extends HygeiaCryptoError {
  constructor(message: string, options?: ErrorOptions) {
    super(CryptoErrorCode.NonDeterministicSigner, message, options);
  }
}

/**
 * A bad secret argument (consent secret, keystore secret, scope key, seed) by type and length only, for messages:
 * a secret passed as a hex or base64 string is still the secret and must never be echoed.
 */
export function describeSecret(value: unknown): string {
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (typeof value === "string") return `a ${value.length}-character string (pass the bytes, not a string)`;
  if (Array.isArray(value)) return `an array of ${value.length} elements`;
  if (value === null || value === undefined) return String(value);
  return typeof value === "object" ? `a ${value.constructor?.name ?? "object"}` : `a ${typeof value}`;
}
