import { deriveKeyPairFromKeystoreSecret } from "@hygeia/crypto";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import {
  ContentNotFoundError,
  FileManifestHead,
  PatientRecords,
  RecordStore,
  StoreUnavailableError,
  recoverRecords,
} from "../src/index.ts";
import type { HeliaContentStore, RecordMetadata } from "../src/index.ts";
import { expectRejection } from "./helpers/expect.ts";
import { TestNodes, collect, pieces, testBytes } from "./helpers/nodes.ts";
import { LAB } from "./helpers/fixtures.ts";

const SCAN: RecordMetadata = {
  kind: "file",
  type: "application/dicom",
  category: "imaging",
  created: "2026-11-21T13:10:00Z",
};

describe("replication between two Helia nodes on loopback", () => {
  const nodes = new TestNodes();
  let nodeA: HeliaContentStore;
  let nodeB: HeliaContentStore;

  before(async () => {
    nodeA = await nodes.node({ timeoutMs: 3_000 });
    nodeB = await nodes.node({ timeoutMs: 3_000, peers: nodeA.multiaddrs() });
  });
  after(() => nodes.cleanup());

  it("listens on loopback only, with a stable peer id in its multiaddrs", () => {
    for (const address of nodeA.multiaddrs()) {
      expect(address).to.match(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//);
      expect(address.endsWith(nodeA.peerId)).to.equal(true);
    }
  });

  it("a record put on A is fetched and decrypted on B by CID; with A stopped, B serves its pinned copy", async () => {
    const plaintext = testBytes(2_500_000, 21);
    const stored = await new RecordStore(nodeA).putRecord(pieces(plaintext, 100_000), SCAN);
    expect(await nodeB.has(stored.cid)).to.equal(false);

    const onB = new RecordStore(nodeB);
    expect(Buffer.compare(await onB.readRecord(stored.cid, stored.dek), plaintext)).to.equal(0);
    await nodeB.pin(stored.cid);
    expect(await nodeB.stat(stored.cid)).to.deep.include({ size: stored.size, pinned: true });

    // Pinning on B without reading first fetches every block from A.
    const second = await new RecordStore(nodeA).putRecord([testBytes(3_500_000, 23)], LAB);
    await nodeB.pin(second.cid.toString());

    // Something only A has, to show A's absence afterwards.
    const onlyOnA = await nodeA.put([testBytes(50_000, 22)]);
    const addressOfA = nodeA.multiaddrs()[0]!;
    await nodeA.close();

    expect(Buffer.compare(await collect(onB.getRecord(stored.cid, stored.dek)), plaintext)).to.equal(0);
    expect(Buffer.compare(await onB.readRecord(second.cid, second.dek), testBytes(3_500_000, 23))).to.equal(0);
    const started = Date.now();
    await expectRejection(collect(nodeB.get(onlyOnA.cid, { timeoutMs: 500 })), ContentNotFoundError);
    expect(Date.now() - started).to.be.below(3_000);
    // A node that is down cannot be dialled: a typed error, not a hang.
    const nodeC = await nodes.node({ timeoutMs: 2_000 });
    await expectRejection(nodeC.dial(addressOfA), StoreUnavailableError);
  });
});

describe("recovery from the wallet secret and the latest manifest CID alone", () => {
  const nodes = new TestNodes();
  after(() => nodes.cleanup());

  it("a fresh node with only the CID and the key lists and decrypts every record over bitswap", async () => {
    const keystoreSecret = randomBytes(32);
    const patient = deriveKeyPairFromKeystoreSecret(keystoreSecret);
    const clinicNode = await nodes.node({ timeoutMs: 5_000 });
    const uploads = new PatientRecords({
      store: clinicNode,
      head: new FileManifestHead(join(await nodes.dir(), "head.json")),
      keyPair: patient,
    });
    const originals = [
      { bytes: new TextEncoder().encode('{"resourceType":"Observation","valueQuantity":{"value":7.2}}'), meta: LAB },
      { bytes: testBytes(0), meta: LAB },
      { bytes: testBytes(1_300_000, 31), meta: SCAN },
    ];
    let latestCid = "";
    const cidToBytes = new Map<string, Uint8Array>();
    for (const original of originals) {
      const { entry, manifest } = await uploads.addRecord([original.bytes], original.meta);
      cidToBytes.set(entry.cid.toString(), original.bytes);
      latestCid = manifest.cid.toString();
    }

    // The patient's new device: a new node, an empty data dir, the wallet secret and one CID string.
    const freshNode = await nodes.node({ timeoutMs: 5_000, peers: clinicNode.multiaddrs() });
    const rebuiltKey = deriveKeyPairFromKeystoreSecret(keystoreSecret).secretKey;
    const { manifest, records } = await recoverRecords(freshNode, rebuiltKey, latestCid);
    expect(manifest.version).to.equal(3);
    expect(records).to.have.length(3);
    const reader = new RecordStore(freshNode);
    for (const { entry, dek } of records) {
      const plaintext = await reader.readRecord(entry.cid, dek);
      expect(Buffer.compare(plaintext, cidToBytes.get(entry.cid.toString())!)).to.equal(0);
      expect(entry.plaintextSize).to.equal(plaintext.length);
    }
    expect(records.map((r) => r.entry.category).sort()).to.deep.equal(["imaging", "laboratory", "laboratory"]);
  });
});
