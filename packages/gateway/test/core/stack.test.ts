// The shared harness itself: a stack starts on real components and answers over HTTP.
import { expect } from "chai";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { expectProblem, request } from "../support/http.ts";

describe("test stack", function () {
  let stack: TestStack;
  before(async function () {
    stack = await startTestStack();
  });
  after(async function () {
    await stack?.close();
  });

  it("serves the gateway on a real socket and answers an unknown route with a problem", async function () {
    const res = await request(stack, "GET", "/v1/no-such-route");
    const problem = expectProblem(res, 404, "ROUTE_NOT_FOUND");
    expect(problem.instance).to.match(/^urn:hygeia:request:[0-9a-f-]{36}$/);
  });

  it("builds the real services: the indexer has synced the deployment and the store answers", async function () {
    const status = stack.services.chain.indexer.status();
    expect(status.stale).to.equal(false);
    expect(status.chainId).to.equal(stack.deployment.chainId);
    await stack.services.store.ping();
    expect(stack.services.chain.relayer).to.not.equal(null);
    expect(stack.services.chain.anchors).to.not.equal(null);
  });

  it("mines blocks on request", async function () {
    const before = await stack.provider.getBlockNumber();
    await stack.mine(3);
    expect(await stack.provider.getBlockNumber()).to.equal(before + 3);
  });
});
