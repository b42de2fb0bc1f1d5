/**
 * ResearcherClient: a researcher over the gateway, proving the `researcher` role with a ResearcherCredential (a
 * JWT VC a medical board issued to the researcher's DID). Studies come in their own issue. Node-only (the identity
 * agent).
 *
 * Rules: the role is proved on the researcher's own session, for a fresh gateway challenge; a refusal is a
 * `RoleRefusedError` with the gateway's failed checks. What `connect` opened, `close` closes.
 */
import type { IdentityAgent } from "@hygeia/identity";
import type { HygeiaConnection } from "../connection.ts";
import {
  openRoleIdentity,
  presentRoleCredential,
  type RoleClientOptions,
  type RoleGranted,
  type RoleIdentity,
} from "../clinic/role.ts";

export type ResearcherClientOptions = RoleClientOptions;

export class ResearcherClient {
  readonly #identity: RoleIdentity;
  #credential: string | undefined;

  private constructor(identity: RoleIdentity) {
    this.#identity = identity;
  }

  /** Connects, signs the researcher in (SIWE) and finds (or imports) its DID key in the identity agent. */
  static async connect(options: ResearcherClientOptions): Promise<ResearcherClient> {
    return new ResearcherClient(await openRoleIdentity(options));
  }

  get did(): string {
    return this.#identity.did;
  }

  get address(): string {
    return this.#identity.address;
  }

  get connection(): HygeiaConnection {
    return this.#identity.connection;
  }

  get agent(): IdentityAgent {
    return this.#identity.agent;
  }

  /** The credential the researcher role was proved with, once presented. */
  get credential(): string | undefined {
    return this.#credential;
  }

  /**
   * Proves the researcher role on this session with a ResearcherCredential. Refused: `RoleRefusedError`
   * (ROLE_CREDENTIAL_REJECTED with the failed checks, or ROLE_HOLDER_MISMATCH).
   */
  async presentCredential(researcherCredential: string): Promise<RoleGranted> {
    const granted = await presentRoleCredential(this.#identity, "researcher", researcherCredential);
    this.#credential = researcherCredential;
    return granted;
  }

  close(): Promise<void> {
    return this.#identity.close();
  }
}
