// Issue 16 item 7: an SD-JWT VC's `status` claim (IETF Token Status List) is evaluated, and a status form the
// verifier does not understand fails closed, instead of both being ignored ("no status entry").
import { expect } from "chai";
import { SDJwtVcInstance } from "@sd-jwt/sd-jwt-vc";
import { digest, generateSalt } from "@sd-jwt/crypto-nodejs";
import {
  CredentialType,
  TOKEN_STATUS_INVALID,
  TOKEN_STATUS_SUSPENDED,
  TokenStatusList,
  issueSdJwtCredential,
  issueTokenStatusList,
  presentSdJwtCredential,
  type IdentityAgent,
  type ManagedDid,
  type PresentationVerification,
} from "../src/index.ts";
import type { TestChain } from "./helpers/chain.ts";
import { startIssuerWorld, subjects, type Issuers } from "./helpers/fixtures.ts";
import { httpFetcher, recordingServer, verifierWith, type RecordingServer } from "./helpers/verifier.ts";

describe("identity: SD-JWT VC status claim (IETF Token Status List)", function () {
  let testChain: TestChain;
  let agent: IdentityAgent;
  let issuers: Issuers;
  let patient: ManagedDid;
  let server: RecordingServer;
  let listUrl: string;
  const list = new TokenStatusList(65_536, 2);

  before(async function () {
    ({ testChain, agent, issuers, patient } = await startIssuerWorld());
    server = await recordingServer();
    listUrl = `${server.base}/token-status/1`;
    list.set(3, TOKEN_STATUS_INVALID);
    list.set(4, TOKEN_STATUS_SUSPENDED);
    server.served.set(
      "/token-status/1",
      await issueTokenStatusList(agent, { issuer: issuers.identity.did, url: listUrl, list, ttlSeconds: 30 }),
    );
  });
  after(async function () {
    await server?.close();
    await agent?.close();
    await testChain?.stop();
  });

  const subject = () => subjects(patient.did, patient.did, patient.did).PatientIdentityCredential;

  async function verify(credential: string): Promise<PresentationVerification> {
    const { verifier, challenges } = verifierWith(testChain, agent, { statusListFetcher: httpFetcher });
    const domain = "clinic.example";
    const request = {
      challenge: await challenges.issue(domain),
      domain,
      credentials: [{ type: CredentialType.PatientIdentity, claims: ["givenName"] }],
    };
    const presentation = await presentSdJwtCredential(agent, {
      holder: patient.did,
      credential,
      disclose: ["givenName"],
      challenge: request.challenge,
      domain,
    });
    return verifier.verifyPresentation(presentation, request);
  }

  const withTokenStatus = async (idx: number, uri = listUrl) =>
    issueSdJwtCredential(agent, {
      issuer: issuers.identity.did,
      type: CredentialType.PatientIdentity,
      subject: subject(),
      holderPublicJwk: await agent.signingPublicJwk(patient.did),
      tokenStatus: { uri, idx },
    });

  const status = (result: PresentationVerification) => result.checks.find((c) => c.name === "status");

  it("round-trips statuses in the draft's bit order (index 0 in the least significant bits)", function () {
    const small = new TokenStatusList(131_072, 1);
    small.set(0, 1);
    small.set(9, 1);
    expect([...small.bytes.subarray(0, 2)]).to.deep.equal([0b0000_0001, 0b0000_0010]);
    const decoded = TokenStatusList.fromClaim(list.toClaim());
    expect([decoded.get(2), decoded.get(3), decoded.get(4)]).to.deep.equal([0, 1, 2]);
  });

  it("passes while the referenced status is VALID", async function () {
    const result = await verify(await withTokenStatus(2));
    expect(result.ok, JSON.stringify(result.checks)).to.equal(true);
    expect(status(result)).to.include({ pass: true, reason: "valid (token status list)" });
  });

  it("fails a credential whose status is INVALID (revoked) or SUSPENDED", async function () {
    expect(status(await verify(await withTokenStatus(3)))).to.include({
      pass: false,
      reason: "revoked",
      code: "REVOKED",
    });
    expect(status(await verify(await withTokenStatus(4)))).to.include({
      pass: false,
      reason: "suspended",
      code: "SUSPENDED",
    });
  });

  it("refuses a status list token served for another URL (its sub)", async function () {
    server.served.set("/token-status/moved", server.served.get("/token-status/1")!);
    const result = await verify(await withTokenStatus(2, `${server.base}/token-status/moved`));
    expect(status(result)).to.include({ pass: false, reason: "status list served for another URL" });
  });

  it("fails closed on an IETF status claim on a JWT VC, where nothing would evaluate it", async function () {
    const now = Math.floor(Date.now() / 1000);
    const jwt = await agent.signJwt(issuers.identity.did, {
      iss: issuers.identity.did,
      sub: patient.did,
      nbf: now - 10,
      status: { status_list: { idx: 3, uri: listUrl } },
      vc: {
        "@context": ["https://www.w3.org/2018/credentials/v1"],
        type: ["VerifiableCredential", CredentialType.PatientIdentity],
        credentialSubject: { ...subject(), id: undefined },
      },
    });
    const { verifier } = verifierWith(testChain, agent, { statusListFetcher: httpFetcher });
    const result = await verifier.verifyCredential(jwt);
    expect(result.ok).to.equal(false);
    expect(result.checks.find((c) => c.name === "format")?.reason).to.contain("unsupported status claim");
  });

  it("fails closed on a status mechanism it does not support", async function () {
    // What a careless or hostile issuer could sign: issueSdJwtCredential only writes status_list.
    const { id, ...claims } = subject();
    const instance = new SDJwtVcInstance({
      signer: (data) => agent.signBytes(issuers.identity.did, data),
      signAlg: "ES256K",
      hasher: (data, alg) => digest(data, alg),
      hashAlg: "sha-256",
      saltGenerator: generateSalt,
    });
    const now = Math.floor(Date.now() / 1000);
    const credential = await instance.issue(
      {
        iss: issuers.identity.did,
        iat: now,
        nbf: now,
        vct: CredentialType.PatientIdentity,
        sub: id,
        cnf: { jwk: await agent.signingPublicJwk(patient.did) },
        status: { identifiers: { uri: `${server.base}/other`, idx: 1 } } as never,
        ...claims,
      },
      { _sd: Object.keys(claims) } as never,
      { header: { kid: `${issuers.identity.did}#controller` } },
    );
    const result = await verify(credential);
    expect(result.ok).to.equal(false);
    expect(status(result)).to.include({ pass: false, code: "UNSUPPORTED_STATUS" });
    expect(status(result)?.reason).to.contain("unsupported status mechanism");
  });
});
