// UploadStaging over a real SQLite store and a real Helia node on disk, with a test clock: staging is per uploader
// and survives a restart; the sweep unpins expired, unreferenced uploads (at start too) and garbage-collects their
// blocks; the per-uploader budget holds.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HeliaContentStore } from "@hygeia/storage";
import { expect } from "chai";
import { GatewayError } from "../../src/errors.ts";
import { RegistrationReceipts } from "../../src/plugins/records/receipts.ts";
import { UploadStaging } from "../../src/plugins/records/staging.ts";
import type { UploadStagingOptions } from "../../src/plugins/records/staging.ts";
import { openSqliteStore } from "../../src/store/sqlite/index.ts";
import type { GatewayStore } from "../../src/store/types.ts";

const alice = "0x" + "a1".repeat(20);
const bob = "0x" + "b2".repeat(20);
const carol = "0x" + "c3".repeat(20);
const dave = "0x" + "d4".repeat(20);
const TTL = 60_000;

const quiet = { warn: () => undefined, info: () => undefined };

async function refusal(promise: Promise<unknown> | (() => unknown)): Promise<GatewayError> {
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    expect(error).to.be.instanceOf(GatewayError);
    return error as GatewayError;
  }
  expect.fail("expected a refusal");
}

describe("UploadStaging (store-backed) and the expiry sweep", function () {
  let dir: string;
  let store: GatewayStore;
  let content: HeliaContentStore;
  let clock = 1_000_000;
  const receiptKey = randomBytes(32);
  const stagings: UploadStaging[] = [];

  const open = async () => {
    store = await openSqliteStore(join(dir, "gateway"));
    content = await HeliaContentStore.create({ dataDir: join(dir, "ipfs"), listen: [] });
  };
  const closeAll = async () => {
    for (const staging of stagings.splice(0)) await staging.close();
    await store.close();
    await content.close();
  };
  const staging = (options: Partial<UploadStagingOptions> = {}) => {
    const created = new UploadStaging({
      store,
      content,
      receipts: new RegistrationReceipts(receiptKey, content),
      ttlMs: TTL,
      now: () => clock,
      budgetBytes: 1_000_000,
      log: quiet,
      ...options,
    });
    stagings.push(created);
    return created;
  };
  const upload = async (staged: UploadStaging, uploader: string, bytes = randomBytes(2048)) => {
    const { cid, size } = await content.put([bytes]);
    return staged.stage(cid.toString(), uploader, size);
  };

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "hygeia-staging-test-"));
    await open();
  });
  after(async function () {
    await closeAll();
    await rm(dir, { recursive: true, force: true });
  });

  it("stages an upload for the address that sent it only, until it expires; registration takes it once", async function () {
    const s = staging();
    const entry = await upload(s, alice);
    expect(entry).to.include({ patient: alice, size: 2048, expiresAt: clock + TTL });
    expect(await s.get(entry.cid, alice)).to.deep.equal(entry);
    expect(await s.get(entry.cid, bob)).to.equal(undefined);
    clock += TTL;
    expect(await s.get(entry.cid, alice), "expired").to.equal(undefined);
    clock -= TTL;
    expect(await s.take(entry.cid, alice)).to.equal(true);
    expect(await s.take(entry.cid, alice)).to.equal(false);
  });

  it("keeps staging across a restart; the first sweep after it unpins what expired and gc deletes its blocks", async function () {
    const s = staging();
    const expiring = await upload(s, alice);
    const later = await upload(s, bob);
    await store.putStagedUpload({ cid: later.cid, uploader: bob, size: later.size, expiresAt: clock + 10 * TTL });
    await closeAll();
    await open();
    const restarted = staging();
    expect(await restarted.get(expiring.cid, alice), "registrable after the restart").to.deep.equal(expiring);
    clock += TTL + 1;
    restarted.start(); // sweeps once at start
    for (let tries = 0; await content.has(expiring.cid); tries++) {
      expect(tries, "the start sweep unpins and collects").to.be.lessThan(100);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await store.getStagedUpload(expiring.cid, alice)).to.equal(undefined);
    expect(await content.has(later.cid)).to.equal(true);
    expect((await content.stat(later.cid)).pinned).to.equal(true);
    expect(await restarted.get(later.cid, bob)).to.not.equal(undefined);
  });

  it("never unpins an expired upload a record, the uploader's manifest pointer, or another uploader's staging names", async function () {
    const s = staging();
    const recorded = await upload(s, alice);
    await store.putRecord({ patient: alice, cid: recorded.cid, size: 2048, scopeIds: {}, createdAt: clock }, [
      { cid: recorded.cid, recipient: alice, wrap: "w", createdAt: clock },
    ]);
    const manifest = await upload(s, alice);
    await store.compareAndSetManifestPointer(alice, null, { cid: manifest.cid, updatedAt: clock });
    const shared = randomBytes(2048);
    const aliceCopy = await upload(s, alice, shared);
    const stray = await upload(s, alice);
    clock += TTL / 2;
    await upload(s, bob, shared); // Bob stages the same bytes later: Alice's expiry must not unpin them
    clock += TTL / 2 + 1;
    expect(await s.sweep()).to.equal(1); // the stray only
    for (const kept of [recorded, manifest, aliceCopy]) {
      expect((await content.stat(kept.cid)).pinned, kept.cid).to.equal(true);
    }
    expect(await content.has(stray.cid)).to.equal(false);
    clock += TTL;
    expect(await s.sweep()).to.equal(1); // Bob's copy, now that nobody stages it
    expect(await content.has(aliceCopy.cid)).to.equal(false);
  });

  it("keeps an upload re-staged after it expired (a fresh TTL) and counts it once in the budget", async function () {
    const s = staging({ budgetBytes: 5000 });
    const bytes = randomBytes(3000);
    const first = await upload(s, alice, bytes);
    clock += TTL + 1;
    const again = await upload(s, alice, bytes); // the same bytes uploaded again: re-staged, not 6000 bytes
    expect(again.expiresAt).to.be.greaterThan(first.expiresAt);
    expect(await s.sweep()).to.equal(0);
    expect((await content.stat(again.cid)).pinned).to.equal(true);
    expect(await store.stagedBytesOf(alice)).to.equal(3000);
    await s.take(again.cid, alice);
  });

  it("refuses uploads past the uploader's budget with 429 UPLOAD_BUDGET_EXCEEDED, uploads under way included", async function () {
    const s = staging({ budgetBytes: 10_000 });
    const kept = await upload(s, carol, randomBytes(6000));
    // The meter: a declared length or streamed bytes past what is left.
    const meter = await s.begin(carol);
    expect((await refusal(() => meter.fits(4001))).code).to.equal("UPLOAD_BUDGET_EXCEEDED");
    meter.add(3000);
    const concurrent = await s.begin(carol);
    const error = await refusal(() => concurrent.add(1001));
    expect(error.status).to.equal(429);
    expect(error.extensions).to.deep.include({ budget: 10_000, staged: 6000 });
    concurrent.end();
    meter.end();
    // Staging itself re-checks against the store, and unpins the refused bytes.
    const { cid, size } = await content.put([randomBytes(5000)]);
    expect((await refusal(s.stage(cid.toString(), carol, size))).code).to.equal("UPLOAD_BUDGET_EXCEEDED");
    expect((await content.stat(cid)).pinned).to.equal(false);
    // Full: refused before a byte is read.
    await upload(s, carol, randomBytes(4000));
    expect((await refusal(s.begin(carol))).code).to.equal("UPLOAD_BUDGET_EXCEEDED");
    // Dave's budget is his own.
    (await s.begin(dave)).end();
    expect((await content.stat(kept.cid)).pinned).to.equal(true);
  });
});
