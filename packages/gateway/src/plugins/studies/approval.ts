// Whether an EthicsApprovalCredential approves a registered study: pure, no I/O, tested directly
// (test/studies/approval.test.ts). The credential's own checks (signature, expiry, status list, IRB trusted at
// issuance and now) are the verifier's; this compares what it says with what the StudyRegistry holds.
//
// Rules (each failure has its own code, so a researcher knows what to fix):
// - It is the approval the registration names: keccak256 of the JWT as issued is the registration's approvalHash.
// - It is an EthicsApprovalCredential, issued by the registration's IRB, to the registration's researcher.
// - It approves this study: studyIdFor(researcher, studySalt(subject.studyId)) is the study's id (a study is
//   registered with the slug the IRB approved), and subject.protocolHash is the registration's protocolHash.
// - When the approval names its scopes, they are the registration's (the IRB's word, not only the researcher's).
// - The scopes the researcher lists are the registration's: their keccak256, sorted, equal the registered ones
//   (the chain holds only hashes; patients read the strings, so the strings must be the ones hashed).
import {
  scopeHash,
  studyApprovalHash,
  studyIdFor,
  studySalt,
  MAX_STUDY_SCOPES,
  type StudyDetails,
} from "@hygeia/chain";
import { CredentialType, type CredentialSummary } from "@hygeia/identity";

export interface ApprovalFacts {
  /** The registration, read from the chain. */
  details: Pick<StudyDetails, "studyId" | "researcher" | "irb" | "protocolHash" | "approvalHash" | "scopeHashes">;
  /** The approval as the researcher sent it. */
  approval: string;
  /** The verified credential (the verifier's summary). */
  credential: CredentialSummary;
  /** The canonical scope strings the researcher says the study asks for. */
  scopes: readonly string[];
  /** The address a did:ethr of this chain names; undefined for any other DID. */
  didAddress: (did: string) => string | undefined;
}

export type ApprovalProblemCode =
  | "APPROVAL_NOT_REGISTERED"
  | "APPROVAL_WRONG_TYPE"
  | "APPROVAL_ISSUER_NOT_STUDY_IRB"
  | "APPROVAL_SUBJECT_NOT_RESEARCHER"
  | "APPROVAL_STUDY_MISMATCH"
  | "APPROVAL_PROTOCOL_MISMATCH"
  | "STUDY_SCOPES_MISMATCH"
  | "APPROVAL_SCOPES_MISMATCH";

export interface ApprovalProblem {
  code: ApprovalProblemCode;
  message: string;
}

const lower = (value: string): string => value.toLowerCase();

/** Every way the approval fails to approve the registered study; empty when it approves it. */
export function approvalProblems(facts: ApprovalFacts): ApprovalProblem[] {
  const { details, credential } = facts;
  const problems: ApprovalProblem[] = [];
  const problem = (code: ApprovalProblemCode, message: string) => problems.push({ code, message });
  if (studyApprovalHash(facts.approval) !== lower(details.approvalHash))
    problem(
      "APPROVAL_NOT_REGISTERED",
      "keccak256 of this credential is not the registration's approvalHash: send the approval the study was registered with",
    );
  if (credential.type !== CredentialType.EthicsApproval)
    problem(
      "APPROVAL_WRONG_TYPE",
      `the credential is a ${credential.type ?? "credential of no known type"}, not an EthicsApprovalCredential`,
    );
  const issuer = credential.issuer === undefined ? undefined : facts.didAddress(credential.issuer);
  if (issuer !== lower(details.irb))
    problem("APPROVAL_ISSUER_NOT_STUDY_IRB", `the approval's issuer is not the study's IRB (${lower(details.irb)})`);
  const subject = credential.subject;
  const holder = typeof subject.id === "string" ? facts.didAddress(subject.id) : undefined;
  if (holder !== lower(details.researcher))
    problem(
      "APPROVAL_SUBJECT_NOT_RESEARCHER",
      "the approval is not issued to the study's researcher (credentialSubject.id)",
    );
  let approvesThisStudy = false;
  try {
    approvesThisStudy =
      typeof subject.studyId === "string" &&
      studyIdFor(details.researcher, studySalt(subject.studyId)) === lower(details.studyId);
  } catch {
    approvesThisStudy = false;
  }
  if (!approvesThisStudy)
    problem(
      "APPROVAL_STUDY_MISMATCH",
      "the approval's studyId is not this study: register the study with studySalt(<the approved studyId>)",
    );
  if (typeof subject.protocolHash !== "string" || lower(subject.protocolHash) !== lower(details.protocolHash))
    problem("APPROVAL_PROTOCOL_MISMATCH", "the approval's protocolHash is not the registration's protocolHash");
  if (!scopesMatch(facts.scopes, details.scopeHashes))
    problem(
      "STUDY_SCOPES_MISMATCH",
      "the scopes listed are not the registered ones: list the canonical scope strings the study was registered with",
    );
  // An approval that names its scopes approves those only: the researcher cannot widen (or turn row-level) what the
  // IRB approved. One that names none leaves the scopes to the protocol its hash pins.
  const approved = subject.scopes;
  if (
    approved !== undefined &&
    (!Array.isArray(approved) ||
      !approved.every((scope): scope is string => typeof scope === "string") ||
      !scopesMatch(approved, details.scopeHashes))
  )
    problem("APPROVAL_SCOPES_MISMATCH", "the study was registered with other scopes than the approval names");
  return problems;
}

function scopesMatch(scopes: readonly string[], registered: readonly string[]): boolean {
  if (scopes.length === 0 || scopes.length > MAX_STUDY_SCOPES || new Set(scopes).size !== scopes.length) return false;
  let hashes: string[];
  try {
    hashes = scopes.map(scopeHash).sort();
  } catch {
    return false;
  }
  const expected = registered.map(lower).sort();
  return hashes.length === expected.length && hashes.every((hash, i) => hash === expected[i]);
}
