// Review of issue 16's fixes, finding 5: challenge stores hold a bounded number of live challenges and sweep
// expired ones a few at a time from the oldest end.
import { expect } from "chai";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChallengeStoreFullError, MemoryChallengeStore, SqliteChallengeStore } from "../src/index.ts";

const DOMAIN = "did:ethr:0x7a69:0x1111111111111111111111111111111111111111";

describe("identity review: bounded challenge stores (finding 5)", function () {
  it("memory: refuses to issue beyond maxLive live challenges with ChallengeStoreFullError", async function () {
    const store = new MemoryChallengeStore({ maxLive: 100 });
    for (let i = 0; i < 100; i++) await store.issue(DOMAIN);
    const error = await store.issue(DOMAIN).then(
      () => expect.fail("issued"),
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(ChallengeStoreFullError);
    expect(error).to.include({ code: "CHALLENGE_STORE_FULL", maxLive: 100 });
    expect(store.size).to.equal(100);
  });

  it("memory: issues again once challenges expired, the expired ones swept from the oldest end", async function () {
    let now = 1_000_000;
    const store = new MemoryChallengeStore({ maxLive: 100, clock: () => now });
    const first = await store.issue(DOMAIN, 10);
    for (let i = 1; i < 100; i++) await store.issue(DOMAIN, 10);
    now += 11_000;
    const fresh = await store.issue(DOMAIN, 10);
    expect(await store.check(fresh, DOMAIN)).to.equal("live");
    expect(await store.check(first, DOMAIN)).to.equal("unknown"); // swept
    // Ordinary issuing with one TTL keeps the store at the challenges still live, a few swept per issue.
    for (let i = 0; i < 500; i++) {
      now += 1_000;
      await store.issue(DOMAIN, 10);
    }
    expect(store.size).to.be.at.most(11 + 16);
  });

  it("memory: a long-lived challenge at the oldest end does not keep the expired ones behind it", async function () {
    let now = 1_000_000;
    const store = new MemoryChallengeStore({ maxLive: 50, clock: () => now });
    await store.issue(DOMAIN, 86_400);
    for (let i = 1; i < 50; i++) await store.issue(DOMAIN, 10);
    now += 11_000;
    for (let i = 1; i < 50; i++) await store.issue(DOMAIN, 10);
    expect(store.size).to.equal(50);
  });

  it("node:sqlite: refuses to issue beyond maxLive live challenges, and issues again after they expired", async function () {
    const dir = mkdtempSync(join(tmpdir(), "review-challenges-"));
    let now = 1_000_000;
    const store = new SqliteChallengeStore(join(dir, "c.db"), { maxLive: 300, clock: () => now });
    try {
      for (let i = 0; i < 300; i++) await store.issue(DOMAIN, 10);
      const error = await store.issue(DOMAIN, 10).then(
        () => expect.fail("issued"),
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(ChallengeStoreFullError);
      now += 11_000;
      expect(await store.check(await store.issue(DOMAIN, 10), DOMAIN)).to.equal("live");
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
