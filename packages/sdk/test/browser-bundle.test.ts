/**
 * The web wallet's part of the SDK bundles for browsers: packages/sdk/src/browser.ts (whatever it re-exports) and
 * the packages' browser entries are built with esbuild for `platform: "browser"`, with no Node polyfill, and
 *
 * - no module on any path imports a Node built-in (`node:*` or a bare `fs`, `crypto`, `worker_threads`, …): each
 *   one found is named with the chain of imports that reaches it. Accepted: a package that declares the built-in
 *   unused in browsers through its own `browser` field (a guarded `require("crypto")` fallback): esbuild then
 *   bundles nothing for it; and the npm stand-ins reviewed in KNOWN_SHIMS (siwe's parser needs npm `buffer`);
 * - no module uses a Node global (`Buffer`, `process`, …) without testing that it exists, as libraries that run in
 *   both do (`typeof process !== "undefined"`): a bare `Buffer.from` throws in a browser, and no import shows it;
 * - the packages' browser entries export everything of their main entry except the Node-only modules they list, so
 *   a new pure module added to a main entry and forgotten in its browser entry is caught;
 * - the bundled code runs: the wallet's keys derived from a fixed signature match Node's, records encrypted with
 *   libsodium's secretstream (the browser path) decrypt with Node's native one and back, a tampered record is
 *   refused, the RFC 6962 inclusion proof vectors verify, SIWE sign-in works and the transport maps a gateway's
 *   problem to its typed error. It runs in Node's V8 here: playwright-core and Chromium are not installed in this
 *   repository, so the same checks in a real browser are left to the web package's tests.
 */
import { builtinModules } from "node:module";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { fileURLToPath, pathToFileURL } from "node:url";
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { build, type BuildOptions, type Metafile, type Plugin } from "esbuild";
import { JsonRpcProvider, Wallet, verifyMessage } from "ethers";
import * as nodeCrypto from "@hygeia/crypto";
import { PatientScopes } from "@hygeia/chain";
import type * as SdkBrowser from "../src/browser.ts";
import type * as CryptoBrowser from "@hygeia/crypto/browser";
import type * as ChainBrowser from "@hygeia/chain/browser";
import type * as Audit from "@hygeia/audit";
import type * as StorageBrowser from "@hygeia/storage/browser";
import type * as IdentityBrowser from "@hygeia/identity/browser";
import * as nodeIdentity from "@hygeia/identity";
import * as nodeStorage from "@hygeia/storage";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const SDK_BROWSER_ENTRY = "packages/sdk/src/browser.ts";

/** Browsers this bundle targets (top-level await, private fields, BigInt: 2023 evergreen browsers). */
const BROWSER_TARGETS = ["chrome111", "edge111", "firefox111", "safari16.4"];

// ---------------------------------------------------------------------------------------------------------------
// The bundler and its Node built-in detector.

const BUILTINS = new Set(builtinModules);
const BUILTIN_FILTER = new RegExp(
  `^(?:node:|(?:${[...BUILTINS].map((name) => name.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")).join("|")})$)`,
);

interface BuiltinImport {
  specifier: string;
  importer: string;
  /** `unresolved`: a browser build cannot have it; `shim`: an npm package stands in for the built-in. */
  how: "unresolved" | "shim";
}

/** Node's globals: a browser has none of them. */
const NODE_GLOBALS = ["Buffer", "process", "global", "setImmediate", "clearImmediate", "__dirname", "__filename"];
const NODE_GLOBAL_MARK = "__hygeiaNodeGlobal_";

interface NodeGlobalUse {
  module: string;
  global: string;
}

interface BrowserBundle {
  code: Uint8Array;
  metafile: Metafile;
  builtins: BuiltinImport[];
  /** Modules that use a Node global without ever testing for it (`typeof process`): they throw in a browser. */
  nodeGlobals: NodeGlobalUse[];
}

type Entry = { file: string } | { contents: string; resolveDir: string };

/**
 * Bundles for the browser and reports every import of a Node built-in instead of stopping at the first one:
 * an unresolvable one is marked external (so the build finishes and the metafile shows it), and the list says who
 * imports it. Imports that the importing package maps to `false` in its `browser` field resolve to nothing, as
 * esbuild does by default, and are not reported. A second, unminified build renames Node's globals (esbuild's
 * `define` touches only free references, never a local or a property) to find the modules that use them.
 */
async function bundleForBrowser(entry: Entry, options: Pick<BuildOptions, "minify"> = {}): Promise<BrowserBundle> {
  const builtins: BuiltinImport[] = [];
  const PROBE = Symbol("probe");
  const detector: Plugin = {
    name: "node-builtins",
    setup(b) {
      b.onResolve({ filter: BUILTIN_FILTER }, async (args) => {
        if (args.pluginData === PROBE) return undefined;
        if (!args.path.startsWith("node:") && !BUILTINS.has(args.path)) return undefined;
        const resolved = await b.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          pluginData: PROBE,
        });
        const importer = args.importer.startsWith("/") ? relative(ROOT, args.importer) : args.importer;
        if (resolved.errors.length > 0) {
          builtins.push({ specifier: args.path, importer, how: "unresolved" });
          return { path: args.path, external: true };
        }
        if (resolved.namespace === "file") builtins.push({ specifier: args.path, importer, how: "shim" });
        return undefined; // disabled by the importer's `browser` field, or the shim: let esbuild resolve it
      });
    },
  };
  const common: BuildOptions = {
    ...("file" in entry
      ? { entryPoints: [entry.file] }
      : { stdin: { contents: entry.contents, resolveDir: entry.resolveDir, loader: "ts", sourcefile: "<entry>" } }),
    absWorkingDir: ROOT,
    bundle: true,
    platform: "browser",
    format: "esm",
    target: BROWSER_TARGETS,
    write: false,
    metafile: true,
    logLevel: "silent",
    loader: { ".ts": "ts" },
    plugins: [detector],
  };
  const result = await build({ ...common, ...options });
  const seen = builtins.length;
  const marked = await build({
    ...common,
    minify: false,
    define: Object.fromEntries(NODE_GLOBALS.map((name) => [name, NODE_GLOBAL_MARK + name])),
  });
  builtins.length = seen; // the second build finds the same imports again
  return {
    code: result.outputFiles![0]!.contents,
    metafile: result.metafile!,
    builtins,
    nodeGlobals: nodeGlobalsIn(marked.outputFiles![0]!.text),
  };
}

/** Unminified esbuild output starts each module with a `// path` line: attributes each marked global to it. */
function nodeGlobalsIn(code: string): NodeGlobalUse[] {
  const uses = new Map<string, { used: Set<string>; tested: Set<string> }>();
  const mark = new RegExp(`(typeof\\s+)?${NODE_GLOBAL_MARK}(\\w+)`, "g");
  let module = "<entry>";
  for (const line of code.split("\n")) {
    const header = /^\s*\/\/ ([^\s:]+\.(?:[cm]?[jt]sx?|json))$/.exec(line);
    if (header) {
      module = header[1]!;
      continue;
    }
    for (const [, typeOf, name] of line.matchAll(mark)) {
      const entry = uses.get(module) ?? { used: new Set<string>(), tested: new Set<string>() };
      (typeOf ? entry.tested : entry.used).add(name!);
      uses.set(module, entry);
    }
  }
  return [...uses].flatMap(([module, { used, tested }]) =>
    [...used].filter((name) => !tested.has(name)).map((global) => ({ module, global })),
  );
}

/** `specifier <- importer <- … <- entry`, through the first chain of imports the metafile has. */
function importChain(metafile: Metafile, found: BuiltinImport): string {
  const importedBy = new Map<string, string>();
  for (const [file, input] of Object.entries(metafile.inputs))
    for (const imported of input.imports) if (!importedBy.has(imported.path)) importedBy.set(imported.path, file);
  const chain = [found.specifier, found.importer];
  for (let at = found.importer; importedBy.has(at) && chain.length < 40;) {
    at = importedBy.get(at)!;
    if (chain.includes(at)) break;
    chain.push(at);
  }
  return chain.join(" <- ");
}

/**
 * npm stand-ins for a built-in that a dependency requires without declaring them, each reviewed. They bundle only
 * because this workspace happens to install the stand-in: whoever ships the browser bundle (packages/web) must
 * depend on it. Anything not listed here fails the test.
 */
const KNOWN_SHIMS: Record<string, string> = {
  "buffer <- apg-js":
    "siwe (SIWE message building and parsing, session.ts) uses @spruceid/siwe-parser, whose ABNF engine apg-js 4 " +
    "requires Node's Buffer without declaring the npm 'buffer' package; it is installed here through other packages",
};

function packageOf(file: string): string {
  const match = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*\/node_modules\/)/.exec(file);
  return match?.[1] ?? file;
}

function knownShim(found: BuiltinImport): string | undefined {
  return found.how === "shim" ? KNOWN_SHIMS[`${found.specifier} <- ${packageOf(found.importer)}`] : undefined;
}

/** Fails listing each Node built-in the bundle reaches, and checks the metafile holds none either. */
function expectNoNodeBuiltins(bundle: BrowserBundle, what: string): void {
  const unexpected = bundle.builtins.filter((found) => knownShim(found) === undefined);
  const report = unexpected.map(
    (found) => `  ${found.how === "shim" ? "(npm shim) " : ""}${importChain(bundle.metafile, found)}`,
  );
  expect(
    unexpected,
    `${what} reaches Node built-ins (import the package's /browser entry, or keep the module out):\n${report.join("\n")}\n`,
  ).to.deep.equal([]);
  expect(
    bundle.nodeGlobals.map(({ module, global }) => `${module} uses ${global}`),
    `${what} reaches modules that use Node globals without testing for them (they throw in a browser)`,
  ).to.deep.equal([]);
  for (const [file, input] of Object.entries(bundle.metafile.inputs)) {
    // "<runtime>" is esbuild's own helper module (its require shim), not a dependency.
    const external = input.imports
      .filter((imported) => imported.external && imported.path !== "<runtime>")
      .map((imported) => imported.path);
    expect(external, `${file} imports modules the bundle does not contain`).to.deep.equal([]);
    const shim = packageOf(file);
    const reviewed = Object.keys(KNOWN_SHIMS).some((known) => known.startsWith(`${shim} <- `));
    expect(BUILTINS.has(shim) && !reviewed, `${file} is an npm stand-in for a Node built-in`).to.equal(false);
  }
}

function describeSize(bundle: BrowserBundle): string {
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
  const modules = Object.keys(bundle.metafile.inputs).length;
  return `${kib(bundle.code.byteLength)} minified, ${kib(gzipSync(bundle.code).byteLength)} gzipped, ${modules} modules`;
}

// ---------------------------------------------------------------------------------------------------------------

describe("@hygeia/sdk browser bundle (no Node built-ins on the web wallet's paths)", function () {
  this.timeout(120_000);

  it("bundles the SDK's browser entry for browsers, without polyfills, with no Node built-in on any path", async () => {
    const bundle = await bundleForBrowser({ file: SDK_BROWSER_ENTRY }, { minify: true });
    expectNoNodeBuiltins(bundle, SDK_BROWSER_ENTRY);
    const disabled = Object.entries(bundle.metafile.inputs).flatMap(([file, input]) =>
      input.imports
        .filter((imported) => imported.path.startsWith("(disabled):"))
        .map((i) => `${i.original} in ${file}`),
    );
    console.log(`      ${SDK_BROWSER_ENTRY}: ${describeSize(bundle)}`);
    if (disabled.length > 0) console.log(`      left out by the packages' browser fields: ${disabled.join(", ")}`);
    const shims = [...new Set(bundle.builtins.map((found) => `${found.specifier} <- ${packageOf(found.importer)}`))];
    if (shims.length > 0) console.log(`      reviewed npm stand-ins for built-ins: ${shims.join(", ")}`);
    expect(bundle.code.byteLength).to.be.greaterThan(0);
  });

  it("bundles each package's browser entry (crypto, chain, storage, identity, audit, research) with no Node built-in", async () => {
    for (const entry of [
      "packages/crypto/src/browser.ts",
      "packages/identity/src/browser.ts",
      "packages/chain/src/browser.ts",
      "packages/storage/src/browser.ts",
      "packages/audit/src/index.ts", // pure by design: its main entry is its browser entry
      "packages/research/src/index.ts", // pure by design too (de-identification runs in the patient's page)
    ]) {
      const bundle = await bundleForBrowser({ file: entry }, { minify: true });
      expectNoNodeBuiltins(bundle, entry);
      console.log(`      ${entry}: ${describeSize(bundle)}`);
    }
  });

  it("the packages' browser entries export all of their main entry but the Node-only modules they name", async () => {
    const cases: { pkg: string; nodeOnly: string[] }[] = [
      { pkg: "crypto", nodeOnly: [] },
      { pkg: "identity", nodeOnly: ["did/agent.ts", "verify/challenges-sqlite.ts"] },
      { pkg: "chain", nodeOnly: ["local-chain.ts", "local-deployment.ts", "deploy.ts"] },
      {
        pkg: "storage",
        nodeOnly: [
          "manifest/patient-manifest.ts",
          "manifest/recovery.ts",
          "manifest/manifest-head.ts",
          "record-store.ts",
          "patient-records.ts",
          "process-lock.ts",
          "helia/helia-content-store.ts",
          "helia/pack-blockstore.ts",
        ],
      },
    ];
    for (const { pkg, nodeOnly } of cases) {
      const main = Object.keys(await import(`@hygeia/${pkg}`));
      const browser = new Set(Object.keys(await import(`@hygeia/${pkg}/browser`)));
      const nodeNames = new Set<string>();
      for (const module of nodeOnly)
        for (const name of Object.keys(await import(pathToFileURL(join(ROOT, "packages", pkg, "src", module)).href)))
          nodeNames.add(name);
      const missing = main.filter((name) => !browser.has(name) && !nodeNames.has(name)).sort();
      expect(missing, `@hygeia/${pkg} exports these, @hygeia/${pkg}/browser does not (add them there)`).to.deep.equal(
        [],
      );
      const leaked = [...browser].filter((name) => nodeNames.has(name)).sort();
      expect(leaked, `@hygeia/${pkg}/browser exports names of Node-only modules`).to.deep.equal([]);
      const extra = [...browser].filter((name) => !main.includes(name)).sort();
      expect(extra, `@hygeia/${pkg}/browser exports names its main entry lacks`).to.deep.equal([]);
    }
  });

  describe("the bundled code runs", () => {
    // The SDK's browser entry plus the packages' browser functions the web wallet calls, as one browser bundle.
    const RUNTIME_ENTRY = `
      export * from "./browser.ts";
      export {
        decryptToBuffer, defaultSecretstream, deriveConsentSecretFromWalletSignature, deriveKeyPairFromWalletSignature,
        deriveScopeKey, encryptToBuffer, generateDataKey, nativeSecretstream, unwrapKey, wrapKey,
      } from "@hygeia/crypto/browser";
      export { PatientScopes } from "@hygeia/chain/browser";
      export { fromHex, leafHash, verifyInclusion } from "@hygeia/audit";
      export { manifestOwner, openManifest, parseCid, sealManifest } from "@hygeia/storage/browser";
      export {
        Bitstring, CachedDidResolver, Es256kVerifier, TokenStatusList, privateKeyHolderKey, signPresentation,
        verifyWithPublicKey,
      } from "@hygeia/identity/browser";
    `;
    type Bundled = typeof SdkBrowser &
      Pick<
        typeof CryptoBrowser,
        | "decryptToBuffer"
        | "defaultSecretstream"
        | "deriveConsentSecretFromWalletSignature"
        | "deriveKeyPairFromWalletSignature"
        | "deriveScopeKey"
        | "encryptToBuffer"
        | "generateDataKey"
        | "nativeSecretstream"
        | "unwrapKey"
        | "wrapKey"
      > &
      Pick<typeof ChainBrowser, "PatientScopes"> &
      Pick<typeof Audit, "fromHex" | "leafHash" | "verifyInclusion"> &
      Pick<typeof StorageBrowser, "manifestOwner" | "openManifest" | "parseCid" | "sealManifest"> &
      Pick<
        typeof IdentityBrowser,
        | "Bitstring"
        | "CachedDidResolver"
        | "Es256kVerifier"
        | "TokenStatusList"
        | "privateKeyHolderKey"
        | "signPresentation"
        | "verifyWithPublicKey"
      >;

    // A fixed wallet (a well-known test key: never holds anything) and its key-derivation signature.
    const wallet = new Wallet("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
    let dir: string;
    let bundled: Bundled;
    let signature: string;

    before(async () => {
      const bundle = await bundleForBrowser({ contents: RUNTIME_ENTRY, resolveDir: join(ROOT, "packages/sdk/src") });
      expectNoNodeBuiltins(bundle, "the runtime bundle");
      dir = await mkdtemp(join(tmpdir(), "hygeia-browser-bundle-"));
      const file = join(dir, "hygeia-sdk.browser.mjs");
      await writeFile(file, bundle.code);
      bundled = (await import(pathToFileURL(file).href)) as Bundled;
      const { domain, types, message } = nodeCrypto.keyDerivationTypedDataForEthers(0);
      signature = await wallet.signTypedData(domain, types, message as unknown as Record<string, unknown>);
    });

    after(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it("uses libsodium's secretstream, not Node's native one", () => {
      expect(bundled.nativeSecretstream).to.equal(undefined);
      expect(bundled.defaultSecretstream.name).to.equal("libsodium");
      expect(nodeCrypto.defaultSecretstream.name).to.not.equal("libsodium"); // so the tests below cross the two
    });

    it("derives the same X25519 key pair and keyed scope ids from the wallet's signature as Node does", () => {
      const inBundle = bundled.deriveKeyPairFromWalletSignature(signature, { expectedAddress: wallet.address });
      const inNode = nodeCrypto.deriveKeyPairFromWalletSignature(signature, { expectedAddress: wallet.address });
      expect(Buffer.from(inBundle.publicKey).toString("hex")).to.equal(Buffer.from(inNode.publicKey).toString("hex"));
      expect(Buffer.from(inBundle.secretKey).equals(inNode.secretKey)).to.equal(true);

      const secret = bundled.deriveConsentSecretFromWalletSignature(signature, { expectedAddress: wallet.address });
      const bundledScope = new bundled.PatientScopes(bundled.deriveScopeKey(secret), wallet.address).id(
        "category:laboratory",
      );
      const nodeSecret = nodeCrypto.deriveConsentSecretFromWalletSignature(signature, {
        expectedAddress: wallet.address,
      });
      const nodeScope = new PatientScopes(nodeCrypto.deriveScopeKey(nodeSecret), wallet.address).id(
        "category:laboratory",
      );
      expect(bundledScope).to.match(/^0x[0-9a-f]{64}$/);
      expect(bundledScope).to.equal(nodeScope);
    });

    it("derives the patient's keys through the SDK (the wallet signs in the page) as Node derives them", async () => {
      const keys = await bundled.derivePatientKeys(wallet);
      const inNode = nodeCrypto.deriveKeyPairFromWalletSignature(signature, { expectedAddress: wallet.address });
      expect(Buffer.from(keys.encryption.publicKey).equals(inNode.publicKey)).to.equal(true);
      const nodeSecret = nodeCrypto.deriveConsentSecretFromWalletSignature(signature, {
        expectedAddress: wallet.address,
      });
      const nodeScopes = new PatientScopes(nodeCrypto.deriveScopeKey(nodeSecret), wallet.address);
      expect(keys.scopes.id("fhir:Observation")).to.equal(nodeScopes.id("fhir:Observation"));
    });

    it("encrypts a multi-chunk record that Node decrypts, decrypts Node's, and refuses a tampered one", async () => {
      const keys = nodeCrypto.deriveKeyPairFromWalletSignature(signature, { expectedAddress: wallet.address });
      const record = randomBytes(300 * 1024 + 17); // five 64 KiB chunks and a tail
      const dek = bundled.generateDataKey();
      const envelope = await bundled.encryptToBuffer(record, dek);
      expect(Buffer.from(await nodeCrypto.decryptToBuffer(envelope, dek)).equals(record)).to.equal(true);

      const fromNode = await nodeCrypto.encryptToBuffer(record, dek);
      expect(Buffer.from(await bundled.decryptToBuffer(fromNode, dek)).equals(record)).to.equal(true);

      const tampered = Uint8Array.from(envelope);
      tampered[tampered.length - 100]! ^= 1;
      const refusal = await bundled.decryptToBuffer(tampered, dek).then(
        () => undefined,
        (error: unknown) => error as { code?: string },
      );
      expect(refusal?.code).to.equal("INTEGRITY");

      // The record key wrapped in the page to the patient's published key, unwrapped by Node with the same key.
      const context = "hygeia:record:bafkreibrowserbundletest";
      const wrap = bundled.wrapKey(dek, keys.publicKey, context);
      expect(Buffer.from(nodeCrypto.unwrapKey(wrap, keys, context)).equals(dek)).to.equal(true);
    });

    it("seals a record list Node's storage opens, opens one Node sealed, and refuses a flipped byte", async () => {
      const keyPair = nodeCrypto.deriveKeyPairFromWalletSignature(signature, { expectedAddress: wallet.address });
      const cid = nodeStorage.parseCid("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
      const dekWrap = nodeCrypto.wrapKey(
        nodeCrypto.generateDataKey(),
        keyPair.publicKey,
        nodeStorage.recordKeyContext(cid),
      );
      const document = (version: number, entryCid: typeof cid) => ({
        owner: nodeStorage.manifestOwner(keyPair.publicKey),
        version,
        prev: undefined,
        updated: "2026-12-02T10:00:00.000Z",
        entries: [
          {
            cid: entryCid,
            kind: "fhir" as const,
            type: "Observation",
            category: "laboratory",
            created: "2026-12-01T09:30:00.000Z",
            size: 1234,
            plaintextSize: 1200,
            dekWrap,
            sharedWith: [
              {
                id: "did:ethr:0x7a69:0xabc#delegate-1",
                publicKey: keyPair.publicKey,
                sharedAt: "2026-12-02T10:00:00.000Z",
              },
            ],
          },
        ],
      });
      const fromBundle = await bundled.sealManifest(document(1, bundled.parseCid(cid.toString())), keyPair);
      const opened = await nodeStorage.openManifest(fromBundle, keyPair);
      expect(opened.entries[0]!.cid.toString()).to.equal(cid.toString());
      expect(Buffer.from(opened.entries[0]!.dekWrap).equals(Buffer.from(dekWrap))).to.equal(true);
      expect(opened.entries[0]!.sharedWith[0]!.id).to.equal("did:ethr:0x7a69:0xabc#delegate-1");

      const fromNode = await nodeStorage.sealManifest(document(1, cid), keyPair);
      const openedInBundle = await bundled.openManifest(fromNode, keyPair);
      expect(Buffer.from(openedInBundle.entries[0]!.dekWrap).equals(Buffer.from(dekWrap))).to.equal(true);
      // The same document encodes to the same JSON on both sides (base64 and all): only the fresh keys differ.
      expect(openedInBundle.entries[0]!.sharedWith[0]!.sharedAt).to.equal(opened.entries[0]!.sharedWith[0]!.sharedAt);
      const flipped = fromNode.slice();
      flipped[flipped.length - 1]! ^= 1;
      let refused: unknown;
      await bundled.openManifest(flipped, keyPair).catch((error: unknown) => (refused = error));
      expect((refused as { name?: string } | undefined)?.name).to.match(/Manifest/);
    });

    it("verifies ES256K (noble in the bundle) as Node does (OpenSSL), both ways, the high-S twin included", async () => {
      // A did:ethr document as ethr-did-resolver gives it for an address with no changes: the controller by address.
      const did = `did:ethr:0x7a69:${wallet.address.toLowerCase()}`;
      const document = {
        id: did,
        verificationMethod: [
          {
            id: `${did}#controller`,
            type: "EcdsaSecp256k1RecoveryMethod2020",
            controller: did,
            blockchainAccountId: `eip155:31337:${wallet.address}`,
          },
        ],
        authentication: [`${did}#controller`],
        assertionMethod: [`${did}#controller`],
      };
      const holder = bundled.privateKeyHolderKey(wallet.privateKey, did);
      expect(await holder.publicJwk()).to.deep.equal(
        await nodeIdentity.privateKeyHolderKey(wallet.privateKey, did).publicJwk(),
      );
      const inputs = ["eyJhbGciOiJFUzI1NksifQ.e30", "a.b", "x".repeat(5000)];
      const curveOrder = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
      const nodeVerifier = new nodeIdentity.Es256kVerifier();
      const bundledVerifier = new bundled.Es256kVerifier();
      for (const input of inputs) {
        const signature = Buffer.from(await holder.sign(input), "base64url");
        const s = BigInt(`0x${signature.subarray(32).toString("hex")}`);
        const twin = Buffer.concat([
          signature.subarray(0, 32),
          Buffer.from((curveOrder - s).toString(16).padStart(64, "0"), "hex"),
        ]);
        for (const [name, sig] of [
          ["low-S", signature],
          ["high-S twin", twin],
        ] as const) {
          // Twice each: the second call takes the cached prepared key (a KeyObject in Node, bytes in the bundle).
          for (const round of [1, 2]) {
            expect(nodeVerifier.verify(document, "authentication", input, sig), `Node, ${name}, ${round}`).to.equal(
              true,
            );
            expect(
              bundledVerifier.verify(document, "authentication", input, sig),
              `bundle, ${name}, ${round}`,
            ).to.equal(true);
          }
        }
        const flipped = Buffer.from(signature);
        flipped[7]! ^= 1;
        expect(nodeVerifier.verify(document, "authentication", input, flipped)).to.equal(false);
        expect(bundledVerifier.verify(document, "authentication", input, flipped)).to.equal(false);
        expect(bundledVerifier.verify(document, "authentication", `${input}.`, signature)).to.equal(false);
      }
      // A JWT VP made in the bundle: Node reads its binding (iss, nonce, aud) and verifies its signature.
      const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
      const credential = `${b64({ alg: "ES256K" })}.${b64({ sub: did, vc: { type: ["VerifiableCredential"] } })}.AA`;
      const challenge = "c".repeat(24);
      const domain = `did:ethr:0x7a69:0x${"33".repeat(20)}`;
      const vp = await bundled.signPresentation(holder, { credentials: [credential], challenge, domain });
      const decoded = nodeIdentity.decodeJwt(vp);
      expect(decoded.payload).to.include({ iss: did, nonce: challenge });
      expect(decoded.payload.aud).to.deep.equal([domain]);
      expect((decoded.payload.vp as { verifiableCredential: string[] }).verifiableCredential).to.deep.equal([
        credential,
      ]);
      expect(nodeVerifier.verify(document, "authentication", decoded.signingInput, decoded.signature)).to.equal(true);
      expect(() => bundled.privateKeyHolderKey(wallet.privateKey, "did:ethr:0x7a69:0x" + "11".repeat(20))).to.throw(
        /not controlled by this key/,
      );
    });

    it("decodes status lists Node encoded and the other way round, and resolves did:ethr only", async () => {
      const bits = new nodeIdentity.Bitstring(131_072);
      for (const index of [0, 7, 4_096, 131_071]) bits.set(index, true);
      const decoded = bundled.Bitstring.decode(bits.encode());
      for (const index of [0, 1, 7, 4_096, 131_070, 131_071])
        expect(decoded.get(index), `bit ${index}`).to.equal(bits.get(index));
      expect(nodeIdentity.Bitstring.decode(decoded.encode()).get(4_096)).to.equal(true);

      const resolver = await bundled.CachedDidResolver.create({
        network: { chainId: 31337, rpcUrl: "http://127.0.0.1:9", registry: `0x${"22".repeat(20)}` },
        provider: new JsonRpcProvider("http://127.0.0.1:9", 31337, { staticNetwork: true }),
      });
      const refused = await resolver.resolve(`did:key:z${"Q3s".padEnd(40, "x")}`).then(
        () => undefined,
        (error: unknown) => error as { code?: string; message?: string },
      );
      expect(refused?.code).to.equal("UNKNOWN_DID");
      expect(refused?.message).to.match(/did:key is resolved in Node only/);
      await resolver.close();
    });

    it("verifies the RFC 6962 inclusion proof vectors and rejects a proof with one flipped bit", async () => {
      const vectors = JSON.parse(await readFile(join(ROOT, "packages/audit/test/vectors/rfc6962.json"), "utf8")) as {
        leaves: string[];
        roots: string[];
        inclusion: { index: number; size: number; proof: string[] }[];
      };
      const hex = (text: string) => bundled.fromHex(text)!;
      expect(vectors.inclusion.length).to.be.greaterThan(0);
      for (const { index, size, proof } of vectors.inclusion) {
        const leaf = bundled.leafHash(hex(vectors.leaves[index]!));
        const root = hex(vectors.roots[size]!);
        expect(bundled.verifyInclusion(leaf, index, size, proof.map(hex), root), `leaf ${index} of ${size}`).to.equal(
          true,
        );
        if (proof.length === 0) continue;
        const flipped = proof.map(hex);
        flipped[0]![0]! ^= 1;
        expect(bundled.verifyInclusion(leaf, index, size, flipped, root), `flipped, leaf ${index}`).to.equal(false);
      }
    });

    it("signs in with SIWE, maps a gateway's refusal to its typed error, and a gateway that is down to 'unreachable'", async () => {
      let verified: { message: string; signature: string } | undefined;
      const server: Server = createServer((req, res) => {
        const answer = (status: number, body: unknown, type = "application/json") => {
          res.writeHead(status, { "content-type": type });
          res.end(JSON.stringify(body));
        };
        const origin = `http://${req.headers.host}`;
        if (req.url === "/v1/auth/nonce")
          return answer(200, {
            nonce: "k3Xq9bRt2mWz",
            domain: req.headers.host,
            uri: origin,
            chainId: 31337,
            statement: "Sign in to Hygeia.",
          });
        if (req.url === "/v1/auth/verify") {
          let body = "";
          req.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
          req.on("end", () => {
            verified = JSON.parse(body) as { message: string; signature: string };
            answer(200, {
              token: "session-token",
              address: wallet.address.toLowerCase(),
              expiresAt: Date.now() + 60_000,
            });
          });
          return;
        }
        answer(
          403,
          {
            type: "https://hygeia.dev/problems/consent-required",
            title: "Consent required",
            status: 403,
            detail: "no consent for this scope and purpose",
            code: "CONSENT_REQUIRED",
          },
          "application/problem+json",
        );
      });
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const { port } = server.address() as { port: number };
      try {
        const transport = new bundled.GatewayTransport({ url: `http://127.0.0.1:${port}` });
        const session = await bundled.signIn(transport, wallet);
        expect(session.token).to.equal("session-token");
        expect(transport.token).to.equal("session-token");
        expect(verified?.message).to.include(`wants you to sign in with your Ethereum account:\n${wallet.address}`);
        expect(verified?.message).to.include("Nonce: k3Xq9bRt2mWz");
        expect(verifyMessage(verified!.message, verified!.signature)).to.equal(wallet.address);

        const refused = await transport.request("GET", "/v1/records/x").catch((error: unknown) => error);
        expect(refused).to.be.instanceOf(bundled.GatewayProblemError);
        expect(refused).to.include({ code: "CONSENT_REQUIRED", kind: "refused", status: 403 });
        expect((refused as { hint: string }).hint).to.match(/grant you consent/);
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
      const down = new bundled.GatewayTransport({ url: `http://127.0.0.1:${port}` });
      const unreachable = await down.request("GET", "/healthz").catch((error: unknown) => error);
      expect(unreachable).to.be.instanceOf(bundled.ServiceUnreachableError);
      expect(unreachable).to.include({ code: "SERVICE_UNREACHABLE", kind: "unavailable", service: "gateway" });
    });
  });
});
