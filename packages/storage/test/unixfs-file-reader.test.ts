// The Helia adapter's own UnixFS reader against DAG shapes other IPFS implementations produce: UnixFS leaves
// (not raw), multi-level trees, data inline in the root, trickle layout, and non-files.
import { join } from "node:path";
import { expect } from "chai";
import { importer } from "ipfs-unixfs-importer";
import { fixedSize } from "ipfs-unixfs-importer/chunker";
import { balanced, trickle } from "ipfs-unixfs-importer/layout";
import type { ImporterOptions } from "ipfs-unixfs-importer";
import type { CID } from "multiformats/cid";
import { InvalidArgumentError } from "../src/index.ts";
import { PackBlockstore } from "../src/helia/pack-blockstore.ts";
import { expectRejection } from "./helpers/expect.ts";
import { TestNodes, collect, testBytes } from "./helpers/nodes.ts";

describe("UnixFS file reader (HeliaContentStore.get)", () => {
  const nodes = new TestNodes();
  after(() => nodes.cleanup());

  /** Imports with the given options straight into a data dir's blockstore, as another IPFS node would. */
  async function importInto(dataDir: string, content: Uint8Array | undefined, options: ImporterOptions): Promise<CID> {
    const blockstore = new PackBlockstore(join(dataDir, "packs")); // the default blockstore of HeliaContentStore
    await blockstore.open();
    let root: CID | undefined;
    const entry = content === undefined ? { path: "folder" } : { content };
    for await (const imported of importer([entry], blockstore, options)) root = imported.cid;
    await blockstore.close();
    return root!;
  }

  const shapes: Array<[string, number, ImporterOptions]> = [
    [
      "UnixFS (non-raw) leaves, three levels",
      10_000,
      { rawLeaves: false, chunker: fixedSize({ chunkSize: 500 }), layout: balanced({ maxChildrenPerNode: 4 }) },
    ],
    [
      "raw leaves, three levels",
      10_000,
      { rawLeaves: true, chunker: fixedSize({ chunkSize: 500 }), layout: balanced({ maxChildrenPerNode: 4 }) },
    ],
    [
      "trickle layout",
      20_000,
      {
        rawLeaves: false,
        chunker: fixedSize({ chunkSize: 300 }),
        layout: trickle({ layerRepeat: 2, maxChildrenPerNode: 3 }),
      },
    ],
    ["data inline in a dag-pb root", 700, { rawLeaves: false, reduceSingleLeafToSelf: true }],
    ["an empty file", 0, { rawLeaves: false }],
    ["CIDv0", 5_000, { cidVersion: 0, rawLeaves: false, chunker: fixedSize({ chunkSize: 1000 }) }],
  ];
  for (const [name, length, options] of shapes) {
    it(`reads ${name}`, async () => {
      const dataDir = await nodes.dir();
      const data = testBytes(length, length + 1);
      const cid = await importInto(dataDir, data, options);
      const store = await nodes.node({ dataDir, listen: [] });
      expect(Buffer.compare(await collect(store.get(cid)), data)).to.equal(0);
      expect((await store.stat(cid)).size, "stat: the root's file size").to.equal(length);
    });
  }

  it("refuses a directory (get and stat)", async () => {
    const dataDir = await nodes.dir();
    const cid = await importInto(dataDir, undefined, {});
    const store = await nodes.node({ dataDir, listen: [] });
    await expectRejection(collect(store.get(cid)), InvalidArgumentError);
    await expectRejection(store.stat(cid), InvalidArgumentError);
  });

  it("a consumer slower than the timeout is not a stall of the store", async () => {
    const store = await nodes.node({ listen: [], timeoutMs: 400 });
    const data = testBytes(3_500_000, 4);
    const { cid } = await store.put([data]);
    const parts: Uint8Array[] = [];
    for await (const part of store.get(cid)) {
      parts.push(part);
      await new Promise((resolve) => setTimeout(resolve, 600));
    }
    expect(Buffer.compare(Buffer.concat(parts), data)).to.equal(0);
  });
});
