// The gateway's configuration: one typed object, validated at start (`loadConfig` in config-load.ts reads the
// environment and an optional JSON file and names the bad setting on refusal). With nothing set, every
// default points at the local stack of `npm start`.

export interface RateLimitConfig {
  /** Requests per window. */
  max: number;
  windowMs: number;
}

export interface GatewayConfig {
  /** Interface to bind (HYGEIA_HOST, default 127.0.0.1). */
  host: string;
  /** Port (HYGEIA_PORT, default 8787; 0 picks a free one). */
  port: number;
  /** Where the database, the audit signing key and the session secret live (HYGEIA_DATA_DIR, default .hygeia/gateway). */
  dataDir: string;
  /** The origin clients reach this gateway at (HYGEIA_PUBLIC_URL): the SIWE domain and URI are checked against it. */
  publicUrl: string;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

  siwe: {
    /** Statement shown in the wallet. */
    statement: string;
    nonceTtlMs: number;
    /** A SIWE message must have been issued at most this long ago (and not expire before now). */
    maxMessageAgeMs: number;
  };
  sessions: {
    /** Session lifetime: automatic logoff (HIPAA 164.312(a)(2)(iii)). Default 15 minutes. */
    ttlMs: number;
    /**
     * The session tokens' MAC secret (HYGEIA_SESSION_SECRET, environment only, at least 32 characters): gateways
     * sharing one database share it, so a session any of them issued is accepted by all. Null: a random key in
     * <dataDir>/session.key.
     */
    secret: string | null;
  };
  chain: {
    rpcUrl: string;
    /** Path of the deployment file (`npm start` writes .hygeia/deployment.json). */
    deploymentFile: string;
    /** Blocks on top of a grant before it counts (the indexer's `confirmations`). */
    confirmations: number;
    /** Indexer poll interval. */
    pollIntervalMs: number;
    /** The indexer is stale (releases refused) when its last successful poll is older than this. */
    staleAfterMs: number;
    /** strict: a release asks the contract (`checkRecordAccess` at latest) instead of the indexer. */
    strict: boolean;
    /** The relayer's private key (HYGEIA_RELAYER_KEY). Absent: the relay routes answer 503. */
    relayerKey: string | null;
    /** The key that anchors audit tree heads on AuditAnchor (HYGEIA_ANCHOR_KEY; default the relayer key). */
    anchorKey: string | null;
  };
  ipfs: {
    /** "helia": embedded node under dataDir; "kubo": an external node's RPC API at `kuboUrl`. */
    kind: "helia" | "kubo";
    kuboUrl: string | null;
    timeoutMs: number;
  };
  identity: {
    /** How long a fetched status list is reused before a role or credential is checked against a fresh one. */
    statusListTtlMs: number;
    /** How long an issuer-accreditation answer of the TrustRegistry is reused. */
    trustCacheTtlMs: number;
  };
  limits: {
    /** JSON bodies. */
    bodyBytes: number;
    /** Ciphertext uploads. */
    uploadBytes: number;
    perIp: RateLimitConfig;
    perSession: RateLimitConfig;
    /** Relayed transactions per patient per day. */
    relayPerDay: number;
    /**
     * Relayed record-list anchors per signed-in address per day (a budget of its own: adding records never uses up
     * the consent relay). 0 turns anchoring off; a wallet's list then stays at the gateway until it can anchor.
     */
    anchorsPerDay: number;
  };
  /**
   * The secret the long-lived keys of gateways sharing one database derive from (HYGEIA_GATEWAY_SECRET, environment
   * only, at least 32 characters): record receipts, webhook signatures, the gateway's share of study tally keys.
   * Every gateway on a database must hold the same. Null: each key is random, in its file under dataDir. Changing
   * it later makes earlier receipts unrestorable, webhook secrets stale and open studies uncountable.
   */
  gatewaySecret: string | null;
  database: {
    /**
     * PostgreSQL connection URL (HYGEIA_DATABASE_URL, postgres://user:password@host:port/db): several gateways share
     * it (scale-out). Null: the embedded SQLite database under dataDir, for one gateway.
     */
    url: string | null;
  };
  research: {
    /** The smallest count an aggregate releases (small-cell suppression's k; default 11, at least 3). */
    minCell: number;
  };
  audit: {
    /** Anchor a tree head after this many new events ... */
    anchorEveryEvents: number;
    /** ... or this long after the first unanchored event, whichever comes first. */
    anchorEveryMs: number;
    /** The checkpoint origin line (C2SP tlog-checkpoint): a schema-less URL naming this log. */
    origin: string;
  };
  /**
   * Proxies whose X-Forwarded-For is believed (addresses or CIDRs, HYGEIA_TRUST_PROXY); empty: none, the
   * client address is the socket's. Behind a load balancer, list it, or every client shares one rate limit.
   */
  trustProxy: string[];
  /** Allowed CORS origins; empty: no cross-origin access. "*" allows any (never with credentials). */
  corsOrigins: string[];
  web: {
    /**
     * The chain's JSON-RPC URL the web pages use in the browser (HYGEIA_WEB_RPC_URL): public, so never one with an
     * API key in it. Null: chain.rpcUrl when that is a loopback URL without credentials (the local stack), else none
     * (the pages then say the gateway publishes no chain address).
     */
    rpcUrl: string | null;
  };
}
