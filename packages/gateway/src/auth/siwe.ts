// Sign-In with Ethereum (EIP-4361) for this gateway: parsing and signature checks are the `siwe` package's; the
// rules of what this gateway accepts are here, as a pure function tested directly.
//
// Safety rules:
// - The message must name this gateway: domain = the public URL's host (with port), URI on the public URL's
//   origin, scheme (when given) its scheme, chain id the deployment's. A message for another site or chain is
//   refused even with a valid signature (a phishing site cannot relay its sign-ins here).
// - Time: issued no later than now + skew and no earlier than now - maxMessageAge; not expired; not before its
//   notBefore. The session never outlives the message's expirationTime.
// - The nonce is consumed (single use, store-atomic) only after the signature verified, so a forged attempt does
//   not burn a real one, and of two replays exactly one can win.
// - Signatures: the EOA signer is recovered (secp256k1, once per sign-in, never per request); an address with
//   code gets EIP-1271 `isValidSignature` through siwe with the chain provider. A chain that cannot answer is a
//   503 (fail closed), never a sign-in.
import { SiweError, SiweMessage } from "siwe";
import { getAddress, isError, verifyMessage, type JsonRpcProvider } from "ethers";
import { BadRequestError, DependencyUnavailableError, UnauthenticatedError } from "../errors.ts";

/** Clock difference tolerated for issuedAt and notBefore, ms. */
export const SIWE_CLOCK_SKEW_MS = 30_000;
/** Longest SIWE message accepted (the schema refuses longer ones before parsing). */
export const MAX_SIWE_MESSAGE_LENGTH = 4096;

export interface SiweExpectations {
  /** The gateway's public URL (config.publicUrl). */
  publicUrl: string;
  chainId: number;
  /** Unix ms. */
  now: number;
  maxMessageAgeMs: number;
}

export type SiweRefusalCode =
  | "SIWE_DOMAIN_MISMATCH"
  | "SIWE_SCHEME_MISMATCH"
  | "SIWE_URI_MISMATCH"
  | "SIWE_CHAIN_MISMATCH"
  | "SIWE_ISSUED_IN_FUTURE"
  | "SIWE_MESSAGE_TOO_OLD"
  | "SIWE_EXPIRED"
  | "SIWE_NOT_YET_VALID";

export interface SiweRefusal {
  code: SiweRefusalCode;
  reason: string;
}

/** Parses an EIP-4361 message with `siwe`; a message it cannot parse is a 400 SIWE_MALFORMED. */
export function parseSiweMessage(text: string): SiweMessage {
  try {
    return new SiweMessage(text);
  } catch (error) {
    const hint = unchecksummedAddress(text) ? " (the address must be EIP-55 checksummed)" : "";
    throw new BadRequestError("SIWE_MALFORMED", `message is not an EIP-4361 Sign-In with Ethereum message${hint}`, {
      field: "body.message",
      cause: error,
    });
  }
}

/** The message's address line (its second) is a 0x address that is not in EIP-55 form: a common client mistake. */
function unchecksummedAddress(text: string): boolean {
  const line = text.split("\n", 3)[1]?.trim() ?? "";
  if (!/^0x[0-9a-fA-F]{40}$/.test(line)) return false;
  try {
    return getAddress(line) !== line;
  } catch {
    return true; // mixed case with a wrong checksum
  }
}

function time(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : Number.NaN;
}

/** Why this gateway refuses a parsed message before its signature is looked at; null when acceptable. */
export function siweRefusal(message: SiweMessage, expected: SiweExpectations): SiweRefusal | null {
  const site = new URL(expected.publicUrl);
  if (message.domain !== site.host)
    return {
      code: "SIWE_DOMAIN_MISMATCH",
      reason: `the message is for ${message.domain}, this gateway is ${site.host}`,
    };
  if (message.scheme !== undefined && `${message.scheme}:` !== site.protocol)
    return { code: "SIWE_SCHEME_MISMATCH", reason: `the message's scheme is not ${site.protocol.slice(0, -1)}` };
  let origin: string | undefined;
  try {
    origin = new URL(message.uri).origin;
  } catch {
    origin = undefined;
  }
  if (origin !== site.origin)
    return { code: "SIWE_URI_MISMATCH", reason: `the message's URI must be on ${site.origin}` };
  if (message.chainId !== expected.chainId)
    return {
      code: "SIWE_CHAIN_MISMATCH",
      reason: `the message is for chain ${message.chainId}, this gateway is on chain ${expected.chainId}`,
    };
  const issuedAt = time(message.issuedAt);
  const expiresAt = time(message.expirationTime);
  const notBefore = time(message.notBefore);
  if (issuedAt === undefined || Number.isNaN(issuedAt) || issuedAt > expected.now + SIWE_CLOCK_SKEW_MS)
    return { code: "SIWE_ISSUED_IN_FUTURE", reason: "the message's issuedAt is missing or in the future" };
  if (expected.now - issuedAt > expected.maxMessageAgeMs)
    return {
      code: "SIWE_MESSAGE_TOO_OLD",
      reason: `the message was issued more than ${Math.round(expected.maxMessageAgeMs / 1000)} s ago; sign a new one`,
    };
  if (expiresAt !== undefined && (Number.isNaN(expiresAt) || expiresAt <= expected.now))
    return { code: "SIWE_EXPIRED", reason: "the message's expirationTime has passed" };
  if (notBefore !== undefined && (Number.isNaN(notBefore) || notBefore > expected.now + SIWE_CLOCK_SKEW_MS))
    return { code: "SIWE_NOT_YET_VALID", reason: "the message's notBefore is in the future" };
  return null;
}

/** The message's expirationTime in unix ms, or undefined. */
export function siweExpiry(message: SiweMessage): number | undefined {
  const ms = time(message.expirationTime);
  return ms === undefined || Number.isNaN(ms) ? undefined : ms;
}

/**
 * Verifies the signature over the message: an EOA's by recovery; otherwise, when the address holds code, EIP-1271
 * through siwe and the chain. Throws 401 SIWE_SIGNATURE_INVALID, or 503 (chain) when the chain cannot answer.
 */
export async function verifySiweSignature(
  message: SiweMessage,
  signature: string,
  provider: JsonRpcProvider,
  now: number,
): Promise<void> {
  const invalid = () =>
    new UnauthenticatedError("SIWE_SIGNATURE_INVALID", "the signature is not the message's address's");
  let recovered: string | undefined;
  try {
    recovered = verifyMessage(message.prepareMessage(), signature);
  } catch {
    recovered = undefined;
  }
  if (recovered !== undefined && recovered === getAddress(message.address)) {
    // siwe re-checks the same (and its own field rules) without any chain call for an EOA.
    const result = await message.verify({ signature, time: new Date(now).toISOString() }, { suppressExceptions: true });
    if (!result.success) throw invalid();
    return;
  }
  let code: string;
  try {
    code = await provider.getCode(message.address);
  } catch (error) {
    throw new DependencyUnavailableError(
      "chain",
      "CHAIN_UNAVAILABLE",
      "the chain could not be asked about the signer",
      {
        cause: error,
      },
    );
  }
  if (code === "0x") throw invalid();
  // A contract wallet: EIP-1271 isValidSignature, through siwe (which takes an ethers provider).
  const result = await message.verify(
    { signature, time: new Date(now).toISOString() },
    { provider: provider as never, suppressExceptions: true },
  );
  if (result.success) return;
  // siwe reports the chain call's own error when the call failed: a revert or an answer that is not bytes4 is a
  // refusal by the wallet; anything else (network, timeout, node error) means the chain could not answer.
  const error = result.error;
  if (
    error instanceof Error &&
    !(error instanceof SiweError) &&
    !isError(error, "CALL_EXCEPTION") &&
    !isError(error, "BAD_DATA") &&
    !isError(error, "INVALID_ARGUMENT")
  )
    throw new DependencyUnavailableError(
      "chain",
      "CHAIN_UNAVAILABLE",
      "the chain could not check the wallet's signature",
      {
        cause: error,
      },
    );
  throw invalid();
}
