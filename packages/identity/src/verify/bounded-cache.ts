// A bounded LRU cache with per-entry expiry, for the verifier's caches keyed by attacker-chosen input (DIDs,
// issuance times, status URLs).
//
// Rules:
// - Never more than `maxEntries` entries: an insert first drops expired entries, then the least recently used.
// - An expired entry is never returned, and is deleted when seen.
// - Time comes from the injected clock (the verifier's), so tests and callers control expiry.
//
// Why not lru-cache (present in node_modules only as a dev tool's dependency): its TTL reads performance.now()
// and cannot take the verifier's clock in the installed version (10.x), so expiry would still be ours; what is
// left is the Map-order LRU below.

export interface BoundedCacheOptions {
  maxEntries: number;
  clock?: () => number;
}

interface Slot<V> {
  readonly value: V;
  /** Clock milliseconds; the entry is unusable from then on. */
  readonly expiresAt: number;
}

/** Entries checked for expiry from the least recently used end at each insert (amortised sweep). */
const SWEEP_PER_INSERT = 8;

export class BoundedCache<K, V> {
  readonly maxEntries: number;
  private readonly clock: () => number;
  /** Map order is recency order: the first key is the least recently used. */
  private readonly slots = new Map<K, Slot<V>>();
  private insertsSinceFullSweep = 0;

  constructor(options: BoundedCacheOptions) {
    if (!Number.isSafeInteger(options.maxEntries) || options.maxEntries < 1)
      throw new RangeError("maxEntries must be a whole number >= 1");
    this.maxEntries = options.maxEntries;
    this.clock = options.clock ?? Date.now;
  }

  get size(): number {
    return this.slots.size;
  }

  /** The live value (and marks it recently used), or undefined when absent or expired. */
  get(key: K): V | undefined {
    const slot = this.slots.get(key);
    if (!slot) return undefined;
    if (slot.expiresAt <= this.clock()) {
      this.slots.delete(key);
      return undefined;
    }
    this.slots.delete(key);
    this.slots.set(key, slot);
    return slot.value;
  }

  /** Stores `value` until `expiresAt` (clock ms); nothing is stored when that is not in the future. */
  set(key: K, value: V, expiresAt: number): void {
    this.slots.delete(key);
    const now = this.clock();
    if (!(expiresAt > now)) return;
    this.sweep(now);
    while (this.slots.size >= this.maxEntries) {
      const oldest = this.slots.keys().next();
      if (oldest.done) break;
      this.slots.delete(oldest.value);
    }
    this.slots.set(key, { value, expiresAt });
  }

  delete(key: K): void {
    this.slots.delete(key);
  }

  /** Deletes every entry whose key matches. */
  deleteWhere(matches: (key: K, value: V) => boolean): void {
    for (const [key, slot] of this.slots) if (matches(key, slot.value)) this.slots.delete(key);
  }

  clear(): void {
    this.slots.clear();
  }

  /** A few least recently used entries at every insert, and all of them every maxEntries / 2 inserts. */
  private sweep(now: number): void {
    if (++this.insertsSinceFullSweep >= Math.max(1, this.maxEntries >> 1)) {
      this.insertsSinceFullSweep = 0;
      for (const [key, slot] of this.slots) if (slot.expiresAt <= now) this.slots.delete(key);
      return;
    }
    let seen = 0;
    for (const [key, slot] of this.slots) {
      if (++seen > SWEEP_PER_INSERT) break;
      if (slot.expiresAt <= now) this.slots.delete(key);
    }
  }
}
