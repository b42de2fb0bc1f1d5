/**
 * The issuer's typed errors: what @hygeia/chain and @hygeia/identity throw, said as @hygeia/sdk errors with a hint
 * (by their stable `code`, never by message), and the status-list publication's refusals.
 */
import {
  ChainRequestError,
  ChainUnavailableError,
  ContractNotDeployedError,
  ContractRevertError,
  HygeiaChainError,
  InsufficientFundsError,
  InvalidInputError,
  NonceConflictError,
  TransactionReplacedError,
  TransactionTimeoutError,
} from "@hygeia/chain";
import {
  AgentClosedError,
  HygeiaIdentityError,
  InvalidIdentityInputError,
  KeyNotFoundError,
  SchemaViolationError,
} from "@hygeia/identity";
import { AccessRefusedError, HygeiaSdkError, SdkInputError, ServiceUnreachableError } from "../errors.ts";

/** The signer is not the TrustRegistry's governance (its owner): refused before anything is sent. */
export class NotGovernanceError extends AccessRefusedError {
  readonly signer: string;
  readonly governance: string;
  constructor(signer: string, governance: string) {
    super(
      "NOT_GOVERNANCE",
      `${signer} is not the TrustRegistry's governance (${governance}): only governance accredits or de-accredits issuers`,
      `Sign with the governance wallet (${governance}); nothing was sent.`,
    );
    this.signer = signer;
    this.governance = governance;
  }
}

/** A status change the credential's current status does not allow (reinstating a revoked credential, …). */
export class StatusChangeRefusedError extends HygeiaSdkError {
  constructor(code: string, message: string, hint: string) {
    super(code, "conflict", message, { hint });
  }
}

/** An error of @hygeia/chain while `action` (e.g. "accredit"), as an SDK error. */
export function fromChainError(error: unknown, action: string, rpcUrl: string): unknown {
  if (error instanceof HygeiaSdkError || !(error instanceof HygeiaChainError)) return error;
  if (error instanceof InvalidInputError)
    return new SdkInputError(error.field, error.detail, `Fix ${error.field}; nothing was sent.`);
  if (error instanceof ChainUnavailableError)
    return new ServiceUnreachableError("chain", rpcUrl, error.message, { cause: error });
  if (error instanceof InsufficientFundsError)
    return new HygeiaSdkError(
      "INSUFFICIENT_FUNDS",
      "usage",
      `${action}: the signing account ${error.address ?? ""} cannot pay for gas`,
      { hint: "Fund the signing account with ETH, then try again; nothing was sent.", field: "signer", cause: error },
    );
  if (error instanceof ContractRevertError) {
    if (error.errorName === "OwnableUnauthorizedAccount")
      return new AccessRefusedError(
        "NOT_GOVERNANCE",
        `${action}: the TrustRegistry refused: the signer is not its governance`,
        "Sign with the governance wallet (the deployment's `governance` address); nothing was sent.",
        { cause: error },
      );
    if (error.errorName === "WindowOverlapsHistory")
      return new HygeiaSdkError("ACCREDITATION_OVERLAP", "conflict", `${action}: ${error.message}`, {
        hint: "Read the issuer's standing and start the new window at its current end (or later).",
        cause: error,
      });
    if (error.errorName === "NotAccredited")
      return new HygeiaSdkError("NOT_ACCREDITED", "conflict", `${action}: the issuer holds no open accreditation`, {
        hint: "Read the issuer's standing: there is nothing to de-accredit.",
        cause: error,
      });
    return new HygeiaSdkError("CONTRACT_REVERT", "refused", `${action}: ${error.message}`, {
      hint: "The chain refused the transaction; read the current state and try again.",
      cause: error,
    });
  }
  if (error instanceof TransactionTimeoutError)
    return new HygeiaSdkError("TX_TIMEOUT", "unavailable", `${action}: ${error.message}`, {
      hint: `Transaction ${error.hash ?? "(not sent)"} may still be mined: read the standing before sending again.`,
      cause: error,
    });
  if (error instanceof TransactionReplacedError || error instanceof NonceConflictError)
    return new HygeiaSdkError(error.code, "conflict", `${action}: ${error.message}`, {
      hint: "Another sender used this account at the same time: read the standing, then try again.",
      cause: error,
    });
  if (error instanceof ContractNotDeployedError)
    return new HygeiaSdkError("CONTRACT_NOT_DEPLOYED", "usage", `${action}: ${error.message}`, {
      hint: "The deployment does not match this chain: check --rpc and the gateway's deployment.",
      cause: error,
    });
  if (error instanceof ChainRequestError)
    return new HygeiaSdkError(error.code, "unavailable", `${action}: ${error.message}`, {
      hint: "The chain node or the wallet refused; check the account before trying again.",
      cause: error,
    });
  return new HygeiaSdkError(error.code, "internal", `${action}: ${error.message}`, {
    hint: "Unexpected chain error; retry, and report it if it persists.",
    cause: error,
  });
}

/** An error of @hygeia/identity while `action`, as an SDK error. */
export function fromIdentityError(error: unknown, action: string): unknown {
  if (error instanceof HygeiaSdkError || !(error instanceof HygeiaIdentityError)) return error;
  if (error instanceof SchemaViolationError)
    return new SdkInputError(
      "claims",
      error.violations.join("; "),
      "Give exactly the claims the credential type's schema lists (see @hygeia/identity's credential types).",
    );
  if (error instanceof InvalidIdentityInputError) {
    const field = error.field === "validUntil" ? "expires" : error.field;
    return new SdkInputError(field, error.message.replace(/^[^:]*: /, ""));
  }
  if (error instanceof KeyNotFoundError)
    return new SdkInputError(
      "agent",
      `${action}: the identity agent holds no key for the issuer's DID`,
      "Pass an agent holding the issuer's did:ethr (importEthrDid), or a wallet signer with its private key.",
    );
  if (error instanceof AgentClosedError)
    return new HygeiaSdkError("CLIENT_CLOSED", "usage", `${action}: the issuer client was closed`, {
      hint: "Connect again.",
      cause: error,
    });
  return new HygeiaSdkError(error.code, "internal", `${action}: ${error.message}`, {
    hint: "Unexpected identity error; retry, and report it if it persists.",
    cause: error,
  });
}
