// DID resolution for did:ethr (the deployed ERC-1056) and did:key, cached, with typed errors and the
// stale-keyAgreement workaround applied to every document handed out.
//
// Rules:
// - A resolution ends by its deadline (resolveTimeoutMs, default 30 s): a node that answers 429 or hangs does
//   not hold a verification for minutes (the provider's own retries can).
// - Resolution errors carry fixed messages: the underlying error (whose text can name the RPC URL, with an API
//   key in it, or the node's response) is only the non-enumerable `cause`, since verifiers copy messages into
//   check reasons shown to presenters.
import {
  Resolver,
  type ResolverRegistry,
  type DIDDocument,
  type DIDResolutionResult,
  type Resolvable,
} from "did-resolver";
import { getResolver as getEthrResolver } from "ethr-did-resolver";
import type { JsonRpcProvider } from "ethers";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { loadDidKeyResolver } from "#did-key-resolver";
import {
  AgentClosedError,
  HygeiaIdentityError,
  InvalidIdentityInputError,
  UnknownDidError,
  UnresolvableDidError,
  errorMessage,
} from "../errors.ts";
import { ChainCheck, ethrDidPrefix, validateEthrNetwork, type EthrNetwork } from "./network.ts";
import { objectArgument } from "../arguments.ts";
import { RegistryWatcher } from "./registry-watcher.ts";
import { BoundedCache } from "../verify/bounded-cache.ts";
import { addressOf } from "../verify/es256k.ts";

export const MAX_DID_LENGTH = 256;
export const DEFAULT_RESOLVE_TIMEOUT_MS = 30_000;

class ResolveTimeout extends Error {}

/** `work`, or a ResolveTimeout after `ms` (the work itself is left to finish; its result is dropped). */
function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ResolveTimeout()), ms);
    // Node: a pending resolution does not keep the process alive. Browsers' timers are numbers.
    (timer as { unref?: () => void }).unref?.();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
const DID_SYNTAX = /^did:[a-z0-9]+:[A-Za-z0-9._:%-]+$/;

export interface DidResolverOptions {
  network: EthrNetwork;
  provider: JsonRpcProvider;
  /** How long a resolved document is reused when no registry event invalidated it; 0 disables caching. */
  cacheTtlMs?: number;
  /** At most this many cached documents (anyone can make the verifier resolve fresh DIDs). Default 10,000. */
  maxCacheEntries?: number;
  /** A resolution fails (UnresolvableDidError) when it takes longer than this, ms. Default 30,000. */
  resolveTimeoutMs?: number;
  clock?: () => number;
}

interface CacheEntry {
  readonly document: DIDDocument;
  /** The ERC-1056 identity (lower-case address) of a did:ethr, whichever form names it; registry events name it. */
  readonly identity: string | undefined;
}

/**
 * The ERC-1056 identity address a did:ethr names, lower case: the address itself, or the address of the
 * secp256k1 public key in the public-key form (`did:ethr:<chain>:0x02…`). A bare 0x address is returned as is.
 * Undefined for other DIDs.
 */
export function ethrIdentityAddress(didOrAddress: string): string | undefined {
  const id = didOrAddress.startsWith("did:ethr:") ? didOrAddress.split(/[#?]/)[0]!.split(":").pop()! : didOrAddress;
  if (/^0x[0-9a-fA-F]{40}$/.test(id)) return id.toLowerCase();
  if (!didOrAddress.startsWith("did:ethr:") || !/^0x(0[23][0-9a-fA-F]{64}|04[0-9a-fA-F]{128})$/.test(id))
    return undefined;
  try {
    return addressOf(secp256k1.Point.fromHex(id.slice(2)).toBytes(false));
  } catch {
    return undefined; // not a point on the curve: the resolver refuses it anyway
  }
}

/**
 * ethr-did-resolver 11.1.3 removes a revoked attribute's verification method but can keep its id in
 * `keyAgreement` (and other relationships). Keep only references that still point at a method in the document,
 * so nobody wraps a key to a revoked X25519 key.
 */
export function dropDanglingReferences(document: DIDDocument): DIDDocument {
  const ids = new Set((document.verificationMethod ?? []).map((vm) => vm.id));
  const keep = (refs: DIDDocument["keyAgreement"]) =>
    refs?.filter((ref) => (typeof ref === "string" ? ids.has(ref) : true));
  return {
    ...document,
    ...(document.keyAgreement ? { keyAgreement: keep(document.keyAgreement) } : {}),
    ...(document.authentication ? { authentication: keep(document.authentication) } : {}),
    ...(document.assertionMethod ? { assertionMethod: keep(document.assertionMethod) } : {}),
  };
}

export function assertDidSyntax(did: unknown): string {
  if (typeof did !== "string") throw new UnknownDidError(String(did), "not a string");
  if (did.length > MAX_DID_LENGTH) throw new UnknownDidError(did, `longer than ${MAX_DID_LENGTH} characters`);
  if (!DID_SYNTAX.test(did)) throw new UnknownDidError(did, "not a DID");
  return did;
}

export class CachedDidResolver {
  private readonly resolver: Resolver;
  private readonly ethrPrefix: string;
  private readonly ttlMs: number;
  private readonly resolveTimeoutMs: number;
  private readonly clock: () => number;
  private readonly cache: BoundedCache<string, CacheEntry>;
  /** Bumped by every invalidation: a resolution that started before one does not cache what it read. */
  private generation = 0;
  private readonly provider: JsonRpcProvider;
  private readonly registry: string;
  private readonly chain: ChainCheck;
  private watcher: RegistryWatcher | undefined;
  private closed = false;

  private readonly didKey: boolean;

  /** A resolver for did:ethr on `options.network` and, in Node, did:key (browsers resolve did:ethr only). */
  static async create(options: DidResolverOptions): Promise<CachedDidResolver> {
    objectArgument(options, "options", "{ network, provider, cacheTtlMs?, maxCacheEntries?, resolveTimeoutMs? }");
    validateEthrNetwork(options.network);
    objectArgument(options.provider, "provider", "an ethers JsonRpcProvider for the network's chain");
    return new CachedDidResolver(options, await loadDidKeyResolver());
  }

  private constructor(options: DidResolverOptions, keyResolver: ResolverRegistry | undefined) {
    this.didKey = keyResolver !== undefined;
    this.ethrPrefix = ethrDidPrefix(options.network).toLowerCase();
    this.ttlMs = options.cacheTtlMs ?? 60_000;
    this.resolveTimeoutMs = options.resolveTimeoutMs ?? DEFAULT_RESOLVE_TIMEOUT_MS;
    if (!Number.isSafeInteger(this.resolveTimeoutMs) || this.resolveTimeoutMs < 1)
      throw new InvalidIdentityInputError("resolveTimeoutMs", "must be a whole number of milliseconds >= 1");
    this.clock = options.clock ?? Date.now;
    this.cache = new BoundedCache({ maxEntries: options.maxCacheEntries ?? 10_000, clock: this.clock });
    this.provider = options.provider;
    this.registry = options.network.registry;
    this.chain = new ChainCheck(options.network, options.provider);
    this.resolver = new Resolver({
      ...getEthrResolver({
        networks: [
          {
            chainId: options.network.chainId,
            // ethr-did-resolver is typed against its own copy of ethers' Provider; the object is the same.
            provider: options.provider as never,
            registry: options.network.registry,
          },
        ],
      }),
      ...(keyResolver ?? {}),
    });
  }

  /**
   * Resolves a DID to its document. Throws UnknownDidError / UnresolvableDidError, and for a did:ethr
   * WrongChainError / RegistryNotFoundError when the node is not the network's (checkChain). `fresh` reads the
   * chain even when a cached document is still valid.
   */
  async resolve(did: string, options: { fresh?: boolean } = {}): Promise<DIDDocument> {
    // DID URLs (did#key, did?versionId=…) resolve to the DID's current document.
    const key = assertDidSyntax(typeof did === "string" ? did.split(/[#?]/)[0] : did);
    this.assertSupported(key);
    if (this.closed) throw new AgentClosedError("resolve", false);
    const cached = options.fresh ? undefined : this.cache.get(key);
    if (cached) return cached.document;
    const generation = this.generation;
    let result: DIDResolutionResult;
    try {
      result = await withTimeout(
        (async () => {
          if (key.startsWith("did:ethr:")) await this.chain.ensure();
          return this.resolver.resolve(key);
        })(),
        this.resolveTimeoutMs,
      );
    } catch (error) {
      if (this.closed) throw new AgentClosedError("resolve", true, { cause: error });
      if (error instanceof ResolveTimeout)
        throw new UnresolvableDidError(key, `no answer within ${this.resolveTimeoutMs} ms (resolveTimeoutMs)`);
      if (error instanceof HygeiaIdentityError) throw error;
      throw new UnresolvableDidError(key, "the DID registry could not be read (network or node failure)", {
        cause: error,
      });
    }
    // A provider destroyed mid-request can also surface as a resolution failure.
    if (this.closed) throw new AgentClosedError("resolve", true);
    const failure = result.didResolutionMetadata.error;
    if (failure === "invalidDid" || failure === "unsupportedDidMethod") throw new UnknownDidError(key, failure);
    if (failure || !result.didDocument) {
      // The resolver's message can quote the node's error (and its URL): it goes to `cause`, not the message.
      const detail = (result.didResolutionMetadata as { message?: string }).message;
      throw new UnresolvableDidError(
        key,
        /^[A-Za-z]{1,40}$/.test(String(failure)) ? String(failure) : "no document",
        detail === undefined ? undefined : { cause: new Error(detail) },
      );
    }
    if (result.didDocumentMetadata.deactivated) throw new UnresolvableDidError(key, "deactivated");
    const document = dropDanglingReferences(result.didDocument);
    if (this.ttlMs > 0 && generation === this.generation)
      this.cache.set(key, { document, identity: ethrIdentityAddress(key) }, this.clock() + this.ttlMs);
    return document;
  }

  /**
   * Checks once that the node is on the network's chain and has the registry (WrongChainError,
   * RegistryNotFoundError); a network failure is thrown as it came (the caller says what it means to it).
   */
  checkChain(): Promise<void> {
    return this.chain.ensure();
  }

  /** How many documents are cached (bounded by maxCacheEntries). */
  get cacheSize(): number {
    return this.cache.size;
  }

  /**
   * Forgets cached documents of this identity: `did` is a DID or an ERC-1056 identity address (what registry
   * events name). Every did:ethr form of the identity goes, the public-key form (`did:ethr:<chain>:0x02…`)
   * included: its events name the key's address, not the key.
   */
  invalidate(did: string): void {
    this.generation++;
    const identity = ethrIdentityAddress(did);
    this.cache.deleteWhere((key, entry) => key === did || (identity !== undefined && entry.identity === identity));
  }

  invalidateAll(): void {
    this.generation++;
    this.cache.clear();
  }

  /**
   * Follows the registry's DIDOwnerChanged / DIDDelegateChanged / DIDAttributeChanged events (polled every
   * `pollingIntervalMs`, default 250 ms) and drops the changed identity's cached document, so changes made by
   * others show up without waiting for the TTL.
   */
  async watchRegistry(options: { pollingIntervalMs?: number } = {}): Promise<void> {
    if (this.watcher || this.closed) return;
    const watcher = new RegistryWatcher({
      provider: this.provider,
      registry: this.registry,
      pollingIntervalMs: options.pollingIntervalMs ?? 250,
      onChange: (address) => this.invalidate(address),
      onGap: () => this.invalidateAll(),
    });
    this.watcher = watcher;
    await watcher.start();
  }

  async stopWatching(): Promise<void> {
    const watcher = this.watcher;
    this.watcher = undefined;
    await watcher?.stop();
  }

  /** Stops watching; later resolve() calls (and ones still waiting on the chain) fail with AgentClosedError. */
  async close(): Promise<void> {
    this.closed = true;
    this.cache.clear();
    await this.stopWatching();
  }

  /** A did-resolver `Resolvable` over this cache, for Veramo and did-jwt. */
  asResolvable(): Resolvable {
    return {
      resolve: async (didUrl: string): Promise<DIDResolutionResult> => {
        try {
          const didDocument = await this.resolve(didUrl);
          return { didResolutionMetadata: {}, didDocument, didDocumentMetadata: {} };
        } catch (error) {
          return {
            didResolutionMetadata: {
              error: error instanceof UnknownDidError ? "invalidDid" : "notFound",
              message: errorMessage(error),
            },
            didDocument: null,
            didDocumentMetadata: {},
          };
        }
      },
    };
  }

  private assertSupported(did: string): void {
    if (did.startsWith("did:key:")) {
      if (this.didKey) return;
      throw new UnknownDidError(did, "did:key is resolved in Node only (browsers resolve did:ethr)");
    }
    if (did.startsWith("did:ethr:")) {
      const segments = did.split(":");
      // did:ethr:<network>:<address> must name this agent's chain; did:ethr:<address> means mainnet.
      if (segments.length === 4 && `${segments[0]}:${segments[1]}:${segments[2]}`.toLowerCase() === this.ethrPrefix)
        return;
      throw new UnknownDidError(did, `not on the configured network (${this.ethrPrefix})`);
    }
    throw new UnknownDidError(did, "unsupported DID method (did:ethr and did:key are)");
  }
}
