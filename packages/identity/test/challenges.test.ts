import { expect } from "chai";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryChallengeStore, SqliteChallengeStore, type ChallengeStore } from "../src/index.ts";

describe("identity: single-use challenge stores", function () {
  let dir: string;
  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "hygeia-challenges-"));
  });
  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  const stores: Array<[string, (clock: () => number) => ChallengeStore & { close?: () => void }]> = [
    ["memory", (clock) => new MemoryChallengeStore({ clock })],
    ["node:sqlite", (clock) => new SqliteChallengeStore(join(dir, `c-${Math.random()}.db`), { clock })],
  ];

  for (const [name, make] of stores) {
    it(`${name}: consumes once, then reports already-used, unknown, wrong-domain and expired`, async function () {
      let now = 1_000_000;
      const store = make(() => now);
      const challenge = await store.issue("clinic.example", 60);
      expect(challenge).to.match(/^[A-Za-z0-9_-]{32}$/);
      expect(await store.consume(challenge, "evil.example")).to.equal("wrong-domain");
      expect(await store.consume(challenge, "clinic.example")).to.equal("consumed");
      expect(await store.consume(challenge, "clinic.example")).to.equal("already-used");
      expect(await store.consume("never-issued", "clinic.example")).to.equal("unknown");
      const late = await store.issue("clinic.example", 60);
      now += 61_000;
      expect(await store.consume(late, "clinic.example")).to.equal("expired");
      store.close?.();
    });

    it(`${name}: concurrent consumers of one challenge, exactly one wins`, async function () {
      const store = make(Date.now);
      const challenge = await store.issue("clinic.example");
      const outcomes = await Promise.all(Array.from({ length: 8 }, () => store.consume(challenge, "clinic.example")));
      expect(outcomes.filter((o) => o === "consumed")).to.have.length(1);
      store.close?.();
    });
  }

  it("node:sqlite: two handles on one file share single use", async function () {
    const path = join(dir, "shared.db");
    const a = new SqliteChallengeStore(path);
    const b = new SqliteChallengeStore(path);
    const challenge = await a.issue("clinic.example");
    expect(await b.consume(challenge, "clinic.example")).to.equal("consumed");
    expect(await a.consume(challenge, "clinic.example")).to.equal("already-used");
    a.close();
    b.close();
  });
});
