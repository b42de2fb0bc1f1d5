// Issuer trust: the issuer's did:ethr address must be accredited on the TrustRegistry for one of the roles,
// both when the credential was issued and now. Chain failures fail the check (fail closed).
import type { TrustRegistryClient, TrustRoleName } from "@hygeia/chain/browser";
import { InvalidIdentityInputError } from "../errors.ts";
import { wholeNumberOption } from "./options.ts";
import { objectArgument, wholeNumberOrDefault, withMethods } from "../arguments.ts";
import { BoundedCache } from "./bounded-cache.ts";
import { ethrIdentityAddress } from "../did/resolver.ts";

export interface TrustDecision {
  readonly pass: boolean;
  readonly reason: string;
  /** Why it failed: NOT_ACCREDITED, or TRUST_REGISTRY_UNAVAILABLE (the registry could not be read). */
  readonly code?: "NOT_ACCREDITED" | "TRUST_REGISTRY_UNAVAILABLE";
  /** The registry read's error, for logs: never in `reason`, which may reach whoever presented. */
  readonly cause?: unknown;
}

const UNAVAILABLE_REASON = "trust registry unavailable (see the verifier's logs)";

function unavailable(error: unknown): TrustDecision {
  const decision: TrustDecision = { pass: false, reason: UNAVAILABLE_REASON, code: "TRUST_REGISTRY_UNAVAILABLE" };
  Object.defineProperty(decision, "cause", { value: error, enumerable: false });
  return decision;
}

const MAX_CACHE_TTL_MS = 60 * 60 * 1000;

export interface IssuerTrustOptions {
  registry: TrustRegistryClient;
  /** did:ethr prefix of the chain the registry is on, e.g. did:ethr:0x7a69. */
  didPrefix: string;
  /** Reuse of a registry answer; keep short (seconds), revocations must bite quickly. Default 5 s. */
  cacheTtlMs?: number;
  /** At most this many cached answers (keys are issuer addresses and issuance times an attacker picks). Default 10,000. */
  maxCacheEntries?: number;
  clock?: () => number;
}

export class IssuerTrust {
  private readonly registry: TrustRegistryClient;
  private readonly didPrefix: string;
  private readonly ttlMs: number;
  private readonly clock: () => number;
  private readonly cache: BoundedCache<string, boolean>;

  constructor(options: IssuerTrustOptions) {
    objectArgument(options, "options", "{ registry, didPrefix, cacheTtlMs? }");
    withMethods(options.registry, "registry", ["isTrustedAt", "isTrusted"], "a TrustRegistryClient");
    if (typeof options.didPrefix !== "string" || !options.didPrefix.startsWith("did:ethr:"))
      throw new InvalidIdentityInputError(
        "didPrefix",
        "must be the registry chain's did:ethr prefix (ethrDidPrefix(network))",
      );
    this.registry = options.registry;
    this.didPrefix = options.didPrefix.toLowerCase();
    wholeNumberOption(options.cacheTtlMs, "cacheTtlMs", 0, MAX_CACHE_TTL_MS, "milliseconds");
    this.ttlMs = options.cacheTtlMs ?? 5_000;
    this.clock = options.clock ?? Date.now;
    const maxEntries = wholeNumberOrDefault(options.maxCacheEntries, 10_000, "maxCacheEntries");
    this.cache = new BoundedCache({ maxEntries, clock: this.clock });
  }

  /** How many answers are cached (bounded by maxCacheEntries). */
  get cacheSize(): number {
    return this.cache.size;
  }

  async check(
    issuerDid: string,
    roles: readonly TrustRoleName[],
    issuedAt: number | undefined,
  ): Promise<TrustDecision> {
    const address = this.addressOf(issuerDid);
    if (!address)
      return { pass: false, reason: `issuer ${issuerDid.slice(0, 80)} is not a did:ethr on the registry's chain` };
    if (roles.length === 0) return { pass: false, reason: "no trusted role for this credential type" };
    if (issuedAt === undefined) return { pass: false, reason: "credential has no issuance time" };
    try {
      for (const role of roles) {
        const [then, now] = await Promise.all([
          this.cached(`at:${address}:${role}:${issuedAt}`, () => this.registry.isTrustedAt(address, role, issuedAt)),
          this.cached(`now:${address}:${role}`, () => this.registry.isTrusted(address, role)),
        ]);
        if (then && now) return { pass: true, reason: `accredited as ${role} at issuance and now` };
      }
      return {
        pass: false,
        reason: `issuer not accredited as ${roles.join(" or ")} both at issuance (${issuedAt}) and now`,
        code: "NOT_ACCREDITED",
      };
    } catch (error) {
      return unavailable(error);
    }
  }

  /**
   * Whether `did` is accredited for one of `roles` now (a party's own standing, not a credential's issuer): no
   * issuance time is involved. The reason names the DID's current accreditation only.
   */
  async checkNow(did: string, roles: readonly TrustRoleName[]): Promise<TrustDecision> {
    const address = this.addressOf(did);
    if (!address) return { pass: false, reason: `${did.slice(0, 80)} is not a did:ethr on the registry's chain` };
    if (roles.length === 0) return { pass: false, reason: "no role to check" };
    try {
      for (const role of roles) {
        if (await this.cached(`now:${address}:${role}`, () => this.registry.isTrusted(address, role)))
          return { pass: true, reason: `accredited as ${role} now` };
      }
      return { pass: false, reason: `not accredited as ${roles.join(" or ")} now`, code: "NOT_ACCREDITED" };
    } catch (error) {
      return unavailable(error);
    }
  }

  clear(): void {
    this.cache.clear();
  }

  private addressOf(did: string): string | undefined {
    const lower = did.toLowerCase();
    if (!lower.startsWith(`${this.didPrefix}:`)) return undefined;
    const id = did.slice(this.didPrefix.length + 1);
    if (id.includes(":") || id.includes("#") || id.includes("?")) return undefined;
    // The address form, or the public-key form (did:ethr:<chain>:0x02…), whose identity is its key's address.
    return ethrIdentityAddress(did);
  }

  private async cached(key: string, load: () => Promise<boolean>): Promise<boolean> {
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const now = this.clock();
    const value = await load();
    if (this.ttlMs > 0) this.cache.set(key, value, now + this.ttlMs);
    return value;
  }
}
