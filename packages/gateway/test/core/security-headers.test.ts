// Transport protections: security headers on every answer, CORS only for configured origins, and the two
// rate limits (per IP before anything is parsed, per verified session after auth), each refusing with a
// 429 problem and Retry-After.
import { expect } from "chai";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { expectProblem, request } from "../support/http.ts";
import { signIn } from "../support/auth.ts";

const APP_ORIGIN = "https://app.example";

describe("security headers and CORS", function () {
  let stack: TestStack;
  before(async function () {
    stack = await startTestStack({ config: { corsOrigins: [APP_ORIGIN] } });
  });
  after(async function () {
    await stack?.close();
  });

  it("sends API security headers on answers and refusals alike", async function () {
    for (const res of [await request(stack, "GET", "/healthz"), await request(stack, "GET", "/v1/nothing-here")]) {
      expect(res.headers.get("content-security-policy")).to.match(/default-src 'none'/);
      expect(res.headers.get("content-security-policy")).to.match(/frame-ancestors 'none'/);
      expect(res.headers.get("x-content-type-options")).to.equal("nosniff");
      expect(res.headers.get("referrer-policy")).to.equal("no-referrer");
      expect(res.headers.get("x-powered-by")).to.equal(null);
    }
  });

  it("allows a configured origin and no other", async function () {
    const allowed = await request(stack, "GET", "/healthz", { headers: { origin: APP_ORIGIN } });
    expect(allowed.headers.get("access-control-allow-origin")).to.equal(APP_ORIGIN);
    expect(allowed.headers.get("access-control-allow-credentials")).to.equal(null);
    const other = await request(stack, "GET", "/healthz", { headers: { origin: "https://evil.example" } });
    expect(other.headers.get("access-control-allow-origin")).to.equal(null);
    const preflight = await request(stack, "OPTIONS", "/v1/auth/session", {
      headers: {
        origin: APP_ORIGIN,
        "access-control-request-method": "GET",
        "access-control-request-headers": "authorization",
      },
    });
    expect(preflight.status).to.be.oneOf([200, 204]);
    expect(preflight.headers.get("access-control-allow-headers") ?? "").to.match(/authorization/);
  });
});

describe("no CORS by default", function () {
  let stack: TestStack;
  before(async function () {
    stack = await startTestStack({ config: { limits: { perIp: { max: 8, windowMs: 60_000 } } } });
  });
  after(async function () {
    await stack?.close();
  });

  it("answers a cross-origin request without any access-control header", async function () {
    const res = await request(stack, "GET", "/healthz", { headers: { origin: APP_ORIGIN } });
    expect(res.status).to.equal(200);
    expect(res.headers.get("access-control-allow-origin")).to.equal(null);
  });

  it("refuses requests past the per-IP limit with a 429 problem and Retry-After", async function () {
    let res = await request(stack, "GET", "/healthz");
    expect(Number(res.headers.get("x-ratelimit-limit"))).to.equal(8);
    for (let i = 0; i < 10 && res.status !== 429; i++) res = await request(stack, "GET", "/healthz");
    const problem = expectProblem(res, 429, "RATE_LIMITED");
    const retryAfter = Number(res.headers.get("retry-after"));
    expect(retryAfter).to.be.within(1, 60);
    expect(problem.retryAfter).to.equal(retryAfter);
  });
});

describe("per-session rate limit", function () {
  let stack: TestStack;
  before(async function () {
    stack = await startTestStack({ config: { limits: { perSession: { max: 3, windowMs: 60_000 } } } });
  });
  after(async function () {
    await stack?.close();
  });

  it("limits each verified session separately, and leaves anonymous requests to the per-IP limit", async function () {
    const alice = await signIn(stack, stack.accounts.alice);
    const bob = await signIn(stack, stack.accounts.bob);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++)
      statuses.push((await request(stack, "GET", "/v1/auth/session", { token: alice })).status);
    expect(statuses).to.deep.equal([200, 200, 200, 429]);
    const refused = await request(stack, "GET", "/v1/auth/session", { token: alice });
    expectProblem(refused, 429, "SESSION_RATE_LIMITED");
    expect(Number(refused.headers.get("retry-after"))).to.be.within(1, 60);
    expect((await request(stack, "GET", "/v1/auth/session", { token: bob })).status).to.equal(200);
    expect((await request(stack, "GET", "/healthz")).status).to.equal(200);
  });
});
