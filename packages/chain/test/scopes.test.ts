import { expect } from "chai";
import fc from "fast-check";
import { keccak256, toUtf8Bytes } from "ethers";
import { scopesOf } from "./support/scopes.ts";
import { thrown } from "./support/settle.ts";
import {
  CONSENT_CATEGORIES,
  FHIR_R4_RESOURCE_TYPES,
  InvalidScopeError,
  categoryScope,
  fhirScope,
  isScope,
  isSensitiveCategory,
  parseScope,
  recordScope,
  scopesForRecord,
  studyScope,
  toScopeId,
} from "../src/index.ts";

// Real CIDv1s: a dag-pb (bafybei...) and a raw (bafkrei...) sha2-256 CID.
const DAG_PB_CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi";
const RAW_CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";

describe("scopes", () => {
  it("parse to kind, value and canonical string only: a scope has no public id", () => {
    expect(parseScope("category:laboratory")).to.deep.equal({
      kind: "category",
      value: "laboratory",
      canonical: "category:laboratory",
    });
  });

  it("accept every FHIR R4 resource type and every category", () => {
    expect(FHIR_R4_RESOURCE_TYPES).to.have.length(146);
    for (const type of FHIR_R4_RESOURCE_TYPES) expect(parseScope(`fhir:${type}`).kind).to.equal("fhir");
    for (const category of CONSENT_CATEGORIES) expect(parseScope(`category:${category}`).kind).to.equal("category");
  });

  it("are case-exact and suggest the canonical spelling", () => {
    expect(() => parseScope("fhir:observation")).to.throw(InvalidScopeError, /case-sensitive: use fhir:Observation/);
    expect(() => parseScope("category:Laboratory")).to.throw(InvalidScopeError, /use category:laboratory/);
    expect(() => parseScope("category:vital_signs")).to.throw(InvalidScopeError, /use category:vital-signs/);
    expect(() => parseScope("fhir:Resource")).to.throw(InvalidScopeError, /not a FHIR R4 resource type/);
    expect(() => parseScope("fhir:DomainResource")).to.throw(InvalidScopeError);
  });

  it("refuse unknown kinds, missing kinds, wildcards, whitespace and non-strings", () => {
    for (const bad of [
      "all",
      "*",
      "fhir:*",
      "Fhir:Observation",
      " fhir:Observation",
      "fhir:Observation ",
      "x:y",
      "",
      "category:",
      "study:",
    ]) {
      expect(() => parseScope(bad), bad).to.throw(InvalidScopeError);
    }
    expect(() => parseScope(42)).to.throw(InvalidScopeError, /expected a scope string/);
    expect(() => parseScope("study:" + "a".repeat(300))).to.throw(InvalidScopeError, /longer than 200/);
  });

  it("validate record CIDs structurally (CIDv1, base32 lowercase, hash digest)", () => {
    expect(parseScope(`record:${DAG_PB_CID}`).value).to.equal(DAG_PB_CID);
    expect(recordScope(RAW_CID)).to.equal(`record:${RAW_CID}`);
    expect(() => recordScope("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")).to.throw(InvalidScopeError, /CIDv0/);
    expect(() => recordScope(DAG_PB_CID.toUpperCase())).to.throw(InvalidScopeError, /lowercase base32/);
    expect(() => recordScope(DAG_PB_CID.slice(0, -1))).to.throw(InvalidScopeError);
    expect(() => recordScope(DAG_PB_CID.slice(0, -1) + "j")).to.throw(InvalidScopeError, /padding bits/);
    expect(() => recordScope(DAG_PB_CID + "aa")).to.throw(InvalidScopeError, /length/);
    expect(() => recordScope("bafkqaaa")).to.throw(InvalidScopeError, /identity multihash/);
    expect(() => recordScope("zdj7WWeQ43G6JJvLWQWZpyHuAMq6uYWRjkBXFad11vE2LHhQ7")).to.throw(
      InvalidScopeError,
      /"b" multibase prefix/,
    );
    expect(() => recordScope("b" + "a".repeat(200))).to.throw(InvalidScopeError);
  });

  it("accept study slugs and 0x-bytes32 ids, refuse anything else", () => {
    expect(studyScope("diabetes-2026")).to.equal("study:diabetes-2026");
    expect(studyScope("0x" + "ab".repeat(32))).to.equal("study:0x" + "ab".repeat(32));
    expect(studyScope("a".repeat(64))).to.have.length(70);
    for (const bad of ["-x", "x-", "Diabetes", "a".repeat(65), "a_b", "0x" + "AB".repeat(32), "0x1234", "a b", ""]) {
      expect(() => studyScope(bad), bad).to.throw(InvalidScopeError);
    }
  });

  it("builders produce parseable canonical strings", () => {
    expect(fhirScope("Observation")).to.equal("fhir:Observation");
    expect(categoryScope("mental-health")).to.equal("category:mental-health");
    expect(() => fhirScope("Nope")).to.throw(InvalidScopeError);
    expect(() => categoryScope("everything")).to.throw(InvalidScopeError);
  });

  it("toScopeId takes a non-zero bytes32 id and returns it lowercase", () => {
    const id = scopesOf("0x" + "11".repeat(20)).id("fhir:Patient");
    expect(toScopeId(id)).to.equal(id);
    expect(toScopeId(id.toUpperCase().replace("0X", "0x"))).to.equal(id);
  });

  it("toScopeId refuses a canonical scope string instead of hashing it in public, and names PatientScopes.id", () => {
    for (const scope of ["fhir:Patient", "category:substance-use", `record:${RAW_CID}`, "study:diabetes-2026"]) {
      expect(() => toScopeId(scope), scope)
        .to.throw(InvalidScopeError, /is a scope, not a scope id/)
        .with.property("message")
        .that.includes(`PatientScopes.id(${JSON.stringify(scope)})`);
    }
    // What used to be sent instead: the plain keccak256 of the string, readable by anyone who hashes the vocabulary.
    // It is a well-formed bytes32, so it is up to callers never to compute it; toScopeId cannot tell.
    expect(toScopeId(keccak256(toUtf8Bytes("fhir:Patient")))).to.match(/^0x[0-9a-f]{64}$/);
  });

  it("toScopeId refuses non-hex, short, long, zero and non-string ids, naming the field", () => {
    // Every malformed id is an InvalidScopeError (INVALID_SCOPE), so one check catches all of them.
    for (const bad of [
      "0x1234",
      "0x" + "zz".repeat(32),
      "0x" + "11".repeat(33),
      "11".repeat(32),
      "Patient",
      42,
      null,
    ]) {
      expect(() => toScopeId(bad, "items[0].scope"), String(bad))
        .to.throw(InvalidScopeError)
        .with.property("field", "items[0].scope");
    }
    expect(() => toScopeId("0x" + "00".repeat(32))).to.throw(InvalidScopeError, /zero scope id/);
    expect(() => toScopeId("0x1234")).to.throw(/32-byte hex/);
  });

  it("scopesForRecord lists record, resource type and categories without duplicates", () => {
    expect(
      scopesForRecord({
        cid: RAW_CID,
        resourceType: "Observation",
        categories: ["laboratory", "laboratory", "vital-signs"],
      }),
    ).to.deep.equal([`record:${RAW_CID}`, "fhir:Observation", "category:laboratory", "category:vital-signs"]);
    expect(scopesForRecord({})).to.deep.equal([]);
    expect(() => scopesForRecord({ categories: ["lab"] })).to.throw(InvalidScopeError);
  });

  it("scopesForRecord names a bad field as the record writes it (categories[i], resourceType, cid) and hints a scope prefix", () => {
    const field = (record: unknown) => {
      const error = thrown(() => scopesForRecord(record as never));
      expect(error).to.be.instanceOf(InvalidScopeError);
      return [(error as InvalidScopeError).field, (error as Error).message];
    };
    expect(field({ categories: ["laboratory", "lab"] })[0]).to.equal("categories[1]");
    expect(field({ resourceType: "observation" })).to.deep.equal([
      "resourceType",
      "resourceType: FHIR resource types are case-sensitive: use fhir:Observation",
    ]);
    expect(field({ cid: "Qm123" })[0]).to.equal("cid");
    const [prefixField, prefixMessage] = field({ categories: ["category:imaging"] });
    expect(prefixField).to.equal("categories[0]");
    expect(prefixMessage).to.include('a record names bare values, e.g. "imaging"');
    expect(field({ resourceType: "fhir:Observation" })[0]).to.equal("resourceType");
    expect(field({ categories: ["laboratory", , "imaging"] })).to.deep.equal([
      "categories[1]",
      "categories[1]: expected a string, got undefined",
    ]);
    expect(field({ categories: [7] })[0]).to.equal("categories[0]");
    expect(field({ categories: "laboratory" })[0]).to.equal("categories");
    expect(field(null)[0]).to.equal("record");
  });

  it("flags sensitive categories", () => {
    expect(isSensitiveCategory("substance-use")).to.equal(true);
    expect(isSensitiveCategory("laboratory")).to.equal(false);
  });

  it("property: parsing is the identity on canonical strings and keyed ids are injective over them", () => {
    const scopes = scopesOf("0x" + "22".repeat(20));
    const canonical = fc.oneof(
      fc.constantFrom(...FHIR_R4_RESOURCE_TYPES).map((t) => `fhir:${t}`),
      fc.constantFrom(...CONSENT_CATEGORIES).map((c) => `category:${c}`),
      fc
        .stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/)
        .filter((s) => !s.startsWith("0x"))
        .map((s) => `study:${s}`),
    );
    fc.assert(
      fc.property(canonical, canonical, (a, b) => {
        expect(parseScope(a).canonical).to.equal(a);
        expect(scopes.id(a) === scopes.id(b)).to.equal(a === b);
      }),
    );
  });

  it("property: isScope never throws and agrees with parseScope on arbitrary input", () => {
    fc.assert(
      fc.property(
        fc
          .oneof(fc.string(), fc.constantFrom("fhir:", "category:", "record:b", "study:0x"))
          .chain((p) => fc.string().map((s) => p + s)),
        (input) => {
          const ok = isScope(input);
          if (ok) expect(parseScope(input).canonical).to.equal(input);
          else expect(() => parseScope(input)).to.throw(InvalidScopeError);
        },
      ),
    );
  });
});
