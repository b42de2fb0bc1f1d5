import { expect } from "chai";
import {
  ConsentIndexer,
  ConsentRegistryClient,
  IndexerStaleError,
  InvalidInputError,
  InvalidScopeError,
  MAX_RECORD_SCOPE_IDS,
  checkRecordQuery,
  type RecordAccessQuery,
} from "../src/index.ts";
import { latestTimestamp, startTestChain, walletAt, type TestChain } from "./support/chain.ts";
import { scopesOf } from "./support/scopes.ts";

const CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";

describe("record access: one call for 'may this grantee read this record' (anvil)", function () {
  this.timeout(60_000);
  let t: TestChain;
  let registry: ConsentRegistryClient;
  let indexer: ConsentIndexer;
  let granted: { blockNumber: number };
  const patient = walletAt(2).address;
  const clinic = walletAt(3).address;
  const lab = walletAt(4).address;
  // What the patient's wallet attached to the record: its keyed ids (record, FHIR type, categories).
  const scopes = scopesOf(patient);
  const [recordId, observationId, laboratoryId] = scopes.forRecord({
    cid: CID,
    resourceType: "Observation",
    categories: ["laboratory"],
  }) as [string, string, string];
  const labResult = { scopeIds: [recordId, observationId, laboratoryId] };
  const query = (over: Partial<RecordAccessQuery> = {}): RecordAccessQuery => ({
    patient,
    grantee: clinic,
    record: labResult,
    purpose: "Treatment",
    ...over,
  });

  before(async () => {
    t = await startTestChain();
    registry = new ConsentRegistryClient(t.deployment.contracts.ConsentRegistry, t.signer(2));
    indexer = new ConsentIndexer({
      provider: t.provider,
      address: t.deployment.contracts.ConsentRegistry,
      startBlock: t.deployment.deployedAt.block,
      confirmations: 0,
    });
    const expiry = (await latestTimestamp(t.provider)) + 3600;
    granted = await registry.grantBatch([
      { grantee: clinic, scope: laboratoryId, purpose: "Treatment", expiry },
      { grantee: lab, scope: recordId, purpose: "Treatment", expiry },
    ]);
    await indexer.sync();
  });
  after(async () => {
    await indexer?.stop();
    await t?.stop();
  });

  it("names the scope id that allowed the access, from the registry and from the indexer alike", async () => {
    const expected = { allowed: true, scope: laboratoryId, scopes: [recordId, observationId, laboratoryId] };
    expect(await registry.checkRecordAccess(query())).to.deep.equal(expected);
    expect(indexer.checkRecordAccess(query())).to.deep.equal(expected);
    // The lab holds consent for this one record: the record's id is checked first.
    expect(await registry.checkRecordAccess(query({ grantee: lab }))).to.include({ allowed: true, scope: recordId });
    expect(indexer.checkRecordAccess(query({ grantee: lab }))).to.include({ allowed: true, scope: recordId });
  });

  it("denies when no scope id of the record is granted for that purpose, and says none did", async () => {
    const imaging = { scopeIds: scopes.forRecord({ resourceType: "ImagingStudy", categories: ["imaging"] }) };
    // Another patient's id of the same category is another id: the clinic's laboratory grant does not cover it.
    const otherPatients = { scopeIds: scopesOf(walletAt(6).address).forRecord({ categories: ["laboratory"] }) };
    for (const q of [
      query({ record: otherPatients }),
      query({ record: imaging }),
      query({ purpose: "Research" }),
      query({ grantee: walletAt(5).address }),
    ]) {
      expect(await registry.checkRecordAccess(q)).to.include({ allowed: false, scope: null });
      expect(indexer.checkRecordAccess(q)).to.include({ allowed: false, scope: null });
    }
  });

  it("answers at a block (registry) or a time (indexer)", async () => {
    expect(await registry.checkRecordAccess(query(), granted.blockNumber - 1)).to.include({ allowed: false });
    expect(await registry.checkRecordAccess(query(), granted.blockNumber)).to.include({ allowed: true });
    const later = (await latestTimestamp(t.provider)) + 7200;
    expect(indexer.checkRecordAccess(query(), later)).to.include({ allowed: false });
  });

  it("fails closed with IndexerStaleError when the indexer cannot vouch for its state", () => {
    const fresh = new ConsentIndexer({ provider: t.provider, address: t.deployment.contracts.ConsentRegistry });
    expect(() => fresh.checkRecordAccess(query())).to.throw(IndexerStaleError);
  });

  it("checks each id once, in the order the wallet attached them", async () => {
    const repeated = query({
      record: { scopeIds: [laboratoryId, recordId, laboratoryId.toUpperCase().replace("0X", "0x")] },
    });
    const expected = { allowed: true, scope: laboratoryId, scopes: [laboratoryId, recordId] };
    expect(await registry.checkRecordAccess(repeated)).to.deep.equal(expected);
    expect(indexer.checkRecordAccess(repeated)).to.deep.equal(expected);
  });

  it("refuses a record without ids, with none, or with more than MAX_RECORD_SCOPE_IDS, naming the field", async () => {
    const cases: [unknown, string, RegExp][] = [
      [{}, "record", /expected \{ scopeIds: \[\.\.\.\] \}/],
      [{ cid: CID, resourceType: "Observation" }, "record", /the ids the patient's wallet attached/],
      [undefined, "record", /got undefined/],
      [{ scopeIds: [] }, "record.scopeIds", /at least one scope id/],
      [
        { scopeIds: Array.from({ length: MAX_RECORD_SCOPE_IDS + 1 }, (_, i) => scopes.id(`study:s${i}`)) },
        "record.scopeIds",
        /at most 32 ids, got 33/,
      ],
    ];
    for (const [record, field, message] of cases) {
      const q = query({ record: record as RecordAccessQuery["record"] });
      expect(() => indexer.checkRecordAccess(q), field)
        .to.throw(InvalidInputError, message)
        .with.property("field", field);
      await registry.checkRecordAccess(q).then(
        () => expect.fail("should refuse"),
        (error: unknown) => expect(error).to.be.instanceOf(InvalidInputError).with.property("field", field),
      );
    }
    // Exactly the maximum is accepted.
    const most = Array.from({ length: MAX_RECORD_SCOPE_IDS }, (_, i) => scopes.id(`study:s${i}`));
    expect(checkRecordQuery(query({ record: { scopeIds: most } })).scopes).to.have.length(MAX_RECORD_SCOPE_IDS);
  });

  it("refuses a bad id, naming its index, and a canonical scope string, naming PatientScopes.id", async () => {
    const zero = "0x" + "00".repeat(32);
    expect(() => indexer.checkRecordAccess(query({ record: { scopeIds: [laboratoryId, zero] } })))
      .to.throw(InvalidScopeError, /zero scope id/)
      .with.property("field", "record.scopeIds[1]");
    expect(() => indexer.checkRecordAccess(query({ record: { scopeIds: [laboratoryId, "0x1234"] } })))
      .to.throw(InvalidInputError, /32-byte hex/)
      .with.property("field", "record.scopeIds[1]");
    expect(() => indexer.checkRecordAccess(query({ record: { scopeIds: [42 as unknown as string] } })))
      .to.throw(InvalidScopeError)
      .with.property("field", "record.scopeIds[0]");
    // A hole in a sparse array is a missing id, refused by index like any other (map() would skip it).
    const sparse: string[] = [];
    sparse[1] = laboratoryId;
    for (const ask of [() => checkRecordQuery(query({ record: { scopeIds: sparse } }))]) {
      expect(ask).to.throw(InvalidScopeError).with.property("field", "record.scopeIds[0]");
    }
    await registry.checkRecordAccess(query({ record: { scopeIds: sparse } })).then(
      () => expect.fail("should refuse"),
      (error: unknown) =>
        expect(error).to.be.instanceOf(InvalidScopeError).with.property("field", "record.scopeIds[0]"),
    );
    await registry.checkRecordAccess(query({ record: { scopeIds: ["category:laboratory"] } })).then(
      () => expect.fail("should refuse"),
      (error: unknown) =>
        expect(error)
          .to.be.instanceOf(InvalidScopeError)
          .and.match(/PatientScopes\.id\("category:laboratory"\)/),
    );
  });

  it("refuses a bad patient, grantee or purpose before asking the chain", async () => {
    expect(() => checkRecordQuery(query({ patient: "alice" })))
      .to.throw(InvalidInputError)
      .with.property("field", "patient");
    expect(() => checkRecordQuery(query({ grantee: "0x12" })))
      .to.throw(InvalidInputError)
      .with.property("field", "grantee");
    expect(() => checkRecordQuery(query({ purpose: "Marketing" }))).to.throw(InvalidInputError, /purpose/);
    expect(() => checkRecordQuery(null as unknown as RecordAccessQuery))
      .to.throw(InvalidInputError)
      .with.property("field", "query");
  });
});

describe("record access: address checks stay exact when repeated (the checksum cache)", () => {
  const clinic = walletAt(3).address;
  const flipped = (address: string) => {
    // The first letter of the hex part in the other case: a bad EIP-55 checksum.
    const i = address.slice(2).search(/[a-fA-F]/) + 2;
    const c = address[i]!;
    return address.slice(0, i) + (c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase()) + address.slice(i + 1);
  };
  const query = (grantee: string): RecordAccessQuery => ({
    patient: walletAt(2).address,
    grantee,
    record: { scopeIds: [`0x${"11".repeat(32)}`] },
    purpose: "Treatment",
  });

  it("refuses a bad checksum every time, after the same address was accepted lowercase and checksummed", () => {
    for (let round = 0; round < 3; round++) {
      expect(checkRecordQuery(query(clinic.toLowerCase())).grantee).to.equal(clinic);
      expect(checkRecordQuery(query(clinic)).grantee).to.equal(clinic);
      expect(checkRecordQuery(query(`0x${clinic.slice(2).toUpperCase()}`)).grantee).to.equal(clinic);
      expect(() => checkRecordQuery(query(flipped(clinic))))
        .to.throw(InvalidInputError, /checksum/)
        .with.property("field", "grantee");
    }
  });
});
