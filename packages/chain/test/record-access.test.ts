import { expect } from "chai";
import {
  ConsentIndexer,
  ConsentRegistryClient,
  IndexerStaleError,
  InvalidInputError,
  InvalidScopeError,
  type RecordAccessQuery,
} from "../src/index.ts";
import { latestTimestamp, startTestChain, walletAt, type TestChain } from "./support/chain.ts";

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
  const labResult = { cid: CID, resourceType: "Observation", categories: ["laboratory"] };
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
      { grantee: clinic, scope: "category:laboratory", purpose: "Treatment", expiry },
      { grantee: lab, scope: `record:${CID}`, purpose: "Treatment", expiry },
    ]);
    await indexer.sync();
  });
  after(async () => {
    await indexer?.stop();
    await t?.stop();
  });

  it("names the scope that allowed the access, from the registry and from the indexer alike", async () => {
    const expected = {
      allowed: true,
      scope: "category:laboratory",
      scopes: [`record:${CID}`, "fhir:Observation", "category:laboratory"],
    };
    expect(await registry.checkRecordAccess(query())).to.deep.equal(expected);
    expect(indexer.checkRecordAccess(query())).to.deep.equal(expected);
    // The lab holds consent for this one record: the record scope is checked first.
    expect(await registry.checkRecordAccess(query({ grantee: lab }))).to.include({
      allowed: true,
      scope: `record:${CID}`,
    });
    expect(indexer.checkRecordAccess(query({ grantee: lab }))).to.include({ allowed: true, scope: `record:${CID}` });
  });

  it("denies when no scope of the record is granted for that purpose, and says none did", async () => {
    const imaging = { resourceType: "ImagingStudy", categories: ["imaging"] };
    for (const q of [
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

  it("refuses a record it cannot check, naming the field", async () => {
    expect(() => indexer.checkRecordAccess(query({ record: {} }))).to.throw(InvalidInputError, /record: needs a cid/);
    expect(() => indexer.checkRecordAccess(query({ record: { categories: ["labs"] } }))).to.throw(
      InvalidScopeError,
      /record\.category/,
    );
    await registry.checkRecordAccess(query({ record: { resourceType: "observation" } })).then(
      () => expect.fail("should refuse"),
      (error: unknown) =>
        expect(error)
          .to.be.instanceOf(InvalidScopeError)
          .and.match(/use fhir:Observation/),
    );
  });
});
