// @hygeia/identity: the package's main entry. It is the browser entry (every platform-neutral module) plus the
// Node-only modules: the IdentityAgent (Veramo over node:sqlite) and the node:sqlite challenge store.
export * from "./browser.ts";
export * from "./did/agent.ts";
export { SqliteChallengeStore } from "./verify/challenges-sqlite.ts";
