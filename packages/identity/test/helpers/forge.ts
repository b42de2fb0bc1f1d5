// Presentations an attacker would build without this package's guards (presentSdJwtCredential and
// createPresentation refuse them up front), to check that the verifier still refuses them.
import { SDJwtVcInstance } from "@sd-jwt/sd-jwt-vc";
import { digest } from "@sd-jwt/crypto-nodejs";
import type { IdentityAgent } from "../../src/index.ts";
import { veramoOf } from "../../src/did/internal.ts";

/** An SD-JWT VC presented with a KB-JWT signed by `signer`'s key, whatever the credential's cnf says. */
export async function presentSdJwtSignedBy(
  agent: IdentityAgent,
  signer: string,
  params: { credential: string; disclose: readonly string[]; challenge: string; domain: string },
): Promise<string> {
  const instance = new SDJwtVcInstance({
    hasher: (data, alg) => digest(data, alg),
    hashAlg: "sha-256",
    kbSigner: (data) => agent.signBytes(signer, data),
    kbSignAlg: "ES256K",
  });
  const frame = Object.fromEntries(params.disclose.map((claim) => [claim, true]));
  return instance.present(params.credential, frame as never, {
    kb: { payload: { iat: Math.floor(Date.now() / 1000), aud: params.domain, nonce: params.challenge } },
  });
}

/** A JWT VP signed by `holder` carrying any JWT VCs (whoever their subject is). */
export async function presentJwtSignedBy(
  agent: IdentityAgent,
  holder: string,
  params: { credentials: readonly string[]; challenge: string; domain: string },
): Promise<string> {
  const now = new Date();
  const presentation = await veramoOf(agent).createVerifiablePresentation({
    proofFormat: "jwt",
    challenge: params.challenge,
    domain: params.domain,
    presentation: {
      "@context": ["https://www.w3.org/2018/credentials/v1"],
      type: ["VerifiablePresentation"],
      holder,
      issuanceDate: now.toISOString(),
      expirationDate: new Date(now.getTime() + 300_000).toISOString(),
      verifiableCredential: [...params.credentials],
    },
  });
  return (presentation.proof as { jwt: string }).jwt;
}
