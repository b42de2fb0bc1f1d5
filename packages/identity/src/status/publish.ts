// Building and re-signing status list credentials (the issuer side).
import type { IdentityAgent } from "../did/agent.ts";
import type { Bitstring, StatusPurpose } from "./bitstring.ts";

export interface StatusListCredentialParams {
  issuer: string;
  /** Where the list credential is served; entries point here. */
  url: string;
  purpose: StatusPurpose;
  list: Bitstring;
  /** Lifetime of this version; verifiers refuse an expired list (fail closed). Default 1 day. */
  validForSeconds?: number;
}

/** Signs the current state of a list as a BitstringStatusListCredential (JWT VC). Re-run after each update. */
export async function issueStatusListCredential(
  agent: IdentityAgent,
  params: StatusListCredentialParams,
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return agent.signJwt(params.issuer, {
    iss: params.issuer,
    jti: params.url,
    nbf: now,
    iat: now,
    exp: now + (params.validForSeconds ?? 86_400),
    vc: {
      "@context": ["https://www.w3.org/ns/credentials/v2"],
      id: params.url,
      type: ["VerifiableCredential", "BitstringStatusListCredential"],
      issuer: params.issuer,
      credentialSubject: {
        id: `${params.url}#list`,
        type: "BitstringStatusList",
        statusPurpose: params.purpose,
        encodedList: params.list.encode(),
      },
    },
  });
}
