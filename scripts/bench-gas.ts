/**
 * Gas benchmark for the Hygeia contracts.
 *
 * Run (Node 24, from the repo root):
 *   export PATH=/work/main/node_modules/.bin:$PATH   # node -v must be v24
 *   node scripts/bench-gas.ts                        # compiles first if needed
 *
 * Deploys ConsentRegistry, AuditAnchor and the ERC-1056 EthereumDIDRegistry (from the
 * `ethr-did-registry` package artifact) on an in-process Hardhat simulated network
 * (`network.create()`), sends real transactions and reads `gasUsed` from their receipts.
 * Prints exactly ONE JSON line on stdout; progress goes to stderr.
 *
 * Keys (all gasUsed of one mined transaction, intrinsic 21,000 + calldata included):
 *   grant                 grant() of a fresh (patient, grantee, scope, purpose) slot: cold zero -> non-zero SSTORE.
 *   regrant_after_revoke  grant() on the same slot after a revoke (non-zero tombstone -> non-zero).
 *   revoke                revoke() of an active grant.
 *   grant_by_sig_first    grantBySig() relayed by a third party, fresh slot (version 0).
 *   grant_by_sig_next     grantBySig() re-grant on the same slot after a revoke (version 2,
 *                         non-zero -> non-zero), i.e. the steady-state signed re-grant.
 *   consent_batch_by_sig_1
 *                         consentBatchBySig() relayed by a third party: ONE signed grant of a fresh slot
 *                         (version 0), no revokes. Compare with grant_by_sig_first.
 *   consent_batch_by_sig_5
 *                         consentBatchBySig() of five signed grants of fresh slots under one signature;
 *                         (this - consent_batch_by_sig_1) / 4 is the cost of one more item.
 *   batch100_per_item     grantBatch() of 100 fresh slots, total gasUsed / 100.
 *   revoke_never_granted  revoke() of a slot never granted (cancels outstanding Grant signatures:
 *                         cold zero -> non-zero tombstone). Informational.
 *   set_emergency_grantee_by_sig
 *                         setEmergencyGranteeBySig() relayed by a third party: the patient's first
 *                         registration of a grantee (signed for the pair's epoch 0, one-scope tree).
 *                         Informational.
 *   break_glass_first     breakGlass() by the registered grantee, first call of the registration
 *                         (opens its window), one-scope tree (proof []), fresh slot. Informational.
 *   break_glass_repeat    breakGlass() again on the same scope inside the open window: writes nothing,
 *                         emits EmergencyAccess with the same version. Informational.
 *   study_register        StudyRegistry.register() of a study requesting 3 scopes, by a researcher, with its
 *                         IRB accredited in the TrustRegistry (three fresh slots, the IRB check, the event).
 *   study_opt_in          a patient's opt-in to a study: grantBySig() relayed by a third party, purpose Research,
 *                         to the study's researcher under a fresh keyed study scope id (an opt-in is a consent
 *                         grant; the StudyRegistry never lists participants).
 *   anchor                AuditAnchor.anchor() of a gateway that already anchored two batches
 *                         (steady state, the counters slot is non-zero before and after).
 *   erc1056_set_attribute ERC-1056 setAttribute(identity, name, value, validity): first operation
 *                         of that identity on the registry (reference point).
 *   manifest_anchor_first / manifest_anchor_next
 *                         the patient's record-list anchor (@hygeia/chain manifest-anchor): ERC-1056
 *                         setAttributeSigned of a sealed {version, CID} pointer (85 bytes) by the
 *                         gateway's relayer, the first of a fresh anchor identity and a later one
 *                         (one per record-list change; the relayer pays).
 * Set HYGEIA_BENCH_TRACE=1 to print, on stderr, each measured transaction's calldata cost and
 * execution gas by opcode (debug_traceTransaction), to see where gas above the floor goes.
 * Inputs are realistic: random 20-byte grantees, scopes = keccak256 of random strings,
 * purpose 1 (Treatment), expiry = now + 30 days, non-zero random 32-byte roots.
 */
import { readFileSync } from "node:fs";
import type { BaseContractMethod, Contract } from "ethers";
import {
  consentDomain,
  emergencyScopes,
  signConsentBatch,
  signEmergencyGrantee,
  signGrant,
  MANIFEST_ANCHOR_ATTRIBUTE,
  Purpose,
  type GrantablePurpose,
  MANIFEST_ANCHOR_VALIDITY,
  signManifestAnchor,
} from "@hygeia/chain";
import { deriveConsentSecretFromKeystoreSecret, deriveManifestAnchorKeys, sealManifestPointer } from "@hygeia/crypto";

// Everything except the final JSON line goes to stderr (Hardhat may log while building).
const writeStdout = process.stdout.write.bind(process.stdout);
process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;

const hre = (await import("hardhat")).default;
// Compile first (a no-op when artifacts are fresh) so the numbers never come from stale bytecode.
await hre.tasks.getTask("build").run({ quiet: true, noTests: true });
const { ethers } = await hre.network.create();

const log = (msg: string): void => {
  process.stderr.write(`bench-gas: ${msg}\n`);
};

const THIRTY_DAYS = 30n * 24n * 3600n;
const TREATMENT = Purpose.Treatment;
const RESEARCH = Purpose.Research;

const rand = (): string => ethers.hexlify(ethers.randomBytes(16));
const randomAddress = (): string => ethers.getAddress(ethers.hexlify(ethers.randomBytes(20)));
const randomScope = (): string => ethers.id(`hygeia:scope:${rand()}`);

const TRACE = process.env.HYGEIA_BENCH_TRACE === "1";

/** Calldata gas (EIP-2028 standard cost: 4 per zero byte, 16 per non-zero byte). */
function calldataGas(data: string): number {
  const bytes = ethers.getBytes(data);
  let gas = 0;
  for (const b of bytes) gas += b === 0 ? 4 : 16;
  return gas;
}

async function traceSummary(hash: string, data: string, gasUsed: number): Promise<void> {
  type Log = { op: string; gasCost: number; depth: number };
  const trace = (await ethers.provider.send("debug_traceTransaction", [hash, { disableStorage: true }])) as {
    structLogs: Log[];
  };
  const byOp = new Map<string, { n: number; gas: number }>();
  let total = 0;
  for (const l of trace.structLogs) {
    if (l.depth !== 1) continue;
    const e = byOp.get(l.op) ?? { n: 0, gas: 0 };
    e.n += 1;
    e.gas += l.gasCost;
    byOp.set(l.op, e);
    total += l.gasCost;
  }
  const cd = calldataGas(data);
  const rows = [...byOp.entries()].sort((a, b) => b[1].gas - a[1].gas);
  log(
    `  gasUsed ${gasUsed} = 21000 + calldata ${cd} (${ethers.getBytes(data).length} B) + execution ${total} (+${gasUsed - 21000 - cd - total} other)`,
  );
  if (process.env.HYGEIA_BENCH_TRACE_OPS === "1")
    log(
      trace.structLogs
        .filter((l) => l.depth === 1)
        .map((l) => `${(l as unknown as { pc: number }).pc}:${l.op}`)
        .join(" "),
    );
  log(`  ${trace.structLogs.length} steps; ${rows.map(([op, e]) => `${op}x${e.n}=${e.gas}`).join(" ")}`);
}

async function gasOf(txPromise: Promise<{ wait: () => Promise<unknown> }>): Promise<number> {
  const tx = (await txPromise) as { wait: () => Promise<unknown>; hash: string; data: string };
  const receipt = (await tx.wait()) as { gasUsed: bigint; status: number };
  if (receipt.status !== 1) throw new Error("transaction failed");
  if (TRACE) await traceSummary(tx.hash, tx.data, Number(receipt.gasUsed));
  return Number(receipt.gasUsed);
}

async function now(): Promise<bigint> {
  const block = await ethers.provider.getBlock("latest");
  if (block === null) throw new Error("no latest block");
  return BigInt(block.timestamp);
}

const signers = await ethers.getSigners();
function signer(i: number) {
  const s = signers[i];
  if (s === undefined) throw new Error(`no signer #${i}`);
  return s;
}
const governance = signer(0);
const patient = signer(1);
const relayer = signer(2);
const gateway = signer(3);
const identity = signer(4);
const medic = signer(5);

type Methods<K extends string> = Contract & { [P in K]: BaseContractMethod };

log("deploying");
const consent = (await ethers.deployContract("ConsentRegistry", [], patient)) as Methods<
  "grant" | "revoke" | "grantBatch" | "grantBySig" | "consentBatchBySig" | "setEmergencyGranteeBySig" | "breakGlass"
>;
await consent.waitForDeployment();
const audit = (await ethers.deployContract("AuditAnchor", [governance.address], governance)) as Methods<
  "setGateway" | "anchor"
>;
await audit.waitForDeployment();

// The package's "exports" hides its artifacts from require.resolve: read the file by path.
const didArtifactUrl = new URL(
  "../node_modules/ethr-did-registry/artifacts/contracts/EthereumDIDRegistry.sol/EthereumDIDRegistry.json",
  import.meta.url,
);
const didArtifact = JSON.parse(readFileSync(didArtifactUrl, "utf8")) as { abi: unknown[]; bytecode: string };
const didFactory = new ethers.ContractFactory(didArtifact.abi as never, didArtifact.bytecode, governance);
const did = await didFactory.deploy();
await did.waitForDeployment();

const consentAddress = await consent.getAddress();
const { chainId } = await ethers.provider.getNetwork();
const domain = consentDomain(chainId, consentAddress);

async function signedGrant(
  grantee: string,
  scope: string,
  expiry: bigint,
  version: number,
  purpose: GrantablePurpose = TREATMENT,
) {
  const deadline = (await now()) + 3600n;
  const sig = await signGrant(patient, domain, {
    patient: patient.address,
    grantee,
    scope,
    purpose,
    expiry,
    version,
    deadline,
  });
  return (consent.connect(relayer) as typeof consent).grantBySig(
    patient.address,
    grantee,
    scope,
    purpose,
    expiry,
    version,
    deadline,
    sig.v,
    sig.r,
    sig.s,
  );
}

/** consentBatchBySig of `n` grants of fresh slots (version 0) under one signature, sent by the relayer. */
async function signedBatchOfGrants(n: number) {
  const deadline = (await now()) + 3600n;
  const expiry = (await now()) + THIRTY_DAYS;
  const grants = Array.from({ length: n }, () => ({
    grantee: randomAddress(),
    scope: randomScope(),
    purpose: "Treatment",
    expiry,
    version: 0,
  }));
  const sig = await signConsentBatch(patient, domain, { patient: patient.address, grants, revokes: [], deadline });
  return (consent.connect(relayer) as typeof consent).consentBatchBySig(
    patient.address,
    sig.grants.map((g) => [g.grantee, g.scope, g.purpose, g.expiry, g.version]),
    [],
    deadline,
    sig.v,
    sig.r,
    sig.s,
  );
}

const result: Record<string, number | string> = {};

log("consent: grant / revoke / regrant");
{
  const grantee = randomAddress();
  const scope = randomScope();
  result.grant = await gasOf(consent.grant(grantee, scope, TREATMENT, (await now()) + THIRTY_DAYS));
  result.revoke = await gasOf(consent.revoke(grantee, scope, TREATMENT));
  result.regrant_after_revoke = await gasOf(consent.grant(grantee, scope, TREATMENT, (await now()) + THIRTY_DAYS));
}

log("consent: grantBySig");
{
  const grantee = randomAddress();
  const scope = randomScope();
  result.grant_by_sig_first = await gasOf(signedGrant(grantee, scope, (await now()) + THIRTY_DAYS, 0));
  await gasOf(consent.revoke(grantee, scope, TREATMENT));
  result.grant_by_sig_next = await gasOf(signedGrant(grantee, scope, (await now()) + THIRTY_DAYS, 2));
}

log("consent: consentBatchBySig of 1 and 5 grants");
result.consent_batch_by_sig_1 = await gasOf(signedBatchOfGrants(1));
result.consent_batch_by_sig_5 = await gasOf(signedBatchOfGrants(5));

log("consent: revoke of a never-granted slot");
result.revoke_never_granted = await gasOf(consent.revoke(randomAddress(), randomScope(), TREATMENT));

log("consent: relayed emergency registration, first break-glass");
{
  const scopes = emergencyScopes([randomScope()]);
  const deadline = (await now()) + 3600n;
  const maxDuration = 24 * 3600;
  const sig = await signEmergencyGrantee(patient, domain, {
    patient: patient.address,
    grantee: medic.address,
    maxDuration,
    scopesRoot: scopes.root,
    epoch: 0, // the pair's current epoch: a first registration
    deadline,
  });
  result.set_emergency_grantee_by_sig = await gasOf(
    (consent.connect(relayer) as typeof consent).setEmergencyGranteeBySig(
      patient.address,
      medic.address,
      maxDuration,
      scopes.root,
      0, // epoch
      deadline,
      sig.v,
      sig.r,
      sig.s,
    ),
  );
  const [scope] = scopes.scopeIds;
  result.break_glass_first = await gasOf(
    (consent.connect(medic) as typeof consent).breakGlass(patient.address, scope!, scopes.proof(scope!)),
  );
  result.break_glass_repeat = await gasOf(
    (consent.connect(medic) as typeof consent).breakGlass(patient.address, scope!, scopes.proof(scope!)),
  );
}

log("consent: grantBatch of 100");
{
  const n = 100;
  const expiry = (await now()) + THIRTY_DAYS;
  const grantees = Array.from({ length: n }, randomAddress);
  const scopes = Array.from({ length: n }, randomScope);
  const purposes = Array.from({ length: n }, () => TREATMENT);
  const expiries = Array.from({ length: n }, () => expiry);
  const total = await gasOf(consent.grantBatch(grantees, scopes, purposes, expiries));
  result.batch100_per_item = Math.round(total / n);
}

log("studies: register, opt in");
{
  const researcher = signer(6);
  const irb = signer(7);
  const trust = (await ethers.deployContract("TrustRegistry", [governance.address], governance)) as Methods<"accredit">;
  await trust.waitForDeployment();
  const studies = (await ethers.deployContract(
    "StudyRegistry",
    [await trust.getAddress()],
    researcher,
  )) as Methods<"register">;
  await studies.waitForDeployment();
  await gasOf(trust.accredit(irb.address, ethers.id("hygeia.role.irb"), 0n, (await now()) + 365n * 24n * 3600n));
  const scopes = ["fhir:Observation", "fhir:Condition", "category:laboratory"]
    .map((scope) => ethers.id(scope))
    .sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
  result.study_register = await gasOf(
    studies.register({
      salt: ethers.hexlify(ethers.randomBytes(32)),
      protocolHash: ethers.hexlify(ethers.randomBytes(32)),
      approvalHash: ethers.hexlify(ethers.randomBytes(32)),
      irb: irb.address,
      encryptionKey: ethers.hexlify(ethers.randomBytes(32)),
      endsAt: (await now()) + 365n * 24n * 3600n,
      scopes,
    }),
  );
  result.study_opt_in = await gasOf(
    signedGrant(researcher.address, randomScope(), (await now()) + 365n * 24n * 3600n, 0, RESEARCH),
  );
}

log("audit: anchor (steady state)");
{
  await gasOf(audit.setGateway(gateway.address, true));
  const asGateway = audit.connect(gateway) as typeof audit;
  let next = 0n;
  for (let i = 0; i < 2; i++) {
    await gasOf(asGateway.anchor(ethers.hexlify(ethers.randomBytes(32)), next, 64));
    next += 64n;
  }
  result.anchor = await gasOf(asGateway.anchor(ethers.hexlify(ethers.randomBytes(32)), next, 64));
}

log("erc1056: setAttribute");
{
  const name = ethers.encodeBytes32String("did/pub/X25519/enc/base64");
  const value = ethers.hexlify(ethers.randomBytes(32));
  const asIdentity = did.connect(identity) as unknown as {
    setAttribute: (i: string, n: string, v: string, validity: bigint) => Promise<{ wait: () => Promise<unknown> }>;
  };
  result.erc1056_set_attribute = await gasOf(
    asIdentity.setAttribute(identity.address, name, value, 365n * 24n * 3600n),
  );
}

log("erc1056: record-list anchor (setAttributeSigned, relayed)");
{
  const keys = deriveManifestAnchorKeys(deriveConsentSecretFromKeystoreSecret(ethers.randomBytes(32)));
  const registryAddress = await did.getAddress();
  const asRelayer = did.connect(relayer) as unknown as {
    nonce: (identity: string) => Promise<bigint>;
    setAttributeSigned: (...args: unknown[]) => Promise<{ wait: () => Promise<unknown> }>;
  };
  const anchorOnce = async (version: number) => {
    const identity = ethers.computeAddress(new ethers.SigningKey(keys.accountKey));
    const nonce = Number(await asRelayer.nonce(identity));
    const cid = ethers.randomBytes(36); // a CIDv1 sha2-256 is 36 bytes
    const value = sealManifestPointer(keys.pointerKey, ethers.getBytes(identity), { version, cid });
    const signed = signManifestAnchor(keys.accountKey, registryAddress, nonce, value);
    const sig = ethers.Signature.from(signed.signature);
    return gasOf(
      asRelayer.setAttributeSigned(
        signed.identity,
        sig.v,
        sig.r,
        sig.s,
        ethers.encodeBytes32String(MANIFEST_ANCHOR_ATTRIBUTE),
        signed.value,
        MANIFEST_ANCHOR_VALIDITY,
      ),
    );
  };
  result.manifest_anchor_first = await anchorOnce(1);
  await anchorOnce(2);
  result.manifest_anchor_next = await anchorOnce(3);
}

result.solc = "0.8.30";
result.optimizer_runs = 200;

const ordered = [
  "grant",
  "regrant_after_revoke",
  "revoke",
  "grant_by_sig_first",
  "grant_by_sig_next",
  "consent_batch_by_sig_1",
  "consent_batch_by_sig_5",
  "batch100_per_item",
  "revoke_never_granted",
  "set_emergency_grantee_by_sig",
  "break_glass_first",
  "break_glass_repeat",
  "study_register",
  "study_opt_in",
  "anchor",
  "erc1056_set_attribute",
  "manifest_anchor_first",
  "manifest_anchor_next",
  "solc",
  "optimizer_runs",
];
const line = JSON.stringify(Object.fromEntries(ordered.map((k) => [k, result[k]])));
writeStdout(`${line}\n`);
log("done");
process.exit(0);
