// The Kubo adapter against a real RPC server when one is configured (HYGEIA_KUBO_RPC_URL, e.g. a Kubo node
// or the js-ipfs 0.66 daemon); its failure behaviour without one is tested always.
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import {
  ContentNotFoundError,
  InvalidArgumentError,
  InvalidCidError,
  KuboContentStore,
  RecordStore,
  StoreUnavailableError,
} from "../src/index.ts";
import { expectRejection } from "./helpers/expect.ts";
import { TestNodes, collect, pieces, scratchReads, testBytes } from "./helpers/nodes.ts";

const ABSENT_CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";

describe("KuboContentStore without a server", () => {
  it("an unreachable RPC API is StoreUnavailableError within the timeout", async () => {
    const started = Date.now();
    await expectRejection(
      KuboContentStore.create({ url: "http://127.0.0.1:9", timeoutMs: 2_000 }),
      StoreUnavailableError,
    );
    expect(Date.now() - started).to.be.below(3_000);
  });

  it("validates its options", async () => {
    await expectRejection(KuboContentStore.create({ url: "not a url" }), InvalidArgumentError);
    await expectRejection(KuboContentStore.create({ url: "ftp://127.0.0.1:5001" }), InvalidArgumentError);
    await expectRejection(
      KuboContentStore.create({ url: "http://127.0.0.1:5001", timeoutMs: 0 }),
      InvalidArgumentError,
    );
  });
});

describe("KuboContentStore against a stand-in RPC API", () => {
  // A node:http server answering the two calls put needs (id, add) and recording what add uploads: enough to see
  // the bytes on the wire, which a real Kubo would hash and store.
  let server: Server;
  let url: string;
  let uploaded: Buffer = Buffer.alloc(0);

  before(async () => {
    server = createServer((request, response) => {
      const parts: Buffer[] = [];
      request.on("data", (part: Buffer) => parts.push(part));
      request.on("end", () => {
        response.setHeader("content-type", "application/json");
        if (request.url?.startsWith("/api/v0/add") === true) {
          uploaded = Buffer.concat(parts);
          response.end(`${JSON.stringify({ Name: "", Hash: ABSENT_CID, Size: "1" })}\n`);
        } else {
          response.end(JSON.stringify({ ID: "12D3KooWQ6D8sxW7mXk3aLp2vtC7xG2xN7dRvjVNLQDwTnCz4hVE" }));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("uploads exactly the bytes a source that refills one buffer yielded", async () => {
    const store = await KuboContentStore.create({ url, timeoutMs: 5_000 });
    try {
      const data = testBytes(3_000_000, 21);
      const { size } = await store.put(scratchReads(data, 65_536));
      expect(size).to.equal(data.length);
      // The multipart body: part headers, a blank line, then the file's bytes.
      const start = uploaded.indexOf("\r\n\r\n") + 4;
      expect(Buffer.compare(uploaded.subarray(start, start + data.length), data)).to.equal(0);
    } finally {
      await store.close();
    }
  });
});

describe("KuboContentStore.gc against a stand-in RPC API", () => {
  it("runs the node's repo gc and counts the blocks it reports removed", async () => {
    const server = createServer((request, response) => {
      request.resume();
      request.on("end", () => {
        if (request.url?.startsWith("/api/v0/repo/gc") === true) {
          const lines = [{ Key: { "/": ABSENT_CID } }, { Key: { "/": ABSENT_CID } }, { Key: { "/": ABSENT_CID } }];
          response.end(lines.map((line) => `${JSON.stringify(line)}\n`).join(""));
        } else if (request.url?.startsWith("/api/v0/id") === true) {
          response.end(JSON.stringify({ ID: "12D3KooWQ6D8sxW7mXk3aLp2vtC7xG2xN7dRvjVNLQDwTnCz4hVE" }));
        } else {
          response.statusCode = 404;
          response.end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const store = await KuboContentStore.create({
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      timeoutMs: 5_000,
    });
    try {
      expect(await store.gc()).to.deep.equal({ removed: 3 });
      const aborted = new AbortController();
      aborted.abort(new Error("caller gave up"));
      const error = await expectRejection(store.gc({ signal: aborted.signal }), Error);
      expect(error.message).to.equal("caller gave up");
    } finally {
      await store.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe("KuboContentStore against a real RPC server", function () {
  const url = process.env.HYGEIA_KUBO_RPC_URL;
  let store: KuboContentStore;
  const nodes = new TestNodes();

  before(async function () {
    if (url === undefined || url === "") this.skip();
    store = await KuboContentStore.create({ url, timeoutMs: 10_000 });
  });
  after(async () => {
    await store?.close();
    await nodes.cleanup();
  });

  for (const length of [0, 1, 1_048_576, 3_000_001]) {
    it(`round-trips ${length} bytes, pinned`, async () => {
      const data = testBytes(length, length + 5);
      const { cid, size } = await store.put(pieces(data, 65_536));
      expect(size).to.equal(length);
      expect(cid.version).to.equal(1);
      expect(Buffer.compare(await collect(store.get(cid.toString())), data)).to.equal(0);
      expect(await store.has(cid)).to.equal(true);
      expect(await store.stat(cid)).to.deep.include({ size: length, pinned: true });
    });
  }

  it("gives the same CID as the embedded Helia node for the same bytes", async () => {
    const helia = await nodes.node({ listen: [] });
    const data = testBytes(2_500_000, 77);
    const viaKubo = await store.put([data]);
    const viaHelia = await helia.put(pieces(data, 100_000));
    expect(viaKubo.cid.toString()).to.equal(viaHelia.cid.toString());
  });

  it("gc removes an unpinned upload's blocks and keeps pinned ones", async () => {
    const kept = await store.put([testBytes(20_000, 41)]);
    const dropped = await store.put([testBytes(20_000, 42)]);
    await store.unpin(dropped.cid);
    const { removed } = await store.gc();
    expect(removed).to.be.greaterThan(0);
    expect(await store.has(dropped.cid)).to.equal(false);
    expect(await store.has(kept.cid)).to.equal(true);
  });

  it("unpin / pin", async () => {
    const { cid } = await store.put([testBytes(10_000, 3)]);
    await store.unpin(cid);
    expect((await store.stat(cid)).pinned).to.equal(false);
    await store.unpin(cid);
    await store.pin(cid);
    expect((await store.stat(cid)).pinned).to.equal(true);
  });

  it("stores and reads encrypted records", async () => {
    const records = new RecordStore(store);
    const plaintext = testBytes(700_000, 8);
    const stored = await records.putRecord([plaintext], {
      kind: "file",
      type: "application/pdf",
      category: "discharge",
      created: "2026-11-21T13:00:00Z",
    });
    expect(Buffer.compare(await records.readRecord(stored.cid, stored.dek), plaintext)).to.equal(0);
  });

  it("missing content and bad CIDs are typed errors", async () => {
    expect(await store.has(ABSENT_CID, { timeoutMs: 2_000 })).to.equal(false);
    // Absent well before a long idle timeout: the lookup is bounded at the node too (js-ipfs ignores offline=true).
    const started = Date.now();
    expect(await store.has(ABSENT_CID, { timeoutMs: 30_000 })).to.equal(false);
    expect(Date.now() - started).to.be.below(10_000);
    await expectRejection(collect(store.get(ABSENT_CID, { timeoutMs: 1_000 })), ContentNotFoundError);
    expect(() => store.get("nope")).to.throw(InvalidCidError);
  });
});
