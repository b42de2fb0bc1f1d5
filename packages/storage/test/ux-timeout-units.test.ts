// timeoutMs as a newcomer used it: `timeoutMs: 30` meant as seconds, `timeoutMs: 1`, and content stored on this
// node read back as "not found … within 1 ms". The store-wide value has a floor with a hint; a local read that
// the idle timeout ends is a timeout, never "not found".
import { expect } from "chai";
import {
  ContentNotFoundError,
  HeliaContentStore,
  InvalidArgumentError,
  KuboContentStore,
  StorageTimeoutError,
} from "../src/index.ts";
import { expectField, expectRejection } from "./helpers/expect.ts";
import { TestNodes, collect } from "./helpers/nodes.ts";

/** Blocks the event loop, so an idle timer of a few ms is due before any I/O completes. */
function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

describe("storage timeoutMs units", function () {
  const nodes = new TestNodes();
  afterEach(() => nodes.cleanup());

  for (const timeoutMs of [1, 30, 99]) {
    it(`HeliaContentStore.create refuses timeoutMs ${timeoutMs} with the seconds hint`, async () => {
      const error = await expectRejection(
        HeliaContentStore.create({ dataDir: await nodes.dir(), timeoutMs }),
        InvalidArgumentError,
      );
      expectField(error, "timeoutMs");
      expect(error.message).to.include("idle timeout in milliseconds, at least 100");
      expect(error.message).to.include(`${timeoutMs} looks like seconds: multiply by 1000, ${timeoutMs * 1000}`);
    });
  }

  it("KuboContentStore.create refuses timeoutMs 30 with the same hint, before contacting the node", async () => {
    const error = await expectRejection(
      KuboContentStore.create({ url: "http://127.0.0.1:9", timeoutMs: 30 }),
      InvalidArgumentError,
    );
    expectField(error, "timeoutMs");
    expect(error.message).to.include("30 looks like seconds: multiply by 1000, 30000");
  });

  it("accepts the floor itself, and 0, fractions and strings stay refused", async () => {
    const store = await nodes.node({ listen: [], timeoutMs: 100 });
    const { cid } = await store.put(new TextEncoder().encode("at the floor"));
    expect(new TextDecoder().decode(await collect(store.get(cid)))).to.equal("at the floor");
    for (const timeoutMs of [0, -5, 1.5, "30" as unknown as number])
      expectField(
        await HeliaContentStore.create({ dataDir: await nodes.dir(), timeoutMs }).catch((e: unknown) => e),
        "timeoutMs",
      );
  });

  it("a stored file whose read the idle timeout ends is a StorageTimeoutError saying it is local, not ContentNotFoundError", async () => {
    const dataDir = await nodes.dir();
    const writer = await HeliaContentStore.create({ dataDir, listen: [] });
    const data = new Uint8Array(3 * 1024 * 1024).fill(7);
    const { cid } = await writer.put(data);
    await writer.close();
    // Reopened, so the blocks come from disk; a per-call timeout of 1 ms (still allowed for one call) is due
    // while the first block read is in flight.
    const store = await nodes.node({ dataDir, listen: [] });
    const reading = collect(store.get(cid, { timeoutMs: 1 }));
    busyWait(20);
    const error = await expectRejection(reading, StorageTimeoutError);
    expect(error).to.not.be.instanceOf(ContentNotFoundError);
    expect(error.message).to.include("is stored locally");
    expect(error.message).to.include("no progress for 1 ms");
    // The same content with the store's timeout reads back whole.
    expect(Buffer.compare(await collect(store.get(cid)), data)).to.equal(0);
  });

  it("content that is not here still times out as ContentNotFoundError", async () => {
    const store = await nodes.node({ listen: [] });
    const absent = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
    await expectRejection(collect(store.get(absent, { timeoutMs: 200 })), ContentNotFoundError);
  });
});
