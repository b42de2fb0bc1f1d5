// A research study through @hygeia/sdk, end to end on a throwaway local stack (anvil with the contracts, the gateway
// with its Helia node and SQLite store): governance accredits a medical board and an IRB; the board issues a
// researcher its ResearcherCredential; the IRB approves a study; the researcher registers it on chain and serves it;
// two patients' wallets check the study themselves and opt in with de-identified, encrypted extracts; the researcher
// pulls the dataset (manifest verified, extracts decrypted); one patient opts out and the next pull leaves them out;
// the researcher closes the study. The SDK README's research samples are regions of this file.
// Run: node packages/sdk/examples/research.ts
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { keccak256, toUtf8Bytes } from "ethers";
import { startLocalDeployment, writeDeployment } from "@hygeia/chain";
import { CredentialType } from "@hygeia/identity";
import { syntheticPatient } from "@hygeia/research";
import { buildGateway, closeServices, createServices, defaultConfig } from "@hygeia/gateway";
import { IssuerClient } from "@hygeia/sdk";

// Setup: anvil with Hygeia deployed (account #1 is the gateway's relayer and audit anchor key), the gateway on a
// free port of 127.0.0.1. Account #0 is governance, #7 a medical board, #8 an IRB, #6 the researcher, #2 and #3
// two patients.
const local = await startLocalDeployment({ gatewayAccounts: [1], accounts: 10 });
const [governanceWallet, boardWallet, irbWallet, researcherWallet] = [
  local.account(0),
  local.account(7),
  local.account(8),
  local.account(6),
];
const [aliceWallet, bobWallet] = [local.account(2), local.account(3)];
const dir = await mkdtemp(join(tmpdir(), "hygeia-sdk-research-"));
await writeDeployment(join(dir, "deployment.json"), local.deployment);
const port = await new Promise<number>((resolve) => {
  const probe = createServer().listen(0, "127.0.0.1", () => {
    const address = probe.address();
    probe.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
  });
});
const base = defaultConfig();
const config = {
  ...base,
  port,
  dataDir: join(dir, "gateway"),
  publicUrl: `http://127.0.0.1:${port}`,
  logLevel: "silent" as const,
  chain: {
    ...base.chain,
    rpcUrl: local.rpcUrl,
    deploymentFile: join(dir, "deployment.json"),
    confirmations: 0,
    pollIntervalMs: 200,
    relayerKey: local.account(1).privateKey,
    anchorKey: local.account(1).privateKey,
  },
  identity: { ...base.identity, statusListTtlMs: 1000 },
  audit: { ...base.audit, origin: "hygeia.example/gateway" },
};
const services = await createServices(config, { heliaListen: [] });
const app = await buildGateway(config, services);
await app.listen({ host: "127.0.0.1", port });
const gatewayUrl = config.publicUrl;
const rpcUrl = local.rpcUrl;

const governance = await IssuerClient.connect({ connection: { gatewayUrl, rpcUrl }, signer: governanceWallet });
await governance.accredit({ issuer: boardWallet.address, role: "medical-board" }); // vouches for researchers
await governance.accredit({ issuer: irbWallet.address, role: "irb" }); // approves studies
const board = await IssuerClient.connect({ connection: { gatewayUrl, rpcUrl }, signer: boardWallet });
const researcherCredential = await board.issue({
  type: CredentialType.Researcher,
  subject: researcherWallet.address,
  claims: { name: "Dr. Rosalind Franklin", institution: "King's College" },
});

// #region irb-approves
const irb = await IssuerClient.connect({ connection: { gatewayUrl, rpcUrl }, signer: irbWallet });
const protocolHash = keccak256(toUtf8Bytes("the HbA1c outcomes protocol, version 3")); // of the protocol document
const approval = await irb.issue({
  type: CredentialType.EthicsApproval, // revocable: the IRB's status list is published at the gateway
  subject: researcherWallet.address, // the principal investigator
  claims: { studyId: "hba1c-2026", protocolTitle: "HbA1c outcomes", approvalNumber: "IRB-2026-17", protocolHash },
  expires: new Date(Date.now() + 365 * 86_400_000),
});
// #endregion irb-approves

// #region researcher-register
import { ResearcherClient } from "@hygeia/sdk";

const researcher = await ResearcherClient.connect({ gatewayUrl, rpcUrl, signer: researcherWallet });
await researcher.presentCredential(researcherCredential.credential); // the session's researcher role
const registered = await researcher.registerStudy({
  slug: "hba1c-2026", // the approval's studyId: the on-chain id is derived from it and the researcher's address
  approval: approval.credential, // exactly as issued: the chain keeps its hash, the gateway verifies it
  scopes: ["fhir:Observation", "fhir:Condition", "fhir:Patient"], // what patients are asked to share
  endsAt: "180d",
}); // irb and protocolHash default to the approval's issuer and its protocolHash claim
const { studyId, keys: studyKeys } = registered;
// KEEP studyKeys.secretKey (a file only you can read): every contribution is sealed to it, nothing else opens them
// #endregion researcher-register
assert.match(studyId, /^0x[0-9a-f]{64}$/);

// #region patient-opt-in
import { PatientClient } from "@hygeia/sdk";

const alice = await PatientClient.connect({ signer: aliceWallet, connection: { gatewayUrl, rpcUrl } });
const studies = await alice.studies.list(); // served by the gateway: checked by the wallet before anything is shared
const records = syntheticPatient(1).resources; // her FHIR resources (here a synthetic patient with every identifier)
const joined = await alice.studies.optIn(studies[0]!.studyId, records);
// joined.verification: the chain's registration and the approval, verified by the wallet itself
// joined.report.kept: { Patient: 1, Observation: 6, Condition: 1 }; joined.report.omitted: Encounter not-requested, …
// joined.report.removed: { "Patient.name": 1, "Observation.note": 6, … }: names of what was left out, never content
// #endregion patient-opt-in
assert.equal(joined.studyId, studyId);
assert.equal(joined.report.kept["Patient"], 1);
const bob = await PatientClient.connect({ signer: bobWallet, connection: { gatewayUrl, rpcUrl } });
const bobJoined = await bob.studies.optIn(studyId, syntheticPatient(2).resources);

// #region researcher-pull
const dataset = await researcher.pullDataset(studyId, studyKeys, {
  onProgress: ({ done, total }) => void [done, total],
});
// dataset.manifest: the gateway's signed note (study, researcher, block, time, count, Merkle root), verified
// dataset.extracts: [{ cid, resources: [{ resourceType: "Patient", id: "<pseudonym>", birthDate: "<year>", … }] }, …]
// #endregion researcher-pull
assert.deepEqual(dataset.extracts.map((e) => e.cid).sort(), [joined.cid, bobJoined.cid].sort());
const pulledText = JSON.stringify(dataset.extracts);
for (const identifier of syntheticPatient(1).identifiers) assert.ok(!pulledText.includes(identifier), identifier);

// #region patient-opt-out
const left = await alice.studies.optOut(studyId); // revokes the research grant on chain AND deletes the contribution
// left: { revoked: { grantees: [the researcher], transactions: [...] }, withdrawn: { cid, unpinned: true } }
const next = await researcher.pullDataset(studyId, studyKeys); // Alice is no longer in it
// #endregion patient-opt-out
assert.equal(left.withdrawn?.cid, joined.cid);
assert.deepEqual(
  next.extracts.map((e) => e.cid),
  [bobJoined.cid],
);

// #region researcher-close
await researcher.closeStudy(studyId); // on chain, for good: no gateway serves it or its dataset any more
// #endregion researcher-close

await alice.close();
await bob.close();
await researcher.close();
await irb.close();
await board.close();
await governance.close();
await app.close();
await closeServices(services);
await local.stop();
await rm(dir, { recursive: true, force: true });
