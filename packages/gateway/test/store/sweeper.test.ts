// The store sweeper on a real SQLite store: it sweeps on its timer, survives a failing store, and stops.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { DependencyUnavailableError } from "../../src/errors.ts";
import { openSqliteStore } from "../../src/store/sqlite/index.ts";
import { startStoreSweeper } from "../../src/store/sweeper.ts";

describe("store sweeper", function () {
  let dir: string;
  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), "hygeia-sweeper-"));
  });
  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it("removes expired rows on its timer", async function () {
    const store = await openSqliteStore(dir);
    try {
      await store.putNonce({ nonce: "expired", expiresAt: 500 });
      await store.putNonce({ nonce: "live", expiresAt: 5_000 });
      const swept = new Promise<number>((resolve) => {
        const sweeper = startStoreSweeper(store, {
          everyMs: 20,
          now: () => 1_000,
          onSwept: (removed) => void sweeper.stop().then(() => resolve(removed)),
          onError: (error) => expect.fail(String(error)),
        });
      });
      expect(await swept).to.equal(1);
      expect(await store.consumeNonce("live", 1_000)).to.equal(true);
    } finally {
      await store.close();
    }
  });

  it("reports a failing sweep to onError and keeps its timer, never throwing", async function () {
    const store = await openSqliteStore(dir);
    await store.close();
    const errors: unknown[] = [];
    const sweeper = startStoreSweeper(store, { everyMs: 10, now: () => 0, onError: (error) => errors.push(error) });
    while (errors.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    await sweeper.stop();
    expect(errors[0]).to.be.instanceOf(DependencyUnavailableError);
  });

  it("sweeps nothing once stopped", async function () {
    const store = await openSqliteStore(dir);
    try {
      await store.putNonce({ nonce: "expired", expiresAt: 1 });
      const sweeper = startStoreSweeper(store, { everyMs: 60_000, now: () => 10, onError: () => undefined });
      await sweeper.stop();
      expect(await sweeper.sweepNow()).to.equal(0);
      expect(await store.sweep(10)).to.equal(1);
    } finally {
      await store.close();
    }
  });
});
