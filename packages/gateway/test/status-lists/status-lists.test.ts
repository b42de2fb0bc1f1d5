// Status lists served at stable URLs and published by their issuers, on the real stack: anvil with the
// board accredited, the SQLite store, the gateway on a socket, lists signed by a real identity agent, and
// identity's own verifier fetching them over HTTP.
import { expect } from "chai";
import {
  Bitstring,
  CredentialType,
  IdentityAgent,
  TokenStatusList,
  TOKEN_STATUS_INVALID,
  createAgentVerifier,
  ethrNetworkFromDeployment,
  issueCredential,
  issueStatusListCredential,
  issueTokenStatusList,
  statusEntry,
  type CredentialVerifier,
  type ManagedDid,
} from "@hygeia/identity";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { expectProblem, request } from "../support/http.ts";
import { statusListUrl } from "../../src/plugins/status-lists/index.ts";

const JWT_TYPE = { "content-type": "application/vc+jwt" };

describe("gateway status lists: issuers publish, anyone fetches", function () {
  let stack: TestStack;
  let agent: IdentityAgent;
  let board: ManagedDid;
  let irb: ManagedDid;
  let rogue: ManagedDid;
  let verifier: CredentialVerifier;

  before(async function () {
    stack = await startTestStack();
    agent = await IdentityAgent.create({
      network: ethrNetworkFromDeployment(stack.deployment, stack.local.rpcUrl),
      watchRegistry: false,
    });
    board = await agent.importEthrDid(stack.accounts.board.privateKey, "board");
    irb = await agent.importEthrDid(stack.accounts.irb.privateKey, "irb");
    rogue = await agent.createDid({ alias: "rogue" }); // not accredited
    verifier = createAgentVerifier(agent, {
      trustRegistry: stack.deployment.contracts.TrustRegistry,
      statusListFetcher: (url, options) =>
        fetch(url, { redirect: "error", ...(options?.signal ? { signal: options.signal } : {}) }).then((r) => {
          if (!r.ok) throw new Error(`status ${r.status}`);
          return r.text();
        }),
      statusListHttpHosts: ["127.0.0.1"],
      statusListOrigins: [stack.url],
      trustCacheTtlMs: 0,
    });
  });

  after(async function () {
    await agent?.close();
    await stack?.close();
  });

  const path = (issuer: string, name: string) => `/v1/status-lists/${issuer}/${name}`;
  const urlOf = (issuer: string, name: string) => statusListUrl(stack.config.publicUrl, issuer, name);
  const put = (issuer: string, name: string, jwt: string, headers: Record<string, string> = JWT_TYPE) =>
    request(stack, "PUT", path(issuer, name), { body: jwt, headers });
  const nextSecond = () => new Promise((resolve) => setTimeout(resolve, 1_100)); // iat has 1 s resolution

  it("publishes a board's revocation list and serves the exact JWT with a bounded cache lifetime", async function () {
    const jwt = await issueStatusListCredential(agent, {
      issuer: board.did,
      url: urlOf(board.did, "accreditations"),
      purpose: "revocation",
      list: new Bitstring(),
    });
    const first = await put(board.did, "accreditations", jwt);
    expect(first.status, first.text).to.equal(201);
    expect(first.json).to.include({
      url: urlOf(board.did, "accreditations"),
      issuer: board.did,
      format: "bitstring",
      purpose: "revocation",
      replaced: false,
    });

    const served = await request(stack, "GET", path(board.did, "accreditations"));
    expect(served.status).to.equal(200);
    expect(served.text).to.equal(jwt);
    expect(served.headers.get("content-type")).to.match(/^application\/vc\+jwt/);
    const maxAge = Number(/max-age=(\d+)/.exec(served.headers.get("cache-control") ?? "")?.[1]);
    expect(maxAge).to.be.within(0, 60);

    const again = await put(board.did, "accreditations", jwt); // the same version again: idempotent
    expect(again.status).to.equal(200);
    expect(again.json).to.include({ replaced: false });
  });

  it("lets identity's verifier see a revocation once the issuer publishes the updated list", async function () {
    const url = urlOf(board.did, "clinics");
    const revocations = new Bitstring();
    expect(
      (
        await put(
          board.did,
          "clinics",
          await issueStatusListCredential(agent, {
            issuer: board.did,
            url,
            purpose: "revocation",
            list: revocations,
          }),
        )
      ).status,
    ).to.equal(201);
    const clinic = await agent.createDid({ alias: "clinic" });
    const vc = await issueCredential(agent, {
      issuer: board.did,
      type: CredentialType.ClinicAccreditation,
      subject: {
        id: clinic.did,
        clinicName: "Asclepius Virtual Clinic",
        accreditationNumber: "MB-2026-0042",
        specialties: ["cardiology"],
        virtual: true,
        jurisdiction: "EU",
      },
      validUntil: new Date(Date.now() + 30 * 86_400_000),
      status: [statusEntry(url, "revocation", 41)],
    });
    const before = await verifier.verifyCredential(vc);
    expect(before.ok, JSON.stringify(before.checks)).to.equal(true);

    await nextSecond();
    revocations.set(41, true);
    const update = await put(
      board.did,
      "clinics",
      await issueStatusListCredential(agent, { issuer: board.did, url, purpose: "revocation", list: revocations }),
    );
    expect(update.status, update.text).to.equal(200);
    expect(update.json).to.include({ replaced: true });
    verifier.invalidateStatusLists(url);
    const after = await verifier.verifyCredential(vc);
    expect(after.ok).to.equal(false);
    expect(after.checks.find((check) => check.name === "status")).to.include({ pass: false, code: "REVOKED" });
  });

  it("refuses an older version of a list with 409 and keeps serving the newer one", async function () {
    const url = urlOf(board.did, "rollback");
    const older = await issueStatusListCredential(agent, {
      issuer: board.did,
      url,
      purpose: "revocation",
      list: new Bitstring(),
    });
    await nextSecond();
    const revoked = new Bitstring();
    revoked.set(7, true);
    const newer = await issueStatusListCredential(agent, {
      issuer: board.did,
      url,
      purpose: "revocation",
      list: revoked,
    });
    expect((await put(board.did, "rollback", newer)).status).to.equal(201);
    const stale = await put(board.did, "rollback", older);
    expectProblem(stale, 409, "STALE_STATUS_LIST");
    expect((await request(stack, "GET", path(board.did, "rollback"))).text).to.equal(newer);
  });

  it("refuses a list signed by another key than the issuer's (forged) and stores nothing", async function () {
    const url = urlOf(board.did, "forged");
    const now = Math.floor(Date.now() / 1000);
    const forged = await agent.signJwt(rogue.did, {
      iss: board.did,
      jti: url,
      iat: now,
      nbf: now,
      exp: now + 3600,
      vc: {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        id: url,
        type: ["VerifiableCredential", "BitstringStatusListCredential"],
        issuer: board.did,
        credentialSubject: {
          id: `${url}#list`,
          type: "BitstringStatusList",
          statusPurpose: "revocation",
          encodedList: new Bitstring().encode(),
        },
      },
    });
    expectProblem(await put(board.did, "forged", forged), 400, "INVALID_SIGNATURE");
    expectProblem(await request(stack, "GET", path(board.did, "forged")), 404, "STATUS_LIST_NOT_FOUND");
  });

  it("refuses a list that names another URL, or another issuer than the URL's", async function () {
    const otherUrl = await issueStatusListCredential(agent, {
      issuer: board.did,
      url: urlOf(board.did, "somewhere-else"),
      purpose: "revocation",
      list: new Bitstring(),
    });
    const wrongUrl = await put(board.did, "here", otherUrl);
    expectProblem(wrongUrl, 400, "STATUS_LIST_URL_MISMATCH");
    expect((wrongUrl.json as { expectedUrl: string }).expectedUrl).to.equal(urlOf(board.did, "here"));

    const boardsList = await issueStatusListCredential(agent, {
      issuer: board.did,
      url: urlOf(irb.did, "approvals"),
      purpose: "revocation",
      list: new Bitstring(),
    });
    expectProblem(await put(irb.did, "approvals", boardsList), 400, "STATUS_LIST_ISSUER_MISMATCH");
  });

  it("refuses the lists of an issuer not accredited on the TrustRegistry with 403", async function () {
    const jwt = await issueStatusListCredential(agent, {
      issuer: rogue.did,
      url: urlOf(rogue.did, "mine"),
      purpose: "revocation",
      list: new Bitstring(),
    });
    expectProblem(await put(rogue.did, "mine", jwt), 403, "ISSUER_NOT_ACCREDITED");
  });

  it("serves an IETF Token Status List as application/statuslist+jwt", async function () {
    const list = new TokenStatusList();
    list.set(3, TOKEN_STATUS_INVALID);
    const jwt = await issueTokenStatusList(agent, { issuer: irb.did, url: urlOf(irb.did, "tokens"), list });
    const published = await put(irb.did, "tokens", jwt, { "content-type": "application/statuslist+jwt" });
    expect(published.status, published.text).to.equal(201);
    expect(published.json).to.include({ format: "token", purpose: "status" });
    const served = await request(stack, "GET", path(irb.did, "tokens"));
    expect(served.headers.get("content-type")).to.match(/^application\/statuslist\+jwt/);
    expect(served.text).to.equal(jwt);
  });

  it("refuses percent-encoded, malformed and odd URLs and bodies with 4xx problems, never 5xx", async function () {
    const encoded = board.did.replaceAll(":", "%3A");
    expectProblem(await request(stack, "GET", path(encoded, "accreditations")), 400, "NON_CANONICAL_URL");
    expectProblem(await request(stack, "GET", path("did:web:example.com", "x")), 400, "INVALID_REQUEST");
    expectProblem(await request(stack, "GET", path(board.did, "a.b")), 400, "INVALID_REQUEST");
    expectProblem(await request(stack, "GET", path(board.did, "..")), 404, "ROUTE_NOT_FOUND");
    expectProblem(await put(board.did, "junk", "not a jwt"), 400, "INVALID_STATUS_LIST");
    const wrongType = await put(board.did, "junk", "x", { "content-type": "image/png" });
    expect(wrongType.status).to.equal(415);
    expectProblem(await request(stack, "GET", path(board.did, "never-published")), 404, "STATUS_LIST_NOT_FOUND");
  });

  it("documents both routes in the OpenAPI document", async function () {
    const res = await request(stack, "GET", "/openapi.json");
    const paths = (res.json as { paths: Record<string, Record<string, { operationId?: string }>> }).paths;
    expect(paths["/v1/status-lists/{issuer}/{name}"]?.get?.operationId).to.equal("getStatusList");
    expect(paths["/v1/status-lists/{issuer}/{name}"]?.put?.operationId).to.equal("putStatusList");
  });
});
