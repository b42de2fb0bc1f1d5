// Two leftovers of the verifier review: an agent's DID resolution deadline is configurable through
// IdentityAgent.create, and WrongChainError never puts an RPC URL's path, query or user info (where providers put
// API keys) into its message.
import { expect } from "chai";
import { IdentityAgent, InvalidIdentityInputError, WrongChainError } from "../src/index.ts";
import { rejection } from "./helpers/settle.ts";
import { startTestChain, type TestChain } from "./helpers/chain.ts";

describe("review leftovers", function () {
  this.timeout(60_000);

  it("WrongChainError's message names the node by scheme, host and port only; rpcUrl keeps the full URL", () => {
    const url = "https://user:secret@rpc.example.org:8443/v3/0123456789abcdef?apikey=topsecret";
    const error = new WrongChainError(url, 1, 31337);
    expect(error.message).to.include("https://rpc.example.org:8443/…");
    for (const secret of ["secret", "0123456789abcdef", "topsecret", "user"])
      expect(error.message).not.to.include(secret);
    expect(error.rpcUrl).to.equal(url);
    expect(new WrongChainError("http://127.0.0.1:8545", 1, 31337).message).to.include("http://127.0.0.1:8545 is on");
  });

  describe("on a chain", () => {
    let testChain: TestChain;
    before(async () => {
      testChain = await startTestChain();
    });
    after(async () => testChain?.stop());

    it("IdentityAgent.create passes resolveTimeoutMs to its resolver (a bad value is refused by name)", async () => {
      const error = await rejection(IdentityAgent.create({ network: testChain.network, resolveTimeoutMs: 0 }));
      expect(error).to.be.instanceOf(InvalidIdentityInputError).and.include({ field: "resolveTimeoutMs" });
      const agent = await IdentityAgent.create({ network: testChain.network, resolveTimeoutMs: 5_000 });
      await agent.close();
    });
  });
});
