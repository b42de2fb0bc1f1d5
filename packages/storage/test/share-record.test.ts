// PatientRecords.shareRecord: one call wraps a listed record's DEK to a clinic's X25519 keys (as identity's
// agent.encryptionKeys(did) returns them) and remembers the recipients in the manifest. Real Helia nodes on disk:
// the clinic fetches the ciphertext over bitswap from the patient's node and decrypts it with its own secret key.
import { join } from "node:path";
import { WrapContextMismatchError, generateX25519KeyPair, unwrapKey, wipe } from "@hygeia/crypto";
import { expect } from "chai";
import {
  FileManifestHead,
  InvalidArgumentError,
  InvalidCidError,
  MAX_RECIPIENT_ID_LENGTH,
  MAX_SHARE_RECIPIENTS,
  PatientRecords,
  RecordNotFoundError,
  RecordStore,
  recordKeyContext,
  recoverRecords,
} from "../src/index.ts";
import type { HeliaContentStore, ManifestEntry } from "../src/index.ts";
import { expectRejection } from "./helpers/expect.ts";
import { TestNodes } from "./helpers/nodes.ts";
import { LAB } from "./helpers/fixtures.ts";

const OBSERVATION = new TextEncoder().encode(JSON.stringify({ resourceType: "Observation", valueQuantity: 7.2 }));

describe("PatientRecords.shareRecord", () => {
  const nodes = new TestNodes();
  const patient = generateX25519KeyPair();
  const clinicKey = generateX25519KeyPair();
  const clinicNextKey = generateX25519KeyPair(); // a clinic DID may list more than one keyAgreement key
  // The shape of identity's agent.encryptionKeys(did), extra fields included.
  const clinicKeys = [
    { id: "did:ethr:0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc#enc-1", publicKey: clinicKey.publicKey, current: false },
    {
      id: "did:ethr:0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc#enc-2",
      publicKey: clinicNextKey.publicKey,
      current: true,
    },
  ];
  let patientNode: HeliaContentStore;
  let clinicNode: HeliaContentStore;
  let dir: string;
  let headPath: string;
  let records: PatientRecords;
  let entry: ManifestEntry;

  before(async () => {
    dir = await nodes.dir();
    patientNode = await nodes.node({ timeoutMs: 3_000 });
    clinicNode = await nodes.node({ timeoutMs: 3_000, peers: patientNode.multiaddrs() });
    headPath = join(dir, "head.json");
    records = new PatientRecords({ store: patientNode, head: new FileManifestHead(headPath), keyPair: patient });
    ({ entry } = await records.addRecord(OBSERVATION, LAB));
  });
  after(() => nodes.cleanup());

  it("wraps the record's key to each clinic key: the clinic decrypts it on its own node; the patient still can", async () => {
    const before = (await records.manifest.latest())!;
    const shared = await records.shareRecord(entry.cid.toString(), clinicKeys);

    expect(shared.context).to.equal(recordKeyContext(entry.cid));
    expect(shared.wraps.map((wrap) => wrap.recipientId)).to.deep.equal(clinicKeys.map((key) => key.id));
    const clinicStore = new RecordStore(clinicNode);
    for (const [index, keyPair] of [clinicKey, clinicNextKey].entries()) {
      const dek = unwrapKey(shared.wraps[index]!.wrap, keyPair, shared.context);
      expect(Buffer.compare(await clinicStore.readRecord(entry.cid, dek), OBSERVATION)).to.equal(0);
      wipe(dek);
    }
    // A wrap is bound to its record: it does not open for another CID.
    expect(() => unwrapKey(shared.wraps[0]!.wrap, clinicKey, "hygeia:record:bafkqaaa")).to.throw(
      WrapContextMismatchError,
    );

    expect(shared.manifest.version).to.equal(before.version + 1);
    expect(shared.entry.sharedWith.map((share) => share.id)).to.deep.equal(clinicKeys.map((key) => key.id));
    expect(Buffer.compare(shared.entry.sharedWith[1]!.publicKey, clinicNextKey.publicKey)).to.equal(0);
    const latest = (await records.manifest.latest())!;
    expect(latest.cid.equals(shared.manifest.cid)).to.equal(true);
    const listed = latest.entries.find((candidate) => candidate.cid.equals(entry.cid))!;
    expect(listed.sharedWith).to.have.length(2);
    expect(Buffer.compare(await records.readRecord(listed), OBSERVATION)).to.equal(0);
  });

  it("sharing again with the same keys gives fresh wraps and writes no new manifest version", async () => {
    const before = (await records.manifest.latest())!;
    const again = await records.shareRecord(entry.cid, [clinicKeys[0]!, clinicKeys[0]!]);
    expect(again.wraps).to.have.length(1);
    expect(again.manifest.cid.equals(before.cid)).to.equal(true);
    const dek = unwrapKey(again.wraps[0]!.wrap, clinicKey, again.context);
    expect(Buffer.compare(await new RecordStore(clinicNode).readRecord(entry.cid, dek), OBSERVATION)).to.equal(0);
  });

  it("two devices sharing the same record at once with different clinics: both are remembered", async () => {
    const deviceA = new PatientRecords({ store: patientNode, head: new FileManifestHead(headPath), keyPair: patient });
    const deviceB = new PatientRecords({ store: patientNode, head: new FileManifestHead(headPath), keyPair: patient });
    const lab = { id: "did:key:z6LSlab#key-1", publicKey: generateX25519KeyPair().publicKey };
    const insurer = { id: "did:key:z6LSinsurer#key-1", publicKey: generateX25519KeyPair().publicKey };
    await Promise.all([deviceA.shareRecord(entry.cid, [lab]), deviceB.shareRecord(entry.cid, [insurer])]);
    const listed = (await records.manifest.latest())!.entries.find((candidate) => candidate.cid.equals(entry.cid))!;
    expect(listed.sharedWith.map((share) => share.id)).to.include.members([lab.id, insurer.id, clinicKeys[0]!.id]);
  });

  it("recovery from the patient's secret key alone lists who each record is shared with", async () => {
    const head = (await new FileManifestHead(headPath).get())!;
    const { records: recovered } = await recoverRecords(patientNode, patient.secretKey, head.cid);
    const found = recovered.find((record) => record.entry.cid.equals(entry.cid))!;
    expect(found.entry.sharedWith.map((share) => share.id)).to.include(clinicKeys[1]!.id);
  });

  it("refuses a CID the manifest does not list, and a malformed CID", async () => {
    const stray = await new RecordStore(patientNode).putRecord(OBSERVATION, LAB); // stored, never listed
    const error = await expectRejection(records.shareRecord(stray.cid, clinicKeys), RecordNotFoundError);
    expect(error.code).to.equal("RECORD_NOT_FOUND");
    expect(error.cid).to.equal(stray.cid.toString());
    await expectRejection(records.shareRecord("not-a-cid", clinicKeys), InvalidCidError);
    const empty = new PatientRecords({
      store: patientNode,
      head: new FileManifestHead(join(dir, "none.json")),
      keyPair: patient,
    });
    expect((await expectRejection(empty.shareRecord(entry.cid, clinicKeys), RecordNotFoundError)).message).to.match(
      /no manifest yet/,
    );
  });

  it("refuses a low-order, short or missing recipient key or id, naming it, and shares with no one", async () => {
    const before = (await records.manifest.latest())!;
    const bad: Array<[unknown, string]> = [
      [[clinicKeys[0], { id: "did:key:z6LSevil#k", publicKey: new Uint8Array(32) }], "recipients[1].publicKey"],
      [[{ id: "did:key:z6LSevil#k", publicKey: Uint8Array.of(1, ...new Uint8Array(31)) }], "recipients[0].publicKey"],
      [[{ id: "did:key:z6LSshort#k", publicKey: new Uint8Array(31) }], "recipients[0].publicKey"],
      [[{ id: "did:key:z6LShex#k", publicKey: "0x" + "11".repeat(32) }], "recipients[0].publicKey"],
      [[{ publicKey: clinicKey.publicKey }], "recipients[0].id"],
      [[{ id: "two words", publicKey: clinicKey.publicKey }], "recipients[0].id"],
      [[null], "recipients[0]"],
      [[], "recipients"],
      [clinicKeys[0], "recipients"],
    ];
    for (const [recipients, field] of bad) {
      const error = await expectRejection(
        records.shareRecord(entry.cid, recipients as typeof clinicKeys),
        InvalidArgumentError,
      );
      expect(error.field, field).to.equal(field);
    }
    const lowOrder = await expectRejection(
      records.shareRecord(entry.cid, [{ id: "did:key:z6LSevil#k", publicKey: new Uint8Array(32) }]),
      InvalidArgumentError,
    );
    expect(lowOrder.message).to.match(/low-order/);
    expect((await records.manifest.latest())!.cid.equals(before.cid)).to.equal(true);
  });

  it("refuses a non-canonical key encoding (bit 255 set, u ≥ p) naming recipients[i].publicKey: its holder could not open the wrap", async () => {
    const before = (await records.manifest.latest())!;
    const highBit = Uint8Array.from(clinicKey.publicKey);
    highBit[31]! |= 0x80; // the clinic's own point, other bytes
    const pPlusTwo = Uint8Array.from(Buffer.from("ef" + "ff".repeat(30) + "7f", "hex"));
    for (const publicKey of [highBit, pPlusTwo]) {
      const error = await expectRejection(
        records.shareRecord(entry.cid, [clinicKeys[0]!, { id: "did:key:z6LSodd#k", publicKey }]),
        InvalidArgumentError,
      );
      expect(error.field).to.equal("recipients[1].publicKey");
      expect(error.message).to.match(/not a canonical X25519 encoding/);
    }
    expect((await records.manifest.latest())!.cid.equals(before.cid)).to.equal(true);
  });

  it("still reads and merges a manifest that recorded a non-canonical share (as an earlier release let it)", async () => {
    const head = new FileManifestHead(join(dir, "legacy-share.json"));
    const legacy = new PatientRecords({ store: patientNode, head, keyPair: patient });
    const { entry: added, manifest } = await legacy.addRecord(OBSERVATION, LAB);
    const highBit = Uint8Array.from(clinicKey.publicKey);
    highBit[31]! |= 0x80;
    const share = { id: "did:key:z6LSlegacy#k", publicKey: highBit, sharedAt: "2026-11-22T00:00:00.000Z" };
    const written = await legacy.manifest.commit(manifest, [{ ...added, sharedWith: [share] }]);
    const latest = (await legacy.manifest.latest())!;
    expect(latest.cid.equals(written.cid)).to.equal(true);
    expect(latest.entries[0]!.sharedWith.map((s) => s.id)).to.deep.equal([share.id]);
    const other = new PatientRecords({
      store: patientNode,
      head: new FileManifestHead(join(dir, "legacy-share-2.json")),
      keyPair: patient,
    });
    const merged = await other.manifest.merge(written.cid);
    expect(merged.entries[0]!.sharedWith.map((s) => s.id)).to.deep.equal([share.id]);
  });

  it("refuses more than MAX_SHARE_RECIPIENTS keys (field recipients) and a key id over MAX_RECIPIENT_ID_LENGTH characters (recipients[i].id), writing nothing", async () => {
    const before = (await records.manifest.latest())!;
    const key = generateX25519KeyPair().publicKey;
    const many = Array.from({ length: MAX_SHARE_RECIPIENTS + 1 }, (_, index) => ({
      id: `did:x#k${index}`,
      publicKey: key,
    }));
    const tooMany = await expectRejection(records.shareRecord(entry.cid, many), InvalidArgumentError);
    expect(tooMany.field).to.equal("recipients");
    expect(tooMany.message).to.include(`more than the ${MAX_SHARE_RECIPIENTS}`);
    const longId = `did:example:${"x".repeat(MAX_RECIPIENT_ID_LENGTH)}#k`;
    const tooLong = await expectRejection(
      records.shareRecord(entry.cid, [clinicKeys[0]!, { id: longId, publicKey: key }]),
      InvalidArgumentError,
    );
    expect(tooLong.field).to.equal("recipients[1].id");
    expect(tooLong.message).to.include(`1 to ${MAX_RECIPIENT_ID_LENGTH} characters`);
    expect((await records.manifest.latest())!.cid.equals(before.cid)).to.equal(true);
    // The limits themselves are accepted.
    const atLimit = many.slice(0, MAX_SHARE_RECIPIENTS).map((recipient, index) => ({
      ...recipient,
      id: index === 0 ? `did:x#${"y".repeat(MAX_RECIPIENT_ID_LENGTH - 6)}` : recipient.id,
    }));
    expect(atLimit[0]!.id).to.have.length(MAX_RECIPIENT_ID_LENGTH);
    const shared = await records.shareRecord(entry.cid, atLimit);
    expect(shared.wraps).to.have.length(MAX_SHARE_RECIPIENTS);
  });
});
