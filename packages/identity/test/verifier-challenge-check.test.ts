// ChallengeStore.check looks at a challenge without consuming it: the verifier uses it to fetch nothing for a
// presentation that does not answer a live challenge of its own (issue 16 item 4). Both stores, no chain needed.
import { expect } from "chai";
import { MemoryChallengeStore, SqliteChallengeStore, type ChallengeStore } from "../src/index.ts";

describe("identity: ChallengeStore.check", function () {
  for (const [name, make] of [
    ["MemoryChallengeStore", (clock: () => number) => new MemoryChallengeStore({ clock })],
    ["SqliteChallengeStore", (clock: () => number) => new SqliteChallengeStore(":memory:", { clock })],
  ] as const) {
    it(`${name}: says live, unknown, wrong-domain, expired and already-used without consuming`, async function () {
      let now = 1_000_000;
      const store: ChallengeStore = make(() => now);
      const challenge = await store.issue("clinic.example", 60);
      expect(await store.check!(challenge, "clinic.example")).to.equal("live");
      expect(await store.check!(challenge, "clinic.example")).to.equal("live"); // looking twice consumes nothing
      expect(await store.check!("never-issued-challenge-123", "clinic.example")).to.equal("unknown");
      expect(await store.check!(challenge, "other.example")).to.equal("wrong-domain");
      expect(await store.consume(challenge, "clinic.example")).to.equal("consumed");
      expect(await store.check!(challenge, "clinic.example")).to.equal("already-used");
      const later = await store.issue("clinic.example", 60);
      now += 61_000;
      expect(await store.check!(later, "clinic.example")).to.equal("expired");
      (store as { close?: () => void }).close?.();
    });
  }
});
