/**
 * ResearcherClient: a researcher over the gateway, proving the `researcher` role with a ResearcherCredential (a
 * JWT VC a medical board issued to the researcher's DID). Studies come in their own issue. Node-only (the identity
 * agent).
 *
 * Rules: the role is proved on the researcher's own session, for a fresh gateway challenge; a refusal is a
 * `RoleRefusedError` with the gateway's failed checks. What `connect` opened, `close` closes.
 */
import {
  RoleClient,
  openRoleIdentity,
  type RoleClientOptions,
  type RoleGranted,
  type RoleIdentity,
} from "../clinic/role.ts";

export type ResearcherClientOptions = RoleClientOptions;

export class ResearcherClient extends RoleClient {
  private constructor(identity: RoleIdentity) {
    super(identity, "researcher");
  }

  /** Connects, signs the researcher in (SIWE) and finds (or imports) its DID key in the identity agent. */
  static async connect(options: ResearcherClientOptions): Promise<ResearcherClient> {
    return new ResearcherClient(await openRoleIdentity(options));
  }

  /** The credential the researcher role was proved with, once presented. */
  get credential(): string | undefined {
    return this.roleCredential;
  }

  /**
   * Proves the researcher role on this session with a ResearcherCredential. Refused: `RoleRefusedError`
   * (ROLE_CREDENTIAL_REJECTED with the failed checks, or ROLE_HOLDER_MISMATCH).
   */
  presentCredential(researcherCredential: string): Promise<RoleGranted> {
    return this.presentRole(researcherCredential);
  }
}
