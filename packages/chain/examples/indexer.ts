// The ConsentIndexer: follows ConsentRegistry events into memory, answers isAllowed in O(1), fails
// closed when it cannot vouch for its state, and checkpoints / restores.
// Run: node packages/chain/examples/indexer.ts
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "ethers";
import { ConsentRegistryClient, PatientScopes, startLocalDeployment } from "@hygeia/chain";
import { deriveConsentSecretFromKeystoreSecret, deriveScopeKey } from "@hygeia/crypto";

const { provider, deployment, account, stop } = await startLocalDeployment();
const patient = account(2).address;
const grantee = account(3).address;
// The patient's wallet computes the keyed id it grants (here from a CLI keystore's secret; see vocabulary.ts).
const keystoreSecret = randomBytes(32); // 32 uniformly random bytes, kept in the keystore
const scopes = new PatientScopes(deriveScopeKey(deriveConsentSecretFromKeystoreSecret(keystoreSecret)), patient);
const observation = scopes.id("fhir:Observation"); // the indexer sees and answers for ids only
const registry = new ConsentRegistryClient(deployment.contracts.ConsentRegistry, account(2));
await registry.grant({
  grantee,
  scope: observation,
  purpose: "Treatment",
  expiry: Math.floor(Date.now() / 1000) + 3600,
});
await provider.send("evm_mine", []); // two blocks on top of the grant: confirmed at depth 2
await provider.send("evm_mine", []);
const dir = await mkdtemp(join(tmpdir(), "hygeia-indexer-"));
process.chdir(dir);
const progress: string[] = [];
const log = (line: string) => progress.push(line);
let allowed = false;

// #region indexer
import { ConsentIndexer, IndexerStaleError } from "@hygeia/chain";

const indexer = new ConsentIndexer({
  provider,
  address: deployment.contracts.ConsentRegistry,
  startBlock: deployment.deployedAt.block,
  confirmations: 2, // blocks built on top before a grant counts
});
indexer.on("progress", ({ syncedBlock, headBlock }) => log(`${syncedBlock}/${headBlock}`));
await indexer.start(); // resolves once caught up (or rejects with why not), then polls every pollIntervalMs
try {
  allowed = indexer.isAllowed(patient, grantee, observation, "Treatment"); // O(1), synchronous: true
} catch (error) {
  if (error instanceof IndexerStaleError)
    allowed = false; // fail closed, say why
  else throw error;
}
await writeFile("consent-index.json", JSON.stringify(indexer.checkpoint()));
await indexer.stop(); // ends polling (the timer keeps the process alive)
// later:
const restored = ConsentIndexer.restore(JSON.parse(await readFile("consent-index.json", "utf8")), {
  provider,
  address: deployment.contracts.ConsentRegistry,
});
// #endregion indexer

let cause = "";
const wrongAddress = account(8).address; // an account, not the ConsentRegistry: no code there
// #region start
import { ContractNotDeployedError, HygeiaChainError } from "@hygeia/chain";

const gatewayIndexer = new ConsentIndexer({
  provider,
  address: wrongAddress,
  readTimeoutMs: 5_000, // bounds each request of a poll: a node that never answers fails the poll
});
try {
  await gatewayIndexer.start(); // one attempt; start({ retryForMs: 60_000 }) keeps trying for a minute
} catch (error) {
  // ContractNotDeployedError here; ChainUnavailableError for a dead or silent node, WrongChainError for
  // another chain. Nothing keeps running: report "not ready" and exit, or call start() again later.
  if (!(error instanceof ContractNotDeployedError)) throw error;
  cause = error.code; // "CONTRACT_NOT_DEPLOYED"
}
// A readiness probe (/readyz) asks status(): fresh, or why not.
const { stale, staleReason, lastError } = gatewayIndexer.status();
const readiness = {
  ready: !stale,
  reason: staleReason,
  code: lastError instanceof HygeiaChainError ? lastError.code : null,
};
// { ready: false, code: "CONTRACT_NOT_DEPLOYED",
//   reason: "never caught up with the chain; last error: no ConsentRegistry code at 0x… on chain 31337" }
// #endregion start

assert.equal(cause, "CONTRACT_NOT_DEPLOYED");
assert.equal(readiness.ready, false);
assert.equal(readiness.code, "CONTRACT_NOT_DEPLOYED");
assert.match(
  readiness.reason ?? "",
  /^never caught up with the chain; last error: no ConsentRegistry code at 0x[0-9a-fA-F]{40} on chain 31337$/,
);

assert.equal(allowed, true);
assert.ok(progress.length > 0);
assert.throws(() => restored.isAllowed(patient, grantee, observation, "Treatment"), IndexerStaleError); // not synced yet
await restored.sync();
assert.equal(restored.isAllowed(patient, grantee, observation, "Treatment"), true);
await restored.stop();

process.chdir(tmpdir());
await rm(dir, { recursive: true, force: true });
await stop();
console.log("indexer: ok");
