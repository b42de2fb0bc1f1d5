import { WRAP_BYTES, generateDataKey, generateX25519KeyPair, wrapKey } from "@hygeia/crypto";
import { expect } from "chai";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";
import {
  InvalidManifestError,
  manifestOwner,
  mergeEntries,
  openManifest,
  recordKeyContext,
  sealManifest,
} from "../src/index.ts";
import type { ManifestDocument, ManifestEntry, RecordShare } from "../src/index.ts";
import { encodeManifestDocument } from "../src/manifest/manifest-format.ts";
import { expectRejection } from "./helpers/expect.ts";
import { manifestAuthKey, sealJson } from "./helpers/manifest-seal.ts";

async function cidOf(text: string): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(text)));
}

const patient = generateX25519KeyPair();
const owner = manifestOwner(patient.publicKey);

async function entry(name: string): Promise<ManifestEntry> {
  const cid = await cidOf(name);
  return {
    cid,
    kind: "fhir",
    type: "Observation",
    category: "laboratory",
    created: "2026-11-21T13:00:00Z",
    size: 1000,
    plaintextSize: 949,
    dekWrap: wrapKey(generateDataKey(), patient.publicKey, recordKeyContext(cid)),
    sharedWith: [],
  };
}

const clinic = generateX25519KeyPair();
const share = (id: string, publicKey = clinic.publicKey, sharedAt = "2026-11-21T14:00:00.000Z"): RecordShare => ({
  id,
  publicKey,
  sharedAt,
});
const firstEntry = (json: Record<string, unknown>) => (json.entries as Array<Record<string, unknown>>)[0]!;

async function documentWith(entries: ManifestEntry[], version = 1): Promise<ManifestDocument> {
  return {
    owner,
    version,
    prev: version === 1 ? undefined : await cidOf("prev"),
    updated: "2026-11-21T13:05:00.000Z",
    entries,
  };
}

/** Seals as the patient (seal version 2, authenticated) a document whose JSON was edited by `edit`: tests the decoder. */
async function sealEdited(edit: (json: Record<string, unknown>) => void): Promise<Uint8Array> {
  const document = await documentWith([{ ...(await entry("a")), sharedWith: [share("did:ethr:0x1#key-1")] }]);
  const json = JSON.parse(new TextDecoder().decode(encodeManifestDocument(document))) as Record<string, unknown>;
  edit(json);
  const edited = new TextEncoder().encode(JSON.stringify(json));
  return sealJson(edited, patient.publicKey, 2, manifestAuthKey(patient.secretKey));
}

describe("manifest format and sealing", () => {
  it("round-trips a document through seal/open, entries sorted by CID", async () => {
    const entries = [await entry("b"), await entry("a"), await entry("c")];
    const document = await documentWith(entries, 3);
    const opened = await openManifest(await sealManifest(document, patient), patient);
    expect(opened.owner).to.equal(owner);
    expect(opened.version).to.equal(3);
    expect(opened.prev?.equals(document.prev!)).to.equal(true);
    expect(opened.entries.map((e) => e.cid.toString())).to.deep.equal(entries.map((e) => e.cid.toString()).sort());
    const a = opened.entries.find((e) => e.cid.equals(entries[1]!.cid))!;
    expect(Buffer.compare(a.dekWrap, entries[1]!.dekWrap)).to.equal(0);
    expect(a.dekWrap).to.have.length(WRAP_BYTES);
  });

  it("writes format version 2, with who each record is shared with", async () => {
    const shared = { ...(await entry("a")), sharedWith: [share("did:ethr:0x2#key-1"), share("did:ethr:0x1#key-1")] };
    const document = await documentWith([shared, await entry("b")]);
    const json = JSON.parse(new TextDecoder().decode(encodeManifestDocument(document))) as Record<string, unknown>;
    expect(json.formatVersion).to.equal(2);
    const opened = await openManifest(await sealManifest(document, patient), patient);
    const a = opened.entries.find((e) => e.cid.equals(shared.cid))!;
    expect(a.sharedWith.map((s) => s.id)).to.deep.equal(["did:ethr:0x1#key-1", "did:ethr:0x2#key-1"]);
    expect(Buffer.compare(a.sharedWith[0]!.publicKey, clinic.publicKey)).to.equal(0);
    expect(a.sharedWith[0]!.sharedAt).to.equal("2026-11-21T14:00:00.000Z");
    expect(opened.entries.find((e) => !e.cid.equals(shared.cid))!.sharedWith).to.deep.equal([]);
  });

  it("reads a format version 1 manifest (before sharedWith) as shared with no one", async () => {
    const sealed = await sealEdited((json) => {
      json.formatVersion = 1;
      delete firstEntry(json).sharedWith;
    });
    const opened = await openManifest(sealed, patient);
    expect(opened.entries).to.have.length(1);
    expect(opened.entries[0]!.sharedWith).to.deep.equal([]);
  });

  it("an empty manifest round-trips", async () => {
    const opened = await openManifest(await sealManifest(await documentWith([]), patient), patient);
    expect(opened.entries).to.deep.equal([]);
  });

  it("only the patient can open it; tampering is detected", async () => {
    const sealed = await sealManifest(await documentWith([await entry("a")]), patient);
    await expectRejection(openManifest(sealed, generateX25519KeyPair()), InvalidManifestError);
    const flipped = Uint8Array.from(sealed);
    flipped[flipped.length - 5]! ^= 1;
    await expectRejection(openManifest(flipped, patient), InvalidManifestError);
    await expectRejection(openManifest(sealed.subarray(0, sealed.length - 20), patient), InvalidManifestError);
    await expectRejection(openManifest(sealed.subarray(0, 10), patient), InvalidManifestError);
    const badMagic = Uint8Array.from(sealed);
    badMagic[0] = 0;
    await expectRejection(openManifest(badMagic, patient), InvalidManifestError);
  });

  it("rejects a manifest sealed for this key but claiming another owner", async () => {
    const other = manifestOwner(generateX25519KeyPair().publicKey);
    await expectRejection(
      openManifest(await sealEdited((json) => (json.owner = other)), patient),
      InvalidManifestError,
    );
  });

  const defects: Array<[string, (json: Record<string, unknown>) => void]> = [
    ["unknown format", (json) => (json.format = "other")],
    ["future format version", (json) => (json.formatVersion = 3)],
    ["format version 1 with sharedWith", (json) => (json.formatVersion = 1)],
    ["sharedWith not an array", (json) => (firstEntry(json).sharedWith = {})],
    [
      "a shared-with key that is a low-order point",
      (json) => (firstEntry(json).sharedWith = [{ ...share("k"), publicKey: Buffer.alloc(32).toString("base64") }]),
    ],
    ["a shared-with key of 31 bytes", (json) => (firstEntry(json).sharedWith = [{ ...share("k"), publicKey: "AAAA" }])],
    [
      "a shared-with id with spaces",
      (json) =>
        (firstEntry(json).sharedWith = [
          { ...share("k"), publicKey: Buffer.from(clinic.publicKey).toString("base64"), id: "a b" },
        ]),
    ],
    [
      "a recipient listed twice",
      (json) =>
        (firstEntry(json).sharedWith = [
          ...(firstEntry(json).sharedWith as unknown[]),
          ...(firstEntry(json).sharedWith as unknown[]),
        ]),
    ],
    [
      "an unknown shared-with field",
      (json) => ((firstEntry(json).sharedWith as Array<Record<string, unknown>>)[0]!.name = "x"),
    ],
    ["version 0", (json) => (json.version = 0)],
    ["fractional version", (json) => (json.version = 1.5)],
    ["version 2 without prev", (json) => (json.version = 2)],
    ["bad prev", (json) => ((json.prev = "nope"), (json.version = 2))],
    ["bad updated", (json) => (json.updated = "soon")],
    ["entries not an array", (json) => (json.entries = {})],
    ["unknown top-level field", (json) => (json.name = "Jane Doe")],
    ["bad entry cid", (json) => ((json.entries as Array<Record<string, unknown>>)[0]!.cid = "x")],
    ["bad entry size", (json) => ((json.entries as Array<Record<string, unknown>>)[0]!.size = -1)],
    [
      "plaintext larger than ciphertext",
      (json) => ((json.entries as Array<Record<string, unknown>>)[0]!.plaintextSize = 2000),
    ],
    ["short wrap", (json) => ((json.entries as Array<Record<string, unknown>>)[0]!.dekWrap = "AAAA")],
    ["bad metadata", (json) => ((json.entries as Array<Record<string, unknown>>)[0]!.kind = "pdf")],
    ["unknown entry field", (json) => ((json.entries as Array<Record<string, unknown>>)[0]!.note = "x")],
    ["duplicate CID", (json) => (json.entries = [...(json.entries as unknown[]), ...(json.entries as unknown[])])],
  ];
  for (const [name, edit] of defects) {
    it(`rejects a manifest with ${name}`, async () => {
      await expectRejection(openManifest(await sealEdited(edit), patient), InvalidManifestError);
    });
  }

  it("mergeEntries is a union by CID that keeps the first side's entry", async () => {
    const [a, b, c] = [await entry("a"), await entry("b"), await entry("c")];
    const bAgain = { ...(await entry("b")), category: "imaging" };
    const merged = mergeEntries([a, b], [bAgain, c]);
    expect(merged.map((e) => e.cid.toString()).sort()).to.deep.equal([a, b, c].map((e) => e.cid.toString()).sort());
    expect(merged.find((e) => e.cid.equals(b.cid))!.category).to.equal("laboratory");
    expect(mergeEntries([], [])).to.deep.equal([]);
  });

  it("mergeEntries keeps the recipients of both sides for a CID on both", async () => {
    const a = await entry("a");
    const left = { ...a, sharedWith: [share("did:ethr:0x1#key-1")] };
    const right = {
      ...a,
      sharedWith: [
        share("did:ethr:0x2#key-1"),
        share("did:ethr:0x1#key-1", clinic.publicKey, "2027-01-01T00:00:00.000Z"),
      ],
    };
    const [merged] = mergeEntries([left], [right]);
    expect(merged!.sharedWith.map((s) => s.id)).to.deep.equal(["did:ethr:0x1#key-1", "did:ethr:0x2#key-1"]);
    // The first side's share of the same key stays, with its own date.
    expect(merged!.sharedWith[0]!.sharedAt).to.equal("2026-11-21T14:00:00.000Z");
  });
});
