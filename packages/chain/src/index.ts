// @hygeia/chain: the package's single public entry.
export * from "./local-chain.ts";
export * from "./deploy.ts";
export * from "./generated/ConsentRegistry.ts";
export * from "./generated/TrustRegistry.ts";
export * from "./generated/AuditAnchor.ts";
export * from "./generated/EthereumDIDRegistry.ts";
