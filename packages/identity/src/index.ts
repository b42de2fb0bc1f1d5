// @hygeia/identity: the package's single public entry.
export * from "./errors.ts";
export * from "./did/network.ts";
export * from "./did/resolver.ts";
export * from "./did/agent.ts";
