// A bounded LRU cache with per-entry expiry, for the verifier's caches keyed by attacker-chosen input (DIDs,
// issuance times, status URLs).
//
// Rules:
// - Never more than `maxEntries` entries, and the bytes their owners counted never above `maxBytes` (status lists
//   are up to MAX_STATUS_LIST_BYTES; a count bound alone let 256 maximal lists hold 4 GiB): an insert first drops
//   expired entries, then the least recently used. A value larger than `maxBytes` is not cached at all.
// - An expired entry is never returned, and is deleted when seen.
// - Time comes from the injected clock (the verifier's), so tests and callers control expiry.
//
// Why not lru-cache (present in node_modules only as a dev tool's dependency): its TTL reads performance.now()
// and cannot take the verifier's clock in the installed version (10.x), so expiry would still be ours; what is
// left is the Map-order LRU below.

export interface BoundedCacheOptions {
  maxEntries: number;
  /** Bound on the sum of the `bytes` given to set(); none when absent. */
  maxBytes?: number;
  clock?: () => number;
}

interface Slot<V> {
  readonly value: V;
  /** Clock milliseconds; the entry is unusable from then on. */
  readonly expiresAt: number;
  readonly bytes: number;
}

/** Entries checked for expiry from the least recently used end at each insert (amortised sweep). */
const SWEEP_PER_INSERT = 8;

export class BoundedCache<K, V> {
  readonly maxEntries: number;
  readonly maxBytes: number;
  private readonly clock: () => number;
  /** Map order is recency order: the first key is the least recently used. */
  private readonly slots = new Map<K, Slot<V>>();
  private heldBytes = 0;
  private insertsSinceFullSweep = 0;

  constructor(options: BoundedCacheOptions) {
    if (!Number.isSafeInteger(options.maxEntries) || options.maxEntries < 1)
      throw new RangeError("maxEntries must be a whole number >= 1");
    if (options.maxBytes !== undefined && !(Number.isSafeInteger(options.maxBytes) && options.maxBytes >= 1))
      throw new RangeError("maxBytes must be a whole number >= 1");
    this.maxEntries = options.maxEntries;
    this.maxBytes = options.maxBytes ?? Infinity;
    this.clock = options.clock ?? Date.now;
  }

  get size(): number {
    return this.slots.size;
  }

  /** Bytes held by the cached values (as their owners counted them in set()). */
  get bytes(): number {
    return this.heldBytes;
  }

  /** The live value (and marks it recently used), or undefined when absent or expired. */
  get(key: K): V | undefined {
    const slot = this.slots.get(key);
    if (!slot) return undefined;
    this.remove(key);
    if (slot.expiresAt <= this.clock()) return undefined;
    this.slots.set(key, slot);
    this.heldBytes += slot.bytes;
    return slot.value;
  }

  /** Stores `value` (holding `bytes`) until `expiresAt` (clock ms); nothing when that is past or it is too big. */
  set(key: K, value: V, expiresAt: number, bytes = 0): void {
    this.remove(key);
    const now = this.clock();
    if (!(expiresAt > now) || bytes > this.maxBytes) return;
    this.sweep(now);
    while (this.slots.size > 0 && (this.slots.size >= this.maxEntries || this.heldBytes + bytes > this.maxBytes)) {
      this.remove(this.slots.keys().next().value as K);
    }
    this.slots.set(key, { value, expiresAt, bytes });
    this.heldBytes += bytes;
  }

  delete(key: K): void {
    this.remove(key);
  }

  /** Deletes every entry whose key matches. */
  deleteWhere(matches: (key: K, value: V) => boolean): void {
    for (const [key, slot] of this.slots) if (matches(key, slot.value)) this.remove(key);
  }

  clear(): void {
    this.slots.clear();
    this.heldBytes = 0;
  }

  private remove(key: K): void {
    const slot = this.slots.get(key);
    if (!slot) return;
    this.slots.delete(key);
    this.heldBytes -= slot.bytes;
  }

  /** A few least recently used entries at every insert, and all of them every maxEntries / 2 inserts. */
  private sweep(now: number): void {
    if (++this.insertsSinceFullSweep >= Math.max(1, this.maxEntries >> 1)) {
      this.insertsSinceFullSweep = 0;
      for (const [key, slot] of this.slots) if (slot.expiresAt <= now) this.remove(key);
      return;
    }
    let seen = 0;
    for (const [key, slot] of this.slots) {
      if (++seen > SWEEP_PER_INSERT) break;
      if (slot.expiresAt <= now) this.remove(key);
    }
  }
}
