// decideRelease, directly: every permit and deny path, table-driven; and the CID rule of the records routes.
import { expect } from "chai";
import fc from "fast-check";
import { Purpose, type RecordAccess } from "@hygeia/chain";
import { consentTarget, decideRelease, needsConsentCheck, type ReleaseFacts } from "../../src/release/decide.ts";
import type { ConsentLinkRow, RecordRow, WrapRow } from "../../src/store/types.ts";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { identity as identityHash } from "multiformats/hashes/identity";
import { create as createDigest } from "multiformats/hashes/digest";
import { BadRequestError } from "../../src/errors.ts";
import { canonicalCid } from "../../src/plugins/records/inputs.ts";

const patient = "0x" + "a1".repeat(20);
const clinic = "0x" + "c1".repeat(20);
const pairwise = "0x" + "b2".repeat(20);
const cid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
const otherCid = "bafkreidgvpkjawlxz6sffxzwgooowe5yt7i6wsyg236mfoks77nywkptdq";
const idMain = "0x" + "11".repeat(32);
const idPairwise = "0x" + "22".repeat(32);
const idOther = "0x" + "33".repeat(32);

const record: RecordRow = {
  patient,
  cid,
  size: 100,
  scopeIds: { [patient]: [idMain], [pairwise]: [idPairwise] },
  createdAt: 1,
};
const link: ConsentLinkRow = { patient, grantee: clinic, consentAddress: pairwise, issuedAt: 1, link: "{}" };
const wrapOf = (recipient: string, forCid = cid): WrapRow => ({ cid: forCid, recipient, wrap: "AQE", createdAt: 1 });
const allowed = (scope: string, scopes = [scope]): RecordAccess => ({ allowed: true, scope, scopes });
const refused = (scopes: string[]): RecordAccess => ({ allowed: false, scope: null, scopes });

const base: ReleaseFacts = {
  caller: clinic,
  patient,
  purpose: Purpose.Treatment,
  record,
  link: undefined,
  wrap: wrapOf(clinic),
  access: allowed(idMain),
};

interface Row {
  name: string;
  facts: Partial<ReleaseFacts>;
  expect:
    | { decision: "permit"; reason: string; scope: string | null; consentAddress: string; emergency?: boolean }
    | { decision: "deny"; reason: string; code: string; consentAddress: string | null };
}

const rows: Row[] = [
  {
    name: "permits a grantee with consent for the record's id under the patient's main address",
    facts: {},
    expect: { decision: "permit", reason: "CONSENT_GRANTED", scope: idMain, consentAddress: patient },
  },
  {
    name: "permits through the linked pairwise address with that address's ids",
    facts: { link, access: allowed(idPairwise) },
    expect: { decision: "permit", reason: "CONSENT_GRANTED", scope: idPairwise, consentAddress: pairwise },
  },
  {
    name: "flags a release under the Emergency purpose as emergency access",
    facts: { purpose: Purpose.Emergency },
    expect: { decision: "permit", reason: "EMERGENCY_ACCESS", scope: idMain, consentAddress: patient, emergency: true },
  },
  {
    name: "permits the owner its own wrap without any consent answer",
    facts: { caller: patient, wrap: wrapOf(patient), access: undefined },
    expect: { decision: "permit", reason: "OWNER", scope: null, consentAddress: patient },
  },
  {
    name: "denies an unknown record with the same public code as no consent",
    facts: { record: undefined, access: undefined },
    expect: { decision: "deny", reason: "NO_RECORD", code: "CONSENT_REQUIRED", consentAddress: null },
  },
  {
    name: "denies a record of another patient handed in by mistake as unknown",
    facts: { record: { ...record, patient: clinic } },
    expect: { decision: "deny", reason: "NO_RECORD", code: "CONSENT_REQUIRED", consentAddress: null },
  },
  {
    name: "denies when the record has no ids under the linked address (the main address's ids are not tried)",
    facts: { record: { ...record, scopeIds: { [patient]: [idMain] } }, link, access: allowed(idMain) },
    expect: {
      decision: "deny",
      reason: "NO_SCOPE_IDS_FOR_GRANTEE",
      code: "CONSENT_REQUIRED",
      consentAddress: pairwise,
    },
  },
  {
    name: "denies when the record has no ids under the main address and no link exists",
    facts: { record: { ...record, scopeIds: { [pairwise]: [idPairwise] } }, access: allowed(idPairwise) },
    expect: { decision: "deny", reason: "NO_SCOPE_IDS_FOR_GRANTEE", code: "CONSENT_REQUIRED", consentAddress: patient },
  },
  {
    name: "denies when the consent answer is no",
    facts: { access: refused([idMain]) },
    expect: { decision: "deny", reason: "NO_CONSENT", code: "CONSENT_REQUIRED", consentAddress: patient },
  },
  {
    name: "denies when no consent answer was obtained (never a yes by default)",
    facts: { access: undefined },
    expect: { decision: "deny", reason: "NO_CONSENT", code: "CONSENT_REQUIRED", consentAddress: patient },
  },
  {
    name: "denies when the answer names an id that is not one of this record's ids under that address",
    facts: { access: allowed(idOther) },
    expect: { decision: "deny", reason: "NO_CONSENT", code: "CONSENT_REQUIRED", consentAddress: patient },
  },
  {
    name: "denies with the main address's id answer when a link routes the caller to the pairwise address",
    facts: { link, access: allowed(idMain) },
    expect: { decision: "deny", reason: "NO_CONSENT", code: "CONSENT_REQUIRED", consentAddress: pairwise },
  },
  {
    name: "tells a grantee with consent that its wrap is missing",
    facts: { wrap: undefined },
    expect: { decision: "deny", reason: "NO_WRAP_FOR_GRANTEE", code: "KEY_NOT_SHARED", consentAddress: patient },
  },
  {
    name: "never releases another recipient's wrap",
    facts: { wrap: wrapOf(patient) },
    expect: { decision: "deny", reason: "NO_WRAP_FOR_GRANTEE", code: "KEY_NOT_SHARED", consentAddress: patient },
  },
  {
    name: "never releases a wrap of another record",
    facts: { wrap: wrapOf(clinic, otherCid) },
    expect: { decision: "deny", reason: "NO_WRAP_FOR_GRANTEE", code: "KEY_NOT_SHARED", consentAddress: patient },
  },
  {
    name: "denies the owner when its self-wrap is missing",
    facts: { caller: patient, wrap: undefined, access: undefined },
    expect: { decision: "deny", reason: "NO_SELF_WRAP", code: "KEY_NOT_SHARED", consentAddress: patient },
  },
  {
    name: "denies the owner an unknown record",
    facts: { caller: patient, record: undefined, wrap: undefined, access: undefined },
    expect: { decision: "deny", reason: "NO_RECORD", code: "CONSENT_REQUIRED", consentAddress: null },
  },
];

describe("decideRelease", () => {
  for (const row of rows) {
    it(row.name, () => {
      const decision = decideRelease({ ...base, ...row.facts });
      expect(decision.decision).to.equal(row.expect.decision);
      expect(decision.reason).to.equal(row.expect.reason);
      expect(decision.consentAddress).to.equal(row.expect.consentAddress);
      if (decision.decision === "permit" && row.expect.decision === "permit") {
        expect(decision.scope).to.equal(row.expect.scope);
        expect(decision.emergency).to.equal(row.expect.emergency ?? false);
        expect(decision.wrap.recipient).to.equal(row.facts.caller ?? base.caller);
      } else if (decision.decision === "deny" && row.expect.decision === "deny") {
        expect(decision.code).to.equal(row.expect.code);
        expect(decision).to.not.have.property("wrap");
      }
    });
  }

  it("a deny under the Emergency purpose is marked emergency so the patient sees the attempt first", () => {
    const decision = decideRelease({ ...base, purpose: Purpose.Emergency, access: refused([idMain]) });
    expect(decision).to.include({ decision: "deny", reason: "NO_CONSENT", emergency: true });
  });
});

describe("consentTarget and needsConsentCheck", () => {
  it("picks the linked address and its ids, else the main address", () => {
    expect(consentTarget({ patient, record, link })).to.deep.equal({
      consentAddress: pairwise,
      scopeIds: [idPairwise],
    });
    expect(consentTarget({ patient, record, link: undefined })).to.deep.equal({
      consentAddress: patient,
      scopeIds: [idMain],
    });
  });

  it("asks the chain only for a non-owner with ids to check", () => {
    expect(needsConsentCheck({ caller: clinic, patient, record, link: undefined })).to.equal(true);
    expect(needsConsentCheck({ caller: patient, patient, record, link: undefined })).to.equal(false);
    expect(needsConsentCheck({ caller: clinic, patient, record: undefined, link: undefined })).to.equal(false);
    expect(
      needsConsentCheck({ caller: clinic, patient, record: { ...record, scopeIds: { [patient]: [idMain] } }, link }),
    ).to.equal(false);
  });
});

describe("canonicalCid", () => {
  it("answers CIDv1 base32 for a CIDv0 or v1 input", () => {
    const v0 = "QmY7Yh4UquoXHLPFo2XbhXkhBvFoPwmQUSa92pxnxjQuPU";
    expect(canonicalCid(v0, "cid")).to.match(/^bafybei[a-z2-7]+$/);
    expect(canonicalCid(cid, "cid")).to.equal(cid);
  });

  it("refuses identity CIDs and CIDs too long for the audit log with 400 INVALID_CID", () => {
    const identity = CID.createV1(raw.code, identityHash.digest(new TextEncoder().encode("plaintext in a CID")));
    expect(() => canonicalCid(identity.toString(), "body.cid")).to.throw(BadRequestError, /identity/);
    const long = CID.createV1(raw.code, createDigest(0x13, new Uint8Array(64))).toString(); // sha2-512: 111 chars
    expect(long.length).to.be.below(129);
    expect(canonicalCid(long, "cid")).to.equal(long);
    const tooLong = CID.createV1(raw.code, createDigest(0x1d, new Uint8Array(80))).toString();
    expect(() => canonicalCid(tooLong, "params.cid")).to.throw(BadRequestError, /longer/);
    expect(() => canonicalCid("bafy-not-a-cid", "params.cid")).to.throw(BadRequestError, /not a valid CID/);
  });

  it("answers a text it accepted before the same way, and refuses a bad one every time, naming each field", () => {
    const v0 = "QmY7Yh4UquoXHLPFo2XbhXkhBvFoPwmQUSa92pxnxjQuPU";
    expect(canonicalCid(v0, "a")).to.equal(canonicalCid(v0, "b"));
    for (const field of ["body.cid", "params.cid"]) {
      expect(() => canonicalCid("bafy-not-a-cid", field))
        .to.throw(BadRequestError)
        .with.property("message")
        .that.contains(field);
    }
  });
});

describe("decideRelease invariants (generated facts)", () => {
  const address = fc.constantFrom(patient, clinic, pairwise, "0x" + "d4".repeat(20));
  const id = fc.constantFrom(idMain, idPairwise, idOther);
  const facts = fc.record({
    caller: address,
    purpose: fc.constantFrom(Purpose.Treatment, Purpose.Research, Purpose.Emergency, Purpose.Payment),
    record: fc.option(
      fc.record({
        patient: fc.constantFrom(patient, clinic),
        cid: fc.constantFrom(cid, otherCid),
        size: fc.constant(1),
        scopeIds: fc.dictionary(address, fc.array(id, { minLength: 1, maxLength: 3 }), { maxKeys: 3 }),
        createdAt: fc.constant(1),
      }),
      { nil: undefined },
    ),
    link: fc.option(
      fc.record({
        patient: fc.constant(patient),
        grantee: address,
        consentAddress: address,
        issuedAt: fc.constant(1),
        link: fc.constant("{}"),
      }),
      { nil: undefined },
    ),
    wrap: fc.option(
      fc.record({
        cid: fc.constantFrom(cid, otherCid),
        recipient: address,
        wrap: fc.constant("AQE"),
        createdAt: fc.constant(1),
      }),
      { nil: undefined },
    ),
    access: fc.option(
      fc.oneof(
        id.map((scope): RecordAccess => ({ allowed: true, scope, scopes: [scope] })),
        fc.constant<RecordAccess>({ allowed: false, scope: null, scopes: [] }),
      ),
      { nil: undefined },
    ),
  });

  it("releases only the caller's own wrap of that record, and to a non-owner only under an answer for its ids", () => {
    let nonOwnerPermits = 0;
    fc.assert(
      fc.property(facts, (generated) => {
        const input = { ...generated, patient };
        const decision = decideRelease(input);
        if (decision.decision === "deny") return;
        expect(input.record?.patient).to.equal(patient);
        expect(decision.wrap.recipient).to.equal(input.caller);
        expect(decision.wrap.cid).to.equal(input.record!.cid);
        if (input.caller === patient) {
          expect(decision.reason).to.equal("OWNER");
          return;
        }
        const target = consentTarget({ patient, record: input.record!, link: input.link });
        expect(input.access?.allowed).to.equal(true);
        expect(target.scopeIds).to.include(decision.scope);
        expect(decision.consentAddress).to.equal(target.consentAddress);
        expect(decision.emergency).to.equal(input.purpose === Purpose.Emergency);
        nonOwnerPermits += 1;
      }),
      { numRuns: 50_000 }, // non-owner permits are rare (~0.15% of facts): 2000 runs reached none about 1 time in 20
    );
    // The generator reaches the permit path, so the property is not vacuous.
    expect(nonOwnerPermits).to.be.above(0);
  });
});
