// The GatewayStore contract: every implementation (SQLite, PostgreSQL) runs this suite unchanged.
// `open` must return a fresh, empty store each call; the suite closes what it opens. The shared store claims an audit
// log first (as the gateway's audit log does at start), so the audit methods act on that log.
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { DependencyUnavailableError } from "../../src/errors.ts";
import type {
  AggregateQueryRow,
  AuditLogRow,
  AuditRow,
  CheckpointRow,
  ContributionRow,
  GatewayStore,
  RecordRow,
  SessionRoleRow,
  StudyRow,
} from "../../src/store/types.ts";

const DAY = 24 * 60 * 60 * 1000;

function address(): string {
  return `0x${randomBytes(20).toString("hex")}`;
}

function bytes32(): string {
  return `0x${randomBytes(32).toString("hex")}`;
}

let cidCounter = 0;
/** A distinct CID-shaped string (the store does not parse CIDs). */
function cid(): string {
  cidCounter += 1;
  return `bafkrei${randomBytes(16).toString("hex")}${cidCounter.toString().padStart(6, "0")}`;
}

function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function decode(row: AuditRow): { tag: string; n: number } {
  return JSON.parse(new TextDecoder().decode(row.event)) as { tag: string; n: number };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  expect.fail("expected a rejection");
}

/** An audit log as a gateway claims it (the store treats the key as an opaque string). */
function auditLogOf(origin: string, createdAt = 1): AuditLogRow {
  return {
    origin,
    verifierKey: `${origin}+0a1b2c3d+${randomBytes(32).toString("base64")}`,
    gateway: `0x${"0".repeat(40)}`,
    createdAt,
  };
}

function study(studyId: string, researcher: string): StudyRow {
  return {
    studyId,
    researcher,
    irb: address(),
    approval: "eyJ.approval.jwt",
    title: "A study",
    scopes: ["fhir:Observation", "fhir:Patient"],
    encryptionKey: bytes32(),
    endsAt: 2_000_000_000,
    createdAt: 1,
    checkedAt: 1,
    withdrawnAt: null,
    withdrawnReason: null,
    tallyKey: null,
  };
}

function contribution(studyId: string, patient: string, contributed: string): ContributionRow {
  return {
    studyId,
    patient,
    cid: contributed,
    size: 10,
    consentAddress: patient,
    scopeId: bytes32(),
    wrap: "c2VhbGVk",
    facts: { sex: { cells: ["YQ", "Yg"], proof: "cA" } },
    createdAt: 1,
  };
}

/** An open aggregate query of the study, expiring at `expiresAt`. */
function aggregateQuery(studyId: string, expiresAt: number): AggregateQueryRow {
  const patient = address();
  return {
    id: randomBytes(16).toString("hex"),
    studyId,
    dimension: "sex",
    sums: ["c3VtMA", "c3VtMQ"],
    contributors: 1,
    included: [{ patient, cid: cid(), consentAddress: patient, scopeId: bytes32() }],
    expiresAt,
  };
}

export function storeContract(name: string, open: () => Promise<GatewayStore>): void {
  describe(`GatewayStore contract: ${name}`, function () {
    let store: GatewayStore;
    const log = auditLogOf("contract.hygeia.example/audit");
    before(async function () {
      store = await open();
      await store.claimAuditLog(log);
    });
    after(async function () {
      await store.close();
    });

    it("names its kind", function () {
      expect(store.kind).to.be.a("string").and.not.equal("");
    });

    describe("SIWE nonces", function () {
      it("consumes a nonce exactly once, and only before it expires", async function () {
        const nonce = randomBytes(12).toString("hex");
        await store.putNonce({ nonce, expiresAt: 2_000 });
        expect(await store.consumeNonce(nonce, 1_000)).to.equal(true);
        expect(await store.consumeNonce(nonce, 1_000)).to.equal(false);
      });

      it("refuses an expired nonce and forgets it", async function () {
        const nonce = randomBytes(12).toString("hex");
        await store.putNonce({ nonce, expiresAt: 2_000 });
        expect(await store.consumeNonce(nonce, 2_000)).to.equal(false);
        expect(await store.consumeNonce(nonce, 1_000)).to.equal(false);
      });

      it("refuses a nonce it never handed out", async function () {
        expect(await store.consumeNonce("never-issued", 0)).to.equal(false);
      });

      it("lets exactly one of 20 concurrent consumers use a nonce", async function () {
        const nonce = randomBytes(12).toString("hex");
        await store.putNonce({ nonce, expiresAt: 10_000 });
        const results = await Promise.all(Array.from({ length: 20 }, () => store.consumeNonce(nonce, 1)));
        expect(results.filter(Boolean)).to.have.length(1);
      });
    });

    describe("sessions and roles", function () {
      function role(sessionId: string, name: SessionRoleRow["role"], credential = "jwt-1"): SessionRoleRow {
        return { sessionId, role: name, credential, issuer: "did:web:issuer", checkedAt: 5, validUntil: null };
      }

      it("stores and returns a session as written", async function () {
        const row = {
          id: "s-get",
          address: address(),
          chainId: 31337,
          issuedAt: 1,
          expiresAt: 900_000,
          revokedAt: null,
        };
        await store.putSession(row);
        expect(await store.getSession("s-get")).to.deep.equal(row);
        expect(await store.getSession("s-none")).to.equal(undefined);
      });

      it("replaces a session's role of the same name and keeps the other", async function () {
        await store.putSession({
          id: "s-roles",
          address: address(),
          chainId: 1,
          issuedAt: 1,
          expiresAt: 9,
          revokedAt: null,
        });
        expect(await store.putSessionRole(role("s-roles", "clinic", "old"))).to.equal(true);
        expect(await store.putSessionRole({ ...role("s-roles", "clinic", "new"), validUntil: 77 })).to.equal(true);
        expect(await store.putSessionRole(role("s-roles", "researcher"))).to.equal(true);
        const roles = await store.sessionRoles("s-roles");
        expect(roles).to.deep.equal([
          { ...role("s-roles", "clinic", "new"), validUntil: 77 },
          role("s-roles", "researcher"),
        ]);
        await store.deleteSessionRole("s-roles", "clinic");
        expect((await store.sessionRoles("s-roles")).map((r) => r.role)).to.deep.equal(["researcher"]);
      });

      it("attaches no role to an unknown session", async function () {
        expect(await store.putSessionRole(role("s-unknown", "clinic"))).to.equal(false);
        expect(await store.sessionRoles("s-unknown")).to.deep.equal([]);
      });

      it("revokes a session once, keeping the first revocation time, and drops its roles", async function () {
        await store.putSession({
          id: "s-rev",
          address: address(),
          chainId: 1,
          issuedAt: 1,
          expiresAt: 9,
          revokedAt: null,
        });
        await store.putSessionRole(role("s-rev", "clinic"));
        expect(await store.revokeSession("s-rev", 100)).to.equal(true);
        expect(await store.revokeSession("s-rev", 200)).to.equal(true);
        expect((await store.getSession("s-rev"))?.revokedAt).to.equal(100);
        expect(await store.sessionRoles("s-rev")).to.deep.equal([]);
        expect(await store.putSessionRole(role("s-rev", "clinic"))).to.equal(false);
        expect(await store.sessionRoles("s-rev")).to.deep.equal([]);
      });

      it("answers false when revoking a session it does not know", async function () {
        expect(await store.revokeSession("s-missing", 1)).to.equal(false);
      });
    });

    describe("records and wraps", function () {
      function record(patient: string, createdAt: number, scopeIds?: Record<string, string[]>): RecordRow {
        return { patient, cid: cid(), size: 1234, scopeIds: scopeIds ?? { [patient]: [bytes32()] }, createdAt };
      }

      it("stores a record with its wraps in one step", async function () {
        const patient = address();
        const grantee = address();
        const row = record(patient, 10);
        const wraps = [
          { cid: row.cid, recipient: patient, wrap: "self-wrap", createdAt: 10 },
          { cid: row.cid, recipient: grantee, wrap: "grantee-wrap", createdAt: 10 },
        ];
        expect(await store.putRecord(row, wraps)).to.equal(true);
        expect(await store.getRecord(patient, row.cid)).to.deep.equal(row);
        expect(await store.getWrap(row.cid, grantee)).to.deep.equal(wraps[1]);
        expect(await store.wrapsOf(row.cid)).to.have.deep.members(wraps);
      });

      it("refuses a CID already recorded for the patient and writes none of the second call", async function () {
        const patient = address();
        const row = record(patient, 10);
        await store.putRecord(row, [{ cid: row.cid, recipient: patient, wrap: "first", createdAt: 10 }]);
        const other = address();
        const again = { ...row, size: 1, scopeIds: { [patient]: [bytes32()] } };
        expect(
          await store.putRecord(again, [
            { cid: row.cid, recipient: patient, wrap: "second", createdAt: 11 },
            { cid: row.cid, recipient: other, wrap: "second", createdAt: 11 },
          ]),
        ).to.equal(false);
        expect(await store.getRecord(patient, row.cid)).to.deep.equal(row);
        expect((await store.getWrap(row.cid, patient))?.wrap).to.equal("first");
        expect(await store.getWrap(row.cid, other)).to.equal(undefined);
      });

      it("refuses a CID another patient recorded, leaving that patient's wraps as they were", async function () {
        const alice = address();
        const mallory = address();
        const row = record(alice, 10);
        const selfWrap = { cid: row.cid, recipient: alice, wrap: "alice-self", createdAt: 10 };
        await store.putRecord(row, [selfWrap]);
        const copied = { ...row, patient: mallory, scopeIds: { [mallory]: [bytes32()] } };
        expect(
          await store.putRecord(copied, [
            { cid: row.cid, recipient: mallory, wrap: "mallory-self", createdAt: 11 },
            { cid: row.cid, recipient: alice, wrap: "junk", createdAt: 11 },
          ]),
        ).to.equal(false);
        expect(await store.getRecord(mallory, row.cid)).to.equal(undefined);
        expect(await store.wrapsOf(row.cid)).to.deep.equal([selfWrap]);
      });

      it("keeps one patient's records apart from another's", async function () {
        const alice = address();
        const bob = address();
        const row = record(alice, 10);
        await store.putRecord(row, []);
        expect(await store.getRecord(bob, row.cid)).to.equal(undefined);
        expect(await store.listRecords(bob, { limit: 10 })).to.deep.equal([]);
      });

      it("lists a patient's records newest first, page by page", async function () {
        const patient = address();
        const rows = [record(patient, 100), record(patient, 300), record(patient, 200), record(patient, 300)];
        for (const row of rows) await store.putRecord(row, []);
        const expected = [...rows].sort((a, b) => b.createdAt - a.createdAt || (a.cid < b.cid ? 1 : -1));
        const first = await store.listRecords(patient, { limit: 3 });
        expect(first).to.deep.equal(expected.slice(0, 3));
        const second = await store.listRecords(patient, { limit: 3, after: first[2]?.cid });
        expect(second).to.deep.equal(expected.slice(3));
        expect(await store.listRecords(patient, { limit: 3, after: expected[3]?.cid })).to.deep.equal([]);
      });

      it("adds scope ids under a new consent address and replaces that address's list", async function () {
        const patient = address();
        const pairwise = address();
        const row = record(patient, 10);
        await store.putRecord(row, []);
        const ids = [bytes32(), bytes32()];
        expect(await store.setRecordScopeIds(patient, row.cid, pairwise, ids)).to.equal(true);
        expect((await store.getRecord(patient, row.cid))?.scopeIds).to.deep.equal({ ...row.scopeIds, [pairwise]: ids });
        const replaced = [bytes32()];
        expect(await store.setRecordScopeIds(patient, row.cid, pairwise, replaced)).to.equal(true);
        expect((await store.getRecord(patient, row.cid))?.scopeIds).to.deep.equal({
          ...row.scopeIds,
          [pairwise]: replaced,
        });
      });

      it("answers false when setting scope ids of a record it does not have", async function () {
        expect(await store.setRecordScopeIds(address(), cid(), address(), [bytes32()])).to.equal(false);
      });

      it("adds and replaces wraps of an existing record", async function () {
        const patient = address();
        const grantee = address();
        const row = record(patient, 10);
        await store.putRecord(row, [{ cid: row.cid, recipient: patient, wrap: "self", createdAt: 10 }]);
        await store.putWraps([{ cid: row.cid, recipient: grantee, wrap: "v1", createdAt: 20 }]);
        await store.putWraps([{ cid: row.cid, recipient: grantee, wrap: "v2", createdAt: 30 }]);
        expect(await store.getWrap(row.cid, grantee)).to.deep.equal({
          cid: row.cid,
          recipient: grantee,
          wrap: "v2",
          createdAt: 30,
        });
        expect((await store.wrapsOf(row.cid)).map((w) => w.recipient)).to.deep.equal([patient, grantee]);
        expect(await store.getWrap(row.cid, address())).to.equal(undefined);
      });

      it("flags a grantee only the first time it receives a patient's data", async function () {
        const patient = address();
        const grantee = address();
        expect(await store.noteGrantee(patient, grantee, 1)).to.equal(true);
        expect(await store.noteGrantee(patient, grantee, 2)).to.equal(false);
        expect(await store.noteGrantee(address(), grantee, 3)).to.equal(true);
      });
    });

    describe("manifest pointers (compare-and-swap)", function () {
      it("creates a pointer at version 1 only when none exists", async function () {
        const patient = address();
        expect(await store.getManifestPointer(patient)).to.equal(undefined);
        const created = await store.compareAndSetManifestPointer(patient, null, { cid: "m1", updatedAt: 5 });
        expect(created).to.deep.equal({ patient, cid: "m1", version: 1, updatedAt: 5 });
        expect(await store.compareAndSetManifestPointer(patient, null, { cid: "m9", updatedAt: 6 })).to.equal(
          undefined,
        );
        expect(await store.getManifestPointer(patient)).to.deep.equal(created);
      });

      it("moves the pointer from the expected CID and refuses a stale expected one", async function () {
        const patient = address();
        await store.compareAndSetManifestPointer(patient, null, { cid: "m1", updatedAt: 5 });
        const moved = await store.compareAndSetManifestPointer(patient, "m1", { cid: "m2", updatedAt: 6 });
        expect(moved).to.deep.equal({ patient, cid: "m2", version: 2, updatedAt: 6 });
        expect(await store.compareAndSetManifestPointer(patient, "m1", { cid: "m3", updatedAt: 7 })).to.equal(
          undefined,
        );
        expect(await store.getManifestPointer(patient)).to.deep.equal(moved);
      });

      it("lets one of several concurrent updates from the same expected CID win", async function () {
        const patient = address();
        await store.compareAndSetManifestPointer(patient, null, { cid: "base", updatedAt: 1 });
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) =>
            store.compareAndSetManifestPointer(patient, "base", { cid: `next-${i}`, updatedAt: 2 }),
          ),
        );
        const winners = results.filter((r) => r !== undefined);
        expect(winners).to.have.length(1);
        expect(await store.getManifestPointer(patient)).to.deep.equal(winners[0]);
        expect(winners[0]?.version).to.equal(2);
      });
    });

    describe("consent address links", function () {
      function link(patient: string, grantee: string, consentAddress: string, issuedAt: number) {
        return { patient, grantee, consentAddress, issuedAt, link: JSON.stringify({ consentAddress, issuedAt }) };
      }

      it("keeps the newest link per patient and grantee, never an older one", async function () {
        const patient = address();
        const grantee = address();
        const first = link(patient, grantee, address(), 100);
        const newer = link(patient, grantee, address(), 200);
        const older = link(patient, grantee, address(), 150);
        expect(await store.putConsentLink(first)).to.equal(true);
        expect(await store.putConsentLink(newer)).to.equal(true);
        expect(await store.putConsentLink(older)).to.equal(false);
        expect(await store.getConsentLink(patient, grantee)).to.deep.equal(newer);
      });

      it("lists a patient's links only", async function () {
        const patient = address();
        const links = [link(patient, address(), address(), 1), link(patient, address(), address(), 2)];
        for (const l of links) await store.putConsentLink(l);
        await store.putConsentLink(link(address(), address(), address(), 3));
        expect(await store.consentLinksOf(patient)).to.have.deep.members(links);
        expect(await store.consentLinksOf(patient)).to.have.length(2);
        expect(await store.getConsentLink(patient, address())).to.equal(undefined);
      });

      it("finds a link by its consent address, the newest when several name it, none for an unlinked address", async function () {
        const consentAddress = address();
        const older = link(address(), address(), consentAddress, 10);
        const newer = link(address(), address(), consentAddress, 20);
        await store.putConsentLink(newer);
        await store.putConsentLink(older);
        await store.putConsentLink(link(address(), address(), address(), 30));
        expect(await store.consentLinkByAddress(consentAddress)).to.deep.equal(newer);
        expect(await store.consentLinkByAddress(address())).to.equal(undefined);
        // A link replaced by a newer one of its pair no longer names its old consent address.
        const moved = link(newer.patient, newer.grantee, address(), 40);
        await store.putConsentLink(moved);
        expect(await store.consentLinkByAddress(consentAddress)).to.deep.equal(older);
        expect(await store.consentLinkByAddress(moved.consentAddress)).to.deep.equal(moved);
      });
    });

    describe("audit log", function () {
      it("appends in order with consecutive indexes continuing the log", async function () {
        const patient = address();
        const start = await store.auditSize();
        const rows = await store.appendAudit([
          { patient, event: utf8('{"tag":"a","n":0}') },
          { patient: address(), event: utf8('{"tag":"a","n":1}') },
          { patient, event: utf8('{"tag":"a","n":2}') },
        ]);
        expect(rows.map((r) => r.index)).to.deep.equal([start, start + 1, start + 2]);
        expect(await store.auditSize()).to.equal(start + 3);
        const read = await store.auditRange(start, start + 3);
        expect(read.map((r) => r.index)).to.deep.equal([start, start + 1, start + 2]);
        expect(read.map(decode).map((e) => e.n)).to.deep.equal([0, 1, 2]);
        expect(Buffer.from(read[0]?.event ?? [])).to.deep.equal(Buffer.from(utf8('{"tag":"a","n":0}')));
      });

      it("appends nothing for an empty batch", async function () {
        const size = await store.auditSize();
        expect(await store.appendAudit([])).to.deep.equal([]);
        expect(await store.auditSize()).to.equal(size);
      });

      it("keeps 20 concurrent batches whole, in order, without a gap", async function () {
        const start = await store.auditSize();
        const batches = Array.from({ length: 20 }, (_, b) =>
          Array.from({ length: 1 + (b % 7) }, (_, i) => ({
            patient: address(),
            event: utf8(JSON.stringify({ tag: `c${b}`, n: i })),
          })),
        );
        const results = await Promise.all(batches.map((batch) => store.appendAudit(batch)));
        const total = batches.reduce((sum, batch) => sum + batch.length, 0);
        expect(await store.auditSize()).to.equal(start + total);
        const all = await store.auditRange(start, start + total);
        expect(all.map((r) => r.index)).to.deep.equal(Array.from({ length: total }, (_, i) => start + i));
        results.forEach((rows, b) => {
          const first = rows[0]?.index ?? -1;
          expect(rows.map((r) => r.index)).to.deep.equal(rows.map((_, i) => first + i));
          const stored = all.slice(first - start, first - start + rows.length).map(decode);
          expect(stored).to.deep.equal(rows.map((_, i) => ({ tag: `c${b}`, n: i })));
        });
      });

      it("lists a patient's events in index order after a cursor", async function () {
        const patient = address();
        const mixed = Array.from({ length: 6 }, (_, n) => ({
          patient: n % 2 === 0 ? patient : address(),
          event: utf8(JSON.stringify({ tag: "p", n })),
        }));
        const rows = await store.appendAudit(mixed);
        const mine = rows.filter((r) => r.patient === patient);
        const page1 = await store.auditOf(patient, { limit: 2 });
        expect(page1.map((r) => r.index)).to.deep.equal(mine.slice(0, 2).map((r) => r.index));
        const page2 = await store.auditOf(patient, { limit: 2, after: page1[1]?.index });
        expect(page2.map((r) => r.index)).to.deep.equal(mine.slice(2).map((r) => r.index));
        expect(page2.map(decode).map((e) => e.n)).to.deep.equal([4]);
      });

      it("returns nothing for a range past the end", async function () {
        const size = await store.auditSize();
        expect(await store.auditRange(size, size + 10)).to.deep.equal([]);
      });
    });

    describe("checkpoints", function () {
      function checkpoint(size: number, anchor: CheckpointRow["anchor"] = null): CheckpointRow {
        return {
          size,
          rootHash: `0x${size.toString(16).padStart(64, "0")}`,
          note: `note ${size}`,
          createdAt: size,
          anchor,
        };
      }
      const anchor = { txHash: `0x${"ab".repeat(32)}`, blockNumber: 7, firstIndex: 0, count: 10 };

      it("keeps checkpoints, anchors one, and tells the latest from the latest anchored", async function () {
        await store.putCheckpoint(checkpoint(10));
        await store.putCheckpoint(checkpoint(20));
        expect(await store.getCheckpoint(10)).to.deep.equal(checkpoint(10));
        expect(await store.latestCheckpoint({ anchored: true })).to.equal(undefined);
        await store.setCheckpointAnchor(10, anchor);
        expect(await store.getCheckpoint(10)).to.deep.equal(checkpoint(10, anchor));
        expect(await store.latestCheckpoint()).to.deep.equal(checkpoint(20));
        expect(await store.latestCheckpoint({ anchored: true })).to.deep.equal(checkpoint(10, anchor));
      });

      it("lists checkpoints oldest first after a size", async function () {
        await store.putCheckpoint(checkpoint(30));
        const all = await store.listCheckpoints({ limit: 10 });
        expect(all.map((c) => c.size)).to.deep.equal([10, 20, 30]);
        expect((await store.listCheckpoints({ limit: 1, after: 10 })).map((c) => c.size)).to.deep.equal([20]);
        expect(await store.getCheckpoint(99)).to.equal(undefined);
      });

      it("keeps a stored checkpoint (and its anchor) when the same head is stored again", async function () {
        await store.putCheckpoint({ ...checkpoint(10), note: "re-signed" });
        expect(await store.getCheckpoint(10)).to.deep.equal(checkpoint(10, anchor));
      });

      it("refuses a different root hash for a size already kept", async function () {
        const error = await rejection(store.putCheckpoint({ ...checkpoint(20), rootHash: `0x${"ff".repeat(32)}` }));
        expect(error).to.be.instanceOf(Error);
        expect(await store.getCheckpoint(20)).to.deep.equal(checkpoint(20));
      });
    });

    describe("audit logs: claims and readers", function () {
      it("lists the claimed log; a second claim of its origin returns the stored row, unchanged", async function () {
        expect(await store.auditLogs()).to.deep.equal([log]);
        const again = { ...auditLogOf(log.origin, 99), gateway: address() };
        expect(await store.claimAuditLog(again)).to.deep.equal(log);
        expect(await store.claimAuditLog(log)).to.deep.equal(log);
        expect(await store.auditLogs()).to.deep.equal([log]);
      });

      it("reads the claimed log through auditLog(origin) as through the store's own methods", async function () {
        const patient = address();
        await store.appendAudit([
          { patient, event: utf8('{"tag":"r","n":0}') },
          { patient: address(), event: utf8('{"tag":"r","n":1}') },
          { patient, event: utf8('{"tag":"r","n":2}') },
        ]);
        const reader = store.auditLog(log.origin);
        expect(reader.origin).to.equal(log.origin);
        const size = await store.auditSize();
        expect(await reader.size()).to.equal(size);
        expect(await reader.range(size - 3, size)).to.deep.equal(await store.auditRange(size - 3, size));
        expect(await reader.of(patient, { limit: 10 })).to.deep.equal(await store.auditOf(patient, { limit: 10 }));
        expect((await reader.of(patient, { limit: 10 })).map(decode).map((e) => e.n)).to.deep.equal([0, 2]);
        expect(await reader.getCheckpoint(10)).to.deep.equal(await store.getCheckpoint(10));
        expect(await reader.latestCheckpoint()).to.deep.equal(await store.latestCheckpoint());
        expect(await reader.latestCheckpoint({ anchored: true })).to.deep.equal(
          await store.latestCheckpoint({ anchored: true }),
        );
        expect(await reader.listCheckpoints({ limit: 10, after: 10 })).to.deep.equal(
          await store.listCheckpoints({ limit: 10, after: 10 }),
        );
      });

      it("reads an origin it does not hold as an empty log", async function () {
        const reader = store.auditLog("unknown.hygeia.example/audit");
        expect(await reader.size()).to.equal(0);
        expect(await reader.range(0, 100)).to.deep.equal([]);
        expect(await reader.of(address(), { limit: 10 })).to.deep.equal([]);
        expect(await reader.getCheckpoint(10)).to.equal(undefined);
        expect(await reader.latestCheckpoint()).to.equal(undefined);
        expect(await reader.listCheckpoints({ limit: 10 })).to.deep.equal([]);
      });
    });

    describe("check-ins", function () {
      const clinic = address();
      function checkIn(id: string, expiresAt: number) {
        return { id, clinic, request: '{"challenge":"c"}', createdAt: 1, expiresAt, result: null, completedAt: null };
      }

      it("records a check-in's result once", async function () {
        await store.putCheckIn(checkIn("ci-once", 1_000));
        expect(await store.getCheckIn("ci-once")).to.deep.equal(checkIn("ci-once", 1_000));
        expect(await store.completeCheckIn("ci-once", '{"ok":true}', 500)).to.equal(true);
        expect(await store.completeCheckIn("ci-once", '{"ok":false}', 600)).to.equal(false);
        expect(await store.getCheckIn("ci-once")).to.deep.equal({
          ...checkIn("ci-once", 1_000),
          result: '{"ok":true}',
          completedAt: 500,
        });
      });

      it("refuses to complete an expired or unknown check-in", async function () {
        await store.putCheckIn(checkIn("ci-late", 1_000));
        expect(await store.completeCheckIn("ci-late", "{}", 1_000)).to.equal(false);
        expect((await store.getCheckIn("ci-late"))?.result).to.equal(null);
        expect(await store.completeCheckIn("ci-none", "{}", 1)).to.equal(false);
        expect(await store.getCheckIn("ci-none")).to.equal(undefined);
      });

      it("replaces a check-in's request only while it reads as expected and has no result", async function () {
        await store.putCheckIn(checkIn("ci-cas", 1_000));
        const first = '{"challenge":"c"}';
        expect(await store.replaceCheckInRequest("ci-cas", '{"stale":true}', '{"x":1}')).to.equal(false);
        expect(await store.replaceCheckInRequest("ci-cas", first, '{"bound":"a"}')).to.equal(true);
        expect(await store.replaceCheckInRequest("ci-cas", first, '{"bound":"b"}')).to.equal(false);
        expect((await store.getCheckIn("ci-cas"))?.request).to.equal('{"bound":"a"}');
        expect(await store.completeCheckIn("ci-cas", '{"answer":1}', 10)).to.equal(true);
        expect(await store.replaceCheckInRequest("ci-cas", '{"bound":"a"}', '{"bound":"c"}')).to.equal(false);
        expect(await store.getCheckIn("ci-cas")).to.include({ request: '{"bound":"a"}', result: '{"answer":1}' });
        expect(await store.replaceCheckInRequest("ci-missing", first, "{}")).to.equal(false);
        const raced = await Promise.all(
          ["p", "q", "r", "s"].map((who) => store.replaceCheckInRequest("ci-cas-race", first, `{"bound":"${who}"}`)),
        );
        expect(raced.filter(Boolean)).to.have.length(0); // no such check-in yet
        await store.putCheckIn(checkIn("ci-cas-race", 1_000));
        const bound = await Promise.all(
          ["p", "q", "r", "s"].map((who) => store.replaceCheckInRequest("ci-cas-race", first, `{"bound":"${who}"}`)),
        );
        expect(bound.filter(Boolean)).to.have.length(1);
      });

      it("lets one of several concurrent answers complete a check-in", async function () {
        await store.putCheckIn(checkIn("ci-race", 1_000));
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => store.completeCheckIn("ci-race", `{"n":${i}}`, 10)),
        );
        expect(results.filter(Boolean)).to.have.length(1);
      });
    });

    describe("relay quota", function () {
      it("counts up to the limit per patient and window, then refuses", async function () {
        const patient = address();
        const taken = [];
        for (let i = 0; i < 4; i += 1) taken.push(await store.takeRelayQuota(patient, 0, 3));
        expect(taken).to.deep.equal([true, true, true, false]);
        expect(await store.takeRelayQuota(patient, DAY, 3)).to.equal(true);
        expect(await store.takeRelayQuota(address(), 0, 3)).to.equal(true);
      });

      it("never grants more than the limit to concurrent requests", async function () {
        const patient = address();
        const results = await Promise.all(Array.from({ length: 12 }, () => store.takeRelayQuota(patient, 0, 5)));
        expect(results.filter(Boolean)).to.have.length(5);
      });

      it("grants nothing when the limit is zero", async function () {
        expect(await store.takeRelayQuota(address(), 0, 0)).to.equal(false);
      });
    });

    describe("status lists", function () {
      it("stores a status list only when it is newer than the one kept", async function () {
        const issuer = address();
        const row = { issuer, name: "revocation", jwt: "jwt-100", issuedAt: 100, updatedAt: 1 };
        expect(await store.putStatusList(row)).to.equal(true);
        expect(await store.putStatusList({ ...row, jwt: "jwt-same", updatedAt: 2 })).to.equal(false);
        expect(await store.putStatusList({ ...row, jwt: "jwt-90", issuedAt: 90, updatedAt: 3 })).to.equal(false);
        expect(await store.getStatusList(issuer, "revocation")).to.deep.equal(row);
        const newer = { ...row, jwt: "jwt-200", issuedAt: 200, updatedAt: 4 };
        expect(await store.putStatusList(newer)).to.equal(true);
        expect(await store.getStatusList(issuer, "revocation")).to.deep.equal(newer);
        expect(await store.getStatusList(issuer, "suspension")).to.equal(undefined);
      });
    });

    describe("staged uploads", function () {
      it("stages per uploader; re-staging replaces size and expiry; only the uploader's row is taken, once", async function () {
        const [alice, bob, upload] = [address(), address(), cid()];
        await store.putStagedUpload({ cid: upload, uploader: alice, size: 10, expiresAt: 100 });
        await store.putStagedUpload({ cid: upload, uploader: alice, size: 12, expiresAt: 200 });
        expect(await store.getStagedUpload(upload, alice)).to.deep.equal({
          cid: upload,
          uploader: alice,
          size: 12,
          expiresAt: 200,
        });
        expect(await store.getStagedUpload(upload, bob)).to.equal(undefined);
        expect(await store.takeStagedUpload(upload, bob)).to.equal(undefined);
        expect(await store.isStaged(upload)).to.equal(true);
        expect((await store.takeStagedUpload(upload, alice))?.size).to.equal(12);
        expect(await store.takeStagedUpload(upload, alice)).to.equal(undefined);
        expect(await store.isStaged(upload)).to.equal(false);
      });

      it("sums an uploader's staged bytes, expired rows included until they are deleted", async function () {
        const [alice, bob] = [address(), address()];
        expect(await store.stagedBytesOf(alice)).to.equal(0);
        await store.putStagedUpload({ cid: cid(), uploader: alice, size: 1000, expiresAt: 10 });
        await store.putStagedUpload({ cid: cid(), uploader: alice, size: 234, expiresAt: 1_000 });
        await store.putStagedUpload({ cid: cid(), uploader: bob, size: 5, expiresAt: 1_000 });
        expect(await store.stagedBytesOf(alice)).to.equal(1234);
        expect(await store.stagedBytesOf(bob)).to.equal(5);
      });

      it("lists expired rows soonest first within the limit, and deletes a row only while it is still expired", async function () {
        const [alice, bob] = [address(), address()];
        const [one, two, three] = [cid(), cid(), cid()];
        const base = 7_000_000_000_000; // later than rows other tests left in a shared store
        await store.putStagedUpload({ cid: two, uploader: bob, size: 1, expiresAt: base + 20 });
        await store.putStagedUpload({ cid: one, uploader: alice, size: 1, expiresAt: base + 10 });
        await store.putStagedUpload({ cid: three, uploader: alice, size: 1, expiresAt: base + 99 });
        const mine = (rows: { cid: string }[]) => rows.filter((row) => [one, two, three].includes(row.cid));
        const expired = mine(await store.expiredStagedUploads(base + 50, 1_000));
        expect(expired.map((row) => row.cid)).to.deep.equal([one, two]);
        expect(await store.expiredStagedUploads(base + 50, 1)).to.have.length(1);
        // Re-staged after the listing: its new expiry keeps it.
        await store.putStagedUpload({ cid: two, uploader: bob, size: 1, expiresAt: base + 500 });
        expect(await store.deleteStagedUpload(two, bob, base + 50)).to.equal(false);
        expect(await store.deleteStagedUpload(one, alice, base + 50)).to.equal(true);
        expect(await store.deleteStagedUpload(one, alice, base + 50)).to.equal(false);
        expect(await store.getStagedUpload(two, bob)).to.not.equal(undefined);
        expect(mine(await store.expiredStagedUploads(base + 50, 1_000))).to.deep.equal([]);
      });
    });

    describe("webhooks", function () {
      it("stores, replaces and deletes a patient's webhook", async function () {
        const patient = address();
        await store.putWebhook({ patient, url: "https://a.example/hook", createdAt: 1 });
        await store.putWebhook({ patient, url: "https://b.example/hook", createdAt: 2 });
        expect(await store.getWebhook(patient)).to.deep.equal({ patient, url: "https://b.example/hook", createdAt: 2 });
        expect(await store.deleteWebhook(patient)).to.equal(true);
        expect(await store.deleteWebhook(patient)).to.equal(false);
        expect(await store.getWebhook(patient)).to.equal(undefined);
      });
    });

    describe("studies and contributions", function () {
      it("stores a study, replaces it, lists by id, and keeps a withdrawal once recorded", async function () {
        const [one, two] = [bytes32(), bytes32()].sort();
        const researcher = address();
        await store.putStudy(study(two!, researcher));
        await store.putStudy(study(one!, researcher));
        await store.putStudy({ ...study(one!, researcher), title: "Replaced", scopes: ["fhir:Condition"] });
        expect(await store.getStudy(one!)).to.deep.include({ title: "Replaced", scopes: ["fhir:Condition"] });
        const listed = (await store.listStudies({ limit: 10_000 })).map((row) => row.studyId);
        expect(listed.indexOf(one!)).to.be.lessThan(listed.indexOf(two!));
        expect((await store.listStudies({ after: one!, limit: 10_000 })).map((row) => row.studyId)).to.include(two!);
        expect(await store.setStudyCheck(one!, 50, null)).to.equal(true);
        expect(await store.getStudy(one!)).to.deep.include({ checkedAt: 50, withdrawnAt: null });
        expect(await store.setStudyCheck(one!, 60, { at: 60, reason: "APPROVAL_REVOKED" })).to.equal(true);
        expect(await store.setStudyCheck(one!, 70, null)).to.equal(true);
        expect(await store.getStudy(one!)).to.deep.include({
          checkedAt: 70,
          withdrawnAt: 60,
          withdrawnReason: "APPROVAL_REVOKED",
        });
        expect(await store.setStudyCheck(bytes32(), 1, null)).to.equal(false);
        expect(await store.getStudy(bytes32())).to.equal(undefined);
      });

      it("keeps one contribution per (study, patient), pages a study's by patient, and deletes on opt-out", async function () {
        const studyId = bytes32();
        const patients = [address(), address(), address()].sort();
        const first = contribution(studyId, patients[0]!, cid());
        expect(await store.putContribution(first)).to.deep.equal({ written: true, previous: undefined });
        const second = { ...contribution(studyId, patients[0]!, cid()), createdAt: 2 };
        expect(await store.putContribution(second)).to.deep.equal({ written: true, previous: first });
        for (const patient of patients.slice(1)) await store.putContribution(contribution(studyId, patient, cid()));
        expect(await store.getContribution(studyId, patients[0]!)).to.deep.equal(second);
        expect(await store.isContribution(second.cid)).to.equal(true);
        expect(await store.contributionByCid(studyId, second.cid)).to.deep.equal(second);
        expect(await store.contributionByCid(bytes32(), second.cid)).to.equal(undefined);
        expect(await store.isContribution(first.cid)).to.equal(false);
        const page1 = await store.contributionsTo(studyId, { limit: 2 });
        expect(page1.map((row) => row.patient)).to.deep.equal(patients.slice(0, 2));
        const page2 = await store.contributionsTo(studyId, { after: page1[1]!.patient, limit: 2 });
        expect(page2.map((row) => row.patient)).to.deep.equal(patients.slice(2));
        const otherStudy = bytes32();
        await store.putContribution(contribution(otherStudy, patients[1]!, cid()));
        expect((await store.contributionsOf(patients[1]!)).map((row) => row.studyId)).to.deep.equal(
          [studyId, otherStudy].sort(),
        );
        expect(await store.deleteContribution(studyId, patients[0]!)).to.deep.equal({
          written: true,
          previous: second,
        });
        expect(await store.deleteContribution(studyId, patients[0]!)).to.deep.equal({
          written: true,
          previous: undefined,
        });
        expect(await store.getContribution(studyId, patients[0]!)).to.equal(undefined);
        expect(await store.isContribution(second.cid)).to.equal(false);
      });

      it("writes a study's tallies with its contributions, only as the next version (compare-and-swap)", async function () {
        const studyId = bytes32();
        const [alice, bob] = [address(), address()];
        expect(await store.getTallySums(studyId)).to.equal(undefined);
        const first = contribution(studyId, alice, cid());
        expect(await store.putContribution(first, { version: 2, sums: { sex: ["a"] } })).to.deep.equal({
          written: false,
        });
        expect(await store.getContribution(studyId, alice)).to.equal(undefined);
        expect((await store.putContribution(first, { version: 1, sums: { sex: ["a"] } })).written).to.equal(true);
        // A second writer that read version 0 too loses, and writes nothing.
        const late = contribution(studyId, bob, cid());
        expect((await store.putContribution(late, { version: 1, sums: { sex: ["b"] } })).written).to.equal(false);
        expect(await store.getContribution(studyId, bob)).to.equal(undefined);
        expect((await store.putContribution(late, { version: 2, sums: { sex: ["ab"] } })).written).to.equal(true);
        expect(await store.getTallySums(studyId)).to.deep.equal({ studyId, version: 2, sums: { sex: ["ab"] } });
        expect((await store.deleteContribution(studyId, alice, { version: 2, sums: { sex: ["x"] } })).written).to.equal(
          false,
        );
        expect(await store.getContribution(studyId, alice)).to.deep.equal(first);
        const gone = await store.deleteContribution(studyId, alice, { version: 3, sums: { sex: ["b"] } });
        expect(gone).to.deep.equal({ written: true, previous: first });
        expect(await store.getTallySums(studyId)).to.deep.equal({ studyId, version: 3, sums: { sex: ["b"] } });
      });

      it("keeps each (study, dimension)'s aggregate releases in order", async function () {
        const studyId = bytes32();
        const release = (n: number) => ({ cells: { a: n, b: null }, total: n + 20, k: 11 });
        for (const n of [11, 12, 13])
          await store.appendAggregateRelease({
            studyId,
            dimension: "sex",
            releasedAt: n,
            release: release(n),
            members: [`m${n}`],
          });
        await store.appendAggregateRelease({
          studyId,
          dimension: "age",
          releasedAt: 1,
          release: release(40),
          members: [],
        });
        const rows = await store.aggregateReleases(studyId, "sex");
        expect(rows.map((row) => row.release)).to.deep.equal([release(11), release(12), release(13)]);
        expect(rows.map((row) => row.releasedAt)).to.deep.equal([11, 12, 13]);
        expect(rows.map((row) => row.members)).to.deep.equal([["m11"], ["m12"], ["m13"]]);
        expect(await store.aggregateReleases(studyId, "other")).to.deep.equal([]);
      });
    });

    describe("open aggregate queries", function () {
      const limits = { perStudy: 16, total: 1_000 };

      it("stores a query and gives it back once, as stored, to its own study only", async function () {
        const studyId = bytes32();
        const query = aggregateQuery(studyId, 5_000);
        expect(await store.putAggregateQuery(query, limits, 1_000)).to.equal(true);
        // Another study's researcher naming this id gets nothing, and the query stays for its own.
        expect(await store.takeAggregateQuery(bytes32(), query.id, 1_000)).to.equal(undefined);
        expect(await store.takeAggregateQuery(studyId, query.id, 1_000)).to.deep.equal(query);
        expect(await store.takeAggregateQuery(studyId, query.id, 1_000)).to.equal(undefined);
        expect(await store.takeAggregateQuery(studyId, "never-opened", 1_000)).to.equal(undefined);
      });

      it("refuses an expired query and forgets it", async function () {
        const studyId = bytes32();
        const query = aggregateQuery(studyId, 5_000);
        expect(await store.putAggregateQuery(query, limits, 1_000)).to.equal(true);
        expect(await store.takeAggregateQuery(studyId, query.id, 5_000)).to.equal(undefined);
        expect(await store.takeAggregateQuery(studyId, query.id, 1_000)).to.equal(undefined);
      });

      it("gives a query to exactly one of 12 concurrent takers", async function () {
        const studyId = bytes32();
        const query = aggregateQuery(studyId, 5_000);
        expect(await store.putAggregateQuery(query, limits, 1_000)).to.equal(true);
        const taken = await Promise.all(
          Array.from({ length: 12 }, () => store.takeAggregateQuery(studyId, query.id, 1_000)),
        );
        expect(taken.filter((row) => row !== undefined)).to.deep.equal([query]);
      });

      it("stores nothing past the study's limit or the total of unexpired queries; expired ones do not count", async function () {
        const studyId = bytes32();
        const small = { perStudy: 2, total: 1_000 };
        const expired = aggregateQuery(studyId, 2_000);
        expect(await store.putAggregateQuery(expired, small, 1_000)).to.equal(true);
        expect(await store.putAggregateQuery(aggregateQuery(studyId, 9_000), small, 1_000)).to.equal(true);
        const third = aggregateQuery(studyId, 9_000);
        expect(await store.putAggregateQuery(third, small, 1_000)).to.equal(false);
        expect(await store.takeAggregateQuery(studyId, third.id, 1_000)).to.equal(undefined); // nothing stored
        expect(await store.putAggregateQuery(third, small, 2_000)).to.equal(true); // the first expired at 2,000
        expect(await store.putAggregateQuery(aggregateQuery(studyId, 9_000), small, 2_000)).to.equal(false);
        // A study's limit is its own: another study still opens. The total counts every study's.
        expect(await store.putAggregateQuery(aggregateQuery(bytes32(), 9_000), small, 2_000)).to.equal(true);
        // This store holds at least three unexpired queries now (of any study): a total of 3 is reached.
        const elsewhere = aggregateQuery(bytes32(), 9_000);
        expect(await store.putAggregateQuery(elsewhere, { perStudy: 16, total: 3 }, 2_000)).to.equal(false);
        expect(await store.takeAggregateQuery(elsewhere.studyId, elsewhere.id, 2_000)).to.equal(undefined);
        // A taken query no longer counts.
        expect(await store.takeAggregateQuery(studyId, third.id, 2_000)).to.deep.equal(third);
        expect(await store.putAggregateQuery(aggregateQuery(studyId, 9_000), small, 2_000)).to.equal(true);
      });

      it("never stores more than the study's limit of concurrent openers", async function () {
        const studyId = bytes32();
        const stored = await Promise.all(
          Array.from({ length: 12 }, () =>
            store.putAggregateQuery(aggregateQuery(studyId, 9_000), { perStudy: 5, total: 1_000 }, 1_000),
          ),
        );
        expect(stored.filter(Boolean)).to.have.length(5);
      });
    });

    it("answers a ping", async function () {
      await store.ping();
    });

    // An implementation may keep rows it read (the SQLite store does, for the key release's reads): each case
    // reads a key first, so a read served from such a copy would miss the write that follows.
    describe("a read after a write sees the write, even of a key read just before", function () {
      const session = (id: string, expiresAt = 900_000) => ({
        id,
        address: address(),
        chainId: 31337,
        issuedAt: 1,
        expiresAt,
        revokedAt: null,
      });
      const role = (sessionId: string, credential = "jwt-1"): SessionRoleRow => ({
        sessionId,
        role: "clinic",
        credential,
        issuer: "did:web:issuer",
        checkedAt: 5,
        validUntil: null,
      });

      it("sessions and their roles: put, revoke, role put and delete, the sweep's delete", async function () {
        const row = session(`s-rw-${randomBytes(4).toString("hex")}`);
        expect(await store.getSession(row.id)).to.equal(undefined);
        expect(await store.sessionRoles(row.id)).to.deep.equal([]);
        await store.putSession(row);
        expect(await store.getSession(row.id)).to.deep.equal(row);
        await store.putSession({ ...row, expiresAt: 800_000 });
        expect((await store.getSession(row.id))?.expiresAt).to.equal(800_000);

        expect(await store.putSessionRole(role(row.id, "first"))).to.equal(true);
        expect((await store.sessionRoles(row.id)).map((r) => r.credential)).to.deep.equal(["first"]);
        expect(await store.putSessionRole(role(row.id, "second"))).to.equal(true);
        expect((await store.sessionRoles(row.id)).map((r) => r.credential)).to.deep.equal(["second"]);
        await store.deleteSessionRole(row.id, "clinic");
        expect(await store.sessionRoles(row.id)).to.deep.equal([]);

        await store.putSessionRole(role(row.id));
        expect(await store.sessionRoles(row.id)).to.have.length(1);
        expect(await store.revokeSession(row.id, 7)).to.equal(true);
        expect((await store.getSession(row.id))?.revokedAt).to.equal(7);
        expect(await store.sessionRoles(row.id)).to.deep.equal([]);

        const swept = session(`s-sw-${randomBytes(4).toString("hex")}`, 10);
        await store.putSession(swept);
        await store.putSessionRole(role(swept.id));
        expect(await store.getSession(swept.id)).to.deep.equal(swept);
        expect(await store.sessionRoles(swept.id)).to.have.length(1);
        await store.sweep(10 * 365 * DAY);
        expect(await store.getSession(swept.id)).to.equal(undefined);
        expect(await store.sessionRoles(swept.id), "its roles go with it").to.deep.equal([]);
      });

      it("records, their scope ids and wraps; consent links", async function () {
        const patient = address();
        const grantee = address();
        const consentAddress = address();
        const row: RecordRow = { patient, cid: cid(), size: 3, scopeIds: { [patient]: [bytes32()] }, createdAt: 1 };
        expect(await store.getRecord(patient, row.cid)).to.equal(undefined);
        expect(await store.getWrap(row.cid, grantee)).to.equal(undefined);
        await store.putRecord(row, [{ cid: row.cid, recipient: grantee, wrap: "first", createdAt: 1 }]);
        expect(await store.getRecord(patient, row.cid)).to.deep.equal(row);
        expect((await store.getWrap(row.cid, grantee))?.wrap).to.equal("first");

        const ids = [bytes32()];
        expect(await store.setRecordScopeIds(patient, row.cid, consentAddress, ids)).to.equal(true);
        expect((await store.getRecord(patient, row.cid))?.scopeIds[consentAddress]).to.deep.equal(ids);
        await store.putWraps([{ cid: row.cid, recipient: grantee, wrap: "second", createdAt: 2 }]);
        expect((await store.getWrap(row.cid, grantee))?.wrap).to.equal("second");

        const signed = { patient, grantee, consentAddress, issuedAt: 1, link: "{}" };
        expect(await store.getConsentLink(patient, grantee)).to.equal(undefined);
        await store.putConsentLink(signed);
        expect(await store.getConsentLink(patient, grantee)).to.deep.equal(signed);
        const newer = { ...signed, consentAddress: address(), issuedAt: 2 };
        await store.putConsentLink(newer);
        expect(await store.getConsentLink(patient, grantee)).to.deep.equal(newer);
      });

      it("webhooks: put, replace, delete", async function () {
        const patient = address();
        expect(await store.getWebhook(patient)).to.equal(undefined);
        await store.putWebhook({ patient, url: "https://a.example/hook", createdAt: 1 });
        expect((await store.getWebhook(patient))?.url).to.equal("https://a.example/hook");
        await store.putWebhook({ patient, url: "https://b.example/hook", createdAt: 2 });
        expect((await store.getWebhook(patient))?.url).to.equal("https://b.example/hook");
        await store.deleteWebhook(patient);
        expect(await store.getWebhook(patient)).to.equal(undefined);
      });

      it("a row a caller changes after reading it is not what the next caller reads", async function () {
        const patient = address();
        const row: RecordRow = { patient, cid: cid(), size: 3, scopeIds: { [patient]: [bytes32()] }, createdAt: 1 };
        await store.putRecord(row, []);
        const first = await store.getRecord(patient, row.cid);
        try {
          first!.scopeIds[patient]!.push(bytes32());
          first!.size = 99;
        } catch {
          // a frozen row refuses the change: as good
        }
        expect(await store.getRecord(patient, row.cid)).to.deep.equal(row);
      });
    });
  });

  describe(`GatewayStore contract: ${name}: sweep and close`, function () {
    it("sweeps expired nonces, check-ins, aggregate queries and sessions dead for more than a day, and keeps live ones", async function () {
      const store = await open();
      try {
        const now = 10 * DAY;
        await store.putNonce({ nonce: "old", expiresAt: now - 1 });
        await store.putNonce({ nonce: "live", expiresAt: now + 60_000 });
        const base = { address: address(), chainId: 1, issuedAt: 0 };
        await store.putSession({ ...base, id: "expired-2d", expiresAt: now - 2 * DAY, revokedAt: null });
        await store.putSession({ ...base, id: "revoked-2d", expiresAt: now + DAY, revokedAt: now - 2 * DAY });
        await store.putSession({ ...base, id: "live", expiresAt: now + 60_000, revokedAt: null });
        await store.putSessionRole({
          sessionId: "expired-2d",
          role: "clinic",
          credential: "c",
          issuer: "i",
          checkedAt: 0,
          validUntil: null,
        });
        const checkIn = { clinic: address(), request: "{}", createdAt: 0, result: null, completedAt: null };
        await store.putCheckIn({ ...checkIn, id: "ci-old", expiresAt: now - 1 });
        await store.putCheckIn({ ...checkIn, id: "ci-live", expiresAt: now + 60_000 });
        const studyId = bytes32();
        const limits = { perStudy: 16, total: 1_000 };
        const oldQuery = aggregateQuery(studyId, now);
        const liveQuery = aggregateQuery(studyId, now + 60_000);
        expect(await store.putAggregateQuery(oldQuery, limits, 0)).to.equal(true);
        expect(await store.putAggregateQuery(liveQuery, limits, 0)).to.equal(true);

        expect(await store.sweep(now)).to.equal(5);
        // Read as of before its expiry: only the sweep can have removed it.
        expect(await store.takeAggregateQuery(studyId, oldQuery.id, 0)).to.equal(undefined);
        expect(await store.takeAggregateQuery(studyId, liveQuery.id, now)).to.deep.equal(liveQuery);
        expect(await store.consumeNonce("old", 0)).to.equal(false);
        expect(await store.consumeNonce("live", now)).to.equal(true);
        expect(await store.getSession("expired-2d")).to.equal(undefined);
        expect(await store.sessionRoles("expired-2d")).to.deep.equal([]);
        expect(await store.getSession("revoked-2d")).to.equal(undefined);
        expect(await store.getSession("live")).to.not.equal(undefined);
        expect(await store.getCheckIn("ci-old")).to.equal(undefined);
        expect(await store.getCheckIn("ci-live")).to.not.equal(undefined);
        expect(await store.sweep(now)).to.equal(0);
      } finally {
        await store.close();
      }
    });

    it("holds no audit log until one is claimed; the first claim stores the row as given", async function () {
      const store = await open();
      try {
        expect(await store.auditLogs()).to.deep.equal([]);
        const row = auditLogOf("first.hygeia.example/audit", 1_700_000_000_000);
        expect(await store.claimAuditLog(row)).to.deep.equal(row);
        expect(await store.auditLogs()).to.deep.equal([row]);
        const rows = await store.appendAudit([{ patient: address(), event: utf8('{"tag":"f","n":0}') }]);
        expect(rows.map((r) => r.index)).to.deep.equal([0]);
        expect(await store.auditLog(row.origin).size()).to.equal(1);
      } finally {
        await store.close();
      }
    });

    it("rejects every method after close with DATABASE_UNAVAILABLE (fail closed)", async function () {
      const store = await open();
      await store.close();
      await store.close(); // idempotent
      const a = address();
      const c = cid();
      // Typed over the interface: a method added to GatewayStore without a line here fails to compile.
      const calls: Record<Exclude<keyof GatewayStore, "kind" | "close" | "bus">, () => Promise<unknown>> = {
        putNonce: () => store.putNonce({ nonce: "n", expiresAt: 1 }),
        consumeNonce: () => store.consumeNonce("n", 0),
        putSession: () =>
          store.putSession({ id: "s", address: a, chainId: 1, issuedAt: 0, expiresAt: 1, revokedAt: null }),
        getSession: () => store.getSession("s"),
        revokeSession: () => store.revokeSession("s", 1),
        putSessionRole: () =>
          store.putSessionRole({
            sessionId: "s",
            role: "clinic",
            credential: "c",
            issuer: "i",
            checkedAt: 0,
            validUntil: null,
          }),
        sessionRoles: () => store.sessionRoles("s"),
        deleteSessionRole: () => store.deleteSessionRole("s", "clinic"),
        putRecord: () => store.putRecord({ patient: a, cid: c, size: 1, scopeIds: {}, createdAt: 0 }, []),
        getRecord: () => store.getRecord(a, c),
        listRecords: () => store.listRecords(a, { limit: 1 }),
        setRecordScopeIds: () => store.setRecordScopeIds(a, c, a, [bytes32()]),
        putWraps: () => store.putWraps([{ cid: c, recipient: a, wrap: "w", createdAt: 0 }]),
        getWrap: () => store.getWrap(c, a),
        wrapsOf: () => store.wrapsOf(c),
        noteGrantee: () => store.noteGrantee(a, a, 0),
        getManifestPointer: () => store.getManifestPointer(a),
        compareAndSetManifestPointer: () => store.compareAndSetManifestPointer(a, null, { cid: c, updatedAt: 0 }),
        putConsentLink: () =>
          store.putConsentLink({ patient: a, grantee: a, consentAddress: a, issuedAt: 0, link: "{}" }),
        getConsentLink: () => store.getConsentLink(a, a),
        consentLinksOf: () => store.consentLinksOf(a),
        consentLinkByAddress: () => store.consentLinkByAddress(a),
        claimAuditLog: () => store.claimAuditLog(auditLogOf("closed.hygeia.example/audit")),
        auditLogs: () => store.auditLogs(),
        auditLog: () => store.auditLog("closed.hygeia.example/audit").size(),
        appendAudit: () => store.appendAudit([{ patient: a, event: utf8("{}") }]),
        auditSize: () => store.auditSize(),
        auditRange: () => store.auditRange(0, 1),
        auditOf: () => store.auditOf(a, { limit: 1 }),
        putCheckpoint: () => store.putCheckpoint({ size: 1, rootHash: "0x", note: "n", createdAt: 0, anchor: null }),
        setCheckpointAnchor: () =>
          store.setCheckpointAnchor(1, { txHash: "0x", blockNumber: 1, firstIndex: 0, count: 1 }),
        getCheckpoint: () => store.getCheckpoint(1),
        latestCheckpoint: () => store.latestCheckpoint(),
        listCheckpoints: () => store.listCheckpoints({ limit: 1 }),
        putCheckIn: () =>
          store.putCheckIn({
            id: "c",
            clinic: a,
            request: "{}",
            createdAt: 0,
            expiresAt: 1,
            result: null,
            completedAt: null,
          }),
        getCheckIn: () => store.getCheckIn("c"),
        replaceCheckInRequest: () => store.replaceCheckInRequest("c", "{}", "{}"),
        completeCheckIn: () => store.completeCheckIn("c", "{}", 0),
        takeRelayQuota: () => store.takeRelayQuota(a, 0, 1),
        putStatusList: () => store.putStatusList({ issuer: a, name: "n", jwt: "j", issuedAt: 1, updatedAt: 1 }),
        getStatusList: () => store.getStatusList(a, "n"),
        putWebhook: () => store.putWebhook({ patient: a, url: "https://h.example/", createdAt: 0 }),
        getWebhook: () => store.getWebhook(a),
        deleteWebhook: () => store.deleteWebhook(a),
        putStagedUpload: () => store.putStagedUpload({ cid: c, uploader: a, size: 1, expiresAt: 1 }),
        getStagedUpload: () => store.getStagedUpload(c, a),
        takeStagedUpload: () => store.takeStagedUpload(c, a),
        expiredStagedUploads: () => store.expiredStagedUploads(0, 1),
        deleteStagedUpload: () => store.deleteStagedUpload(c, a, 0),
        isStaged: () => store.isStaged(c),
        stagedBytesOf: () => store.stagedBytesOf(a),
        putStudy: () => store.putStudy(study(bytes32(), a)),
        getStudy: () => store.getStudy(bytes32()),
        listStudies: () => store.listStudies({ limit: 1 }),
        setStudyCheck: () => store.setStudyCheck(bytes32(), 0, null),
        putContribution: () => store.putContribution(contribution(bytes32(), a, c)),
        getContribution: () => store.getContribution(bytes32(), a),
        deleteContribution: () => store.deleteContribution(bytes32(), a),
        contributionsTo: () => store.contributionsTo(bytes32(), { limit: 1 }),
        getTallySums: () => store.getTallySums(bytes32()),
        contributionsOf: () => store.contributionsOf(a),
        contributionByCid: () => store.contributionByCid(bytes32(), c),
        isContribution: () => store.isContribution(c),
        appendAggregateRelease: () =>
          store.appendAggregateRelease({
            studyId: bytes32(),
            dimension: "d",
            releasedAt: 0,
            release: { cells: {}, total: null, k: 11 },
            members: [],
          }),
        aggregateReleases: () => store.aggregateReleases(bytes32(), "d"),
        putAggregateQuery: () =>
          store.putAggregateQuery(aggregateQuery(bytes32(), 1), { perStudy: 16, total: 1_000 }, 0),
        takeAggregateQuery: () => store.takeAggregateQuery(bytes32(), "q", 0),
        sweep: () => store.sweep(0),
        ping: () => store.ping(),
      };
      for (const [method, call] of Object.entries(calls)) {
        const error = await rejection(call());
        expect(error, method).to.be.instanceOf(DependencyUnavailableError);
        expect((error as DependencyUnavailableError).code).to.equal("DATABASE_UNAVAILABLE");
        expect((error as DependencyUnavailableError).dependency).to.equal("database");
      }
    });
  });
}
