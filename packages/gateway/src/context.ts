// The services a gateway is built from. `buildGateway(config, services)` decorates them once at the root
// (`app.services`); plugins read them there. Tests build real ones (anvil, Helia on disk, SQLite) and
// pass them in; `server.ts` builds them from the configuration.
import type { JsonRpcProvider } from "ethers";
import type {
  AuditAnchorClient,
  ConsentIndexer,
  ConsentRegistryClient,
  HygeiaDeployment,
  StudyRegistryClient,
  TrustRegistryClient,
} from "@hygeia/chain";
import type { CachedDidResolver, CredentialVerifier } from "@hygeia/identity";
import type { ContentStore } from "@hygeia/storage";
import type { GatewayConfig } from "./config.ts";
import type { GatewayStore } from "./store/types.ts";

export interface ChainServices {
  provider: JsonRpcProvider;
  deployment: HygeiaDeployment;
  indexer: ConsentIndexer;
  /** Read-only registry client (the `strict` check, listing). */
  registry: ConsentRegistryClient;
  /** Registry client on the relayer's TransactionSender; null when no relayer key is configured. */
  relayer: ConsentRegistryClient | null;
  trust: TrustRegistryClient;
  /** Read-only StudyRegistry client; null when the deployment has no StudyRegistry (an older deployment file). */
  studies: StudyRegistryClient | null;
  /** AuditAnchor client on the anchoring key's sender; null when none is configured (checkpoints are then signed, not anchored). */
  anchors: AuditAnchorClient | null;
}

export interface GatewayServices {
  store: GatewayStore;
  chain: ChainServices;
  content: ContentStore;
  /** Verifies role credentials (issuer trust on chain, status lists). */
  verifier: CredentialVerifier;
  /**
   * The DID resolver the verifier uses (did:ethr on this chain, did:key); it follows the DID registry's events, so
   * a key rotation or owner change is seen within a poll. Plugins resolve through it rather than build another.
   */
  resolver: CachedDidResolver;
  /** Unix milliseconds; tests pass a controllable clock. */
  now: () => number;
}

declare module "fastify" {
  interface FastifyInstance {
    config: GatewayConfig;
    services: GatewayServices;
  }
}
