// loadConfig: local-stack defaults, a JSON file, HYGEIA_* variables on top; every refusal names the setting
// as the operator wrote it, and never echoes a key.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import { Wallet } from "ethers";
import { ENV_SETTINGS, loadConfig, redactConfig } from "../../src/config-load.ts";
import { ConfigError } from "../../src/errors.ts";
import { loadSharedKey } from "../../src/auth/tokens.ts";

const KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

function refusal(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", function () {
  let dir: string;
  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "hygeia-config-"));
  });
  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  async function file(name: string, json: unknown): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, typeof json === "string" ? json : JSON.stringify(json));
    return path;
  }

  it("gives the web pages the chain's URL only when it is safe to publish", function () {
    // Loopback without credentials (the local stack): the pages get it.
    expect(loadConfig({ env: {} }).web.rpcUrl).to.equal("http://127.0.0.1:8545/");
    // A remote provider's URL may carry an API key: not published unless the operator names a public one.
    expect(loadConfig({ env: { HYGEIA_RPC_URL: "https://eth.example/v3/secretkey" } }).web.rpcUrl).to.equal(null);
    expect(loadConfig({ env: { HYGEIA_RPC_URL: "http://127.0.0.1:8545/?key=secret" } }).web.rpcUrl).to.equal(null);
    expect(
      loadConfig({ env: { HYGEIA_RPC_URL: "https://eth.example/v3/k", HYGEIA_WEB_RPC_URL: "https://rpc.example" } }).web
        .rpcUrl,
    ).to.equal("https://rpc.example/");
    expect(refusal(() => loadConfig({ env: { HYGEIA_WEB_RPC_URL: "rpc.example" } })).setting).to.equal(
      "HYGEIA_WEB_RPC_URL",
    );
    const withCredentials = refusal(() => loadConfig({ env: { HYGEIA_WEB_RPC_URL: "https://u:p@rpc.example" } }));
    expect(withCredentials.setting).to.equal("HYGEIA_WEB_RPC_URL");
    expect(withCredentials.message).not.to.include("u:p");
    // Query and fragment (where API keys go) are refused; the host must be a plain one (it becomes a CSP source).
    for (const url of ["https://rpc.example/?apikey=SECRET", "https://rpc.example/#apikey=SECRET"])
      expect(refusal(() => loadConfig({ env: { HYGEIA_WEB_RPC_URL: url } })).message).not.to.include("SECRET");
    for (const url of ["https://evil.com;script-src", "http://*.example", "https://a'b.example"])
      expect(refusal(() => loadConfig({ env: { HYGEIA_WEB_RPC_URL: url } })).setting).to.equal("HYGEIA_WEB_RPC_URL");
    // The gateway's own loopback chain URL is published only when the gateway is local too, and only bare.
    expect(
      loadConfig({ env: { HYGEIA_PUBLIC_URL: "https://hygeia.example", HYGEIA_RPC_URL: "http://127.0.0.1:8545" } }).web
        .rpcUrl,
    ).to.equal(null);
    for (const rpc of ["http://127.0.0.1:8545/v3/SECRETKEY", "http://127.0.0.1:8545/#apikey=SECRET"])
      expect(loadConfig({ env: { HYGEIA_RPC_URL: rpc } }).web.rpcUrl).to.equal(null);
  });

  it("defaults to the local stack", function () {
    const config = loadConfig({ env: {} });
    expect(config).to.deep.include({
      host: "127.0.0.1",
      port: 8787,
      dataDir: ".hygeia/gateway",
      publicUrl: "http://127.0.0.1:8787",
      corsOrigins: [],
    });
    expect(config.chain).to.include({
      rpcUrl: "http://127.0.0.1:8545",
      deploymentFile: ".hygeia/deployment.json",
      relayerKey: null,
      anchorKey: null,
    });
    expect(config.sessions.ttlMs).to.equal(15 * 60_000);
    expect(config.siwe.nonceTtlMs).to.equal(5 * 60_000);
    expect(config.limits).to.deep.include({ bodyBytes: 1024 * 1024, uploadBytes: 256 * 1024 * 1024, relayPerDay: 50 });
    expect(config.limits.perIp).to.deep.equal({ max: 600, windowMs: 60_000 });
    expect(config.limits.perSession).to.deep.equal({ max: 300, windowMs: 60_000 });
    expect(config.audit).to.deep.equal({
      anchorEveryEvents: 4096,
      anchorEveryMs: 10_000,
      origin: "hygeia.local/gateway/unanchored",
    });
  });

  it("reads HYGEIA_* variables over a file over the defaults", async function () {
    const path = await file("layered.json", { port: 9000, chain: { confirmations: 3 }, limits: { relayPerDay: 5 } });
    const config = loadConfig({
      env: { HYGEIA_CONFIG: path, HYGEIA_PORT: "9100", HYGEIA_CORS_ORIGINS: "https://a.example, https://b.example" },
    });
    expect(config.port).to.equal(9100);
    expect(config.publicUrl).to.equal("http://127.0.0.1:9100");
    expect(config.chain.confirmations).to.equal(3);
    expect(config.limits.relayPerDay).to.equal(5);
    expect(config.corsOrigins).to.deep.equal(["https://a.example", "https://b.example"]);
    // --config wins over HYGEIA_CONFIG.
    const other = await file("other.json", { port: 9200 });
    expect(loadConfig({ env: { HYGEIA_CONFIG: path }, file: other }).port).to.equal(9200);
  });

  it("uses the relayer key to anchor unless an anchor key is given, and names the anchoring account in the origin", function () {
    const config = loadConfig({ env: { HYGEIA_RELAYER_KEY: KEY } });
    expect(config.chain.anchorKey).to.equal(KEY);
    expect(config.audit.origin).to.equal(`hygeia.local/gateway/${new Wallet(KEY).address.toLowerCase()}`);
  });

  it("names an environment variable as written, with what it must be and what it got", function () {
    expect(refusal(() => loadConfig({ env: { HYGEIA_PORT: "80a" } })).message).to.equal(
      'HYGEIA_PORT: must be an integer 0-65535, got "80a"',
    );
    expect(refusal(() => loadConfig({ env: { HYGEIA_STRICT: "maybe" } })).setting).to.equal("HYGEIA_STRICT");
    expect(refusal(() => loadConfig({ env: { HYGEIA_IPFS: "kubo" } })).setting).to.equal("HYGEIA_KUBO_URL");
    expect(refusal(() => loadConfig({ env: { HYGEIA_PUBLIC_URL: "ftp://x" } })).setting).to.equal("HYGEIA_PUBLIC_URL");
    expect(refusal(() => loadConfig({ env: { HYGEIA_CORS_ORIGINS: "https://a.example/path" } })).setting).to.equal(
      "HYGEIA_CORS_ORIGINS[0]",
    );
    expect(refusal(() => loadConfig({ env: { HYGEIA_TRUST_PROXY: "10.0.0.1,lb.example" } })).setting).to.equal(
      "HYGEIA_TRUST_PROXY[1]",
    );
    expect(loadConfig({ env: { HYGEIA_TRUST_PROXY: "10.0.0.0/8, ::1" } }).trustProxy).to.deep.equal([
      "10.0.0.0/8",
      "::1",
    ]);
  });

  it("refuses an audit origin that is not a signed-note key name, naming HYGEIA_AUDIT_ORIGIN", async function () {
    for (const origin of ["log example", "example.com/log+1", "tab\there"]) {
      const refused = refusal(() => loadConfig({ env: { HYGEIA_AUDIT_ORIGIN: origin } }));
      expect(refused.setting, origin).to.equal("HYGEIA_AUDIT_ORIGIN");
      expect(refused.message).to.include("signed-note key name");
    }
    expect(refusal(() => loadConfig({ env: { HYGEIA_AUDIT_ORIGIN: "  " } })).setting).to.equal("HYGEIA_AUDIT_ORIGIN");
    const path = await file("origin.json", { audit: { origin: "a b" } });
    expect(refusal(() => loadConfig({ env: {}, file: path })).setting).to.equal("audit.origin");
    expect(loadConfig({ env: { HYGEIA_AUDIT_ORIGIN: "gw.example/audit" } }).audit.origin).to.equal("gw.example/audit");
  });

  it("names a file key as written, and refuses unknown keys", async function () {
    const typo = await file("typo.json", { limits: { perIP: { max: 5, windowMs: 1000 } } });
    const unknown = refusal(() => loadConfig({ env: {}, file: typo }));
    expect(unknown.setting).to.equal("limits.perIP");
    expect(unknown.message).to.include("unknown setting");
    const wrong = await file("wrong.json", { chain: { confirmations: "2" } });
    expect(refusal(() => loadConfig({ env: {}, file: wrong })).setting).to.equal("chain.confirmations");
    const stale = await file("stale.json", { chain: { pollIntervalMs: 5000, staleAfterMs: 1000 } });
    expect(refusal(() => loadConfig({ env: {}, file: stale })).setting).to.equal("chain.staleAfterMs");
    const broken = await file("broken.json", "{ port: ");
    expect(refusal(() => loadConfig({ env: {}, file: broken })).message).to.include("not valid JSON");
    expect(refusal(() => loadConfig({ env: {}, file: join(dir, "missing.json") })).setting).to.equal("HYGEIA_CONFIG");
  });

  it("never echoes a key, even a malformed one", async function () {
    const secret = "0xnot-a-key-but-still-secret-material";
    const fromEnv = refusal(() => loadConfig({ env: { HYGEIA_RELAYER_KEY: secret } }));
    expect(fromEnv.setting).to.equal("HYGEIA_RELAYER_KEY");
    expect(fromEnv.message).not.to.include("secret-material");
    const path = await file("key.json", { chain: { anchorKey: 12345678 } });
    const fromFile = refusal(() => loadConfig({ env: {}, file: path }));
    expect(fromFile.setting).to.equal("chain.anchorKey");
    expect(fromFile.message).not.to.include("12345678");
    const shown = JSON.stringify(redactConfig(loadConfig({ env: { HYGEIA_RELAYER_KEY: KEY } })));
    expect(shown).not.to.include(KEY.slice(2));
  });

  it("takes a PostgreSQL URL, refuses anything else without echoing it, and never shows its password", async function () {
    expect(loadConfig({ env: {} }).database.url).to.equal(null);
    const url = "postgres://hygeia:pa55-word-secret@db.internal:5432/hygeia";
    const secrets = {
      HYGEIA_SESSION_SECRET: "a-long-shared-session-secret-of-gateways-0123456789",
      HYGEIA_GATEWAY_SECRET: "a-long-shared-gateway-secret-of-gateways-0123456789",
    };
    expect(loadConfig({ env: { ...secrets, HYGEIA_DATABASE_URL: url } }).database.url).to.equal(url);
    for (const [bad, says] of [
      ["mysql://u:pa55-word-secret@h/db", "postgres:// or postgresql://"],
      ["postgres://u:pa55-word-secret@h:5432/", "name a host and a database"],
      ["not a url pa55-word-secret", "must be a URL"],
    ] as const) {
      const refused = refusal(() => loadConfig({ env: { HYGEIA_DATABASE_URL: bad } }));
      expect(refused.setting).to.equal("HYGEIA_DATABASE_URL");
      expect(refused.message).to.include(says).and.not.include("pa55-word-secret");
    }
    const path = await file("db.json", { database: { url: 42 } });
    expect(refusal(() => loadConfig({ env: {}, file: path })).message).not.to.include("42");
    const shown = JSON.stringify(redactConfig(loadConfig({ env: { ...secrets, HYGEIA_DATABASE_URL: url } })));
    expect(shown).to.include("db.internal").and.not.include("pa55-word-secret");
    const inQuery =
      "postgres://hygeia@db.internal:5432/hygeia?sslmode=require&password=pa55-word-secret&sslpassword=pa55-word-secret";
    const shownQuery = JSON.stringify(redactConfig(loadConfig({ env: { ...secrets, HYGEIA_DATABASE_URL: inQuery } })));
    expect(shownQuery).to.include("sslmode=require").and.not.include("pa55-word-secret");
  });

  it("takes the shared session secret from the environment only, refusing a short one without echoing it", async function () {
    expect(loadConfig({ env: {} }).sessions.secret).to.equal(null);
    const secret = "a-long-shared-session-secret-of-gateways-0123456789";
    expect(loadConfig({ env: { HYGEIA_SESSION_SECRET: secret } }).sessions.secret).to.equal(secret);
    const refused = refusal(() => loadConfig({ env: { HYGEIA_SESSION_SECRET: "short-secret-xyz" } }));
    expect(refused.setting).to.equal("HYGEIA_SESSION_SECRET");
    expect(refused.message).to.include("at least 32").and.not.include("short-secret-xyz");
    const inFile = await file("secret.json", { sessions: { secret } });
    expect(refusal(() => loadConfig({ env: {}, file: inFile })).setting).to.equal("sessions.secret");
    const shown = JSON.stringify(redactConfig(loadConfig({ env: { HYGEIA_SESSION_SECRET: secret } })));
    expect(shown).not.to.include(secret);
  });

  it("needs the shared secrets with a PostgreSQL database, and derives the shared keys from the gateway secret", async function () {
    const url = "postgres://hygeia@db.internal:5432/hygeia";
    const session = "a-long-shared-session-secret-of-gateways-0123456789";
    const keys = "a-long-shared-gateway-secret-of-gateways-0123456789";
    expect(refusal(() => loadConfig({ env: { HYGEIA_DATABASE_URL: url } })).setting).to.equal("HYGEIA_SESSION_SECRET");
    const noKeys = refusal(() => loadConfig({ env: { HYGEIA_DATABASE_URL: url, HYGEIA_SESSION_SECRET: session } }));
    expect(noKeys.setting).to.equal("HYGEIA_GATEWAY_SECRET");
    expect(noKeys.message).to.include("every gateway sharing it");
    const short = refusal(() => loadConfig({ env: { HYGEIA_GATEWAY_SECRET: "short-gateway-secret" } }));
    expect(short.message).to.include("at least 32").and.not.include("short-gateway-secret");
    const config = loadConfig({
      env: { HYGEIA_DATABASE_URL: url, HYGEIA_SESSION_SECRET: session, HYGEIA_GATEWAY_SECRET: keys },
    });
    expect(JSON.stringify(redactConfig(config))).not.to.include(keys);
    // Two data dirs, one secret: the same keys; no secret: each its own file.
    const [a, b] = [join(dir, "gw-a"), join(dir, "gw-b")];
    for (const name of ["receipt", "webhook", "tally"] as const) {
      expect(await loadSharedKey(a, keys, name, "test")).to.deep.equal(await loadSharedKey(b, keys, name, "test"));
      expect(await loadSharedKey(a, null, name, "test")).not.to.deep.equal(await loadSharedKey(b, null, name, "test"));
    }
    expect(await loadSharedKey(a, keys, "receipt", "test")).not.to.deep.equal(
      await loadSharedKey(a, keys, "tally", "test"),
    );
  });

  it("documents every environment variable in the README's Configuration table", async function () {
    const { readFile } = await import("node:fs/promises");
    const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
    const section = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("## Roles and sessions"));
    const missing = Object.keys(ENV_SETTINGS).filter((name) => !section.includes(`\`${name}\``));
    expect(missing, "variables missing from the README").to.deep.equal([]);
  });
});
