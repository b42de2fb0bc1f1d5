// The grantee listing (GET /v1/patients/:patient/records) on the real stack: it hands out no CID the caller may not
// read, neither as a row nor as its `next` cursor, and an `after` cursor answers the same for a made-up CID and for
// a real record of the patient the caller may not read.
import { expect } from "chai";
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import { randomBytes } from "node:crypto";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { expectProblem, request, type TestResponse } from "../support/http.ts";
import {
  addRecord,
  dayAhead,
  encryptRecord,
  observationIds,
  patientScopes,
  registryAs,
  signInParties,
  synced,
  type Party,
} from "./world.ts";

interface Listing {
  records: { cid: string; scope: string | null; consentAddress: string }[];
  next: string | null;
}

describe("gateway grantee listing (cursor leaks)", function () {
  let stack: TestStack;
  let alice: Party;
  let bob: Party;
  let clinic: Party;
  /** Alice's records, oldest first: laboratory, mental-health, laboratory. */
  let cids: string[];

  const list = (caller: Party, query: string): Promise<TestResponse> =>
    request(stack, "GET", `/v1/patients/${alice.address}/records?purpose=Treatment&${query}`, {
      token: caller.token,
    });

  before(async function () {
    stack = await startTestStack();
    const parties = await signInParties(stack, [stack.accounts.alice, stack.accounts.bob, stack.accounts.clinic]);
    [alice, bob, clinic] = parties as [Party, Party, Party];
    const scopes = patientScopes(alice.address);
    cids = [];
    for (const category of ["laboratory", "mental-health", "laboratory"]) {
      const record = await encryptRecord(`Observation (${category}) canary-grantee-list-${cids.length}`);
      cids.push(await addRecord(stack, alice, record, observationIds(alice, scopes, category)));
    }
    await registryAs(stack, alice.wallet).grant({
      grantee: clinic.address,
      scope: scopes.id("category:laboratory"),
      purpose: "Treatment",
      expiry: await dayAhead(stack),
    });
    await synced(stack);
  });

  after(async function () {
    await stack?.close();
  });

  it("gives a caller without consent no CID: no rows and no cursor, page after page", async function () {
    const res = await list(bob, "limit=1");
    expect(res.status, res.text).to.equal(200);
    expect(res.json).to.deep.equal({ records: [], next: null });
    for (const cid of cids) expect(res.text).to.not.include(cid);
  });

  it("answers a made-up and a real-but-unreadable `after` identically: 400 INVALID_CURSOR", async function () {
    const madeUp = CID.create(1, 0x55, await sha256.digest(randomBytes(32))).toString();
    const answers = [];
    for (const after of [madeUp, cids[0]!, cids[1]!]) {
      const res = await list(bob, `limit=1&after=${after}`);
      expectProblem(res, 400, "INVALID_CURSOR");
      const { instance: _instance, ...rest } = res.json as Record<string, unknown>;
      answers.push(rest);
      for (const cid of cids) expect(res.text).to.not.include(cid);
    }
    expect(answers[1]).to.deep.equal(answers[0]);
    expect(answers[2]).to.deep.equal(answers[0]);
    // The clinic may read cids[0] and cids[2], not cids[1]: that one is no cursor for it either.
    expectProblem(await list(clinic, `after=${cids[1]!}`), 400, "INVALID_CURSOR");
  });

  it("pages a grantee through exactly the records it may read, each cursor the last record returned", async function () {
    const seen: string[] = [];
    let next: string | null = null;
    const cursors: string[] = [];
    for (let page = 0; page < 5; page++) {
      const res = await list(clinic, `limit=1${next === null ? "" : `&after=${next}`}`);
      expect(res.status, res.text).to.equal(200);
      const body = res.json as Listing;
      expect(body.records.length).to.be.at.most(1);
      seen.push(...body.records.map((r) => r.cid));
      if (body.next !== null) {
        expect(body.next).to.equal(body.records.at(-1)?.cid);
        cursors.push(body.next);
      }
      next = body.next;
      if (next === null) break;
    }
    expect(next).to.equal(null);
    expect(seen).to.have.members([cids[0]!, cids[2]!]).and.to.have.length(2);
    expect(cursors).to.not.include(cids[1]);
  });

  it("lists the owner's own records with the same paging", async function () {
    const first = await list(alice, "limit=2");
    expect(first.status, first.text).to.equal(200);
    const body = first.json as Listing;
    expect(body.records).to.have.length(2);
    expect(body.next).to.equal(body.records[1]!.cid);
    const rest = (await list(alice, `limit=2&after=${body.next!}`)).json as Listing;
    expect([...body.records, ...rest.records].map((r) => r.cid)).to.have.members(cids);
    expect(rest.next).to.equal(null);
  });
});
