// Review findings 2, 8 and 9 on the pack blockstore's writes: a put acknowledged by its sync() is on disk even
// when another put's sync() ran while its write was in flight; a full disk while a new segment is started leaves
// no empty segment behind (so writing works again once there is space); a full disk is a typed error naming the
// reason. The disk-full tests mount their own small tmpfs (root only; skipped otherwise).
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, open, readdir, rm } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { expect } from "chai";
import { StoreUnavailableError, StoreWriteFailedError } from "../src/index.ts";
import { PackBlockstore } from "../src/helia/pack-blockstore.ts";
import { ALIGNMENT } from "../src/helia/pack-format.ts";
import { block } from "./helpers/blocks.ts";
import type { TestBlock } from "./helpers/blocks.ts";
import { fileHandlePrototype } from "./helpers/file-handle.ts";
import { readBlock } from "./helpers/pack.ts";

describe("PackBlockstore durability and a full disk (review findings 2, 8, 9)", () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "hygeia-review-durable-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("a put acknowledged by its own sync() was fdatasynced after its write, with two puts in flight and a slow disk", async () => {
    // The disk is slowed at its edge (FileHandle.writev), and the order of writes and flushes recorded.
    const proto = await fileHandlePrototype();
    const { writev, datasync } = proto;
    const log: string[] = [];
    proto.writev = async function (this: FileHandle, ...args: Parameters<FileHandle["writev"]>) {
      const n = log.length;
      log.push(`write ${n} start`);
      await sleep(100);
      const result = await writev.apply(this, args);
      log.push(`write ${n} done`);
      return result;
    } as FileHandle["writev"];
    proto.datasync = async function (this: FileHandle) {
      log.push("datasync start");
      return datasync.apply(this);
    };
    const store = new PackBlockstore(join(dir, "blocks"), { directIo: false });
    try {
      await store.open();
      const add = async (name: string, { cid, bytes }: TestBlock): Promise<void> => {
        await store.put(cid, bytes);
        log.push(`${name} written`);
        await store.sync();
        log.push(`${name} acknowledged`);
      };
      await Promise.all([add("A", block(1000)), add("B", block(1000))]);
    } finally {
      proto.writev = writev;
      proto.datasync = datasync;
      await store.close();
    }
    for (const name of ["A", "B"]) {
      const written = log.indexOf(`${name} written`);
      const acknowledged = log.indexOf(`${name} acknowledged`);
      const flushes = log.slice(written, acknowledged).filter((entry) => entry === "datasync start");
      expect(
        flushes.length,
        `${name}: a flush between its write and its acknowledgement\n${log.join("\n")}`,
      ).to.be.at.least(1);
    }
  });

  describe("on a full disk (a tmpfs of its own)", function () {
    let mount: string;

    before(function () {
      if (process.getuid?.() !== 0) this.skip(); // mounting a tmpfs needs root
    });
    beforeEach(async () => {
      mount = join(dir, "small");
      await mkdir(mount);
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mount]);
    });
    afterEach(() => {
      if (mount !== undefined) execFileSync("umount", ["-l", mount]);
    });

    it("a put on a full disk is a StoreWriteFailedError (STORE_UNAVAILABLE, reason ENOSPC); puts work again once there is space", async () => {
      const location = join(mount, "blocks");
      const store = new PackBlockstore(location, { directIo: false, segmentSize: 3 * ALIGNMENT });
      await store.open();
      const acknowledged: TestBlock[] = [];
      const errors: unknown[] = [];
      try {
        for (let i = 0; i < 200 && errors.length < 5; i++) {
          const next = block(4000 + (i % 2) * 4096); // one or two blocks of 4 KiB: segments roll often
          try {
            await store.put(next.cid, next.bytes);
            await store.sync();
            acknowledged.push(next);
          } catch (error) {
            errors.push(error);
          }
        }
        expect(acknowledged.length).to.be.above(0);
        expect(errors.length).to.equal(5);
        for (const error of errors) {
          expect(error).to.be.instanceOf(StoreWriteFailedError).and.to.be.instanceOf(StoreUnavailableError);
          expect((error as StoreWriteFailedError).code).to.equal("STORE_UNAVAILABLE");
          expect((error as StoreWriteFailedError).reason).to.equal("ENOSPC");
          expect((error as StoreWriteFailedError).message).to.match(/free space/);
        }
        execFileSync("mount", ["-o", "remount,size=16m", mount]);
        for (let i = 0; i < 3; i++) {
          const later = block(100);
          await store.put(later.cid, later.bytes); // the same process, no restart
          await store.sync();
          acknowledged.push(later);
        }
      } finally {
        await store.close();
      }
      const reopened = new PackBlockstore(location, { directIo: false, segmentSize: 3 * ALIGNMENT });
      await reopened.open();
      try {
        for (const { cid, bytes } of acknowledged)
          expect(Buffer.compare(await readBlock(reopened, cid), bytes)).to.equal(0);
      } finally {
        await reopened.close();
      }
    });

    it("a full disk while a new segment's header is written leaves no segment file behind: the next roll works once there is space", async () => {
      const location = join(mount, "blocks");
      const options = { directIo: false, segmentSize: 2 * ALIGNMENT }; // one record per segment: every put rolls
      const store = new PackBlockstore(location, options);
      await store.open();
      const acknowledged: TestBlock[] = [block(100)];
      const filler = join(mount, "filler");
      try {
        await store.put(acknowledged[0]!.cid, acknowledged[0]!.bytes);
        await store.sync();
        const segmentsBefore = (await readdir(location)).filter((file) => file.endsWith(".pack"));
        const handle = await open(filler, "w"); // takes every free page
        try {
          for (;;) await handle.write(Buffer.alloc(ALIGNMENT));
        } catch (error) {
          expect((error as NodeJS.ErrnoException).code).to.equal("ENOSPC");
        } finally {
          await handle.close();
        }
        for (let i = 0; i < 2; i++) {
          const refused = block(100);
          const error = await store.put(refused.cid, refused.bytes).then(
            () => expect.fail("a put on a full disk resolved"),
            (caught: unknown) => caught,
          );
          expect(error).to.be.instanceOf(StoreWriteFailedError);
          expect((error as StoreWriteFailedError).reason).to.equal("ENOSPC");
          expect((error as StoreWriteFailedError).path).to.match(/segment-0000000\d\.pack$/);
        }
        expect((await readdir(location)).filter((file) => file.endsWith(".pack"))).to.deep.equal(segmentsBefore);
        await rm(filler);
        const later = block(100);
        await store.put(later.cid, later.bytes); // the same process: no EEXIST from a leftover segment
        await store.sync();
        acknowledged.push(later);
      } finally {
        await store.close();
      }
      const reopened = new PackBlockstore(location, options);
      await reopened.open();
      try {
        for (const { cid, bytes } of acknowledged)
          expect(Buffer.compare(await readBlock(reopened, cid), bytes)).to.equal(0);
        expect(reopened.damage).to.deep.equal([]);
      } finally {
        await reopened.close();
      }
    });
  });
});
