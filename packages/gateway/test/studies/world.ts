// What the parties of a study do around the study routes, client side and over HTTP: the IRB issues an
// EthicsApprovalCredential (revocable, its status list published at the gateway), the researcher registers the
// study on the StudyRegistry and presents the approval, a patient de-identifies a synthetic record set,
// encrypts it, seals its DEK to the study key, uploads and contributes, and grants research consent on chain.
import { expect } from "chai";
import { keccak256, toUtf8Bytes, type HDNodeWallet } from "ethers";
import {
  PatientScopes,
  StudyRegistryClient,
  TransactionSender,
  studyApprovalHash,
  studyIdFor,
  studySalt,
} from "@hygeia/chain";
import {
  deriveConsentSecretFromKeystoreSecret,
  deriveScopeKey,
  deriveStudyPseudonymKey,
  deriveTallyKeyShare,
  encryptFacts,
  encryptToBuffer,
  partialDecrypt,
  proveTallyShare,
  type TallyKeyShare,
  generateDataKey,
  generateX25519KeyPair,
  wrapKey,
  type X25519KeyPair,
} from "@hygeia/crypto";
import {
  Bitstring,
  CredentialType,
  IdentityAgent,
  ethrNetworkFromDeployment,
  issueCredential,
  issueStatusListCredential,
  statusEntry,
  type ManagedDid,
} from "@hygeia/identity";
import {
  contributionWrapContext,
  deidentify,
  factsContext,
  isAggregateScope,
  partialContext,
  researcherTallyLabel,
  syntheticPatient,
  tallyShareContext,
} from "@hygeia/research";
import { randomBytes } from "node:crypto";
import type { TestStack } from "../support/stack.ts";
import { request, type TestResponse } from "../support/http.ts";
import { dayAhead, registryAs, synced, upload, type Party } from "../records/world.ts";

export const STUDY_SCOPES = ["fhir:Condition", "fhir:Observation", "fhir:Patient"];

export interface Irb {
  agent: IdentityAgent;
  did: ManagedDid;
  listUrl: string;
  list: Bitstring;
  nextIndex: number;
  lastPublished: number;
  dids: Map<string, ManagedDid>;
}

export async function irbOf(stack: TestStack, wallet: HDNodeWallet): Promise<Irb> {
  const agent = await IdentityAgent.create({
    network: ethrNetworkFromDeployment(stack.deployment, stack.config.chain.rpcUrl),
    watchRegistry: false,
  });
  const did = await agent.importEthrDid(wallet.privateKey, "irb");
  const irb: Irb = {
    agent,
    did,
    listUrl: `${stack.url}/v1/status-lists/${did.did}/approvals`,
    list: new Bitstring(),
    nextIndex: 1,
    lastPublished: 0,
    dids: new Map(),
  };
  await publishApprovals(stack, irb);
  return irb;
}

/** Publishes the IRB's revocation list (a new `iat` second each time). */
export async function publishApprovals(stack: TestStack, irb: Irb): Promise<void> {
  while (Math.floor(Date.now() / 1000) <= irb.lastPublished) await new Promise((r) => setTimeout(r, 50));
  const jwt = await issueStatusListCredential(irb.agent, {
    issuer: irb.did.did,
    url: irb.listUrl,
    purpose: "revocation",
    list: irb.list,
    validForSeconds: 86_400,
  });
  irb.lastPublished = Math.floor(Date.now() / 1000);
  const res = await request(stack, "PUT", `/v1/status-lists/${irb.did.did}/approvals`, {
    body: jwt,
    headers: { "content-type": "application/vc+jwt" },
  });
  expect(res.status, res.text).to.be.oneOf([200, 201]);
}

export interface Approval {
  jwt: string;
  statusIndex: number;
  slug: string;
  protocolHash: string;
}

/** The IRB approves `slug` for `researcher` (revocable). `subject` overrides claims (for refusals). */
export async function approve(
  irb: Irb,
  researcher: HDNodeWallet,
  slug: string,
  subject: Record<string, unknown> = {},
): Promise<Approval> {
  let holder = irb.dids.get(researcher.address);
  if (!holder) {
    holder = await irb.agent.importEthrDid(researcher.privateKey);
    irb.dids.set(researcher.address, holder);
  }
  const protocolHash = keccak256(toUtf8Bytes(`protocol of ${slug}`));
  const statusIndex = irb.nextIndex++;
  const jwt = await issueCredential(irb.agent, {
    issuer: irb.did.did,
    type: CredentialType.EthicsApproval,
    subject: {
      id: holder.did,
      studyId: slug,
      protocolTitle: `Outcomes study ${slug}`,
      approvalNumber: `IRB-${statusIndex}`,
      protocolHash,
      ...subject,
    },
    validUntil: new Date(Date.now() + 365 * 86_400_000),
    status: [statusEntry(irb.listUrl, "revocation", statusIndex)],
  });
  return { jwt, statusIndex, slug, protocolHash };
}

export async function revokeApproval(stack: TestStack, irb: Irb, approval: Approval): Promise<void> {
  irb.list.set(approval.statusIndex, true);
  await publishApprovals(stack, irb);
}

export interface Study {
  studyId: string;
  keys: X25519KeyPair;
  approval: Approval;
  scopes: string[];
  /** The researcher's tally key share, derived from the study's private key. */
  tally: TallyKeyShare;
}

/** The researcher registers the approved study on chain (scopes STUDY_SCOPES unless given). */
export async function registerStudy(
  stack: TestStack,
  researcher: HDNodeWallet,
  approval: Approval,
  options: { scopes?: string[]; irb?: string; approvalHash?: string } = {},
): Promise<Study> {
  const keys = generateX25519KeyPair();
  const client = new StudyRegistryClient(stack.deployment.contracts.StudyRegistry!, new TransactionSender(researcher));
  const salt = studySalt(approval.slug);
  await client.register({
    salt,
    protocolHash: approval.protocolHash,
    approvalHash: options.approvalHash ?? studyApprovalHash(approval.jwt),
    irb: options.irb ?? stack.accounts.irb.address,
    encryptionKey: keys.publicKey,
    endsAt: (await dayAhead(stack)) + 30 * 86_400,
    scopes: options.scopes ?? STUDY_SCOPES,
  });
  const studyId = studyIdFor(researcher.address, salt).toLowerCase();
  const tally = deriveTallyKeyShare(keys.secretKey, researcherTallyLabel(studyId));
  return { studyId, keys, approval, scopes: options.scopes ?? STUDY_SCOPES, tally };
}

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64url");

/** POST /v1/studies as the researcher session `token` (with the tally share when the scopes count anything). */
export function serveStudy(
  stack: TestStack,
  token: string,
  study: Study,
  scopes = study.scopes,
): Promise<TestResponse> {
  const tallyShare = scopes.some(isAggregateScope)
    ? {
        publicKey: b64(study.tally.publicKey),
        proof: b64(proveTallyShare(study.tally, tallyShareContext(study.studyId))),
      }
    : undefined;
  return request(stack, "POST", "/v1/studies", {
    token,
    json: { studyId: study.studyId, approval: study.approval.jwt, scopes, ...(tallyShare ? { tallyShare } : {}) },
  });
}

/** The wallet's encrypted facts: `categories` maps each dimension of the study to the patient's category index. */
export async function factsFor(
  stack: TestStack,
  patient: Contributor,
  studyId: string,
  categories: Record<string, number>,
): Promise<Record<string, { cells: string[]; proof: string }>> {
  const res = await request(stack, "GET", `/v1/studies/${studyId}`, { token: patient.token });
  expect(res.status, res.text).to.equal(200);
  const view = res.json as { tallyKey: string; aggregates: { name: string; categories: string[] }[] };
  const joint = Buffer.from(view.tallyKey, "base64url");
  return Object.fromEntries(
    view.aggregates.map((dimension) => {
      const facts = encryptFacts(
        joint,
        dimension.categories.length,
        categories[dimension.name] ?? 0,
        factsContext(studyId, dimension.name, patient.address),
      );
      return [dimension.name, { cells: facts.cells.map(b64), proof: b64(facts.proof) }];
    }),
  );
}

/** Both steps of an aggregate query, the researcher decrypting its share of each sum. */
export async function aggregate(
  stack: TestStack,
  token: string,
  study: Study,
  dimension: string,
): Promise<TestResponse> {
  const open = await request(stack, "POST", `/v1/studies/${study.studyId}/aggregates`, { token, json: { dimension } });
  if (open.status !== 200) return open;
  const query = open.json as { queryId: string; sums: string[] };
  const partials = query.sums.map((sum, j) => {
    const { partial, proof } = partialDecrypt(
      study.tally,
      Buffer.from(sum, "base64url"),
      partialContext(query.queryId, j),
    );
    return { partial: b64(partial), proof: b64(proof) };
  });
  return request(stack, "POST", `/v1/studies/${study.studyId}/aggregates/${query.queryId}`, {
    token,
    json: { partials },
  });
}

/** A patient's wallet state for studies: its scope key (keyed scope ids) and consent secret (pseudonym keys). */
export interface Contributor extends Party {
  scopes: PatientScopes;
  consentSecret: Uint8Array;
  seed: number;
}

export function contributor(party: Party, seed: number): Contributor {
  const consentSecret = deriveConsentSecretFromKeystoreSecret(randomBytes(32));
  return { ...party, consentSecret, scopes: new PatientScopes(deriveScopeKey(consentSecret), party.address), seed };
}

export interface Contribution {
  cid: string;
  dek: Uint8Array;
  /** The synthetic patient's identifying strings (none may reach the researcher). */
  identifiers: string[];
  scopeId: string;
}

/**
 * The wallet's opt-in: de-identify the synthetic patient for the study, encrypt, upload, seal the DEK to the
 * study key, contribute, and (unless `grant: false`) grant research consent for `study:<id>` to the researcher.
 */
export async function optIn(
  stack: TestStack,
  patient: Contributor,
  study: Study,
  researcher: string,
  options: { grant?: boolean; facts?: Record<string, number> } = {},
): Promise<Contribution> {
  const synthetic = syntheticPatient(patient.seed);
  const extract = deidentify(synthetic.resources, {
    pseudonymKey: deriveStudyPseudonymKey(patient.consentSecret, study.studyId),
    asOf: "2026-12-01",
  });
  const dek = generateDataKey();
  const ciphertext = await encryptToBuffer(new TextEncoder().encode(JSON.stringify(extract.resources)), dek);
  const up = await upload(stack, patient.token, ciphertext);
  expect(up.status, up.text).to.equal(201);
  const cid = (up.json as { cid: string }).cid;
  const scopeId = patient.scopes.id(`study:${study.studyId}`);
  const wrap = Buffer.from(wrapKey(dek, study.keys.publicKey, contributionWrapContext(study.studyId, cid))).toString(
    "base64url",
  );
  const res = await request(stack, "POST", `/v1/studies/${study.studyId}/contributions`, {
    token: patient.token,
    json: {
      cid,
      wrap,
      scopeId,
      ...(study.scopes.some(isAggregateScope)
        ? { facts: await factsFor(stack, patient, study.studyId, options.facts ?? {}) }
        : {}),
    },
  });
  expect(res.status, res.text).to.equal(201);
  if (options.grant !== false) {
    await registryAs(stack, patient.wallet).grant({
      grantee: researcher,
      scope: scopeId,
      purpose: "Research",
      expiry: await dayAhead(stack),
    });
    await synced(stack);
  }
  return { cid, dek, identifiers: synthetic.identifiers, scopeId };
}

export interface Pull {
  studyId: string;
  contributions: { cid: string; wrap: string }[];
  block: number;
  manifest: string;
  verifierKey: string;
  excluded: number;
}

export async function pull(stack: TestStack, token: string, studyId: string): Promise<TestResponse> {
  return request(stack, "POST", `/v1/studies/${studyId}/dataset`, { token, json: {} });
}
