// The verifier's cache of fetched status lists, bounded by the bytes the lists hold (a list is up to
// MAX_STATUS_LIST_BYTES; a count bound alone let 256 maximal lists hold 4 GiB).
//
// Rules:
// - The bytes of all cached lists never exceed `maxBytes`, nor their number `maxEntries`: an insert first drops
//   expired entries (a few from the least recently used end), then the least recently used.
// - A value larger than `maxBytes` is not cached at all.
// - An expired entry is never returned, and is deleted when seen. Time is the injected clock.

export interface ByteBoundedCacheOptions {
  maxBytes: number;
  maxEntries: number;
  clock?: () => number;
}

interface Slot<V> {
  readonly value: V;
  readonly bytes: number;
  readonly expiresAt: number;
}

const SWEEP_PER_INSERT = 8;

export class ByteBoundedCache<K, V> {
  readonly maxBytes: number;
  readonly maxEntries: number;
  private readonly clock: () => number;
  /** Map order is recency order: the first key is the least recently used. */
  private readonly slots = new Map<K, Slot<V>>();
  private heldBytes = 0;

  constructor(options: ByteBoundedCacheOptions) {
    this.maxBytes = options.maxBytes;
    this.maxEntries = options.maxEntries;
    this.clock = options.clock ?? Date.now;
  }

  get size(): number {
    return this.slots.size;
  }

  /** Bytes held by the cached values (as their owners counted them). */
  get bytes(): number {
    return this.heldBytes;
  }

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
  set(key: K, value: V, bytes: number, expiresAt: number): void {
    this.remove(key);
    const now = this.clock();
    if (!(expiresAt > now) || bytes > this.maxBytes) return;
    let seen = 0;
    for (const [k, slot] of this.slots) {
      if (++seen > SWEEP_PER_INSERT) break;
      if (slot.expiresAt <= now) this.remove(k);
    }
    while (this.slots.size > 0 && (this.heldBytes + bytes > this.maxBytes || this.slots.size >= this.maxEntries)) {
      this.remove(this.slots.keys().next().value as K);
    }
    this.slots.set(key, { value, bytes, expiresAt });
    this.heldBytes += bytes;
  }

  delete(key: K): void {
    this.remove(key);
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
}
