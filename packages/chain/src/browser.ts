// @hygeia/chain/browser: the part of @hygeia/chain that bundles for browsers (the web wallet, the SDK's patient,
// check-in and audit paths). Everything of the main entry except its Node-only modules:
//
// - local-chain.ts (starts anvil: node:child_process, node:fs, node:module, node:path),
// - local-deployment.ts (a local chain plus a deployment: imports local-chain.ts),
// - deploy.ts (reads and writes deployment files: node:fs/promises, node:path; `deployHygeia`, `isDeployed` and
//   `parseDeployment` are pure but live in that module, so they are left out; the `HygeiaDeployment` type is here).
//
// Nothing else of the package imports a Node built-in: the contract clients, the sender and the indexer speak to
// the chain through an ethers Provider / Signer the caller gives (a BrowserProvider over EIP-1193 in a page).
// packages/sdk/test/browser-bundle.test.ts bundles this entry for the browser, fails on any Node built-in, and
// checks that it exports every name of the main entry but those of the three modules above.
export * from "./errors.ts";
export * from "./purposes.ts";
export * from "./scopes.ts";
export * from "./private-scopes.ts";
export * from "./consent-accounts.ts";
export * from "./consent-address-link.ts";
export * from "./consent-account-recovery.ts";
export * from "./eip712.ts";
export * from "./clear-signing.ts";
export * from "./emergency.ts";
export * from "./clients/base.ts";
export * from "./clients/sender.ts";
export * from "./clients/time-bounds.ts";
export * from "./record-access.ts";
export * from "./manifest-anchor.ts";
export * from "./clients/chain-errors.ts";
export * from "./clients/consent-events.ts";
export * from "./clients/consent-registry.ts";
export * from "./clients/trust-registry.ts";
export * from "./clients/audit-anchor.ts";
export * from "./clients/study-registry.ts";
export * from "./indexer/consent-table.ts";
export * from "./indexer/checkpoint.ts";
export * from "./indexer/consent-indexer.ts";
export * from "./generated/ConsentRegistry.ts";
export * from "./generated/TrustRegistry.ts";
export * from "./generated/AuditAnchor.ts";
export * from "./generated/StudyRegistry.ts";
export * from "./generated/EthereumDIDRegistry.ts";
// Types only (erased at build time, so deploy.ts's node:fs import is not reached).
export type { ContractName, HygeiaDeployment } from "./deploy.ts";
