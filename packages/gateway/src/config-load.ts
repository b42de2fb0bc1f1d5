// loadConfig: the gateway's configuration from defaults, an optional JSON file and HYGEIA_* environment
// variables (in that order of precedence, the environment last), validated once at start.
//
// Rules:
// - With nothing set, every default points at the local stack of `npm start` (127.0.0.1:8787).
// - A refusal is a ConfigError naming the setting as the operator wrote it: `HYGEIA_PORT` for the
//   environment, `port` / `limits.perIp.max` for a key of the file.
// - Unknown keys in the file are refused (a typo must not silently fall back to a default).
// - Secrets (the relayer and anchor keys) are never echoed in a message: only whether they are well formed.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { resolve } from "node:path";
import { computeAddress } from "ethers";
import { Type, type Static, type TSchema } from "typebox";
import { Value } from "typebox/value";
import type { GatewayConfig } from "./config.ts";
import { MIN_SESSION_SECRET_LENGTH } from "./auth/tokens.ts";
import { ConfigError } from "./errors.ts";

const MIB = 1024 * 1024;
const PRIVATE_KEY = /^0x[0-9a-fA-F]{64}$/;
const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

/** The configuration with nothing set: the local stack. `publicUrl` follows host and port unless given. */
export function defaultConfig(): GatewayConfig {
  const host = "127.0.0.1";
  const port = 8787;
  return {
    host,
    port,
    dataDir: ".hygeia/gateway",
    publicUrl: `http://${host}:${port}`,
    logLevel: "info",
    siwe: {
      statement: "Sign in to the Hygeia gateway. This signature costs nothing and sends no transaction.",
      nonceTtlMs: 5 * 60_000,
      maxMessageAgeMs: 5 * 60_000,
    },
    sessions: { ttlMs: 15 * 60_000, secret: null },
    chain: {
      rpcUrl: "http://127.0.0.1:8545",
      deploymentFile: ".hygeia/deployment.json",
      confirmations: 2,
      // A revoke bites once a poll has seen its block: at 100 ms a local node keeps revoke-to-deny well under
      // 300 ms (bench:gateway). A remote provider that bills per request may want 1000-2000 ms.
      pollIntervalMs: 100,
      staleAfterMs: 15_000,
      strict: false,
      relayerKey: null,
      anchorKey: null,
    },
    ipfs: { kind: "helia", kuboUrl: null, timeoutMs: 30_000 },
    identity: { statusListTtlMs: 60_000, trustCacheTtlMs: 5_000 },
    gatewaySecret: null,
    database: { url: null },
    research: { minCell: 11 },
    limits: {
      bodyBytes: MIB,
      uploadBytes: 256 * MIB,
      perIp: { max: 600, windowMs: 60_000 },
      perSession: { max: 300, windowMs: 60_000 },
      relayPerDay: 50,
      anchorsPerDay: 200,
    },
    audit: { anchorEveryEvents: 4096, anchorEveryMs: 10_000, origin: "" },
    trustProxy: [],
    corsOrigins: [],
    web: { rpcUrl: null },
  };
}

const Millis = (max: number) => Type.Integer({ minimum: 0, maximum: max });
const Positive = (max: number) => Type.Integer({ minimum: 1, maximum: max });
const DAY = 86_400_000;
const RateLimit = Type.Object({ max: Positive(1_000_000), windowMs: Positive(DAY) }, { additionalProperties: false });

/** The file's shape: every key optional (defaults fill in), none unknown. */
const FileSchema = Type.Object(
  {
    host: Type.Optional(Type.String({ minLength: 1 })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    dataDir: Type.Optional(Type.String({ minLength: 1 })),
    publicUrl: Type.Optional(Type.String({ minLength: 1 })),
    logLevel: Type.Optional(Type.Union(LOG_LEVELS.map((level) => Type.Literal(level)))),
    siwe: Type.Optional(
      Type.Object(
        {
          statement: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
          nonceTtlMs: Type.Optional(Positive(DAY)),
          maxMessageAgeMs: Type.Optional(Positive(DAY)),
        },
        { additionalProperties: false },
      ),
    ),
    sessions: Type.Optional(Type.Object({ ttlMs: Type.Optional(Positive(7 * DAY)) }, { additionalProperties: false })),
    chain: Type.Optional(
      Type.Object(
        {
          rpcUrl: Type.Optional(Type.String({ minLength: 1 })),
          deploymentFile: Type.Optional(Type.String({ minLength: 1 })),
          confirmations: Type.Optional(Type.Integer({ minimum: 0, maximum: 63 })),
          pollIntervalMs: Type.Optional(Positive(600_000)),
          staleAfterMs: Type.Optional(Positive(DAY)),
          strict: Type.Optional(Type.Boolean()),
          relayerKey: Type.Optional(Type.Union([Type.String(), Type.Null()])),
          anchorKey: Type.Optional(Type.Union([Type.String(), Type.Null()])),
        },
        { additionalProperties: false },
      ),
    ),
    ipfs: Type.Optional(
      Type.Object(
        {
          kind: Type.Optional(Type.Union([Type.Literal("helia"), Type.Literal("kubo")])),
          kuboUrl: Type.Optional(Type.Union([Type.String({ minLength: 1 }), Type.Null()])),
          timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    identity: Type.Optional(
      Type.Object(
        {
          statusListTtlMs: Type.Optional(Millis(DAY)),
          trustCacheTtlMs: Type.Optional(Millis(60 * 60_000)),
        },
        { additionalProperties: false },
      ),
    ),
    database: Type.Optional(
      Type.Object(
        { url: Type.Optional(Type.String({ minLength: 1, maxLength: 2000 })) },
        { additionalProperties: false },
      ),
    ),
    research: Type.Optional(
      Type.Object(
        { minCell: Type.Optional(Type.Integer({ minimum: 3, maximum: 1_000 })) },
        { additionalProperties: false },
      ),
    ),
    limits: Type.Optional(
      Type.Object(
        {
          bodyBytes: Type.Optional(Positive(64 * MIB)),
          uploadBytes: Type.Optional(Positive(64 * 1024 * MIB)),
          perIp: Type.Optional(RateLimit),
          perSession: Type.Optional(RateLimit),
          relayPerDay: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
          anchorsPerDay: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    audit: Type.Optional(
      Type.Object(
        {
          anchorEveryEvents: Type.Optional(Positive(1_000_000)),
          anchorEveryMs: Type.Optional(Positive(DAY)),
          origin: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
        },
        { additionalProperties: false },
      ),
    ),
    trustProxy: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 100 })),
    corsOrigins: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 100 })),
    web: Type.Optional(
      Type.Object({ rpcUrl: Type.Optional(Type.String({ minLength: 1 })) }, { additionalProperties: false }),
    ),
  },
  { additionalProperties: false },
);
type FileConfig = Static<typeof FileSchema>;

/** Each environment variable: where it goes and how it is read. Documented in the README's Configuration table. */
interface EnvSetting {
  path: readonly string[];
  parse: (raw: string, name: string) => unknown;
  secret?: boolean;
}

function integer(min: number, max: number) {
  return (raw: string, name: string): number => {
    const trimmed = raw.trim();
    const value = /^-?\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max)
      throw new ConfigError(name, `must be an integer ${min}-${max}, got ${JSON.stringify(raw)}`);
    return value;
  };
}
function text(raw: string, name: string): string {
  if (raw.trim() === "") throw new ConfigError(name, "must not be empty");
  return raw.trim();
}
function boolean(raw: string, name: string): boolean {
  const value = raw.trim().toLowerCase();
  if (["1", "true", "yes", "on"].includes(value)) return true;
  if (["0", "false", "no", "off"].includes(value)) return false;
  throw new ConfigError(name, `must be true or false, got ${JSON.stringify(raw)}`);
}
function oneOf(values: readonly string[]) {
  return (raw: string, name: string): string => {
    const value = raw.trim();
    if (!values.includes(value))
      throw new ConfigError(name, `must be one of ${values.join(", ")}, got ${JSON.stringify(raw)}`);
    return value;
  };
}
function optionalKey(raw: string): string | null {
  return raw.trim() === "" ? null : raw.trim();
}
function list(raw: string): string[] {
  return raw
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

export const ENV_SETTINGS: Readonly<Record<string, EnvSetting>> = {
  HYGEIA_HOST: { path: ["host"], parse: text },
  HYGEIA_PORT: { path: ["port"], parse: integer(0, 65535) },
  HYGEIA_DATA_DIR: { path: ["dataDir"], parse: text },
  HYGEIA_PUBLIC_URL: { path: ["publicUrl"], parse: text },
  HYGEIA_LOG_LEVEL: { path: ["logLevel"], parse: oneOf(LOG_LEVELS) },
  HYGEIA_SESSION_TTL_MS: { path: ["sessions", "ttlMs"], parse: integer(1, 7 * DAY) },
  // Environment only (not in the file schema): a secret does not belong in a config file checked into a repo.
  HYGEIA_SESSION_SECRET: { path: ["sessions", "secret"], parse: text, secret: true },
  HYGEIA_NONCE_TTL_MS: { path: ["siwe", "nonceTtlMs"], parse: integer(1, DAY) },
  HYGEIA_RPC_URL: { path: ["chain", "rpcUrl"], parse: text },
  HYGEIA_DEPLOYMENT_FILE: { path: ["chain", "deploymentFile"], parse: text },
  HYGEIA_CONFIRMATIONS: { path: ["chain", "confirmations"], parse: integer(0, 63) },
  HYGEIA_POLL_INTERVAL_MS: { path: ["chain", "pollIntervalMs"], parse: integer(1, 600_000) },
  HYGEIA_STALE_AFTER_MS: { path: ["chain", "staleAfterMs"], parse: integer(1, DAY) },
  HYGEIA_STRICT: { path: ["chain", "strict"], parse: boolean },
  HYGEIA_RELAYER_KEY: { path: ["chain", "relayerKey"], parse: optionalKey, secret: true },
  HYGEIA_ANCHOR_KEY: { path: ["chain", "anchorKey"], parse: optionalKey, secret: true },
  HYGEIA_IPFS: { path: ["ipfs", "kind"], parse: oneOf(["helia", "kubo"]) },
  HYGEIA_KUBO_URL: { path: ["ipfs", "kuboUrl"], parse: text },
  HYGEIA_IPFS_TIMEOUT_MS: { path: ["ipfs", "timeoutMs"], parse: integer(100, 600_000) },
  HYGEIA_STATUS_LIST_TTL_MS: { path: ["identity", "statusListTtlMs"], parse: integer(0, DAY) },
  HYGEIA_GATEWAY_SECRET: { path: ["gatewaySecret"], parse: text, secret: true },
  HYGEIA_DATABASE_URL: { path: ["database", "url"], parse: text, secret: true },
  HYGEIA_RESEARCH_MIN_CELL: { path: ["research", "minCell"], parse: integer(3, 1_000) },
  HYGEIA_BODY_LIMIT_BYTES: { path: ["limits", "bodyBytes"], parse: integer(1, 64 * MIB) },
  HYGEIA_UPLOAD_LIMIT_BYTES: { path: ["limits", "uploadBytes"], parse: integer(1, 64 * 1024 * MIB) },
  HYGEIA_RATE_LIMIT_PER_IP: { path: ["limits", "perIp", "max"], parse: integer(1, 1_000_000) },
  HYGEIA_RATE_LIMIT_PER_SESSION: { path: ["limits", "perSession", "max"], parse: integer(1, 1_000_000) },
  HYGEIA_RELAY_PER_DAY: { path: ["limits", "relayPerDay"], parse: integer(0, 1_000_000) },
  HYGEIA_ANCHORS_PER_DAY: { path: ["limits", "anchorsPerDay"], parse: integer(0, 1_000_000) },
  HYGEIA_AUDIT_ANCHOR_EVERY: { path: ["audit", "anchorEveryEvents"], parse: integer(1, 1_000_000) },
  HYGEIA_AUDIT_ANCHOR_MS: { path: ["audit", "anchorEveryMs"], parse: integer(1, DAY) },
  HYGEIA_AUDIT_ORIGIN: { path: ["audit", "origin"], parse: text },
  HYGEIA_CORS_ORIGINS: { path: ["corsOrigins"], parse: list },
  HYGEIA_TRUST_PROXY: { path: ["trustProxy"], parse: list },
  HYGEIA_WEB_RPC_URL: { path: ["web", "rpcUrl"], parse: text },
};

export interface LoadConfigOptions {
  /** The environment (process.env in server.ts); only HYGEIA_* variables are read. */
  env: Readonly<Record<string, string | undefined>>;
  /** A JSON file (default: env.HYGEIA_CONFIG when set). */
  file?: string;
}

/** Defaults ← file ← environment, validated; throws ConfigError naming the first bad setting. */
export function loadConfig(options: LoadConfigOptions): GatewayConfig {
  const { env } = options;
  const config = defaultConfig();
  const file = options.file ?? (env.HYGEIA_CONFIG?.trim() ? env.HYGEIA_CONFIG.trim() : undefined);
  const given = new Set<string>();
  if (file !== undefined) mergeFile(config, readConfigFile(file), given);
  for (const [name, setting] of Object.entries(ENV_SETTINGS)) {
    const raw = env[name];
    if (raw === undefined) continue;
    setPath(config, setting.path, setting.parse(raw, name));
    given.add(setting.path.join("."));
  }
  const nameOf = (path: string) => settingName(path, file !== undefined && !envSets(env, path));
  return finish(config, given, nameOf);
}

function envSets(env: Readonly<Record<string, string | undefined>>, path: string): boolean {
  return Object.entries(ENV_SETTINGS).some(
    ([name, setting]) => setting.path.join(".") === path && env[name] !== undefined,
  );
}

/** The name the operator wrote: the env var when the environment set it, else the file key. */
function settingName(path: string, fromFile: boolean): string {
  if (!fromFile) {
    const env = Object.entries(ENV_SETTINGS).find(([, setting]) => setting.path.join(".") === path);
    if (env) return env[0];
  }
  return path;
}

function readConfigFile(file: string): FileConfig {
  let text: string;
  try {
    text = readFileSync(resolve(file), "utf8");
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new ConfigError("HYGEIA_CONFIG", `cannot read ${file} (${typeof code === "string" ? code : "error"})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError("HYGEIA_CONFIG", `${file} is not valid JSON`);
  }
  if (!Value.Check(FileSchema, json)) {
    const first = Value.Errors(FileSchema, json)[0];
    const where = pointerToPath(first?.instancePath ?? "");
    // TypeBox reports a key the schema does not allow as "schema is false" at that key.
    if (first?.keyword === "boolean") throw new ConfigError(where, `unknown setting in ${file}`);
    const params = (first?.params ?? {}) as Record<string, unknown>;
    const extra = Array.isArray(params.additionalProperties)
      ? String(params.additionalProperties[0])
      : typeof params.additionalProperty === "string"
        ? params.additionalProperty
        : undefined;
    if (extra !== undefined) {
      const key = where === "" ? extra : `${where}.${extra}`;
      throw new ConfigError(key, `unknown setting in ${file}`);
    }
    const secret = where.endsWith("Key") || where === "database.url";
    const value = secret ? "" : `, got ${JSON.stringify(valueAt(json, where))}`;
    throw new ConfigError(where === "" ? "HYGEIA_CONFIG" : where, `${first?.message ?? "is invalid"}${value}`);
  }
  return json;
}

function pointerToPath(pointer: string): string {
  return pointer
    .split("/")
    .filter((part) => part !== "")
    .join(".");
}

function valueAt(json: unknown, path: string): unknown {
  let value: unknown = json;
  for (const part of path.split(".").filter((p) => p !== "")) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function mergeFile(config: GatewayConfig, file: FileConfig, given: Set<string>, prefix: string[] = []): void {
  for (const [key, value] of Object.entries(file as Record<string, unknown>)) {
    const path = [...prefix, key];
    if (isPlainObject(value) && !Array.isArray(value)) mergeFile(config, value as FileConfig, given, path);
    else {
      setPath(config, path, value);
      given.add(path.join("."));
    }
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function setPath(target: object, path: readonly string[], value: unknown): void {
  let node = target as Record<string, unknown>;
  for (const part of path.slice(0, -1)) {
    if (!isPlainObject(node[part])) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/** A C2SP signed-note key name (see @hygeia/audit's signCheckpoint): non-empty, no whitespace, "+" or controls. */
export function isNoteKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+\p{Cc}]/u.test(name);
}

/**
 * The chain URL the web pages get (and their CSP's connect-src): the one given, else the gateway's own when both the
 * gateway and the chain are on loopback (the local stack: the browser runs on that machine), else none. Published to
 * every visitor, so it must carry no credentials, query or fragment (where API keys live), and its host must be a
 * plain host name or IP (it becomes a CSP source: no `*`, `;` or quotes).
 */
function webRpcUrl(config: GatewayConfig, nameOf: (path: string) => string): string | null {
  const given = config.web.rpcUrl;
  if (given !== null) {
    const url = URL.canParse(given) ? new URL(given) : undefined;
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:") || !/^https?:\/\/[^\s]+$/.test(given))
      throw new ConfigError(nameOf("web.rpcUrl"), `must be an http(s) URL, got ${JSON.stringify(given)}`);
    if (url.username !== "" || url.password !== "" || url.search !== "" || url.hash !== "")
      throw new ConfigError(
        nameOf("web.rpcUrl"),
        "must carry no credentials, query or fragment: every visitor of the pages gets it (value not shown)",
      );
    if (!PLAIN_HOST.test(url.hostname))
      throw new ConfigError(nameOf("web.rpcUrl"), `must name a plain host, got ${JSON.stringify(url.hostname)}`);
    return url.href;
  }
  const own = new URL(config.chain.rpcUrl);
  const isLoopback = (host: string) => ["127.0.0.1", "localhost", "[::1]"].includes(host);
  const publishable =
    isLoopback(own.hostname) &&
    isLoopback(new URL(config.publicUrl).hostname) &&
    own.username === "" &&
    own.password === "" &&
    own.pathname === "/" &&
    own.search === "" &&
    own.hash === "";
  return publishable ? own.href : null;
}

/** A host name (letters, digits, hyphens, dots) or an IP address, as the URL parser normalizes them. */
const PLAIN_HOST = /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])$/;

/** Cross-field rules and derived defaults (publicUrl from host/port, the audit origin). */
function finish(config: GatewayConfig, given: ReadonlySet<string>, nameOf: (path: string) => string): GatewayConfig {
  if (!given.has("publicUrl")) {
    const host = config.host.includes(":") ? `[${config.host}]` : config.host;
    const shown = config.host === "0.0.0.0" || config.host === "::" ? "127.0.0.1" : host;
    config.publicUrl = `http://${shown}:${config.port}`;
  }
  let url: URL;
  try {
    url = new URL(config.publicUrl);
  } catch {
    throw new ConfigError(nameOf("publicUrl"), `must be an http(s) URL, got ${JSON.stringify(config.publicUrl)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new ConfigError(nameOf("publicUrl"), `must be an http(s) URL, got ${JSON.stringify(config.publicUrl)}`);
  config.publicUrl = url.origin;
  for (const path of ["chain.rpcUrl", ...(config.ipfs.kuboUrl === null ? [] : ["ipfs.kuboUrl"])]) {
    const value = path === "chain.rpcUrl" ? config.chain.rpcUrl : config.ipfs.kuboUrl!;
    if (!/^https?:\/\/[^\s]+$/.test(value) || !URL.canParse(value))
      throw new ConfigError(nameOf(path), `must be an http(s) URL, got ${JSON.stringify(value)}`);
  }
  config.web.rpcUrl = webRpcUrl(config, nameOf);
  if (config.ipfs.kind === "kubo" && config.ipfs.kuboUrl === null)
    throw new ConfigError(nameOf("ipfs.kuboUrl"), "must be set when the IPFS backend is kubo (HYGEIA_IPFS=kubo)");
  for (const path of ["chain.relayerKey", "chain.anchorKey"] as const) {
    const value = path === "chain.relayerKey" ? config.chain.relayerKey : config.chain.anchorKey;
    // Never echo a key, even a malformed one.
    if (value !== null && !PRIVATE_KEY.test(value))
      throw new ConfigError(nameOf(path), "must be a 0x-prefixed 32-byte hex private key (value not shown)");
  }
  if (config.sessions.secret === "") config.sessions.secret = null;
  if (config.sessions.secret !== null && config.sessions.secret.length < MIN_SESSION_SECRET_LENGTH)
    throw new ConfigError(
      nameOf("sessions.secret"),
      `must be at least ${MIN_SESSION_SECRET_LENGTH} characters (value not shown); gateways sharing a database share it`,
    );
  if (config.gatewaySecret === "") config.gatewaySecret = null;
  if (config.gatewaySecret !== null && config.gatewaySecret.length < MIN_SESSION_SECRET_LENGTH)
    throw new ConfigError(
      nameOf("gatewaySecret"),
      `must be at least ${MIN_SESSION_SECRET_LENGTH} characters (value not shown); gateways sharing a database share it`,
    );
  if (config.database.url !== null) {
    config.database.url = checkDatabaseUrl(config.database.url, nameOf("database.url"));
    // Gateways on one database must agree on these; a gateway with keys of its own would break the others' sessions,
    // receipts, webhook signatures and study counts, so it does not start.
    for (const [path, value] of [
      ["sessions.secret", config.sessions.secret],
      ["gatewaySecret", config.gatewaySecret],
    ] as const)
      if (value === null)
        throw new ConfigError(
          nameOf(path),
          "must be set with a PostgreSQL database (HYGEIA_DATABASE_URL): every gateway sharing it needs the same",
        );
  }
  for (const [index, origin] of config.corsOrigins.entries()) {
    if (origin === "*") continue;
    if (!URL.canParse(origin) || new URL(origin).origin !== origin)
      throw new ConfigError(
        `${nameOf("corsOrigins")}[${index}]`,
        `must be an origin such as https://app.example (no path), got ${JSON.stringify(origin)}`,
      );
  }
  for (const [index, proxy] of config.trustProxy.entries()) {
    if (!isIP(proxy.split("/")[0]!) || (proxy.includes("/") && !/^\d{1,3}$/.test(proxy.split("/")[1]!)))
      throw new ConfigError(
        `${nameOf("trustProxy")}[${index}]`,
        `must be an IP address or CIDR such as 10.0.0.0/8, got ${JSON.stringify(proxy)}`,
      );
  }
  if (config.chain.staleAfterMs <= config.chain.pollIntervalMs)
    throw new ConfigError(
      nameOf("chain.staleAfterMs"),
      `must be larger than the poll interval (${config.chain.pollIntervalMs} ms), got ${config.chain.staleAfterMs}`,
    );
  if (config.chain.anchorKey === null && config.chain.relayerKey !== null && !given.has("chain.anchorKey"))
    config.chain.anchorKey = config.chain.relayerKey;
  // The checkpoint origin names this gateway's anchoring account unless the operator chose one.
  if (config.audit.origin === "")
    config.audit.origin = `hygeia.local/gateway/${
      config.chain.anchorKey === null ? "unanchored" : computeAddress(config.chain.anchorKey).toLowerCase()
    }`;
  // The origin is also the signed note's key name (C2SP signed-note): a name signCheckpoint would refuse
  // would only fail at the first checkpoint, after start.
  if (!isNoteKeyName(config.audit.origin))
    throw new ConfigError(
      nameOf("audit.origin"),
      `must be a signed-note key name such as example.com/log (non-empty, no whitespace, "+" or control characters), got ${JSON.stringify(config.audit.origin)}`,
    );
  return config;
}

/**
 * A PostgreSQL URL, as the `pg` driver reads it. The value is never echoed: it may carry a password; the error names
 * what is wrong instead.
 */
function checkDatabaseUrl(value: string, name: string): string {
  if (!URL.canParse(value)) throw new ConfigError(name, "must be a URL such as postgres://user:password@host:5432/db");
  const url = new URL(value);
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:")
    throw new ConfigError(name, `must be a postgres:// or postgresql:// URL, got scheme ${url.protocol}`);
  // A unix socket is named by ?host=/run/postgresql instead of a host name.
  if ((url.hostname === "" && !url.searchParams.has("host")) || url.pathname.length <= 1)
    throw new ConfigError(name, "must name a host and a database, as in postgres://user:password@host:5432/db");
  return value;
}

/**
 * A URL with its password replaced, for display: the one before the host and any secret-looking query parameter
 * (the pg driver also reads `?password=` and `?sslpassword=`).
 */
function redactUrl(value: string): string {
  const url = new URL(value);
  if (url.password !== "") url.password = "[redacted]";
  for (const name of [...url.searchParams.keys()])
    if (/pass|secret|key|token/i.test(name)) url.searchParams.set(name, "[redacted]");
  return url.toString();
}

/** A config for display (logs, `--print-config`): secrets replaced. */
export function redactConfig(config: GatewayConfig): GatewayConfig {
  return {
    ...config,
    chain: {
      ...config.chain,
      relayerKey: config.chain.relayerKey === null ? null : "[redacted]",
      anchorKey: config.chain.anchorKey === null ? null : "[redacted]",
    },
    sessions: { ...config.sessions, secret: config.sessions.secret === null ? null : "[redacted]" },
    gatewaySecret: config.gatewaySecret === null ? null : "[redacted]",
    database: { url: config.database.url === null ? null : redactUrl(config.database.url) },
  };
}

/** The JSON file's schema (every key optional, none unknown). */
export const CONFIG_FILE_SCHEMA: TSchema = FileSchema;
