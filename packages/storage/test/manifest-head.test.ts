import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";
import { FileManifestHead, InvalidArgumentError, InvalidManifestError, MAX_PREVIOUS_HEADS } from "../src/index.ts";
import { expectField, expectRejection, thrown } from "./helpers/expect.ts";
import { TestNodes } from "./helpers/nodes.ts";

async function cidOf(text: string): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(text)));
}

describe("FileManifestHead", () => {
  const nodes = new TestNodes();
  after(() => nodes.cleanup());

  it("starts empty, moves only from the expected value, and versions must increase", async () => {
    const head = new FileManifestHead(join(await nodes.dir(), "patient", "head.json"));
    const [v1, v2, other] = [await cidOf("v1"), await cidOf("v2"), await cidOf("other")];
    expect(await head.get()).to.equal(undefined);
    expect(await head.compareAndSet(other, { cid: v1, version: 1 })).to.equal(false);
    expect(await head.compareAndSet(undefined, { cid: v1, version: 1 })).to.equal(true);
    expect(await head.compareAndSet(undefined, { cid: v2, version: 2 })).to.equal(false);
    expect(await head.compareAndSet(other, { cid: v2, version: 2 })).to.equal(false);
    await expectRejection(head.compareAndSet(v1, { cid: v2, version: 1 }), InvalidArgumentError);
    await expectRejection(head.compareAndSet(v1, { cid: v2, version: 0 }), InvalidArgumentError);
    expect(await head.compareAndSet(v1, { cid: v2, version: 2 })).to.equal(true);
    const current = await head.get();
    expect(current?.cid.equals(v2)).to.equal(true);
    expect(current?.version).to.equal(2);
  });

  it("exactly one of many concurrent writers (separate instances, as separate processes) wins", async () => {
    const path = join(await nodes.dir(), "head.json");
    const writers = Array.from({ length: 12 }, () => new FileManifestHead(path));
    const candidates = await Promise.all(writers.map((_, index) => cidOf(`candidate-${index}`)));
    const results = await Promise.all(
      writers.map((writer, index) => writer.compareAndSet(undefined, { cid: candidates[index]!, version: 1 })),
    );
    expect(results.filter(Boolean)).to.have.length(1);
    const winner = candidates[results.indexOf(true)]!;
    expect((await new FileManifestHead(path).get())?.cid.equals(winner)).to.equal(true);
  });

  it("reports a corrupt head file as InvalidManifestError", async () => {
    const dir = await nodes.dir();
    const path = join(dir, "head.json");
    await writeFile(path, "{ not json");
    await expectRejection(new FileManifestHead(path).get(), InvalidManifestError);
    await writeFile(path, JSON.stringify({ cid: "bafy-nope", version: 1 }));
    await expectRejection(new FileManifestHead(path).get(), InvalidManifestError);
    const v1 = await cidOf("v1");
    // Only the current value is read strictly: a damaged history loses its fallbacks, not the head (review 11).
    await writeFile(path, JSON.stringify({ cid: v1.toString(), version: 1, previous: "nope" }));
    expect((await new FileManifestHead(path).get())?.cid.equals(v1)).to.equal(true);
    expect(await new FileManifestHead(path).previous()).to.deep.equal([]);
  });

  it("a lock file an earlier release left (`<path>.lock`, however old) is no lock: the head moves at once", async () => {
    const path = join(await nodes.dir(), "head.json");
    await writeFile(`${path}.lock`, "");
    const head = new FileManifestHead(path, { lockTimeoutMs: 0 });
    expect(await head.compareAndSet(undefined, { cid: await cidOf("y"), version: 1 })).to.equal(true);
  });

  it("refuses a lockTimeoutMs that is not a whole number of milliseconds, naming it", async () => {
    const path = join(await nodes.dir(), "head.json");
    for (const lockTimeoutMs of [-1, 1.5, Number.NaN, 2 ** 31]) {
      expectField(
        thrown(() => new FileManifestHead(path, { lockTimeoutMs })),
        "lockTimeoutMs",
      );
    }
  });

  it("keeps the previous heads, newest first, and rolls back only from the lost head to one of them", async () => {
    const path = join(await nodes.dir(), "head.json");
    const head = new FileManifestHead(path);
    const cids = await Promise.all(Array.from({ length: MAX_PREVIOUS_HEADS + 3 }, (_, i) => cidOf(`v${i + 1}`)));
    let expected: CID | undefined;
    for (const [index, cid] of cids.entries()) {
      expect(await head.compareAndSet(expected, { cid, version: index + 1 })).to.equal(true);
      expected = cid;
    }
    const previous = await head.previous();
    expect(previous).to.have.length(MAX_PREVIOUS_HEADS);
    expect(previous.map((value) => value.version)).to.deep.equal(
      Array.from({ length: MAX_PREVIOUS_HEADS }, (_, i) => cids.length - 1 - i),
    );
    const last = cids.at(-1)!;
    const target = previous[2]!; // two versions back from the one before the head
    // Only from the head it names, and only to a version it recorded.
    expect(await head.rollBack(cids[0]!, target)).to.equal(false);
    const unknown = await cidOf("never a head");
    expectField(await head.rollBack(last, { cid: unknown, version: 3 }).catch((error: unknown) => error), "to");
    expect(await head.rollBack(last, target)).to.equal(true);
    const now = await head.get();
    expect(now?.cid.equals(target.cid)).to.equal(true);
    expect(now?.version).to.equal(target.version);
    expect((await head.previous())[0]?.version).to.equal(target.version - 1);
    // The lost and skipped heads are kept for an operator; the next version continues from the restored one.
    const file = JSON.parse(await readFile(path, "utf8")) as { abandoned: { cid: string; version: number }[] };
    expect(file.abandoned.map((value) => value.version)).to.deep.equal([cids.length, cids.length - 1, cids.length - 2]);
    expect(await head.compareAndSet(target.cid, { cid: unknown, version: target.version + 1 })).to.equal(true);
  });

  it("reads a head file an earlier release wrote (no previous heads)", async () => {
    const path = join(await nodes.dir(), "head.json");
    const v1 = await cidOf("v1");
    await writeFile(path, JSON.stringify({ cid: v1.toString(), version: 1 }) + "\n");
    const head = new FileManifestHead(path);
    expect((await head.get())?.cid.equals(v1)).to.equal(true);
    expect(await head.previous()).to.deep.equal([]);
  });
});
