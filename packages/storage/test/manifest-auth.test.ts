// Manifests are authenticated by their owner (seal version 2): the patient's public key, published in their DID
// document, is all anyone needs to wrap and encrypt a manifest, so without the tag anyone could hand the patient a
// manifest of their choosing (records the forger picked, DEKs the forger knows, recipients the patient's recovering
// wallet would wrap keys to). Forgeries here are built with the public key only; real Helia nodes on disk.
import { join } from "node:path";
import { generateDataKey, generateX25519KeyPair, wrapKey } from "@hygeia/crypto";
import { expect } from "chai";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";
import {
  FileManifestHead,
  InvalidArgumentError,
  InvalidManifestError,
  PatientManifest,
  PatientRecords,
  RecordStore,
  UnauthenticatedManifestError,
  manifestEntryFor,
  manifestOwner,
  openManifest,
  recordKeyContext,
  RecordNotFoundError,
  readManifest,
  recoverRecords,
  sealManifest,
  unsafeRecoverUnauthenticatedRecords,
} from "../src/index.ts";
import type {
  CidInput,
  ContentStore,
  HeliaContentStore,
  ManifestDocument,
  ManifestEntry,
  OperationOptions,
} from "../src/index.ts";
import { encodeManifestDocument } from "../src/manifest/manifest-format.ts";
import { expectRejection } from "./helpers/expect.ts";
import { hmacSha256, manifestAuthKey, sealJson, sealVersion1 } from "./helpers/manifest-seal.ts";
import { TestNodes, collect, testBytes } from "./helpers/nodes.ts";
import { LAB } from "./helpers/fixtures.ts";

const patient = generateX25519KeyPair();
const owner = manifestOwner(patient.publicKey);
const forger = generateX25519KeyPair(); // knows patient.publicKey, and its own keys; never patient.secretKey
const forgerShare = { id: "did:key:z6LSforger#key-1", publicKey: forger.publicKey, sharedAt: "2026-11-22T00:00:00Z" };

function document(entries: ManifestEntry[], version = 1, prev?: CID): ManifestDocument {
  return { owner, version, prev, updated: "2026-11-22T00:00:00.000Z", entries };
}

/** Every manifest a forger holding only the patient's public key can make of `forged`. */
async function forgeries(forged: ManifestDocument): Promise<Array<[string, Uint8Array]>> {
  const json = encodeManifestDocument(forged);
  const publicKeyAsKey = new Uint8Array(patient.publicKey);
  return [
    ["a version 1 seal (no tag)", await sealVersion1(forged, patient.publicKey)],
    [
      "a tag keyed by HKDF of the patient's public key",
      await sealJson(json, patient.publicKey, 2, manifestAuthKey(publicKeyAsKey)),
    ],
    [
      "a tag keyed by the forger's own secret key",
      await sealJson(json, patient.publicKey, 2, manifestAuthKey(forger.secretKey)),
    ],
    ["a zero tag", Buffer.concat([await sealJson(json, patient.publicKey, 2), new Uint8Array(32)])],
  ];
}

/** A record entry whose DEK the forger chose: wrapped to the patient's public key, so it opens for the patient. */
function forgedEntry(of: Pick<ManifestEntry, "cid" | "size" | "plaintextSize">, forgerDek: Uint8Array): ManifestEntry {
  return {
    ...LAB,
    ...of,
    dekWrap: wrapKey(forgerDek, patient.publicKey, recordKeyContext(of.cid)),
    sharedWith: [forgerShare],
  };
}

describe("manifest authentication", () => {
  describe("sealing and opening", () => {
    it("refuses every manifest sealed by someone who knows only the patient's public key", async () => {
      const entry = forgedEntry({ cid: await cidOf("x"), size: 100, plaintextSize: 10 }, generateDataKey());
      for (const [how, forged] of await forgeries(document([entry]))) {
        const error = await expectRejection(openManifest(forged, patient), InvalidManifestError);
        expect(error.code, how).to.equal("INVALID_MANIFEST");
      }
      // The migration option reads version 1 seals; it never excuses a version 2 seal with a wrong tag.
      for (const [how, forged] of (await forgeries(document([entry]))).slice(1)) {
        const error = await expectRejection(
          openManifest(forged, patient, { acceptUnauthenticated: true }),
          InvalidManifestError,
        );
        expect(error.message, how).to.match(/not authenticated/);
      }
    });

    it("writes seal version 2 whose last 32 bytes are HMAC-SHA256 of the rest under HKDF of the secret key", async () => {
      const sealed = await sealManifest(document([]), patient);
      expect(sealed[4]).to.equal(2);
      const body = sealed.subarray(0, sealed.length - 32);
      expect(Buffer.from(sealed.subarray(body.length))).to.deep.equal(
        Buffer.from(hmacSha256(manifestAuthKey(patient.secretKey), body)),
      );
    });

    it("refuses a version 2 manifest with any bit flipped, truncated or extended, before unwrapping anything", async () => {
      const sealed = await sealManifest(
        document([forgedEntry({ cid: await cidOf("a"), size: 10, plaintextSize: 1 }, generateDataKey())]),
        patient,
      );
      for (let index = 0; index < sealed.length; index++) {
        const flipped = Uint8Array.from(sealed);
        flipped[index]! ^= 1 << (index % 8);
        const error = await expectRejection(openManifest(flipped, patient), InvalidManifestError);
        if (index >= 5) {
          // Refused by the tag: nothing was unwrapped or decrypted (that would have failed with a crypto cause).
          expect(error.message, `byte ${index}`).to.match(/not authenticated/);
          expect(error.cause, `byte ${index}`).to.equal(undefined);
        }
      }
      await expectRejection(openManifest(sealed.subarray(0, sealed.length - 1), patient), InvalidManifestError);
      await expectRejection(openManifest(Buffer.concat([sealed, Buffer.of(0)]), patient), InvalidManifestError);
    });

    it("refuses a version 1 manifest by default, saying why and how to migrate; reads it with acceptUnauthenticated", async () => {
      const old = document([forgedEntry({ cid: await cidOf("old"), size: 10, plaintextSize: 1 }, generateDataKey())]);
      const sealed = await sealVersion1(old, patient.publicKey);
      const error = await expectRejection(openManifest(sealed, patient), UnauthenticatedManifestError);
      expect(error).to.be.instanceOf(InvalidManifestError);
      expect(error.code).to.equal("INVALID_MANIFEST");
      expect(error.sealVersion).to.equal(1);
      expect(error.message)
        .to.match(/not authenticated/)
        .and.match(/could have written it/);
      expect(error.message)
        .to.match(/acceptUnauthenticated: true/)
        .and.match(/re-seals it as version 2/);
      const opened = await openManifest(sealed, patient, { acceptUnauthenticated: true });
      expect(opened.entries.map((e) => e.cid.toString())).to.deep.equal(old.entries.map((e) => e.cid.toString()));
    });

    it("refuses to seal with a key pair that is not one pair, or a document of another owner", async () => {
      const mixed = { publicKey: patient.publicKey, secretKey: forger.secretKey };
      const wrongPair = await expectRejection(sealManifest(document([]), mixed), InvalidArgumentError);
      expect(wrongPair.field).to.equal("keyPair.publicKey");
      const notTheirs = await expectRejection(sealManifest(document([]), forger), InvalidArgumentError);
      expect(notTheirs.field).to.equal("document.owner");
      const noSecret = { publicKey: patient.publicKey, secretKey: new Uint8Array(31) };
      expect((await expectRejection(sealManifest(document([]), noSecret), InvalidArgumentError)).field).to.equal(
        "keyPair.secretKey",
      );
    });
  });

  describe("on IPFS", () => {
    const nodes = new TestNodes();
    let store: HeliaContentStore;
    let dir: string;

    before(async () => {
      dir = await nodes.dir();
      store = await nodes.node({ listen: [], timeoutMs: 2_000 });
    });
    after(() => nodes.cleanup());

    const patientRecords = (
      headFile: string,
      options: { acceptUnauthenticated?: boolean; store?: ContentStore } = {},
    ) =>
      new PatientRecords({
        store: options.store ?? store,
        head: new FileManifestHead(join(dir, headFile)),
        keyPair: patient,
        acceptUnauthenticated: options.acceptUnauthenticated,
      });

    /** A version 1 head, as a patient's data dir looks after an earlier release wrote two records. */
    async function versionOneHead(headFile: string): Promise<{ v1: CID; v2: CID; entries: ManifestEntry[] }> {
      const stored = [
        await new RecordStore(store).putRecord([testBytes(40, 71)], LAB),
        await new RecordStore(store).putRecord([testBytes(40, 72)], LAB),
      ];
      const entries = stored.map((record) => manifestEntryFor(record, patient.publicKey));
      const { cid: v1 } = await store.put([await sealVersion1(document(entries.slice(0, 1)), patient.publicKey)]);
      const { cid: v2 } = await store.put([await sealVersion1(document(entries, 2, v1), patient.publicKey)]);
      const head = new FileManifestHead(join(dir, headFile));
      await head.compareAndSet(undefined, { cid: v2, version: 2 });
      return { v1, v2, entries };
    }

    it("merge() of a forged divergent CID is refused: the head, its entries and their recipients stay as they were", async () => {
      const records = patientRecords("merge.json");
      const { entry: real, manifest: before } = await records.addRecord([testBytes(50, 1)], LAB);
      // The forger's own record, pinned here (say, uploaded through the gateway), under a DEK the forger knows.
      const forgerDek = generateDataKey();
      const planted = await new RecordStore(store).putRecord([testBytes(50, 2)], LAB);
      const forged = document([
        forgedEntry(real, generateDataKey()), // the patient's record "shared" with the forger
        forgedEntry(planted, forgerDek),
      ]);
      for (const [how, sealed] of await forgeries(forged)) {
        const { cid } = await store.put([sealed]);
        await expectRejection(records.manifest.merge(cid), InvalidManifestError);
        const latest = (await records.manifest.latest())!;
        expect(latest.cid.equals(before.cid), how).to.equal(true);
        expect(
          latest.entries.map((e) => e.cid.toString()),
          how,
        ).to.deep.equal([real.cid.toString()]);
        expect(latest.entries[0]!.sharedWith, how).to.deep.equal([]);
      }
    });

    it("recoverRecords from a forged CID is refused: the forger's record and DEK are not handed out", async () => {
      const planted = await new RecordStore(store).putRecord([testBytes(60, 3)], LAB);
      for (const [how, sealed] of await forgeries(document([forgedEntry(planted, planted.dek)]))) {
        const { cid } = await store.put([sealed]);
        const error = await expectRejection(recoverRecords(store, patient.secretKey, cid), InvalidManifestError);
        expect(error.code, how).to.equal("INVALID_MANIFEST");
      }
    });

    it("a version 1 head is refused by default (latest, addRecord, recoverRecords) and nothing is written", async () => {
      const { v2 } = await versionOneHead("v1-refused.json");
      const records = patientRecords("v1-refused.json");
      await expectRejection(records.manifest.latest(), UnauthenticatedManifestError);
      await expectRejection(records.addRecord([testBytes(30, 9)], LAB), UnauthenticatedManifestError);
      await expectRejection(recoverRecords(store, patient.secretKey, v2), UnauthenticatedManifestError);
      expect((await new FileManifestHead(join(dir, "v1-refused.json")).get())!.cid.equals(v2)).to.equal(true);
    });

    it("with acceptUnauthenticated a version 1 head is read (and unsafeRecoverUnauthenticatedRecords reads its CID), and the next write re-seals it as version 2", async () => {
      const { v1, v2, entries } = await versionOneHead("v1-migrated.json");
      const recovered = await unsafeRecoverUnauthenticatedRecords(store, patient.secretKey, v2);
      expect(recovered.records).to.have.length(2);
      expect(recovered.manifest.sealVersion).to.equal(1);

      const migrating = patientRecords("v1-migrated.json", { acceptUnauthenticated: true });
      const head = (await migrating.manifest.latest())!;
      expect(head.sealVersion).to.equal(1);
      const { manifest: written } = await migrating.addRecord([testBytes(30, 10)], LAB);
      expect(written.version).to.equal(3);
      expect(written.sealVersion).to.equal(2);
      expect((await collect(store.get(written.cid)))[4]).to.equal(2);

      // From now on no option is needed, and the history written before the migration stays readable.
      const after = patientRecords("v1-migrated.json");
      const latest = (await after.manifest.latest())!;
      expect(latest.entries.map((e) => e.cid.toString())).to.include.members(entries.map((e) => e.cid.toString()));
      const history = [];
      for await (const version of after.manifest.history()) history.push(version);
      expect(history.map((m) => [m.version, m.sealVersion])).to.deep.equal([
        [3, 2],
        [2, 1],
        [1, 1],
      ]);
      expect(history[2]!.cid.equals(v1)).to.equal(true);
      expect((await recoverRecords(store, patient.secretKey, latest.cid)).records).to.have.length(3);
    });

    /**
     * The attack the migration option opened: knowing only the patient's public key, a forger seals a version 1
     * manifest listing a record of its own (under a DEK it knows) and the patient's REAL record as shared with the
     * forger, and hands out its CID. A patient following the migration sample merges it.
     */
    async function forgedVersionOne(real: ManifestEntry): Promise<{ forgedCid: CID; planted: CID }> {
      const planted = await new RecordStore(store).putRecord([testBytes(50, 90)], LAB);
      const forged = document([forgedEntry(real, generateDataKey()), forgedEntry(planted, planted.dek)]);
      const { cid: forgedCid } = await store.put([await sealVersion1(forged, patient.publicKey)]);
      return { forgedCid, planted: planted.cid };
    }

    it("acceptUnauthenticated never opens a CID passed in: merge() of a forged version 1 during the migration is refused, nothing written", async () => {
      const records = patientRecords("migration-merge.json");
      const { entry: real, manifest: before } = await records.addRecord([testBytes(50, 91)], LAB);
      const { forgedCid, planted } = await forgedVersionOne(real);
      // The README's migration sample: PatientRecords with the option, this once.
      const migrating = patientRecords("migration-merge.json", { acceptUnauthenticated: true });
      await expectRejection(migrating.manifest.merge(forgedCid), UnauthenticatedManifestError);
      await expectRejection(migrating.manifest.read(forgedCid), UnauthenticatedManifestError);
      await expectRejection(
        (async () => {
          for await (const version of migrating.manifest.history(forgedCid))
            expect.fail(`read ${version.cid.toString()}`);
        })(),
        UnauthenticatedManifestError,
      );
      const latest = (await records.manifest.latest())!;
      expect(latest.cid.equals(before.cid)).to.equal(true);
      expect(latest.entries.map((e) => e.cid.toString())).to.deep.equal([real.cid.toString()]);
      expect(latest.entries[0]!.sharedWith).to.deep.equal([]);
      await expectRejection(records.readRecord(planted), RecordNotFoundError);
    });

    it("while a version 1 head is being migrated, a forged version 1 CID is still refused by merge(); the head's own upgrade works", async () => {
      const { entries } = await versionOneHead("migration-v1-merge.json");
      const migrating = patientRecords("migration-v1-merge.json", { acceptUnauthenticated: true });
      const { forgedCid, planted } = await forgedVersionOne(entries[0]!);
      await expectRejection(migrating.manifest.merge(forgedCid), UnauthenticatedManifestError);
      expect((await migrating.manifest.latest())!.version).to.equal(2); // the head, read under the option, unchanged
      const upgraded = (await migrating.manifest.upgradeSeal())!;
      expect([upgraded.version, upgraded.sealVersion]).to.deep.equal([3, 2]);
      expect(upgraded.entries.map((e) => e.cid.toString())).not.to.include(planted.toString());
      expect(upgraded.entries.every((e) => e.sharedWith.length === 0)).to.equal(true);
    });

    it("once the head is authenticated, acceptUnauthenticated has no effect: a version 1 head put back later is refused", async () => {
      const { v2 } = await versionOneHead("migration-closed.json");
      const migrating = patientRecords("migration-closed.json", { acceptUnauthenticated: true });
      const upgraded = (await migrating.manifest.upgradeSeal())!;
      // Someone points the head at a version 1 manifest again (a forged one, with a higher version).
      const planted = await new RecordStore(store).putRecord([testBytes(50, 92)], LAB);
      const forged = document([forgedEntry(planted, planted.dek)], upgraded.version + 1, upgraded.cid);
      const { cid: forgedCid } = await store.put([await sealVersion1(forged, patient.publicKey)]);
      const head = new FileManifestHead(join(dir, "migration-closed.json"));
      expect(await head.compareAndSet(upgraded.cid, { cid: forgedCid, version: upgraded.version + 1 })).to.equal(true);
      await expectRejection(migrating.manifest.latest(), UnauthenticatedManifestError);
      await expectRejection(migrating.addRecord([testBytes(30, 12)], LAB), UnauthenticatedManifestError);
      expect((await head.get())!.cid.equals(forgedCid)).to.equal(true);
      expect(v2.equals(upgraded.prev!)).to.equal(true);
    });

    it("recoverRecords and readManifest refuse acceptUnauthenticated (a CID is no trusted head), naming it", async () => {
      const { v2 } = await versionOneHead("recover-option.json");
      for (const attempt of [
        () => recoverRecords(store, patient.secretKey, v2, { acceptUnauthenticated: true } as OperationOptions),
        () => readManifest(store, patient, v2, { acceptUnauthenticated: true } as OperationOptions),
      ]) {
        const error = await expectRejection(attempt(), InvalidArgumentError);
        expect(error.field).to.equal("acceptUnauthenticated");
        expect(error.message)
          .to.match(/unsafeRecoverUnauthenticatedRecords/)
          .and.match(/upgradeSeal/);
      }
      await expectRejection(recoverRecords(store, patient.secretKey, v2), UnauthenticatedManifestError);
    });

    it("unsafeRecoverUnauthenticatedRecords reads a version 1 CID, and still refuses a forged version 2", async () => {
      const { v2, entries } = await versionOneHead("unsafe-recover.json");
      const recovered = await unsafeRecoverUnauthenticatedRecords(store, patient.secretKey, v2);
      expect(recovered.manifest.sealVersion).to.equal(1);
      expect(recovered.records.map((r) => r.entry.cid.toString()).sort()).to.deep.equal(
        entries.map((e) => e.cid.toString()).sort(),
      );
      const planted = await new RecordStore(store).putRecord([testBytes(60, 93)], LAB);
      for (const [how, sealed] of (await forgeries(document([forgedEntry(planted, planted.dek)]))).slice(1)) {
        const { cid } = await store.put([sealed]);
        const error = await expectRejection(
          unsafeRecoverUnauthenticatedRecords(store, patient.secretKey, cid),
          InvalidManifestError,
        );
        expect(error.message, how).to.match(/not authenticated/);
      }
    });

    it("upgradeSeal() re-seals a version 1 head as version 2 with the same entries, once", async () => {
      const { entries } = await versionOneHead("v1-upgraded.json");
      const migrating = patientRecords("v1-upgraded.json", { acceptUnauthenticated: true }).manifest;
      const upgraded = (await migrating.upgradeSeal())!;
      expect([upgraded.version, upgraded.sealVersion]).to.deep.equal([3, 2]);
      expect(upgraded.entries.map((e) => e.cid.toString())).to.deep.equal(entries.map((e) => e.cid.toString()).sort());
      expect((await migrating.upgradeSeal())!.cid.equals(upgraded.cid)).to.equal(true);
      expect((await patientRecords("v1-upgraded.json").manifest.latest())!.cid.equals(upgraded.cid)).to.equal(true);
    });

    it("history() refuses a version 1 manifest behind the head whose bytes are not what its CID names", async () => {
      const { v1 } = await versionOneHead("v1-lying.json");
      await patientRecords("v1-lying.json", { acceptUnauthenticated: true }).addRecord([testBytes(30, 11)], LAB);
      // A store (say a Kubo RPC node) that answers for the pre-migration version with a forgery of its own.
      const planted = await new RecordStore(store).putRecord([testBytes(60, 4)], LAB);
      const swapped = await sealVersion1(document([forgedEntry(planted, planted.dek)]), patient.publicKey);
      const lying = storeAnswering(store, v1, swapped);
      const seen: number[] = [];
      await expectRejection(
        (async () => {
          for await (const version of patientRecords("v1-lying.json", { store: lying }).manifest.history()) {
            seen.push(version.version);
          }
        })(),
        UnauthenticatedManifestError,
      );
      expect(seen).to.deep.equal([3, 2]);
    });

    it("PatientManifest refuses a key pair whose public key is not its secret key's", () => {
      const head = new FileManifestHead(join(dir, "mixed.json"));
      const keyPair = { publicKey: patient.publicKey, secretKey: forger.secretKey };
      const error = expectThrows(() => new PatientManifest({ store, head, keyPair }), InvalidArgumentError);
      expect(error.field).to.equal("keyPair.publicKey");
    });
  });
});

async function cidOf(text: string): Promise<CID> {
  return CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode(text)));
}

function expectThrows<E extends Error>(action: () => unknown, type: abstract new (...args: never[]) => E): E {
  try {
    action();
  } catch (error) {
    expect(error).to.be.instanceOf(type);
    return error as E;
  }
  expect.fail(`expected a ${type.name}`);
}

/** `store`, except that `get(cid)` yields `bytes`: a node serving other bytes than the CID names. */
function storeAnswering(store: ContentStore, cid: CID, bytes: Uint8Array): ContentStore {
  return {
    put: (source, options) => store.put(source, options),
    get: (input: CidInput, options?: OperationOptions) =>
      input.toString() === cid.toString()
        ? (async function* () {
            yield bytes;
          })()
        : store.get(input, options),
    has: (input, options) => store.has(input, options),
    pin: (input, options) => store.pin(input, options),
    unpin: (input, options) => store.unpin(input, options),
    stat: (input, options) => store.stat(input, options),
    gc: (options) => store.gc(options),
    close: () => store.close(),
  };
}
