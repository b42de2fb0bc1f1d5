// The status-list publication check (publication.ts checkPublication: identity's verifyStatusListCredential with
// the gateway's problems), tested directly on JWTs signed with a real secp256k1 key; the issuer's DID document is
// hand-built (the edge of the unit), and counts its resolutions: a list refused for its form resolves nothing.
// Against a real chain: status-lists.test.ts.
import { expect } from "chai";
import { Wallet, sha256, type SigningKey } from "ethers";
import type { DIDDocument } from "did-resolver";
import {
  Bitstring,
  Es256kVerifier,
  MAX_STATUS_LIST_VALIDITY_SECONDS,
  TokenStatusList,
  UnknownDidError,
  UnresolvableDidError,
} from "@hygeia/identity";
import { BadRequestError, DependencyUnavailableError } from "../../src/errors.ts";
import { checkPublication, type DidDocuments } from "../../src/plugins/status-lists/publication.ts";

const wallet = Wallet.createRandom();
const ISSUER = `did:ethr:0x7a69:${wallet.address.toLowerCase()}`;
const URL = `http://127.0.0.1:8787/v1/status-lists/${ISSUER}/revocation-1`;
const NOW = 1_764_554_400;

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

function signWith(key: SigningKey, payload: Record<string, unknown>, header: Record<string, unknown>) {
  const input = `${b64(header)}.${b64(payload)}`;
  const { r, s } = key.sign(sha256(Buffer.from(input)));
  return `${input}.${Buffer.from(r.slice(2) + s.slice(2), "hex").toString("base64url")}`;
}

function jwt(payload: Record<string, unknown>, header: Record<string, unknown> = { alg: "ES256K", typ: "JWT" }) {
  return signWith(wallet.signingKey, payload, header);
}

const document: DIDDocument = {
  id: ISSUER,
  verificationMethod: [
    {
      id: `${ISSUER}#controller`,
      type: "EcdsaSecp256k1RecoveryMethod2020",
      controller: ISSUER,
      blockchainAccountId: `eip155:31337:${wallet.address}`,
    },
  ],
  assertionMethod: [`${ISSUER}#controller`],
};

let resolutions = 0;
let resolutionError: Error | undefined;
const documents: DidDocuments = {
  resolve(did: string) {
    resolutions += 1;
    if (resolutionError) return Promise.reject(resolutionError);
    if (did.toLowerCase() !== ISSUER) return Promise.reject(new UnknownDidError(did, "not in this test"));
    return Promise.resolve(document);
  },
};

function check(token: string, issuer = ISSUER) {
  return checkPublication(token, { issuer, url: URL, now: NOW * 1000 }, documents, new Es256kVerifier());
}

function bitstringPayload(overrides: Record<string, unknown> = {}, vc: Record<string, unknown> = {}) {
  return {
    iss: ISSUER,
    jti: URL,
    iat: NOW - 10,
    nbf: NOW - 10,
    exp: NOW + 86_400,
    vc: {
      id: URL,
      type: ["VerifiableCredential", "BitstringStatusListCredential"],
      issuer: ISSUER,
      credentialSubject: {
        id: `${URL}#list`,
        type: "BitstringStatusList",
        statusPurpose: "revocation",
        encodedList: new Bitstring().encode(),
      },
      ...vc,
    },
    ...overrides,
  };
}

async function refused(token: string, code: string, issuer = ISSUER): Promise<BadRequestError> {
  try {
    await check(token, issuer);
  } catch (error) {
    expect(error).to.be.instanceOf(BadRequestError);
    expect((error as BadRequestError).code, (error as Error).message).to.equal(code);
    return error as BadRequestError;
  }
  return expect.fail(`expected ${code}`);
}

/** Refused with `code` before the issuer's DID was resolved. */
async function refusedUnresolved(token: string, code: string): Promise<BadRequestError> {
  const before = resolutions;
  const error = await refused(token, code);
  expect(resolutions, `${code}: no DID resolution`).to.equal(before);
  return error;
}

describe("gateway status-list publication check (identity's verifyStatusListCredential)", function () {
  beforeEach(function () {
    resolutionError = undefined;
  });

  it("accepts a Bitstring Status List credential for its own URL and reads its purpose and times", async function () {
    expect(await check(jwt(bitstringPayload()))).to.deep.equal({
      format: "bitstring",
      purpose: "revocation",
      issuedAt: NOW - 10,
      expiresAt: NOW + 86_400,
      mediaType: "application/vc+jwt",
    });
  });

  it("accepts a Status List Token whose sub is the URL", async function () {
    const token = jwt(
      { iss: ISSUER, sub: URL, iat: NOW, exp: NOW + 3600, status_list: new TokenStatusList().toClaim() },
      { alg: "ES256K", typ: "statuslist+jwt" },
    );
    expect(await check(token)).to.include({
      format: "token",
      purpose: "status",
      mediaType: "application/statuslist+jwt",
    });
  });

  it("refuses a list naming another URL in vc.id, jti or sub, before resolving the issuer", async function () {
    const other = `${URL}-old`;
    await refusedUnresolved(jwt(bitstringPayload({}, { id: other })), "STATUS_LIST_URL_MISMATCH");
    await refusedUnresolved(jwt(bitstringPayload({ jti: other })), "STATUS_LIST_URL_MISMATCH");
    const token = jwt(
      { iss: ISSUER, sub: other, iat: NOW, exp: NOW + 3600, status_list: new TokenStatusList().toClaim() },
      { alg: "ES256K", typ: "statuslist+jwt" },
    );
    expect((await refusedUnresolved(token, "STATUS_LIST_URL_MISMATCH")).extensions).to.deep.equal({
      expectedUrl: URL,
    });
  });

  it("refuses another issuer than the URL's, but not a did:ethr spelled in another case", async function () {
    await refusedUnresolved(
      jwt(bitstringPayload({ iss: "did:ethr:0x7a69:0x15d34aaf54267db7d7c367839aaf71a00a2c6a65" })),
      "STATUS_LIST_ISSUER_MISMATCH",
    );
    const checksummed = `did:ethr:0x7a69:${wallet.address}`;
    expect(await check(jwt(bitstringPayload({ iss: checksummed })))).to.include({ format: "bitstring" });
  });

  it("refuses a list signed by another key than the issuer's with INVALID_SIGNATURE", async function () {
    const forged = signWith(Wallet.createRandom().signingKey, bitstringPayload(), { alg: "ES256K", typ: "JWT" });
    await refused(forged, "INVALID_SIGNATURE");
  });

  it("refuses lists verifiers would refuse: expired, without iat or nbf, too long-lived, from the future, of an unknown purpose or list", async function () {
    await refused(jwt(bitstringPayload({ exp: NOW })), "INVALID_STATUS_LIST");
    await refused(jwt(bitstringPayload({ iat: undefined, nbf: undefined })), "INVALID_STATUS_LIST");
    await refused(
      jwt(bitstringPayload({ exp: NOW - 10 + MAX_STATUS_LIST_VALIDITY_SECONDS + 1 })),
      "INVALID_STATUS_LIST",
    );
    await refused(jwt(bitstringPayload({ iat: NOW + 3600, nbf: NOW + 3600, exp: NOW + 7200 })), "INVALID_STATUS_LIST");
    await refused(jwt(bitstringPayload({ iat: NOW - 10.5 })), "INVALID_STATUS_LIST");
    await refusedUnresolved(
      jwt(
        bitstringPayload(
          {},
          { credentialSubject: { statusPurpose: "refresh", encodedList: new Bitstring().encode() } },
        ),
      ),
      "INVALID_STATUS_LIST",
    );
    await refusedUnresolved(
      jwt(bitstringPayload({}, { credentialSubject: { statusPurpose: "revocation", encodedList: "uAAAA" } })),
      "INVALID_STATUS_LIST",
    );
    await refusedUnresolved(jwt(bitstringPayload({}, { type: ["VerifiableCredential"] })), "INVALID_STATUS_LIST");
  });

  it("refuses what is not a compact ES256K JWT, before resolving the issuer", async function () {
    await refusedUnresolved("not a jwt", "INVALID_STATUS_LIST");
    await refusedUnresolved(jwt(bitstringPayload(), { alg: "none" }), "INVALID_STATUS_LIST");
    await refusedUnresolved(jwt(bitstringPayload(), { alg: "ES256", typ: "JWT" }), "INVALID_STATUS_LIST");
    const signature = Buffer.alloc(64, 7).toString("base64url");
    await refusedUnresolved(`${b64({ alg: "ES256K" })}.not-json.${signature}`, "INVALID_STATUS_LIST");
  });

  it("answers UNKNOWN_DID for a DID it cannot resolve, 503 naming the chain for a did:ethr the chain did not answer", async function () {
    resolutionError = new UnknownDidError(ISSUER, "not in this test");
    await refused(jwt(bitstringPayload()), "UNKNOWN_DID");
    resolutionError = new UnresolvableDidError(ISSUER, "connection refused");
    const error = await check(jwt(bitstringPayload())).then(
      () => expect.fail("expected a refusal"),
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(DependencyUnavailableError);
    expect(error).to.include({ code: "DID_UNRESOLVABLE", dependency: "chain" });
  });
});
