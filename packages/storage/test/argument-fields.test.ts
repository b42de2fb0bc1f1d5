// Every InvalidArgumentError names the argument to fix in `.field` (the constructor requires one): metadata
// fields, paths, options, multiaddrs, head values. A caller can point a user at the field without parsing messages.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generateX25519KeyPair } from "@hygeia/crypto";
import { expect } from "chai";
import { CID } from "multiformats/cid";
import {
  FileManifestHead,
  HeliaContentStore,
  KuboContentStore,
  PatientManifest,
  RecordStore,
  validateRecordMetadata,
} from "../src/index.ts";
import type {} from "../src/index.ts";
import { TestNodes } from "./helpers/nodes.ts";
import { expectField, rejection, thrown } from "./helpers/expect.ts";
import { LAB } from "./helpers/fixtures.ts";

describe("storage InvalidArgumentError names its field", function () {
  const nodes = new TestNodes();
  after(() => nodes.cleanup());

  it("names the metadata field at fault: metadata, metadata.kind / type / category / created / <unknown>", () => {
    const cases: [unknown, string][] = [
      [undefined, "metadata"],
      ["laboratory", "metadata"],
      [{ ...LAB, kind: "pdf" }, "metadata.kind"],
      [{ ...LAB, type: "observation" }, "metadata.type"],
      [{ ...LAB, kind: "file", type: "PDF" }, "metadata.type"],
      [{ ...LAB, category: "Lab Results" }, "metadata.category"],
      [{ ...LAB, created: "2026-11-21" }, "metadata.created"],
      [{ ...LAB, created: 1_763_730_000_000 }, "metadata.created"],
      [{ ...LAB, patient: "alice" }, "metadata.patient"],
    ];
    for (const [metadata, field] of cases)
      expectField(
        thrown(() => validateRecordMetadata(metadata)),
        field,
      );
  });

  it("names path for addFile / putFile of an empty, missing or non-file path", async () => {
    const store = await nodes.node();
    const records = new RecordStore(store);
    const dir = await mkdtemp(join(tmpdir(), "hygeia-storage-fields-"));
    try {
      expectField(await rejection(records.putFile("", LAB)), "path");
      expectField(await rejection(records.putFile(join(dir, "missing.pdf"), LAB)), "path");
      expectField(await rejection(records.putFile(dir, LAB)), "path");
      expectField(
        await rejection(records.putRecord(new Uint8Array(1), { ...LAB, created: "yesterday" })),
        "metadata.created",
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("names dataDir, listen[i], peers[i], blockstore and timeoutMs of HeliaContentStore.create, address of dial", async () => {
    const dataDir = await nodes.dir();
    expectField(await rejection(HeliaContentStore.create({ dataDir: "" })), "dataDir");
    expectField(await rejection(HeliaContentStore.create({ dataDir: undefined as unknown as string })), "dataDir");
    expectField(
      await rejection(HeliaContentStore.create({ dataDir, listen: ["/ip4/127.0.0.1/tcp/0", "nope"] })),
      "listen[1]",
    );
    expectField(await rejection(HeliaContentStore.create({ dataDir, peers: [""] })), "peers[0]");
    expectField(
      await rejection(HeliaContentStore.create({ dataDir, peers: "/ip4/1.2.3.4" as unknown as string[] })),
      "peers",
    );
    expectField(await rejection(HeliaContentStore.create({ dataDir, blockstore: "zip" as "pack" })), "blockstore");
    expectField(await rejection(HeliaContentStore.create({ dataDir, timeoutMs: 0 })), "timeoutMs");
    const store = await nodes.node();
    expectField(await rejection(store.dial("not a multiaddr")), "address");
    expectField(await rejection(store.put(new Uint8Array(1), { timeoutMs: -5 })), "timeoutMs");
  });

  it("names url and timeoutMs of KuboContentStore.create", async () => {
    expectField(await rejection(KuboContentStore.create({ url: "127.0.0.1:5001" })), "url");
    expectField(await rejection(KuboContentStore.create({ url: "ftp://127.0.0.1:5001" })), "url");
    expectField(
      await rejection(KuboContentStore.create({ url: "http://127.0.0.1:5001", timeoutMs: 1.5 })),
      "timeoutMs",
    );
  });

  it("names chunkSize and store of RecordStore, maxAttempts of PatientManifest, path and next.version of the head", async () => {
    const store = await nodes.node();
    expectField(
      thrown(() => new RecordStore(store, { chunkSize: 10 })),
      "chunkSize",
    );
    expectField(
      thrown(() => new RecordStore(undefined as unknown as HeliaContentStore)),
      "store",
    );
    const dir = await nodes.dir();
    const head = new FileManifestHead(join(dir, "head.json"));
    expectField(
      thrown(() => new PatientManifest({ store, head, keyPair: generateX25519KeyPair(), maxAttempts: 0 })),
      "maxAttempts",
    );
    expectField(
      thrown(() => new FileManifestHead("")),
      "path",
    );
    const cid = CID.parse("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy");
    expectField(await rejection(head.compareAndSet(undefined, { cid, version: 0 })), "next.version");
    expect(await head.compareAndSet(undefined, { cid, version: 2 })).to.equal(true);
    expectField(await rejection(head.compareAndSet(cid, { cid, version: 1 })), "next.version");
  });
});
