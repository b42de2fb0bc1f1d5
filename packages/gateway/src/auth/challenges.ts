// Role-presentation challenges kept in the gateway's store, beside the SIWE nonces: gateways sharing one database
// (several behind a load balancer) accept a presentation answering a challenge any of them issued, exactly once.
// An in-memory store (identity's MemoryChallengeStore) would refuse every answer that reaches another gateway than
// the one that issued its challenge, and forget every open challenge at a restart.
//
// A challenge is stored as a nonce row named `vp:<domain>:<challenge>`: a SIWE nonce is alphanumeric (EIP-4361), so
// neither kind can ever be spent as the other, and a challenge answered for another domain names another row.
import { randomBytes } from "node:crypto";
import type { ChallengeStore, ConsumeOutcome } from "@hygeia/identity";
import type { GatewayStore } from "../store/types.ts";

const MAX_TTL_SECONDS = 86_400;

function rowName(challenge: string, domain: string): string {
  return `vp:${domain}:${challenge}`;
}

export class StoreChallengeStore implements ChallengeStore {
  readonly #store: GatewayStore;
  readonly #now: () => number;

  constructor(store: GatewayStore, now: () => number) {
    this.#store = store;
    this.#now = now;
  }

  async issue(domain: string, ttlSeconds = 300): Promise<string> {
    if (domain.length < 1 || domain.length > 256) throw new RangeError("domain must be 1 to 256 characters");
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_TTL_SECONDS)
      throw new RangeError(`ttlSeconds must be a whole number of seconds, 1 to ${MAX_TTL_SECONDS}`);
    const challenge = randomBytes(24).toString("base64url");
    await this.#store.putNonce({ nonce: rowName(challenge, domain), expiresAt: this.#now() + ttlSeconds * 1000 });
    return challenge;
  }

  /**
   * Spends the challenge once. The store answers only whether it could: an unknown, expired, used or other-domain
   * challenge all read "unknown" (the verifier refuses each alike).
   */
  async consume(challenge: string, domain: string): Promise<ConsumeOutcome> {
    if (typeof challenge !== "string" || typeof domain !== "string" || challenge.length > 256) return "unknown";
    return (await this.#store.consumeNonce(rowName(challenge, domain), this.#now())) ? "consumed" : "unknown";
  }
}
