// @hygeia/chain: the package's single public entry.
export * from "./errors.ts";
export * from "./purposes.ts";
export * from "./scopes.ts";
export * from "./eip712.ts";
export * from "./clients/base.ts";
export * from "./clients/chain-errors.ts";
export * from "./clients/consent-events.ts";
export * from "./clients/consent-registry.ts";
export * from "./clients/trust-registry.ts";
export * from "./clients/audit-anchor.ts";
export * from "./local-chain.ts";
export * from "./deploy.ts";
export * from "./generated/ConsentRegistry.ts";
export * from "./generated/TrustRegistry.ts";
export * from "./generated/AuditAnchor.ts";
export * from "./generated/EthereumDIDRegistry.ts";
