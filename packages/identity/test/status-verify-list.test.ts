// verifyStatusListCredential on its own: the checks the verifier's status checker runs on every fetched list, as
// a host (the gateway) runs them before serving one. JWTs signed with a real secp256k1 key; the issuer's DID
// document is hand-built (the edge of the unit) and counts its resolutions.
import { expect } from "chai";
import { Wallet, sha256, type SigningKey } from "ethers";
import type { DIDDocument } from "did-resolver";
import {
  Bitstring,
  InvalidStatusListError,
  StatusListUnavailableError,
  TokenStatusList,
  UnresolvableDidError,
  verifyStatusListCredential,
  type StatusListProblem,
} from "../src/index.ts";

const wallet = Wallet.createRandom();
const ISSUER = `did:ethr:0x7a69:${wallet.address.toLowerCase()}`;
const URL = "https://status.example/lists/1";
const NOW = 1_764_554_400;

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

function sign(payload: Record<string, unknown>, header: Record<string, unknown>, key: SigningKey = wallet.signingKey) {
  const input = `${b64(header)}.${b64(payload)}`;
  const { r, s } = key.sign(sha256(Buffer.from(input)));
  return `${input}.${Buffer.from(r.slice(2) + s.slice(2), "hex").toString("base64url")}`;
}

function bitstringList(overrides: Record<string, unknown> = {}, key?: SigningKey): string {
  const list = new Bitstring();
  list.set(41, true);
  return sign(
    {
      iss: ISSUER,
      jti: URL,
      iat: NOW - 10,
      exp: NOW + 3600,
      vc: {
        id: URL,
        type: ["VerifiableCredential", "BitstringStatusListCredential"],
        issuer: ISSUER,
        credentialSubject: { type: "BitstringStatusList", statusPurpose: "suspension", encodedList: list.encode() },
      },
      ...overrides,
    },
    { alg: "ES256K", typ: "JWT" },
    key,
  );
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
let failure: Error | undefined;
const resolver = {
  resolve(): Promise<DIDDocument> {
    resolutions += 1;
    return failure ? Promise.reject(failure) : Promise.resolve(document);
  },
};

const verify = (jwt: string, options: { issuer?: string; url?: string; now?: number } = {}) =>
  verifyStatusListCredential(jwt, { url: URL, resolver, now: NOW * 1000, ...options });

async function problemOf(pending: Promise<unknown>): Promise<StatusListProblem> {
  const error = await pending.then(
    () => expect.fail("expected InvalidStatusListError"),
    (e: unknown) => e,
  );
  expect(error).to.be.instanceOf(InvalidStatusListError);
  return (error as InvalidStatusListError).problem;
}

describe("verifyStatusListCredential: one status list checked on its own", function () {
  beforeEach(function () {
    failure = undefined;
  });

  it("returns the decoded Bitstring list with its purpose and times", async function () {
    const list = await verify(bitstringList(), { issuer: ISSUER });
    expect(list).to.include({ format: "bitstring", issuer: ISSUER, issuedAt: NOW - 10, validUntil: NOW + 3600 });
    expect(list.format === "bitstring" && list.purpose).to.equal("suspension");
    expect(list.list.get(41)).to.equal(true);
  });

  it("returns a Status List Token's list and ttl", async function () {
    const token = sign(
      { iss: ISSUER, sub: URL, iat: NOW, exp: NOW + 600, ttl: 30, status_list: new TokenStatusList().toClaim() },
      { alg: "ES256K", typ: "statuslist+jwt" },
    );
    expect(await verify(token)).to.include({ format: "token", maxReuseSeconds: 30, validUntil: NOW + 600 });
  });

  it("names the rule a list broke, resolving no DID for its form, issuer or URL", async function () {
    const before = resolutions;
    expect(await problemOf(verify("not.a.jwt"))).to.equal("MALFORMED");
    expect(await problemOf(verify(bitstringList(), { issuer: "did:ethr:0x7a69:0x" + "1".repeat(40) }))).to.equal(
      "ISSUER_MISMATCH",
    );
    expect(await problemOf(verify(bitstringList(), { url: `${URL}-other` }))).to.equal("URL_MISMATCH");
    expect(await problemOf(verify(bitstringList({ jti: `${URL}-other` })))).to.equal("URL_MISMATCH");
    const es256 = sign({ iss: ISSUER }, { alg: "ES256", typ: "JWT" });
    expect(await problemOf(verify(es256))).to.equal("UNSUPPORTED_ALGORITHM");
    expect(resolutions).to.equal(before);
  });

  it("refuses another key's signature, and an unresolvable issuer with the resolution error as cause", async function () {
    expect(await problemOf(verify(bitstringList({}, Wallet.createRandom().signingKey)))).to.equal("BAD_SIGNATURE");
    failure = new UnresolvableDidError(ISSUER, "connection refused");
    const error = await verify(bitstringList()).then(
      () => expect.fail("expected a refusal"),
      (e: unknown) => e as InvalidStatusListError,
    );
    expect(error.problem).to.equal("ISSUER_UNRESOLVABLE");
    expect(error.cause).to.equal(failure);
    expect(error.message).not.to.contain("connection refused");
  });

  it("checks the times: VALIDITY for a missing or future iat or a too long span, unavailable (expired) past exp", async function () {
    expect(await problemOf(verify(bitstringList({ iat: undefined })))).to.equal("VALIDITY");
    expect(await problemOf(verify(bitstringList({ iat: NOW + 600, exp: NOW + 1200 })))).to.equal("VALIDITY");
    expect(await problemOf(verify(bitstringList({ exp: NOW - 10 + 8 * 86_400 })))).to.equal("VALIDITY");
    const expired = await verify(bitstringList({ exp: NOW })).then(
      () => expect.fail("expected a refusal"),
      (e: unknown) => e,
    );
    expect(expired).to.be.instanceOf(StatusListUnavailableError);
    expect((expired as StatusListUnavailableError).expired).to.equal(true);
  });
});
