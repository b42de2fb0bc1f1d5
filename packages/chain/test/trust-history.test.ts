/**
 * TrustRegistry's append-only history (issue 14, finding 3): re-accreditation adds a window, old
 * windows keep trusting what was issued in them, and a time at which the issuer was revoked never
 * becomes trusted again. The client checks the rule before sending and says where a window may start.
 */
import { expect } from "chai";
import { ContractRevertError, InvalidInputError, TrustRegistryClient } from "../src/index.ts";
import { advanceTime, latestTimestamp, startTestChain, walletAt, type TestChain } from "./support/chain.ts";
import { rejection } from "./support/settle.ts";

describe("TrustRegistryClient: accreditation history (anvil)", function () {
  this.timeout(60_000);
  let t: TestChain;
  let governance: TrustRegistryClient;

  before(async () => {
    t = await startTestChain();
    governance = new TrustRegistryClient(t.deployment.contracts.TrustRegistry, t.signer(0));
  });
  after(async () => t?.stop());

  it("re-accrediting a revoked issuer appends a window: the revoked period stays untrusted, old credentials stay trusted at issuance", async () => {
    const issuer = walletAt(5).address;
    const start = await latestTimestamp(t.provider);
    await governance.accredit({ issuer, role: "clinic", validFrom: start - 100, validUntil: start + 10_000 });
    const issuedAt = start - 50; // a credential issued in the first window
    await advanceTime(t.provider, 100);
    const revocation = await governance.revokeAccreditation(issuer, "clinic");
    const revokedAt = (await t.provider.getBlock(revocation.blockNumber))!.timestamp;
    await advanceTime(t.provider, 100); // the issuer is untrusted (say, compromised) for a while

    // Starting the new window at the original validFrom would make the revoked period trusted again.
    const nonce = await t.provider.getTransactionCount(walletAt(0).address);
    const refused = governance.accredit({ issuer, role: "clinic", validFrom: start - 100, validUntil: start + 20_000 });
    const error = await rejection(refused);
    expect(error).to.be.instanceOf(InvalidInputError).and.include({ field: "validFrom" });
    const head = await latestTimestamp(t.provider);
    expect((error as Error).message).to.match(
      new RegExp(`was revoked at ${revokedAt}.*start the new window at ${head} or later`),
    );
    expect(await t.provider.getTransactionCount(walletAt(0).address), "nothing was sent").to.equal(nonce);

    const renewed = await governance.accredit({
      issuer,
      role: "clinic",
      validFrom: head + 10,
      validUntil: head + 5000,
    });
    expect(renewed.events[0]).to.include({ type: "IssuerAccredited", validFrom: BigInt(head + 10) });
    expect(await governance.accreditationHistory(issuer, "clinic")).to.deep.equal([
      { validFrom: BigInt(start - 100), validUntil: BigInt(start + 10_000), revokedAt: BigInt(revokedAt) },
      { validFrom: BigInt(head + 10), validUntil: BigInt(head + 5000), revokedAt: 0n },
    ]);
    // accreditationOf is the latest window.
    expect(await governance.accreditationOf(issuer, "clinic")).to.deep.equal({
      validFrom: BigInt(head + 10),
      validUntil: BigInt(head + 5000),
      revokedAt: 0n,
    });
    expect(await governance.isTrustedAt(issuer, "clinic", issuedAt), "issued in the old window").to.equal(true);
    expect(await governance.isTrustedAt(issuer, "clinic", revokedAt), "at the revocation").to.equal(false);
    expect(await governance.isTrustedAt(issuer, "clinic", revokedAt + 50), "while revoked").to.equal(false);
    expect(await governance.isTrustedAt(issuer, "clinic", head + 10)).to.equal(true);
    // The history read at an earlier block has one window.
    expect(await governance.accreditationHistory(issuer, "clinic", revocation.blockNumber)).to.have.length(1);
  });

  it("a new window may start no earlier than the previous one ends; the client says where", async () => {
    const issuer = walletAt(6).address;
    const now = await latestTimestamp(t.provider);
    await governance.accredit({ issuer, role: "irb", validFrom: now, validUntil: now + 1000 });
    const overlapping = await rejection(
      governance.accredit({ issuer, role: "irb", validFrom: now + 500, validUntil: now + 3000 }),
    );
    expect(overlapping).to.be.instanceOf(InvalidInputError).and.include({ field: "validFrom" });
    expect((overlapping as Error).message).to.include(
      `the previous window ends at ${now + 1000}): start the new window at ${now + 1000} or later`,
    );
    await governance.accredit({ issuer, role: "irb", validFrom: now + 1000, validUntil: now + 3000 });
    expect(await governance.accreditationHistory(issuer, "irb")).to.have.length(2);
    expect(await governance.accreditationHistory(walletAt(7).address, "irb")).to.deep.equal([]);
  });

  it("the contract's WindowOverlapsHistory, when the chain's time moves past the client's check, says where to start", async () => {
    const issuer = walletAt(7).address;
    const now = await latestTimestamp(t.provider);
    await governance.accredit({ issuer, role: "insurer", validFrom: now - 10, validUntil: now + 1000 });
    await governance.revokeAccreditation(issuer, "insurer");
    // The client compares with the head's time; the next block is later, so the contract refuses.
    const head = await latestTimestamp(t.provider);
    await t.provider.send("evm_setNextBlockTimestamp", [head + 5]);
    const error = await rejection(
      governance.accredit({ issuer, role: "insurer", validFrom: head + 1, validUntil: head + 1000 }),
    );
    expect(error).to.be.instanceOf(ContractRevertError).and.include({ errorName: "WindowOverlapsHistory" });
    const earliest = (error as ContractRevertError).args["earliestAllowed"] as bigint;
    expect(earliest > BigInt(head)).to.equal(true);
    expect((error as Error).message).to.include(`start the new window at ${earliest} or later`);
  });

  it("after a revocation and a short window, refuses before sending to backdate over the gap", async () => {
    const issuer = walletAt(6).address;
    const t0 = await latestTimestamp(t.provider);
    await governance.accredit({ issuer, role: "clinic", validFrom: t0, validUntil: t0 + 10_000 });
    await advanceTime(t.provider, 50);
    await governance.revokeAccreditation(issuer, "clinic");
    const short = (await latestTimestamp(t.provider)) + 5;
    await governance.accredit({ issuer, role: "clinic", validFrom: short, validUntil: short + 10 });
    await advanceTime(t.provider, 1000);
    const error = await rejection(
      governance.accredit({ issuer, role: "clinic", validFrom: short + 10, validUntil: t0 + 50_000 }),
    );
    expect(error).to.be.instanceOf(InvalidInputError).and.include({ field: "validFrom" });
    expect((error as Error).message).to.match(/was revoked before, so no new window may start before now/);
    expect(await governance.isTrustedAt(issuer, "clinic", short + 500)).to.equal(false);
  });
});
