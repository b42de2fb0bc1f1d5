// The relay's in-flight guard as a unit: all-or-nothing holds, release on settle, a timed-out hold kept until settled.
import { expect } from "chai";
import { ContractRevertError } from "@hygeia/chain";
import { RelayGuard, receiptSettled } from "../../src/plugins/consent/guard.ts";
import { RelayedButRevertedError, relayFailure } from "../../src/plugins/consent/relay.ts";
import { toProblem } from "../../src/problems.ts";

describe("gateway consent relay guard: one relay in flight per consent slot", function () {
  it("takes all of a request's slots or none, and names the first busy one", function () {
    const guard = new RelayGuard();
    const first = guard.acquire(["a", "b"]);
    expect(first).to.not.have.property("busy");
    expect(guard.acquire(["c", "b"])).to.deep.equal({ busy: 1 });
    expect(guard.size).to.equal(2); // "c" was not taken by the refused request
    if ("busy" in first) throw new Error("unreachable");
    first.release("a");
    first.release("a"); // idempotent
    expect(guard.acquire(["a"])).to.not.have.property("busy");
    first.releaseAll();
    expect(guard.size).to.equal(1);
  });

  it("keeps a timed-out transaction's slot until its settlement resolves", async function () {
    const guard = new RelayGuard();
    const hold = guard.acquire(["slot"]);
    if ("busy" in hold) throw new Error("unreachable");
    let settle!: () => void;
    hold.releaseWhen("slot", new Promise<void>((resolve) => (settle = resolve)));
    await new Promise((resolve) => setImmediate(resolve));
    expect(guard.acquire(["slot"])).to.deep.equal({ busy: 0 });
    settle();
    await new Promise((resolve) => setImmediate(resolve));
    expect(guard.size).to.equal(0);
    guard.close();
  });

  it("watches a receipt until the node has one, retrying node errors", async function () {
    let asks = 0;
    await receiptSettled(
      async () => {
        asks += 1;
        if (asks === 1) throw new Error("node down");
        return asks === 3 ? { status: 0 } : null;
      },
      "0x" + "ab".repeat(32),
      () => false,
      1,
    );
    expect(asks).to.equal(3);
  });

  it("maps a transaction mined as a revert to RELAYED_BUT_REVERTED with its hash, and a simulation's revert stays 'nothing sent'", function () {
    const hash = "0x" + "CD".repeat(32);
    const mined = relayFailure(
      new ContractRevertError("ConsentRegistry.grantBySig", "unknown", { transactionHash: hash }, "0x"),
      "body.signed",
    );
    expect(mined).to.be.instanceOf(RelayedButRevertedError);
    const problem = toProblem(mined, "req-1");
    expect(problem).to.include({ status: 409, code: "RELAYED_BUT_REVERTED", hash: hash.toLowerCase() });
    const simulated = new ContractRevertError("ConsentRegistry.grantBySig", "Unauthorized", {}, "0x12345678");
    expect(toProblem(relayFailure(simulated, "body.signed"), "req-2")).to.include({
      status: 409,
      code: "CONTRACT_REVERT",
    });
  });
});
