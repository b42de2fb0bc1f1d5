import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { expect } from "chai";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";
import { FileManifestHead, InvalidArgumentError, InvalidManifestError, StoreUnavailableError } from "../src/index.ts";
import { expectRejection } from "./helpers/expect.ts";
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

  it("reports a corrupt head file, and a lock held by a live writer, as typed errors", async () => {
    const dir = await nodes.dir();
    const path = join(dir, "head.json");
    await writeFile(path, "{ not json");
    await expectRejection(new FileManifestHead(path).get(), InvalidManifestError);
    await writeFile(path, JSON.stringify({ cid: "bafy-nope", version: 1 }));
    await expectRejection(new FileManifestHead(path).get(), InvalidManifestError);

    await writeFile(`${path}.lock`, "");
    const head = new FileManifestHead(path, { lockTimeoutMs: 200 });
    await expectRejection(head.compareAndSet(undefined, { cid: await cidOf("x"), version: 1 }), StoreUnavailableError);
  });

  it("breaks a stale lock left by a crashed writer", async () => {
    const path = join(await nodes.dir(), "head.json");
    await writeFile(`${path}.lock`, "");
    await new Promise((resolve) => setTimeout(resolve, 60));
    const head = new FileManifestHead(path, { staleLockMs: 50, lockTimeoutMs: 2_000 });
    expect(await head.compareAndSet(undefined, { cid: await cidOf("y"), version: 1 })).to.equal(true);
  });
});
