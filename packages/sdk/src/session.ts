/**
 * Sign-In with Ethereum (EIP-4361) against a gateway: nonce → message (the `siwe` package builds it, not string
 * concatenation) → the wallet signs it (personal_sign) → a session token on the transport.
 *
 * `WalletSigner` is the part of a wallet every client needs: an ethers `Signer` fits, and so does the web wallet's
 * EIP-1193 adapter. Clients never see a private key through it.
 */
import { SiweMessage } from "siwe";
import { getAddress, type Signer, type TypedDataDomain, type TypedDataField } from "ethers";
import type { HygeiaConnection } from "./connection.ts";
import type { GatewayTransport } from "./transport.ts";
import { HygeiaSdkError, UnexpectedResponseError } from "./errors.ts";

export interface WalletSigner {
  getAddress(): Promise<string>;
  signMessage(message: string): Promise<string>;
  signTypedData(
    domain: TypedDataDomain,
    types: Record<string, TypedDataField[]>,
    value: Record<string, unknown>,
  ): Promise<string>;
}

export interface Session {
  token: string;
  /** Lowercase, as the gateway stores it. */
  address: string;
  /** Unix ms. */
  expiresAt: number;
}

export interface SessionInfo {
  address: string;
  roles: string[];
  expiresAt: number;
}

interface NonceAnswer {
  nonce: string;
  domain: string;
  uri: string;
  chainId: number;
  statement: string;
}

/** Signs `signer` in at the transport's gateway and keeps the token on the transport. */
export async function signIn(transport: GatewayTransport, signer: WalletSigner): Promise<Session> {
  const fields = await transport.request<NonceAnswer>("GET", "/v1/auth/nonce", { auth: false });
  if (typeof fields?.nonce !== "string" || typeof fields.domain !== "string" || typeof fields.chainId !== "number")
    throw new UnexpectedResponseError("GET /v1/auth/nonce", "the answer is not a sign-in nonce");
  const message = new SiweMessage({
    domain: fields.domain,
    address: getAddress(await signer.getAddress()), // EIP-55, as EIP-4361 requires
    statement: fields.statement,
    uri: fields.uri,
    version: "1",
    chainId: fields.chainId,
    nonce: fields.nonce,
    issuedAt: new Date().toISOString(),
  }).prepareMessage();
  const signature = await signer.signMessage(message);
  const session = await transport.request<Session>("POST", "/v1/auth/verify", {
    json: { message, signature },
    auth: false,
  });
  transport.token = session.token;
  return session;
}

/** The session the transport's token stands for (address, roles, expiry). */
export function currentSession(transport: GatewayTransport): Promise<SessionInfo> {
  return transport.request<SessionInfo>("GET", "/v1/auth/session");
}

/** Ends the session at the gateway (its token and roles are refused from the next request on). */
export async function signOut(transport: GatewayTransport): Promise<void> {
  if (transport.token === undefined) return;
  await transport.request("POST", "/v1/auth/logout");
  transport.token = undefined;
}

/**
 * The wallet as a transaction sender on the connection's chain: an ethers Signer with a provider (a browser wallet's
 * `JsonRpcSigner` sends through the wallet), or one that `connect`s to the connection's provider (a keystore Wallet).
 * A wallet that can only sign messages is a SIGNER_CANNOT_SEND usage error.
 */
export function walletSender(signer: WalletSigner, connection: HygeiaConnection): Signer {
  const candidate = signer as Partial<Signer> & { connect?: (provider: unknown) => Signer };
  if (typeof candidate.sendTransaction === "function" && candidate.provider) return candidate as Signer;
  if (typeof candidate.connect === "function") return candidate.connect(connection.provider);
  throw new HygeiaSdkError(
    "SIGNER_CANNOT_SEND",
    "usage",
    "this wallet can sign messages but not send transactions, which publishing a key needs",
    { hint: "Connect a wallet that can send transactions (an ethers Signer with a provider)." },
  );
}
