import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { expect } from "chai";
import fc from "fast-check";
import {
  EMPTY_ROOT,
  MerkleLog,
  consistencyProof,
  inclusionProof,
  leafHash,
  rootHash,
  toHex,
  verifyConsistency,
  verifyInclusion,
} from "../src/index.ts";
import { refLeafHash, refMth, refPath, refProof } from "./reference.ts";

interface Rfc6962Vectors {
  leaves: string[];
  roots: string[];
  inclusion: { index: number; size: number; proof: string[] }[];
  consistency: { m: number; n: number; proof: string[] }[];
}
const vectors = JSON.parse(readFileSync(new URL("./vectors/rfc6962.json", import.meta.url), "utf8")) as Rfc6962Vectors;
const bytes = (hex: string) => Uint8Array.from(Buffer.from(hex, "hex"));
const hexes = (list: Uint8Array[]) => list.map(toHex);
const data = vectors.leaves.map(bytes);
const hashes = data.map(leafHash);

function logOf(leaves: Uint8Array[]): MerkleLog {
  const log = new MerkleLog();
  for (const leaf of leaves) log.append(leaf);
  return log;
}

function flip(hash: Uint8Array, at: number): Uint8Array {
  const out = hash.slice();
  out[at % out.length]! ^= 1 << (at % 8);
  return out;
}

describe("@hygeia/audit merkle (RFC 9162 §2.1)", () => {
  it("hashes the CT reference tree to the published roots at every size, with the array and the incremental tree", () => {
    const log = logOf(hashes);
    for (let n = 0; n <= 8; n++) {
      expect(toHex(rootHash(hashes.slice(0, n))), `size ${n}`).to.equal(vectors.roots[n]);
      expect(toHex(log.root(n)), `MerkleLog size ${n}`).to.equal(vectors.roots[n]);
      expect(toHex(refMth(data.slice(0, n))), `reference size ${n}`).to.equal(vectors.roots[n]);
    }
    expect(toHex(EMPTY_ROOT)).to.equal(vectors.roots[0]);
    expect(hexes(hashes)).to.deep.equal(hexes(data.map(refLeafHash)));
  });

  it("produces and verifies the published inclusion proofs", () => {
    const log = logOf(hashes);
    for (const { index, size, proof } of vectors.inclusion) {
      expect(hexes(inclusionProof(index, size, hashes))).to.deep.equal(proof);
      expect(hexes(log.inclusionProof(index, size))).to.deep.equal(proof);
      expect(verifyInclusion(hashes[index]!, index, size, proof.map(bytes), bytes(vectors.roots[size]!))).to.equal(
        true,
      );
    }
  });

  it("produces and verifies the published consistency proofs", () => {
    const log = logOf(hashes);
    for (const { m, n, proof } of vectors.consistency) {
      expect(hexes(consistencyProof(m, n, hashes))).to.deep.equal(proof);
      expect(hexes(log.consistencyProof(m, n))).to.deep.equal(proof);
      const ok = verifyConsistency(m, n, proof.map(bytes), bytes(vectors.roots[m]!), bytes(vectors.roots[n]!));
      expect(ok, `${m} -> ${n}`).to.equal(true);
    }
  });

  it("matches the reference PATH and PROOF for every index and every pair of sizes up to 40 leaves", () => {
    const leaves = Array.from({ length: 40 }, (_, i) => Uint8Array.of(i, i * 3));
    const log = logOf(leaves.map(leafHash));
    for (let n = 1; n <= leaves.length; n++) {
      const prefix = leaves.slice(0, n);
      expect(toHex(log.root(n))).to.equal(toHex(refMth(prefix)));
      for (let i = 0; i < n; i++) expect(hexes(log.inclusionProof(i, n))).to.deep.equal(hexes(refPath(i, prefix)));
      for (let m = 1; m <= n; m++) expect(hexes(log.consistencyProof(m, n))).to.deep.equal(hexes(refProof(m, prefix)));
    }
  });

  it("property: for any tree and any index, the inclusion proof verifies; a flipped byte, another index or another size fails", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.nat(),
        fc.nat(),
        fc.nat({ max: 31 * 8 }),
        (size, indexSeed, otherSeed, flipAt) => {
          // One leaf more than the tree under test, for the root of another size.
          const log = logOf(Array.from({ length: size + 1 }, (_, i) => leafHash(Uint8Array.of(i & 255, i >> 8))));
          const index = indexSeed % size;
          const proof = log.inclusionProof(index, size);
          const root = log.root(size);
          const leaf = log.leaf(index);
          expect(verifyInclusion(leaf, index, size, proof, root)).to.equal(true);
          expect(verifyInclusion(flip(leaf, flipAt), index, size, proof, root)).to.equal(false);
          expect(verifyInclusion(leaf, index, size, proof, flip(root, flipAt))).to.equal(false);
          if (proof.length > 0) {
            const at = otherSeed % proof.length;
            const bent = proof.map((p, i) => (i === at ? flip(p, flipAt) : p));
            expect(verifyInclusion(leaf, index, size, bent, root)).to.equal(false);
            expect(verifyInclusion(leaf, index, size, proof.slice(1), root)).to.equal(false);
          }
          const other = otherSeed % size;
          if (other !== index) expect(verifyInclusion(leaf, other, size, proof, root)).to.equal(false);
          // Another size, with that size's real root (a head is a signed (size, root) pair).
          expect(verifyInclusion(leaf, index, size + 1, proof, log.root(size + 1))).to.equal(false);
          expect(verifyInclusion(leaf, index, index, proof, root)).to.equal(false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("property: for any m ≤ n the consistency proof verifies; a flipped byte, another size or another tree fails", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.nat(),
        fc.nat(),
        fc.nat({ max: 31 * 8 }),
        (n, mSeed, pick, flipAt) => {
          const log = logOf(Array.from({ length: n + 1 }, (_, i) => leafHash(Uint8Array.of(i & 255, i >> 8, 7))));
          const m = mSeed % (n + 1);
          const proof = log.consistencyProof(m, n);
          const rootM = log.root(m);
          const rootN = log.root(n);
          expect(verifyConsistency(m, n, proof, rootM, rootN)).to.equal(true);
          if (m > 0 && m < n) {
            expect(verifyConsistency(m, n, proof, flip(rootM, flipAt), rootN)).to.equal(false);
            expect(verifyConsistency(m, n, proof, rootM, flip(rootN, flipAt))).to.equal(false);
            const at = pick % proof.length;
            expect(
              verifyConsistency(
                m,
                n,
                proof.map((p, i) => (i === at ? flip(p, flipAt) : p)),
                rootM,
                rootN,
              ),
            ).to.equal(false);
            expect(verifyConsistency(m, n + 1, proof, rootM, log.root(n + 1))).to.equal(false);
            if (m > 1) expect(verifyConsistency(m - 1, n, proof, log.root(m - 1), rootN)).to.equal(false);
            // A tree that shares the first m - 1 leaves and then differs (a fork) is not an extension.
            const forked = Array.from({ length: n }, (_, i) => log.leaf(i));
            forked[m - 1] = flip(forked[m - 1]!, flipAt);
            const fork = logOf(forked);
            expect(verifyConsistency(m, n, fork.consistencyProof(m, n), rootM, fork.root(n))).to.equal(false);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("gives the same roots and proofs with another SHA-256 implementation injected, and appendData hashes the leaf", () => {
    const native = new MerkleLog({ sha256: (input) => createHash("sha256").update(input).digest() });
    for (const leaf of data) native.appendData(leaf);
    const log = logOf(hashes);
    for (let n = 1; n <= 8; n++) {
      expect(toHex(native.root(n))).to.equal(vectors.roots[n]);
      for (let i = 0; i < n; i++)
        expect(hexes(native.inclusionProof(i, n))).to.deep.equal(hexes(log.inclusionProof(i, n)));
    }
  });

  it("never throws on malformed verifier input: short hashes, negative or fractional sizes, m > n", () => {
    const log = logOf(hashes);
    const root = log.root();
    expect(verifyInclusion(hashes[0]!.subarray(1), 0, 8, log.inclusionProof(0), root)).to.equal(false);
    expect(verifyInclusion(hashes[0]!, -1, 8, [], root)).to.equal(false);
    expect(verifyInclusion(hashes[0]!, 0.5, 8, [], root)).to.equal(false);
    expect(verifyConsistency(8, 6, [], root, log.root(6))).to.equal(false);
    expect(verifyConsistency(3, 8, [root.subarray(0, 31)], log.root(3), root)).to.equal(false);
    expect(verifyConsistency(0, 8, [], EMPTY_ROOT, root)).to.equal(true);
    expect(verifyConsistency(8, 8, [], root, root)).to.equal(true);
    expect(verifyConsistency(8, 8, [root], root, root)).to.equal(false);
  });

  it("keeps a million leaves and answers roots and proofs from stored subtrees", function () {
    this.timeout(300_000);
    const log = new MerkleLog();
    const leaf = new Uint8Array(32);
    for (let i = 0; i < 1_000_000; i++) {
      leaf[0] = i & 255;
      leaf[1] = (i >> 8) & 255;
      leaf[2] = i >> 16;
      log.append(leaf);
    }
    const started = performance.now();
    const root = log.root();
    for (const index of [0, 1, 524_287, 999_999]) {
      expect(verifyInclusion(log.leaf(index), index, log.size, log.inclusionProof(index), root)).to.equal(true);
    }
    expect(verifyConsistency(777_777, log.size, log.consistencyProof(777_777), log.root(777_777), root)).to.equal(true);
    // O(log n) hashes each: a handful of milliseconds, not a recomputation of a million leaves.
    expect(performance.now() - started).to.be.below(1_000);
  });
});
