// A PackBlockstore used on its own (no HeliaContentStore around it) also notices that its LOCK.db was deleted or
// replaced and refuses to write: another process may hold a lock on the new file and write the same segments.
import { mkdtemp, rm, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { DataDirLockLostError, PackBlockstore } from "../src/index.ts";
import { cidOf } from "./helpers/blocks.ts";
import type { TestBlock } from "./helpers/blocks.ts";
import { expectRejection } from "./helpers/expect.ts";

function block(text: string): TestBlock {
  const bytes = new TextEncoder().encode(text);
  return { cid: cidOf(bytes), bytes };
}

describe("pack blockstore: a deleted LOCK.db stops writes", function () {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "hygeia-pack-lock-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses put and sync with DataDirLockLostError once LOCK.db is gone; what was written before stays", async () => {
    const store = new PackBlockstore(dir);
    await store.open();
    try {
      const first = block("written while the lock was ours");
      await store.put(first.cid, first.bytes);
      await store.sync();
      await unlink(join(dir, "LOCK.db"));
      const second = block("written after the lock was deleted");
      await expectRejection(store.put(second.cid, second.bytes), DataDirLockLostError);
      await expectRejection(store.sync(), DataDirLockLostError);
      expect(await store.has(second.cid)).to.equal(false);
      expect(await store.has(first.cid)).to.equal(true);
    } finally {
      await store.close().catch(() => undefined);
    }
  });
});
