// Building and re-signing status list credentials (the issuer side).
import type { IdentityAgent } from "../did/agent.ts";
import { InvalidIdentityInputError } from "../errors.ts";
import { heldDid } from "../credentials/inputs.ts";
import { assertAgent } from "../did/internal.ts";
import { listUrlArgument, objectArgument } from "../arguments.ts";
import { Bitstring, type StatusPurpose } from "./bitstring.ts";
import { TokenStatusList } from "./token-status-list.ts";

/**
 * The longest a status list version may be valid (7 days, the verifiers' default maxListValiditySeconds): a
 * revocation is certain to take effect within this long even where an older version is replayed.
 */
export const MAX_STATUS_LIST_VALIDITY_SECONDS = 7 * 86_400;

/** A version's lifetime (`exp` − `iat`): default 1 day, at most MAX_STATUS_LIST_VALIDITY_SECONDS. */
function validForSeconds(value: number | undefined): number {
  const validFor = value ?? 86_400;
  if (!Number.isSafeInteger(validFor) || validFor <= 0 || validFor > MAX_STATUS_LIST_VALIDITY_SECONDS)
    throw new InvalidIdentityInputError(
      "validForSeconds",
      `must be a whole number of seconds, 1 to ${MAX_STATUS_LIST_VALIDITY_SECONDS} (verifiers refuse longer by default)`,
    );
  return validFor;
}

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
  assertAgent(agent);
  objectArgument(params, "params", "{ issuer, url, purpose, list, validForSeconds? }");
  listUrlArgument(params.url, "url", "list credential");
  if (params.purpose !== "revocation" && params.purpose !== "suspension")
    throw new InvalidIdentityInputError("purpose", 'must be "revocation" or "suspension"');
  if (!(params.list instanceof Bitstring)) throw new InvalidIdentityInputError("list", "must be a Bitstring");
  const validFor = validForSeconds(params.validForSeconds);
  await heldDid(agent, params.issuer, "issuer");
  const now = Math.floor(Date.now() / 1000);
  return agent.signJwt(params.issuer, {
    iss: params.issuer,
    jti: params.url,
    nbf: now,
    iat: now,
    exp: now + validFor,
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

export interface TokenStatusListParams {
  issuer: string;
  /** Where the token is served; SD-JWT VCs' `status.status_list.uri` point here (it is the token's `sub`). */
  url: string;
  list: TokenStatusList;
  /** Lifetime of this version (`exp`); verifiers refuse an expired list. Default 1 day. */
  validForSeconds?: number;
  /** `ttl`: verifiers reuse the token for at most this long. Default none (their own TTL). */
  ttlSeconds?: number;
}

/** Signs the current state of a list as an IETF Status List Token (JWT, `typ` statuslist+jwt). */
export async function issueTokenStatusList(agent: IdentityAgent, params: TokenStatusListParams): Promise<string> {
  assertAgent(agent);
  objectArgument(params, "params", "{ issuer, url, list, validForSeconds?, ttlSeconds? }");
  listUrlArgument(params.url, "url", "status list token");
  if (!(params.list instanceof TokenStatusList))
    throw new InvalidIdentityInputError("list", "must be a TokenStatusList");
  const validFor = validForSeconds(params.validForSeconds);
  const ttl = params.ttlSeconds;
  if (ttl !== undefined && (!Number.isSafeInteger(ttl) || ttl <= 0))
    throw new InvalidIdentityInputError("ttlSeconds", "must be a positive whole number of seconds");
  await heldDid(agent, params.issuer, "issuer");
  const now = Math.floor(Date.now() / 1000);
  return agent.signJwt(
    params.issuer,
    {
      iss: params.issuer,
      sub: params.url,
      iat: now,
      exp: now + validFor,
      ...(ttl !== undefined ? { ttl } : {}),
      status_list: params.list.toClaim(),
    },
    { typ: "statuslist+jwt" },
  );
}
