// The PostgreSQL store's read cache on its own (no server): concurrent misses of one key share one read, and a drop
// while a read is under way keeps its result out of the cache and out of later callers' hands.
import { expect } from "chai";
import { PostgresReadCache, cacheKey } from "../../src/store/postgres/read-cache.ts";

/** A load whose answer the test gives when it wants, counting the calls. */
function controlledLoad<T>() {
  const pending: ((value: T) => void)[] = [];
  return {
    calls: () => pending.length,
    load: () => new Promise<T>((resolve) => pending.push(resolve)),
    answer: (index: number, value: T) => pending[index]!(value),
  };
}

describe("postgres store read cache", function () {
  const key = cacheKey("0xpatient", "bafyrecord");

  function listeningCache(now = () => 1_000): PostgresReadCache {
    const cache = new PostgresReadCache({ ttlMs: 1_000, now });
    cache.setListening(true);
    return cache;
  }

  it("lets concurrent misses of one key share one read, and serves the row from the cache afterwards", async function () {
    const cache = listeningCache();
    const source = controlledLoad<{ size: number }>();
    const readers = Array.from({ length: 50 }, () => cache.read("records", key, source.load));
    expect(source.calls()).to.equal(1);
    source.answer(0, { size: 7 });
    const rows = await Promise.all(readers);
    expect(rows.every((row) => row.size === 7)).to.equal(true);
    expect(Object.isFrozen(rows[0])).to.equal(true);
    expect(await cache.read("records", key, source.load)).to.deep.equal({ size: 7 });
    expect(source.calls()).to.equal(1);
  });

  it("starts a new read for a caller that comes after a drop, and does not keep the older read's row", async function () {
    const cache = listeningCache();
    const source = controlledLoad<string>();
    const before = cache.read("sessions", "s1", source.load);
    cache.drop([["sessions", "s1"]]);
    const after = cache.read("sessions", "s1", source.load);
    expect(source.calls(), "the caller after the drop does not join the read started before it").to.equal(2);
    source.answer(0, "read before the sign-out");
    source.answer(1, "signed out");
    expect(await before).to.equal("read before the sign-out");
    expect(await after).to.equal("signed out");
    // The read started after the drop is kept; the one from before it is not.
    const third = controlledLoad<string>();
    expect(await cache.read("sessions", "s1", third.load)).to.equal("signed out");
    expect(third.calls()).to.equal(0);
  });

  it("keeps nothing and shares nothing while the bus listener is down", async function () {
    const cache = new PostgresReadCache({ ttlMs: 1_000 });
    const source = controlledLoad<number>();
    expect(cache.active).to.equal(false);
    const rows = [cache.read("wraps", key, source.load), cache.read("wraps", key, source.load)];
    expect(source.calls(), "no read is shared").to.equal(2);
    source.answer(0, 1);
    source.answer(1, 1);
    expect(await Promise.all(rows)).to.deep.equal([1, 1]);
    expect(cache.get("wraps", key).hit).to.equal(false);
  });

  it("reads again once a row is older than the TTL", async function () {
    let now = 1_000;
    const cache = listeningCache(() => now);
    const first = controlledLoad<number>();
    const row = cache.read("wraps", key, first.load);
    first.answer(0, 1);
    expect(await row).to.equal(1);
    now += 999;
    expect(cache.get("wraps", key)).to.deep.equal({ hit: true, value: 1 });
    now += 1;
    const second = controlledLoad<number>();
    const again = cache.read("wraps", key, second.load);
    expect(second.calls()).to.equal(1);
    second.answer(0, 2);
    expect(await again).to.equal(2);
  });
});
