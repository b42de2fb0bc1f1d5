// Issuers accredited on the real TrustRegistry, a patient, and a verifier wired to the chain.
import { TrustRegistryClient, TrustRole, type TrustRoleName } from "@hygeia/chain";
import {
  CredentialVerifier,
  IdentityAgent,
  IssuerTrust,
  MemoryChallengeStore,
  ethrDidPrefix,
  type CredentialSubjects,
  type CredentialVerifierOptions,
  type ManagedDid,
} from "../../src/index.ts";
import { startTestChain, type TestChain } from "./chain.ts";

export interface Issuers {
  identity: ManagedDid;
  insurer: ManagedDid;
  /** medical-board: accredits clinics and researchers. */
  board: ManagedDid;
  /** clinic: issues health records (and nothing else). */
  clinic: ManagedDid;
  irb: ManagedDid;
  rogue: ManagedDid;
}

export async function accredit(
  testChain: TestChain,
  did: ManagedDid,
  role: TrustRoleName,
  validFrom?: number,
  validUntil?: number,
) {
  const now = Math.floor(Date.now() / 1000);
  await testChain.trust.accredit({
    issuer: did.ownerAddress!,
    role,
    validFrom: validFrom ?? now - 3600,
    validUntil: validUntil ?? now + 365 * 86400,
  });
}

export async function createIssuers(testChain: TestChain, agent: IdentityAgent): Promise<Issuers> {
  const issuers: Issuers = {
    identity: await agent.createDid({ alias: "identity-issuer" }),
    insurer: await agent.createDid({ alias: "insurer" }),
    board: await agent.createDid({ alias: "medical-board" }),
    clinic: await agent.createDid({ alias: "clinic-issuer" }),
    irb: await agent.createDid({ alias: "irb" }),
    rogue: await agent.createDid({ alias: "rogue" }),
  };
  await accredit(testChain, issuers.identity, TrustRole.IdentityIssuer);
  await accredit(testChain, issuers.insurer, TrustRole.Insurer);
  await accredit(testChain, issuers.board, TrustRole.MedicalBoard);
  await accredit(testChain, issuers.clinic, TrustRole.Clinic);
  await accredit(testChain, issuers.irb, TrustRole.Irb);
  return issuers;
}

/** Most test files' world: a test chain, one agent holding the accredited issuers, and a patient DID in that agent. */
export interface IssuerWorld {
  testChain: TestChain;
  agent: IdentityAgent;
  issuers: Issuers;
  patient: ManagedDid;
}

/** Starts an IssuerWorld; when a step fails, stops what it had started (the caller's after() has nothing yet). */
export async function startIssuerWorld(): Promise<IssuerWorld> {
  const testChain = await startTestChain();
  let agent: IdentityAgent | undefined;
  try {
    agent = await IdentityAgent.create({ network: testChain.network });
    const issuers = await createIssuers(testChain, agent);
    const patient = await agent.createDid({ alias: "patient" });
    return { testChain, agent, issuers, patient };
  } catch (error) {
    await agent?.close();
    await testChain.stop();
    throw error;
  }
}

export function createVerifier(
  testChain: TestChain,
  agent: IdentityAgent,
  options: Omit<CredentialVerifierOptions, "resolver" | "trust"> = {},
) {
  const challenges = new MemoryChallengeStore();
  const trust = new IssuerTrust({
    registry: new TrustRegistryClient(testChain.deployment.contracts.TrustRegistry, testChain.provider),
    didPrefix: ethrDidPrefix(testChain.network),
    cacheTtlMs: 0,
  });
  const verifier = new CredentialVerifier({ resolver: agent.resolver, trust, challenges, ...options });
  return { verifier, challenges, trust };
}

export function subjects(patient: string, clinic: string, researcher: string): CredentialSubjects {
  return {
    PatientIdentityCredential: { id: patient, givenName: "Ada", familyName: "Lovelace", birthDate: "1985-12-10" },
    HealthInsuranceCredential: { id: patient, insurerName: "Acme Health", memberId: "M-123456", planName: "Gold" },
    ClinicAccreditationCredential: {
      id: clinic,
      clinicName: "Asclepius Virtual Clinic",
      accreditationNumber: "MB-2026-0042",
      specialties: ["cardiology"],
      virtual: true,
      jurisdiction: "EU",
    },
    ResearcherCredential: { id: researcher, name: "Dr. Rosalind Franklin", institution: "King's College" },
    EthicsApprovalCredential: {
      id: researcher,
      studyId: "diabetes-2026",
      protocolTitle: "Glucose variability in type 2 diabetes",
      approvalNumber: "IRB-77",
    },
    HealthRecordCredential: {
      id: patient,
      fhirVersion: "4.0.1",
      fhirBundle: {
        resourceType: "Bundle",
        type: "collection",
        entry: [{ resource: { resourceType: "Immunization", status: "completed", vaccineCode: { text: "MMR" } } }],
      },
    },
  };
}
