// @hygeia/crypto/browser: the entry for code that must bundle for browsers (the web wallet, the SDK's patient,
// check-in and audit paths).
//
// The main entry is already platform-neutral: no module it reaches imports a Node built-in. The one Node-specific
// piece, the native secretstream over node:crypto, is chosen by package.json's `#native-secretstream` import map:
// under the "node" condition it is secretstream/node-crypto.ts, under every other (a browser bundler's) it is
// secretstream/unavailable.ts, so `defaultSecretstream` is libsodium's (WebAssembly), byte for byte the same
// construction. The Node-only adapters (node:stream Transforms, decryptToFile over node:fs) live in
// "@hygeia/crypto/node" and are not reachable from here.
//
// Importing this module awaits libsodium's initialisation (top-level await), as the main entry does: bundle as
// ESM for a target with top-level await (every current browser).
//
// packages/sdk/test/browser-bundle.test.ts bundles this entry for the browser and fails on any Node built-in.
export * from "./index.ts";
