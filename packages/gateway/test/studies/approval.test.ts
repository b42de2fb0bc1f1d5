// approvalProblems (pure): each way an approval can fail to approve a registration has its own code, and a
// matching approval has none.
import { expect } from "chai";
import { keccak256, toUtf8Bytes } from "ethers";
import { scopeHash, studyApprovalHash, studyIdFor, studySalt } from "@hygeia/chain";
import type { CredentialSummary } from "@hygeia/identity";
import { approvalProblems, type ApprovalFacts } from "../../src/plugins/studies/approval.ts";

const RESEARCHER = "0x976ea74026e726554db657fa54763abd0c3a0aa9";
const IRB = "0x23618e81e3f5cdf7f54c3d65f7fbc0abf5b21e8f";
const OTHER = "0x14dc79964da2c08b23698b3d3cc7ca32193d9955";
const PREFIX = "did:ethr:0x7a69";
const APPROVAL = "eyJhbGciOiJFUzI1NksifQ.approval.signature";
const PROTOCOL = keccak256(toUtf8Bytes("protocol"));
const SCOPES = ["fhir:Observation", "fhir:Patient"];

function facts(
  overrides: {
    subject?: Record<string, unknown>;
    issuer?: string;
    type?: string;
    approval?: string;
    scopes?: string[];
  } = {},
): ApprovalFacts {
  const credential: CredentialSummary = {
    type: (overrides.type ?? "EthicsApprovalCredential") as CredentialSummary["type"],
    issuer: overrides.issuer ?? `${PREFIX}:${IRB}`,
    subject: {
      id: `${PREFIX}:${RESEARCHER}`,
      studyId: "outcomes-2026",
      protocolTitle: "Outcomes",
      approvalNumber: "IRB-1",
      protocolHash: PROTOCOL,
      ...overrides.subject,
    },
    issuedAt: 0,
    expiresAt: undefined,
    status: [],
  };
  return {
    details: {
      studyId: studyIdFor(RESEARCHER, studySalt("outcomes-2026")),
      researcher: RESEARCHER,
      irb: IRB,
      protocolHash: PROTOCOL,
      approvalHash: studyApprovalHash(APPROVAL),
      scopeHashes: SCOPES.map(scopeHash).sort(),
    },
    approval: overrides.approval ?? APPROVAL,
    credential,
    scopes: overrides.scopes ?? [...SCOPES].reverse(),
    didAddress: (did) => (did.startsWith(`${PREFIX}:`) ? did.slice(PREFIX.length + 1).toLowerCase() : undefined),
  };
}

const codes = (input: ApprovalFacts) => approvalProblems(input).map((p) => p.code);

describe("gateway studies: approvalProblems", function () {
  it("finds nothing wrong with the approval the registration names (scopes in any order)", function () {
    expect(codes(facts())).to.deep.equal([]);
  });

  it("names each mismatch by its own code", function () {
    expect(codes(facts({ approval: APPROVAL + "x" }))).to.deep.equal(["APPROVAL_NOT_REGISTERED"]);
    expect(codes(facts({ type: "ResearcherCredential" }))).to.deep.equal(["APPROVAL_WRONG_TYPE"]);
    expect(codes(facts({ issuer: `${PREFIX}:${OTHER}` }))).to.deep.equal(["APPROVAL_ISSUER_NOT_STUDY_IRB"]);
    expect(codes(facts({ subject: { id: `${PREFIX}:${OTHER}` } }))).to.deep.equal(["APPROVAL_SUBJECT_NOT_RESEARCHER"]);
    expect(codes(facts({ subject: { studyId: "another-study" } }))).to.deep.equal(["APPROVAL_STUDY_MISMATCH"]);
    expect(codes(facts({ subject: { protocolHash: undefined } }))).to.deep.equal(["APPROVAL_PROTOCOL_MISMATCH"]);
    expect(codes(facts({ scopes: ["fhir:Observation"] }))).to.deep.equal(["STUDY_SCOPES_MISMATCH"]);
  });

  it("holds the registration to the scopes the approval names, when it names any", function () {
    expect(codes(facts({ subject: { scopes: [...SCOPES] } }))).to.deep.equal([]);
    expect(codes(facts({ subject: { scopes: ["fhir:Observation"] } }))).to.deep.equal(["APPROVAL_SCOPES_MISMATCH"]);
    expect(codes(facts({ subject: { scopes: "fhir:Observation" } }))).to.deep.equal(["APPROVAL_SCOPES_MISMATCH"]);
  });

  it("refuses a DID of another chain for the issuer or the researcher, though its address matches", function () {
    expect(codes(facts({ issuer: `did:ethr:0x1:${IRB}` }))).to.deep.equal(["APPROVAL_ISSUER_NOT_STUDY_IRB"]);
    expect(codes(facts({ subject: { id: `did:ethr:0x1:${RESEARCHER}` } }))).to.deep.equal([
      "APPROVAL_SUBJECT_NOT_RESEARCHER",
    ]);
  });

  it("refuses scopes listed twice, a study id that is not a slug, and a non-string subject", function () {
    expect(codes(facts({ scopes: [...SCOPES, SCOPES[0]!] }))).to.deep.equal(["STUDY_SCOPES_MISMATCH"]);
    expect(codes(facts({ subject: { studyId: "0xabc" } }))).to.deep.equal(["APPROVAL_STUDY_MISMATCH"]);
    expect(codes(facts({ subject: { id: 7, studyId: 7 } }))).to.include.members([
      "APPROVAL_SUBJECT_NOT_RESEARCHER",
      "APPROVAL_STUDY_MISMATCH",
    ]);
  });
});
