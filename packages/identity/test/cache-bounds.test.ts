// Issue 16 item 9: the verifier's caches are keyed by what an attacker chooses (fresh DIDs, issuance times,
// status URLs), so each is a bounded LRU, and expired entries are dropped on insert.
import { expect } from "chai";
import { JsonRpcProvider, Wallet } from "ethers";
import { CachedDidResolver, IssuerTrust, StatusListChecker, Bitstring, statusEntry } from "../src/index.ts";
import { BoundedCache } from "../src/verify/bounded-cache.ts";
import { startTestChain, type TestChain } from "./helpers/chain.ts";

const N = 8;

describe("identity: bounded caches", function () {
  describe("BoundedCache", function () {
    it("keeps at most maxEntries, evicting the least recently used", function () {
      const cache = new BoundedCache<string, number>({ maxEntries: 3 });
      const later = Date.now() + 60_000;
      for (const key of ["a", "b", "c"]) cache.set(key, 1, later);
      cache.get("a"); // a is now the most recently used
      cache.set("d", 1, later);
      expect(cache.size).to.equal(3);
      expect(cache.get("b")).to.equal(undefined);
      expect(cache.get("a")).to.equal(1);
    });

    it("drops expired entries on insert and never returns one", function () {
      let now = 1_000_000;
      const cache = new BoundedCache<string, number>({ maxEntries: 100, clock: () => now });
      for (let i = 0; i < 8; i++) cache.set(`old${i}`, i, now + 1_000);
      cache.set("live", 1, now + 60_000);
      now += 2_000;
      expect(cache.get("old0")).to.equal(undefined);
      cache.set("new", 2, now + 60_000);
      expect(cache.size).to.equal(2); // the seven other expired entries were swept by the insert
      cache.set("gone", 3, now); // already expired: not stored
      expect(cache.get("gone")).to.equal(undefined);
    });

    it("keeps the counted bytes under maxBytes, evicting the least recently used, and skips a value larger than all", function () {
      const cache = new BoundedCache<string, number>({ maxEntries: 100, maxBytes: 10 });
      const later = Date.now() + 60_000;
      cache.set("a", 1, later, 4);
      cache.set("b", 2, later, 4);
      cache.get("a"); // a is now the most recently used
      cache.set("c", 3, later, 4);
      expect(cache.bytes).to.equal(8);
      expect(cache.get("b")).to.equal(undefined);
      expect(cache.get("a")).to.equal(1);
      cache.set("huge", 4, later, 11);
      expect(cache.get("huge")).to.equal(undefined);
      expect(cache.bytes).to.equal(8);
      cache.delete("a");
      expect(cache.bytes).to.equal(4);
    });
  });

  describe("on attacker-chosen keys", function () {
    let testChain: TestChain;
    let provider: JsonRpcProvider;

    before(async function () {
      testChain = await startTestChain();
      provider = new JsonRpcProvider(testChain.chain.rpcUrl, undefined, { staticNetwork: true });
    });
    after(async function () {
      provider?.destroy();
      await testChain?.stop();
    });

    it(`the resolver keeps at most ${N} documents after resolving ${N + 1} fresh attacker DIDs`, async function () {
      const resolver = await CachedDidResolver.create({ network: testChain.network, provider, maxCacheEntries: N });
      try {
        for (let i = 0; i <= N; i++) await resolver.resolve(`did:ethr:0x7a69:${Wallet.createRandom().address}`);
        expect(resolver.cacheSize).to.be.at.most(N);
      } finally {
        await resolver.close();
      }
    });

    it(`issuer trust keeps at most ${N} answers after ${N + 1} attacker DIDs`, async function () {
      // The edge of the unit: a registry that trusts nobody (the cache is what is tested).
      const registry = { isTrustedAt: async () => false, isTrusted: async () => false };
      const trust = new IssuerTrust({
        registry: registry as never,
        didPrefix: "did:ethr:0x7a69",
        maxCacheEntries: N,
      });
      for (let i = 0; i <= N; i++)
        await trust.check(`did:ethr:0x7a69:${Wallet.createRandom().address}`, ["insurer"], 1_700_000_000 + i);
      expect(trust.cacheSize).to.be.at.most(N);
    });

    it(`the status checker keeps at most ${N} lists after ${N + 1} URLs`, async function () {
      const checker = new StatusListChecker({
        fetcher: async () => "list",
        verifier: async () => ({
          issuer: "did:ethr:0x7a69:0x1",
          purpose: "revocation",
          list: new Bitstring(),
          validUntil: undefined,
        }),
        maxCachedLists: N,
      });
      for (let i = 0; i <= N; i++)
        await checker.check("did:ethr:0x7a69:0x1", [statusEntry(`https://status${i}.example/l`, "revocation", 1)]);
      expect(checker.cacheSize).to.be.at.most(N);
    });
  });
});
