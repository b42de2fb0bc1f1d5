/**
 * What the clinic and researcher clients share: a connection, a signed-in session, an identity agent holding the
 * caller's did:ethr key, and proving a role at the gateway with a credential. Node-only (the identity agent keeps
 * its keys in node:sqlite).
 *
 * Rules:
 * - The DID is the signer's own did:ethr on the deployment's chain: the gateway attaches a role only to a
 *   presentation signed by the session's own DID, so the agent must hold the key of the signer's address.
 * - A role is proved with a JWT VP for a fresh single-use challenge of the gateway (`GET /v1/auth/roles/challenge`),
 *   never a replayed presentation; a refusal keeps the gateway's failed checks (`RoleRefusedError`).
 * - What the client opened (a connection, an in-memory agent) it closes; what it was given, it leaves open.
 */
import { getAddress } from "ethers";
import { IdentityAgent, createPresentation, ethrNetworkFromDeployment } from "@hygeia/identity";
import { HygeiaConnection, type ConnectOptions } from "../connection.ts";
import { GatewayProblemError, SdkInputError, UnexpectedResponseError } from "../errors.ts";
import { signIn, type Session, type WalletSigner } from "../session.ts";
import { RoleRefusedError, identityCall } from "./errors.ts";

/** How a role client connects: an open connection, or the options to open one. */
export interface RoleClientOptions extends ConnectOptions {
  /** An open connection to share (left open by `close()`); otherwise one is opened from the other options. */
  connection?: HygeiaConnection;
  /** The wallet that signs in (SIWE). An ethers `Wallet` also lets the client import its key into an agent. */
  signer: WalletSigner;
  /**
   * An identity agent holding the key of the signer's did:ethr (Node). Without it, the signer must be an ethers
   * Wallet (it has `privateKey`): its key is imported into an in-memory agent the client closes.
   */
  agent?: IdentityAgent;
}

export interface RoleGranted {
  /** Lowercase, as the gateway keeps it. */
  address: string;
  role: string;
  /** Every role the session holds now. */
  roles: string[];
  /** The credential's issuer DID. */
  issuer: string;
  /** When the credential (and so the role) lapses, unix ms, if it expires. */
  validUntil: number | null;
  /** The credential subject's claims the gateway read (clinicName, accreditationNumber, …). */
  claims: Record<string, unknown>;
}

export interface RoleIdentity {
  connection: HygeiaConnection;
  signer: WalletSigner;
  /** EIP-55. */
  address: string;
  /** The signer's did:ethr, as the agent spells it. */
  did: string;
  agent: IdentityAgent;
  session: Session;
  /** Closes what was opened for this identity (not what the caller passed in). */
  close(): Promise<void>;
}

/** Opens (or reuses) the connection, finds or imports the signer's DID in an agent, and signs in. */
export async function openRoleIdentity(options: RoleClientOptions): Promise<RoleIdentity> {
  if (typeof options !== "object" || options === null)
    throw new SdkInputError("options", "missing", "Pass { signer, connection } or { signer, gatewayUrl, rpcUrl }.");
  const signer = options.signer;
  if (typeof signer?.getAddress !== "function" || typeof signer.signMessage !== "function")
    throw new SdkInputError("signer", "not a wallet signer", "Pass an ethers Signer (a Wallet) or the web wallet.");
  const address = getAddress(await signer.getAddress());
  // The session token lives on the connection's transport: a connection already signed in belongs to someone else
  // (or another client), and signing in again would silently take it over.
  if (options.connection?.transport.token !== undefined)
    throw new SdkInputError(
      "connection",
      "already carries a session",
      "Open one connection per signer (or pass gatewayUrl / rpcUrl / deployment and let the client open its own).",
    );
  const ownsConnection = options.connection === undefined;
  const connection = options.connection ?? (await HygeiaConnection.open(options));
  let agent: IdentityAgent | undefined;
  const ownsAgent = options.agent === undefined;
  try {
    agent =
      options.agent ??
      (await identityCall("opening the identity agent", () =>
        IdentityAgent.create({
          network: ethrNetworkFromDeployment(connection.deployment, connection.rpcUrl),
          watchRegistry: false,
        }),
      ));
    const did = await didOfSigner(agent, address, signer);
    const session = await signIn(connection.transport, signer);
    const opened = agent;
    return {
      connection,
      signer,
      address,
      did,
      agent: opened,
      session,
      async close() {
        if (ownsAgent) await opened.close().catch(() => undefined);
        if (ownsConnection) connection.close();
      },
    };
  } catch (error) {
    if (ownsAgent) await agent?.close().catch(() => undefined);
    if (ownsConnection) connection.close();
    throw error;
  }
}

/** The agent's did:ethr owned by `address`, importing the signer's key when the agent holds none and it can. */
async function didOfSigner(agent: IdentityAgent, address: string, signer: WalletSigner): Promise<string> {
  const held = await identityCall("reading the identity agent's DIDs", () => agent.listDids());
  const own = held.find((d) => d.method === "ethr" && d.ownerAddress?.toLowerCase() === address.toLowerCase());
  if (own) return own.did;
  const privateKey = (signer as { privateKey?: unknown }).privateKey;
  if (typeof privateKey === "string")
    return (await identityCall("importing the wallet's key", () => agent.importEthrDid(privateKey))).did;
  throw new SdkInputError(
    "agent",
    `the identity agent holds no key of ${address}'s did:ethr`,
    "Import the wallet's key into the agent (agent.importEthrDid) or pass an ethers Wallet as signer.",
  );
}

interface RoleChallenge {
  challenge: string;
  domain: string;
}

/**
 * Proves `role` on the session with `credential` (a JWT VC issued to the identity's DID): a JWT VP for a fresh
 * gateway challenge. A refusal is a `RoleRefusedError` with the gateway's failed checks.
 */
export async function presentRoleCredential(
  identity: RoleIdentity,
  role: "clinic" | "researcher",
  credential: string,
): Promise<RoleGranted> {
  if (typeof credential !== "string" || credential.split(".").length !== 3)
    throw new SdkInputError(
      "credential",
      "not a JWT credential",
      `Pass the ${role === "clinic" ? "ClinicAccreditationCredential" : "ResearcherCredential"} as its issuer gave it (a JWT).`,
    );
  const { transport } = identity.connection;
  const challenge = await transport.request<RoleChallenge>("GET", "/v1/auth/roles/challenge");
  if (typeof challenge?.challenge !== "string" || typeof challenge.domain !== "string")
    throw new UnexpectedResponseError("GET /v1/auth/roles/challenge", "the answer is not a role challenge");
  const presentation = await identityCall(`presenting the ${role} credential`, () =>
    createPresentation(identity.agent, {
      holder: identity.did,
      credentials: [credential],
      challenge: challenge.challenge,
      domain: challenge.domain,
    }),
  );
  try {
    return await transport.request<RoleGranted>("POST", "/v1/auth/roles", {
      json: { role, presentation, challenge: challenge.challenge },
    });
  } catch (error) {
    if (
      error instanceof GatewayProblemError &&
      (error.code === "ROLE_CREDENTIAL_REJECTED" || error.code === "ROLE_HOLDER_MISMATCH")
    )
      throw new RoleRefusedError(role, error);
    throw error;
  }
}

/**
 * What the clinic's and the researcher's clients share: the signed-in identity (DID, address, agent, connection),
 * the role credential they proved their role with, and `close`.
 */
export abstract class RoleClient {
  protected readonly identity: RoleIdentity;
  readonly #role: "clinic" | "researcher";
  #credential: string | undefined;

  protected constructor(identity: RoleIdentity, role: "clinic" | "researcher", credential?: string) {
    this.identity = identity;
    this.#role = role;
    this.#credential = credential;
  }

  /** The client's did:ethr. */
  get did(): string {
    return this.identity.did;
  }

  /** The client's address (EIP-55). */
  get address(): string {
    return this.identity.address;
  }

  get connection(): HygeiaConnection {
    return this.identity.connection;
  }

  get agent(): IdentityAgent {
    return this.identity.agent;
  }

  /** The credential the role was proved with, once presented. */
  protected get roleCredential(): string | undefined {
    return this.#credential;
  }

  /** Proves the role on this session (`presentRoleCredential`) and keeps the credential. */
  protected async presentRole(credential: string): Promise<RoleGranted> {
    const granted = await presentRoleCredential(this.identity, this.#role, credential);
    this.#credential = credential;
    return granted;
  }

  /** Closes what `connect` opened. */
  close(): Promise<void> {
    return this.identity.close();
  }
}
