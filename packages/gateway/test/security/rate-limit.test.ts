// The per-address rate limit cannot be sidestepped by what a client sends: spoofed forwarding headers (no
// proxy is trusted by default) or a token the gateway refuses. Refusals are 429 problems with Retry-After.
import { expect } from "chai";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { expectClientProblem } from "./support/problem.ts";
import { send, type RawRequest } from "./support/http.ts";
import type { RawResponse } from "./support/problem.ts";

const PER_IP = 20;
const JUNK_TOKEN = `hgs1.${"A".repeat(32)}.${"B".repeat(43)}`;

describe("security: the per-address rate limit holds against spoofed headers and refused tokens", function () {
  let stack: TestStack;

  beforeEach(async function () {
    // A stack per test: each starts with a fresh count for 127.0.0.1.
    stack = await startTestStack({ config: { limits: { perIp: { max: PER_IP, windowMs: 60_000 } } } });
  });
  afterEach(async function () {
    await stack?.close();
  });

  async function burst(
    make: (i: number) => Partial<RawRequest>,
  ): Promise<{ statuses: number[]; refused?: RawResponse }> {
    const statuses: number[] = [];
    let refused: RawResponse | undefined;
    for (let i = 0; i < PER_IP + 10; i++) {
      const res = await send(stack.url, { method: "GET", path: "/v1/auth/nonce", ...make(i) });
      statuses.push(res.status);
      if (res.status === 429) refused ??= res;
    }
    return { statuses, ...(refused ? { refused } : {}) };
  }

  function expectLimited(result: { statuses: number[]; refused?: RawResponse }): void {
    const answered = result.statuses.filter((s) => s !== 429).length;
    expect(answered, `answers before the limit (${result.statuses.join(" ")})`).to.be.at.most(PER_IP);
    expect(result.refused, "a 429 once the limit is reached").to.not.equal(undefined);
    expectClientProblem(result.refused!, { status: 429 }, "rate limited");
    expect(Number(result.refused!.headers.get("retry-after")), "Retry-After seconds").to.be.greaterThan(0);
  }

  it("counts requests by the socket's address, whatever X-Forwarded-For, X-Real-IP or Forwarded say", async function () {
    expectLimited(
      await burst((i) => {
        const spoof = `203.0.113.${i + 1}`;
        return { headers: { "x-forwarded-for": spoof, "x-real-ip": spoof, forwarded: `for=${spoof}` } };
      }),
    );
  });

  it("counts and refuses requests whose token is refused, like any other", async function () {
    expectLimited(await burst((i) => (i % 2 === 0 ? { token: JUNK_TOKEN } : {})));
    const over = await send(stack.url, { method: "GET", path: "/v1/auth/nonce", token: JUNK_TOKEN });
    expectClientProblem(over, { status: 429 }, "a junk token over the limit");
  });
});
