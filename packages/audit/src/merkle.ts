// RFC 9162 (Certificate Transparency 2.0) §2.1 Merkle tree hashing, proofs and their verification.
//
// Rules:
// - Hashing is exactly §2.1.1: leaf = SHA-256(0x00 ‖ data), node = SHA-256(0x01 ‖ left ‖ right), the
//   root of the empty tree = SHA-256(""), and a tree of n > 1 leaves splits at k, the largest power of
//   two below n.
// - Proofs are §2.1.3.1 PATH and §2.1.4.1 PROOF; verification is §2.1.3.2 and §2.1.4.2 step by step,
//   plus the two cases §2.1.4.2 leaves to the caller (as transparency-dev/merkle does): m = n (empty proof,
//   equal roots) and m = 0 (empty proof: the empty tree is a prefix of every tree).
// - Every verifier returns false on any malformed input (wrong lengths, sizes out of range): never throws.
import { sha256 } from "@noble/hashes/sha2.js";

export const HASH_SIZE = 32;

export function leafHash(data: Uint8Array): Uint8Array {
  const input = new Uint8Array(data.length + 1);
  input[0] = 0x00;
  input.set(data, 1);
  return sha256(input);
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  const input = new Uint8Array(1 + 2 * HASH_SIZE);
  input[0] = 0x01;
  input.set(left, 1);
  input.set(right, 1 + HASH_SIZE);
  return sha256(input);
}

export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));

/** The largest power of two strictly below n (n ≥ 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

function checkSize(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer`);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Something that can answer MTH of any range [from, to) of its leaves. */
interface SubtreeSource {
  subtree(from: number, to: number): Uint8Array;
}

function path(source: SubtreeSource, m: number, from: number, to: number, out: Uint8Array[]): void {
  const n = to - from;
  if (n <= 1) return;
  const k = splitPoint(n);
  if (m < k) {
    path(source, m, from, from + k, out);
    out.push(source.subtree(from + k, to));
  } else {
    path(source, m - k, from + k, to, out);
    out.push(source.subtree(from, from + k));
  }
}

function subproof(
  source: SubtreeSource,
  m: number,
  from: number,
  to: number,
  complete: boolean,
  out: Uint8Array[],
): void {
  const n = to - from;
  if (m === n) {
    if (!complete) out.push(source.subtree(from, to));
    return;
  }
  const k = splitPoint(n);
  if (m <= k) {
    subproof(source, m, from, from + k, complete, out);
    out.push(source.subtree(from + k, to));
  } else {
    subproof(source, m - k, from + k, to, false, out);
    out.push(source.subtree(from, from + k));
  }
}

function inclusionFrom(source: SubtreeSource, index: number, size: number): Uint8Array[] {
  checkSize("index", index);
  checkSize("size", size);
  if (index >= size) throw new RangeError("index must be below size");
  const out: Uint8Array[] = [];
  path(source, index, 0, size, out);
  return out;
}

function consistencyFrom(source: SubtreeSource, m: number, n: number): Uint8Array[] {
  checkSize("m", m);
  checkSize("n", n);
  if (m > n) throw new RangeError("m must not exceed n");
  const out: Uint8Array[] = [];
  if (m === 0 || m === n) return out;
  subproof(source, m, 0, n, true, out);
  return out;
}

/** MTH over leaf hashes held in an array (the simple, O(n) form; MerkleLog answers in O(log n)). */
class ArraySource implements SubtreeSource {
  readonly #hashes: readonly Uint8Array[];
  constructor(hashes: readonly Uint8Array[]) {
    this.#hashes = hashes;
  }
  subtree(from: number, to: number): Uint8Array {
    if (to - from === 1) return this.#hashes[from]!;
    const k = splitPoint(to - from);
    return nodeHash(this.subtree(from, from + k), this.subtree(from + k, to));
  }
}

/** MTH of a list of leaf hashes (not leaf data). */
export function rootHash(leafHashes: readonly Uint8Array[]): Uint8Array {
  if (leafHashes.length === 0) return EMPTY_ROOT;
  return new ArraySource(leafHashes).subtree(0, leafHashes.length);
}

/** PATH(index, D[size]) of §2.1.3.1 over the first `size` leaf hashes. */
export function inclusionProof(index: number, size: number, leafHashes: readonly Uint8Array[]): Uint8Array[] {
  if (size > leafHashes.length) throw new RangeError("size exceeds the leaves given");
  return inclusionFrom(new ArraySource(leafHashes), index, size);
}

/** PROOF(m, D[n]) of §2.1.4.1 over the first `n` leaf hashes. */
export function consistencyProof(m: number, n: number, leafHashes: readonly Uint8Array[]): Uint8Array[] {
  if (n > leafHashes.length) throw new RangeError("n exceeds the leaves given");
  return consistencyFrom(new ArraySource(leafHashes), m, n);
}

function isHash(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.length === HASH_SIZE;
}

function validSize(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/** §2.1.3.2: does `proof` show the leaf with hash `leaf` at `index` in the tree of `size` with root `root`? */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!isHash(leaf) || !isHash(root) || !validSize(index) || !validSize(size) || !proof.every(isHash)) return false;
  // 1. leaf_index must be below tree_size.
  if (index >= size) return false;
  // 2. fn = leaf_index, sn = tree_size - 1 (as bigints: sizes may exceed 2^32, where JS bit operators wrap).
  let fn = BigInt(index);
  let sn = BigInt(size - 1);
  // 3. r = leaf_hash.
  let r = leaf;
  // 4. For each p in the inclusion path:
  for (const p of proof) {
    // a. If sn is 0, fail.
    if (sn === 0n) return false;
    // b. If LSB(fn) is set or fn = sn: r = HASH(0x01 ‖ p ‖ r); then, if LSB(fn) is not set, right-shift fn
    //    and sn equally until LSB(fn) is set or fn is 0. Otherwise r = HASH(0x01 ‖ r ‖ p).
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    // c. Right-shift fn and sn once.
    fn >>= 1n;
    sn >>= 1n;
  }
  // 5. sn must be 0 and r the root.
  return sn === 0n && equalBytes(r, root);
}

/** §2.1.4.2: is the tree of size n with root `rootN` an append-only extension of the tree of size m with root `rootM`? */
export function verifyConsistency(
  m: number,
  n: number,
  proof: readonly Uint8Array[],
  rootM: Uint8Array,
  rootN: Uint8Array,
): boolean {
  if (!isHash(rootM) || !isHash(rootN) || !validSize(m) || !validSize(n) || !proof.every(isHash)) return false;
  if (m > n) return false;
  // Cases outside §2.1.4.2 (PROOF(m, D[m]) is empty): equal sizes need equal roots; size 0 needs nothing.
  if (m === n) return proof.length === 0 && equalBytes(rootM, rootN);
  if (m === 0) return proof.length === 0;
  // 1. An empty path fails.
  if (proof.length === 0) return false;
  // 2. If m is an exact power of 2, prepend first_hash to the path.
  const hashes = isPowerOfTwo(m) ? [rootM, ...proof] : [...proof];
  let fn = BigInt(m - 1);
  let sn = BigInt(n - 1);
  // 3. fn = m - 1, sn = n - 1 (above). 4. While LSB(fn) is set, right-shift fn and sn equally.
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  // 5. fr = sr = the first value of the path.
  let fr = hashes[0]!;
  let sr = hashes[0]!;
  // 6. For each subsequent value c:
  for (const c of hashes.slice(1)) {
    // a. If sn is 0, fail.
    if (sn === 0n) return false;
    // b. If LSB(fn) is set or fn = sn: fr = HASH(0x01 ‖ c ‖ fr), sr = HASH(0x01 ‖ c ‖ sr); then, if LSB(fn)
    //    is not set, right-shift fn and sn equally until LSB(fn) is set or fn is 0. Otherwise
    //    sr = HASH(0x01 ‖ sr ‖ c).
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    // c. Right-shift fn and sn once.
    fn >>= 1n;
    sn >>= 1n;
  }
  // 7. fr must be first_hash, sr second_hash, and sn 0.
  return sn === 0n && equalBytes(fr, rootM) && equalBytes(sr, rootN);
}

/** One level of complete-subtree hashes, stored flat (32 bytes each) to keep a million leaves compact. */
class HashLevel {
  #bytes = new Uint8Array(HASH_SIZE * 64);
  length = 0;

  get(i: number): Uint8Array {
    return this.#bytes.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE);
  }

  push(hash: Uint8Array): void {
    if ((this.length + 1) * HASH_SIZE > this.#bytes.length) {
      const grown = new Uint8Array(this.#bytes.length * 2);
      grown.set(this.#bytes);
      this.#bytes = grown;
    }
    this.#bytes.set(hash, this.length * HASH_SIZE);
    this.length += 1;
  }
}

/**
 * An append-only Merkle tree of leaf hashes. Level h keeps the hash of every complete, aligned subtree of
 * 2^h leaves, so MTH of any range, a root at any past size, and each proof cost O(log n) hashes: about
 * 64 bytes per leaf in all, with no recomputation per request.
 */
export class MerkleLog implements SubtreeSource {
  readonly #levels: HashLevel[] = [new HashLevel()];
  readonly #sha256: (data: Uint8Array) => Uint8Array;

  /**
   * `options.sha256` replaces the SHA-256 implementation (a server passes a native one to rebuild large logs
   * faster); it must be SHA-256, or every root and proof is wrong. Default: @noble/hashes.
   */
  constructor(options: { sha256?: (data: Uint8Array) => Uint8Array } = {}) {
    this.#sha256 = options.sha256 ?? sha256;
  }

  #node(left: Uint8Array, right: Uint8Array): Uint8Array {
    const input = new Uint8Array(1 + 2 * HASH_SIZE);
    input[0] = 0x01;
    input.set(left, 1);
    input.set(right, 1 + HASH_SIZE);
    return this.#sha256(input);
  }

  /** Appends the leaf of `data` (SHA-256(0x00 ‖ data)); returns its index. */
  appendData(data: Uint8Array): number {
    const input = new Uint8Array(data.length + 1);
    input.set(data, 1);
    return this.append(this.#sha256(input));
  }

  get size(): number {
    return this.#levels[0]!.length;
  }

  /** Appends a leaf hash (see `leafHash`); returns its index. */
  append(hash: Uint8Array): number {
    if (!isHash(hash)) throw new TypeError("a leaf hash is 32 bytes");
    const index = this.size;
    let level = 0;
    let node: Uint8Array = hash.slice();
    let position = index;
    this.#levels[0]!.push(node);
    // Each time the new node completes a pair, its parent is complete too.
    while (position % 2 === 1) {
      const left = this.#levels[level]!.get(position - 1);
      node = this.#node(left, node);
      level += 1;
      position = (position - 1) / 2;
      if (this.#levels.length === level) this.#levels.push(new HashLevel());
      this.#levels[level]!.push(node);
    }
    return index;
  }

  /** The leaf hash at `index`. */
  leaf(index: number): Uint8Array {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.size) throw new RangeError("no such leaf");
    return this.#levels[0]!.get(index).slice();
  }

  /** MTH(D[from:to]) for 0 ≤ from < to ≤ size. */
  subtree(from: number, to: number): Uint8Array {
    const n = to - from;
    // An aligned power-of-two range is a stored complete subtree.
    if (isPowerOfTwo(n) && from % n === 0) {
      const level = Math.log2(n);
      return this.#levels[level]!.get(from / n);
    }
    const k = splitPoint(n);
    return this.#node(this.subtree(from, from + k), this.subtree(from + k, to));
  }

  /** The root of the tree of the first `size` leaves (default: all). */
  root(size: number = this.size): Uint8Array {
    checkSize("size", size);
    if (size > this.size) throw new RangeError("size exceeds the log");
    if (size === 0) return EMPTY_ROOT;
    return this.subtree(0, size).slice();
  }

  inclusionProof(index: number, size: number = this.size): Uint8Array[] {
    if (size > this.size) throw new RangeError("size exceeds the log");
    return inclusionFrom(this, index, size).map((hash) => hash.slice());
  }

  consistencyProof(m: number, n: number = this.size): Uint8Array[] {
    if (n > this.size) throw new RangeError("n exceeds the log");
    return consistencyFrom(this, m, n).map((hash) => hash.slice());
  }
}
