// Revocation latency on the real stack: a clinic asks for a record's key in a tight loop while the patient
// revokes its consent. Asserts that no wrap is released by a request that started after the gateway's indexer
// had synced past the revoke's block, that once denied the clinic is never served again, and measures the worst
// delay from the revoke's receipt to the first deny (printed; bounded by the index's staleness limit, past
// which the gateway must fail closed anyway).
import { expect } from "chai";
import { performance } from "node:perf_hooks";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { signInWith } from "./support/siwe.ts";
import { actor, addRecord, askKey, chainNow, patientKeys, registryAs, seal, type Actor } from "./support/world.ts";

const ROUNDS = 5;
const WORKERS = 2;

interface Sample {
  startedAt: number;
  endedAt: number;
  /** The indexer's synced block when the request was sent. */
  syncedAtStart: number;
  status: number;
}

describe("security: revocation latency (revoke, then a tight loop of key requests)", function () {
  let stack: TestStack;
  let alice: Actor;
  let clinic: Actor;
  let cid: string;
  let scope: string;

  before(async function () {
    this.timeout(120_000);
    stack = await startTestStack();
    alice = actor(stack.accounts.alice, await signInWith(stack.url, stack.accounts.alice));
    clinic = actor(stack.accounts.clinic, await signInWith(stack.url, stack.accounts.clinic));
    const keys = patientKeys(alice.address);
    scope = keys.scopes.id("category:laboratory");
    cid = await addRecord(stack, alice, await seal("HbA1c 6.1 %"), [scope], [clinic]);
  });
  after(async function () {
    await stack?.close();
  });

  it("releases no wrap once the indexer has passed the revoke block, and denies within the staleness bound", async function () {
    this.timeout(180_000);
    const indexer = stack.services.chain.indexer;
    const registry = registryAs(stack, stack.accounts.alice);
    const delays: number[] = [];
    let lateReleases: Sample[] = [];

    for (let round = 0; round < ROUNDS; round++) {
      await registry.grant({
        grantee: clinic.address,
        scope,
        purpose: "Treatment",
        expiry: (await chainNow(stack)) + 86_400,
      });
      // Wait (without forcing a sync) until the grant is served.
      const granted = Date.now();
      while ((await askKey(stack, clinic.token, alice.address, cid, "Treatment")).status !== 200) {
        expect(Date.now() - granted, "grant served within 30 s").to.be.below(30_000);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }

      const samples: Sample[] = [];
      let stop = false;
      const worker = async () => {
        while (!stop) {
          const syncedAtStart = indexer.status().syncedBlock ?? -1;
          const startedAt = performance.now();
          const res = await askKey(stack, clinic.token, alice.address, cid, "Treatment");
          samples.push({ startedAt, endedAt: performance.now(), syncedAtStart, status: res.status });
        }
      };
      const workers = Array.from({ length: WORKERS }, worker);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const revoke = await registry.revoke({ grantee: clinic.address, scope, purpose: "Treatment" });
      const receiptAt = performance.now();
      const revokeBlock = revoke.blockNumber;
      // Run on until a deny was seen and a little after it (a release after a deny would show there).
      const limit = Date.now() + 30_000;
      let firstDenyAt: number | undefined;
      while (Date.now() < limit) {
        firstDenyAt ??= samples.find((s) => s.status === 403)?.endedAt;
        if (firstDenyAt !== undefined && performance.now() - firstDenyAt > 300) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      stop = true;
      await Promise.all(workers);

      expect(
        samples.some((s) => s.status === 200 && s.startedAt < receiptAt),
        "released before the revoke",
      ).to.equal(true);
      expect(firstDenyAt, "a deny after the revoke").to.not.equal(undefined);
      for (const s of samples) expect(s.status, "only releases and denies").to.be.oneOf([200, 403]);
      lateReleases = lateReleases.concat(samples.filter((s) => s.status === 200 && s.syncedAtStart >= revokeBlock));
      const afterDeny = samples.filter((s) => s.status === 200 && s.startedAt > firstDenyAt!);
      expect(afterDeny, "released again after a deny").to.deep.equal([]);
      delays.push(Math.max(0, firstDenyAt! - receiptAt));
    }

    const worst = Math.max(...delays);
    console.log(
      `revocation latency: worst receipt->first deny ${worst.toFixed(1)} ms over ${ROUNDS} revokes (${delays.map((d) => d.toFixed(0)).join(", ")} ms; poll ${stack.config.chain.pollIntervalMs} ms)`,
    );
    expect(lateReleases, "wraps released after the indexer passed the revoke block").to.deep.equal([]);
    expect(worst).to.be.below(stack.config.chain.staleAfterMs + stack.config.chain.pollIntervalMs);
  });

  it("in strict mode (the contract asked at latest) refuses every request sent after the revoke's receipt", async function () {
    this.timeout(120_000);
    const registry = registryAs(stack, stack.accounts.alice);
    const config = stack.app.config.chain;
    config.strict = true;
    try {
      for (let round = 0; round < 3; round++) {
        await registry.grant({
          grantee: clinic.address,
          scope,
          purpose: "Treatment",
          expiry: (await chainNow(stack)) + 86_400,
        });
        const granted = await askKey(stack, clinic.token, alice.address, cid, "Treatment");
        expect(granted.status, granted.text).to.equal(200);
        const samples: Sample[] = [];
        let stop = false;
        const worker = async () => {
          while (!stop) {
            const startedAt = performance.now();
            const res = await askKey(stack, clinic.token, alice.address, cid, "Treatment");
            samples.push({ startedAt, endedAt: performance.now(), syncedAtStart: -1, status: res.status });
          }
        };
        const workers = Array.from({ length: WORKERS }, worker);
        await new Promise((resolve) => setTimeout(resolve, 100));
        await registry.revoke({ grantee: clinic.address, scope, purpose: "Treatment" });
        const receiptAt = performance.now();
        await new Promise((resolve) => setTimeout(resolve, 300));
        stop = true;
        await Promise.all(workers);
        const after = samples.filter((s) => s.startedAt > receiptAt);
        expect(after.length, "requests after the receipt").to.be.greaterThan(0);
        expect(
          after.filter((s) => s.status !== 403),
          "answers other than 403 after the receipt",
        ).to.deep.equal([]);
      }
    } finally {
      config.strict = false;
    }
  });
});
