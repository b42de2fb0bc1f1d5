// Bad input is the client's problem, never a 500: each kind of malformed request gets a 4xx problem+json
// with a urn:hygeia:problem type, the request id as instance, and no stack.
import { expect } from "chai";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { STACK_FRAME, expectProblem, request } from "../support/http.ts";
import { toProblem } from "../../src/problems.ts";
import { ContractRevertError } from "@hygeia/chain";
import { BadRequestError, DependencyUnavailableError } from "../../src/errors.ts";

const BODY_LIMIT = 4096;

describe("problem mapping", function () {
  it("maps a typed gateway error by its code, keeping its field and extensions", function () {
    const problem = toProblem(new BadRequestError("INVALID_CID", "not a CID", { field: "body.cid" }), "r1");
    expect(problem).to.include({
      status: 400,
      code: "INVALID_CID",
      field: "body.cid",
      type: "urn:hygeia:problem:invalid-cid",
    });
    expect(problem.instance).to.equal("urn:hygeia:request:r1");
    const unavailable = toProblem(new DependencyUnavailableError("indexer", "INDEXER_STALE", "stale"), "r2");
    expect(unavailable).to.include({ status: 503, dependency: "indexer" });
  });

  it("answers a mined revert as sent (409 TX_REVERTED with its hash), a simulation's revert as CONTRACT_REVERT", function () {
    const hash = "0x" + "AB".repeat(32);
    const mined = new ContractRevertError("AuditAnchor.anchor", "unknown", { transactionHash: hash }, "0x", {
      transactionHash: hash,
    });
    const problem = toProblem(mined, "r4");
    expect(problem).to.include({ status: 409, code: "TX_REVERTED", hash: hash.toLowerCase() });
    expect(problem.type).to.equal("urn:hygeia:problem:tx-reverted");
    expect(problem.detail).to.include("was sent");
    const simulated = new ContractRevertError("ConsentRegistry.grant", "StaleVersion", { current: 2n }, "0x12345678");
    expect(toProblem(simulated, "r5")).to.include({ status: 409, code: "CONTRACT_REVERT", errorName: "StaleVersion" });
  });

  it("the tests' stack check finds real frames, raw or JSON-escaped, and not prose with 'at … ('", function () {
    const stack = new Error("boom").stack!;
    expect(stack).to.match(STACK_FRAME);
    expect(JSON.stringify({ detail: stack })).to.match(STACK_FRAME);
    expect(JSON.stringify({ detail: "at file:///srv/app.js:10:5" })).to.match(STACK_FRAME);
    const reason = "the issuer was not accredited at issuance (did:ethr:0x7a69:0xabc, role irb) at 12:30:45 (UTC)";
    expect(JSON.stringify({ detail: reason })).not.to.match(STACK_FRAME);
  });

  it("hides the message of an unknown error behind 'internal error' and the request id", function () {
    const problem = toProblem(new Error("secret detail at /src/x.ts"), "r3");
    expect(problem).to.include({ status: 500, code: "INTERNAL" });
    expect(problem.detail).not.to.include("secret");
    expect(problem.detail).to.include("r3");
  });

  it("reports the first schema failure by path, without the value", function () {
    const validation = [
      { keyword: "boolean", instancePath: "/extra", params: {}, message: "schema is false" },
      { keyword: "additionalProperties", instancePath: "", params: { additionalProperties: ["extra"] }, message: "x" },
    ];
    const problem = toProblem({ validation, validationContext: "body" }, "r4");
    expect(problem).to.include({ status: 400, code: "INVALID_REQUEST", field: "body.extra" });
    const missing = toProblem(
      {
        validation: [{ keyword: "required", instancePath: "", params: { requiredProperties: ["signature"] } }],
        validationContext: "body",
      },
      "r5",
    );
    expect(missing).to.include({ field: "body.signature", detail: "body.signature is required" });
  });
});

describe("problems over HTTP", function () {
  let stack: TestStack;
  before(async function () {
    stack = await startTestStack({ config: { limits: { bodyBytes: BODY_LIMIT } } });
  });
  after(async function () {
    await stack?.close();
  });

  function expectRequestInstance(problem: { instance?: string }) {
    expect(problem.instance).to.match(
      /^urn:hygeia:request:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
  }

  it("answers malformed JSON with 400 INVALID_JSON", async function () {
    const res = await request(stack, "POST", "/v1/auth/verify", {
      body: '{"message": "abc", "signature": ',
      headers: { "content-type": "application/json" },
    });
    expectRequestInstance(expectProblem(res, 400, "INVALID_JSON"));
  });

  it("answers a body of the wrong content type with 415", async function () {
    const res = await request(stack, "POST", "/v1/auth/verify", {
      body: "message=abc&signature=def",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expectRequestInstance(expectProblem(res, 415, "UNSUPPORTED_MEDIA_TYPE"));
  });

  it("answers an unknown route with 404 ROUTE_NOT_FOUND without echoing the URL", async function () {
    const res = await request(stack, "GET", "/v1/patients-of/0x1234567890abcdef1234567890abcdef12345678");
    const problem = expectProblem(res, 404, "ROUTE_NOT_FOUND");
    expectRequestInstance(problem);
    expect(res.text).not.to.include("0x1234567890abcdef1234567890abcdef12345678");
  });

  it("answers a body over the limit with 413 BODY_TOO_LARGE", async function () {
    const res = await request(stack, "POST", "/v1/auth/verify", {
      json: { message: "x".repeat(BODY_LIMIT + 10), signature: "0x00" },
    });
    expectRequestInstance(expectProblem(res, 413, "BODY_TOO_LARGE"));
  });

  it("answers a schema violation with 400 INVALID_REQUEST naming the field", async function () {
    const wrongType = await request(stack, "POST", "/v1/auth/verify", { json: { message: 1, signature: "0x00" } });
    const problem = expectProblem(wrongType, 400, "INVALID_REQUEST");
    expectRequestInstance(problem);
    expect(problem.field).to.equal("body.message");
    const missing = await request(stack, "POST", "/v1/auth/verify", { json: { message: "m" } });
    expect(expectProblem(missing, 400, "INVALID_REQUEST").field).to.equal("body.signature");
    const notObject = await request(stack, "POST", "/v1/auth/verify", { json: ["message", "signature"] });
    expectProblem(notObject, 400, "INVALID_REQUEST");
  });

  it("refuses a JSON body with a __proto__ key as bad input, not a 500", async function () {
    const res = await request(stack, "POST", "/v1/auth/verify", {
      body: '{"message":"m","signature":"s","__proto__":{"admin":true}}',
      headers: { "content-type": "application/json" },
    });
    expect(res.status).to.be.within(400, 499);
    expectProblem(res, res.status);
  });

  it("converts query strings to the schema's types and refuses what does not convert", async function () {
    const ok = await request(stack, "GET", "/v1/audit/checkpoints?limit=5");
    expect(ok.status, ok.text).to.equal(200);
    const bad = await request(stack, "GET", "/v1/audit/checkpoints?limit=five");
    expect(expectProblem(bad, 400, "INVALID_REQUEST").field).to.match(/^querystring\.limit/);
  });

  it("answers a URL that cannot be decoded with 400", async function () {
    const res = await request(stack, "GET", "/v1/status-lists/%E0%A4%A/name");
    expect(res.status).to.equal(400);
    expectProblem(res, 400);
  });
});
