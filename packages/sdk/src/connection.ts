/**
 * What every role's client shares: the gateway transport, a read provider on the chain, and the deployment (the
 * contracts' addresses). Browser-safe.
 *
 * Trust: the deployment decides which contracts the SDK believes, so a caller that knows it should pass it
 * (`deployment`); otherwise it is read from the gateway (`GET /v1/deployment`) and its chain id must match the
 * chain the RPC URL serves.
 */
import { FetchRequest, JsonRpcProvider, Network } from "ethers";
import { GatewayTransport, type FetchLike, type UploadBody } from "./transport.ts";
import { ServiceUnreachableError, SdkInputError, HygeiaSdkError } from "./errors.ts";

/** The deployment file's shape (`@hygeia/chain`'s `HygeiaDeployment`), restated so this module stays browser-safe. */
export interface Deployment {
  chainId: number;
  deployedAt: { block: number; blockHash: string };
  deployer: string;
  governance: string;
  contracts: {
    EthereumDIDRegistry: string;
    ConsentRegistry: string;
    TrustRegistry: string;
    AuditAnchor: string;
    /** Absent from deployments made before it existed. */
    StudyRegistry?: string;
  };
}

export interface ConnectOptions {
  /** The gateway's base URL (default http://127.0.0.1:8787, the local stack's). */
  gatewayUrl?: string;
  /** The chain's JSON-RPC URL (default http://127.0.0.1:8545, the local stack's). */
  rpcUrl?: string;
  /** The contracts to believe; default: the gateway's `GET /v1/deployment`, checked against the chain id. */
  deployment?: Deployment;
  /** Per-request timeout for the gateway and the chain (default 30 s). */
  timeoutMs?: number;
  fetch?: FetchLike;
  /** How uploads send their bodies (`TransportOptions.uploadBody`; default `stream` in Node, `buffer` in browsers). */
  uploadBody?: UploadBody;
}

export const LOCAL_GATEWAY_URL = "http://127.0.0.1:8787";
export const LOCAL_RPC_URL = "http://127.0.0.1:8545";

export class HygeiaConnection {
  readonly transport: GatewayTransport;
  readonly provider: JsonRpcProvider;
  readonly deployment: Deployment;
  readonly rpcUrl: string;

  private constructor(transport: GatewayTransport, provider: JsonRpcProvider, deployment: Deployment, rpcUrl: string) {
    this.transport = transport;
    this.provider = provider;
    this.deployment = deployment;
    this.rpcUrl = rpcUrl;
  }

  /** Connects to a gateway and a chain; fails with a `ServiceUnreachableError` naming whichever does not answer. */
  static async open(options: ConnectOptions = {}): Promise<HygeiaConnection> {
    const transport = new GatewayTransport({
      url: options.gatewayUrl ?? LOCAL_GATEWAY_URL,
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.uploadBody ? { uploadBody: options.uploadBody } : {}),
    });
    const rpcUrl = options.rpcUrl ?? LOCAL_RPC_URL;
    try {
      new URL(rpcUrl);
    } catch {
      throw new SdkInputError(
        "rpc url",
        `"${rpcUrl}" is not a URL`,
        "Give the chain's JSON-RPC URL, e.g. http://127.0.0.1:8545.",
      );
    }
    const deployment =
      options.deployment ?? (await transport.request<Deployment>("GET", "/v1/deployment", { auth: false }));
    // A static network: ethers does not poll eth_chainId behind our back, and a down chain is one clear error below.
    const rpc = new FetchRequest(rpcUrl);
    rpc.timeout = options.timeoutMs ?? 30_000;
    const provider = new JsonRpcProvider(rpc, Network.from(deployment.chainId), {
      staticNetwork: true,
      cacheTimeout: -1,
    });
    let chainId: bigint;
    try {
      chainId = BigInt(await provider.send("eth_chainId", []));
    } catch (error) {
      provider.destroy();
      throw new ServiceUnreachableError(
        "chain",
        rpcUrl,
        error instanceof Error ? error.message.split("\n")[0]! : String(error),
        { cause: error },
      );
    }
    if (chainId !== BigInt(deployment.chainId)) {
      provider.destroy();
      throw new HygeiaSdkError(
        "WRONG_CHAIN",
        "usage",
        `the chain at ${rpcUrl} is chain ${chainId}, but the deployment is on chain ${deployment.chainId}`,
        { hint: "Point --rpc / HYGEIA_RPC_URL at the chain the gateway uses." },
      );
    }
    return new HygeiaConnection(transport, provider, deployment, rpcUrl);
  }

  close(): void {
    this.provider.destroy();
  }
}
