// Encrypted tallies: counts over patients' categorical facts that neither the gateway nor the researcher can read
// one patient at a time. Exponential ElGamal over ristretto255 under a 2-of-2 key (the researcher's share plus the
// gateway's), with Chaum-Pedersen proofs (Fiat-Shamir, RFC 9380 hash-to-scalar) for every step a party could cheat.
//
// The protocol (the gateway's study routes run it):
// 1. Keys. Researcher and gateway each hold a share x_i of the study's tally key and publish X_i = x_i·G with a
//    proof of knowledge of x_i (so nobody can pick X_i = T − X_other and decrypt alone: the rogue-key attack). The
//    joint key is Y = X_r + X_g.
// 2. Facts. A patient's wallet encrypts a one-hot vector per dimension (1 in its category's cell, 0 elsewhere):
//    cell j is (r_j·G, b_j·G + r_j·Y). It proves each cell holds 0 or 1 (a disjunctive proof) and that the cells sum
//    to exactly 1, bound to a context naming the study, the dimension and the patient (no replay under another
//    name, no cell worth 1000).
// 3. Sums. The gateway adds the cells of the contributors whose consent is live: per category, an encryption of its
//    count. It cannot open them: it holds one share.
// 4. Decryption. The researcher sends its partial decryption x_r·C1 of each sum with a proof that it used x_r; the
//    gateway adds its own, recovers each count (a small discrete log) and releases only what small-cell
//    suppression allows. The researcher never holds the gateway's share, so it never sees a withheld count.
//
// What it does not do: stop a party that runs sybil patients (k-anonymity's limit, for any design), or stop a
// gateway that departs from the protocol (it could ask the researcher to decrypt one patient's cell as a "sum");
// the gateway is honest-but-curious here, as everywhere in the trust model.
//
// Why not a library: no maintained JS library offers threshold exponential ElGamal with these proofs; the group,
// the hashing and the scalar arithmetic are @noble/curves (audited), and this file only composes them.
import { ristretto255, ristretto255_hasher } from "@noble/curves/ed25519.js";
import { randomBytes } from "@noble/hashes/utils.js";
import { CryptoErrorCode, HygeiaCryptoError, InvalidArgumentError } from "./errors.ts";

type Point = InstanceType<typeof ristretto255.Point>;
const { Point } = ristretto255;
const G = Point.BASE;
const L = Point.Fn.ORDER;
const DST = "hygeia/tally/v1";
const encoder = new TextEncoder();

/** Bytes of a point (a public key share, a partial decryption). */
export const TALLY_POINT_BYTES = 32;
/** Bytes of one encrypted cell: C1 ‖ C2. */
export const TALLY_CELL_BYTES = 64;
/** Most cells (categories) one dimension may have. */
export const MAX_TALLY_CELLS = 64;
/** Largest count decryptTally recovers. */
export const MAX_TALLY_COUNT = 10_000_000;

/** A proof or cell that does not verify. */
export class TallyProofError extends HygeiaCryptoError {
  constructor(message: string) {
    super(CryptoErrorCode.Integrity, message);
  }
}

export interface TallyKeyShare {
  /** The share's scalar, 32 bytes little-endian: keep it secret. */
  secretKey: Uint8Array;
  /** X = x·G, 32 bytes. */
  publicKey: Uint8Array;
}

/** A one-hot vector of one dimension, encrypted, with its proofs. */
export interface EncryptedFacts {
  /** One 64-byte cell per category. */
  cells: Uint8Array[];
  /** 128 bytes per cell (0-or-1 proofs) then 64 bytes (the cells sum to one). */
  proof: Uint8Array;
}

// ---- scalars and points

function scalarOf(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

function scalarBytes(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  let v = n;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

const mod = (n: bigint): bigint => ((n % L) + L) % L;
/** A uniform non-zero scalar. */
function randomScalar(): bigint {
  for (;;) {
    const n = mod(scalarOf(randomBytes(64)));
    if (n !== 0n) return n;
  }
}
/** k·P for any k in [0, L) (multiply refuses 0). */
const times = (point: Point, k: bigint): Point => (k === 0n ? Point.ZERO : point.multiply(k));

function pointFrom(bytes: Uint8Array, field: string): Point {
  if (!(bytes instanceof Uint8Array) || bytes.length !== TALLY_POINT_BYTES)
    throw new InvalidArgumentError(`${field} must be ${TALLY_POINT_BYTES} bytes`, { field });
  try {
    return Point.fromBytes(bytes);
  } catch {
    throw new InvalidArgumentError(`${field} is not a ristretto255 point`, { field });
  }
}

function scalarFrom(bytes: Uint8Array, field: string): bigint {
  if (!(bytes instanceof Uint8Array) || bytes.length !== 32)
    throw new InvalidArgumentError(`${field} must be 32 bytes`, { field });
  const n = scalarOf(bytes);
  if (n >= L) throw new InvalidArgumentError(`${field} is not a reduced scalar`, { field });
  return n;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** The Fiat-Shamir challenge: hash-to-scalar (RFC 9380) of the proof's kind, its context and its points. */
function challenge(kind: string, context: string, points: readonly Point[]): bigint {
  const label = encoder.encode(`${kind}\0${context}\0`);
  return ristretto255_hasher.hashToScalar(concat([label, ...points.map((p) => p.toBytes())]), { DST });
}

function checkContext(context: string): void {
  if (typeof context !== "string" || context.length === 0 || context.length > 512 || context.includes("\0"))
    throw new InvalidArgumentError("context must be a non-empty string of at most 512 characters without NUL", {
      field: "context",
    });
}

// ---- proofs of equal discrete logs (Chaum-Pedersen; one base is a Schnorr proof)

/** Proves knowledge of x with P_i = x·B_i for every i: (c, s), 64 bytes. */
function proveDlog(x: bigint, bases: readonly Point[], kind: string, context: string): Uint8Array {
  const w = randomScalar();
  const images = bases.map((base) => base.multiply(x));
  const commitments = bases.map((base) => base.multiply(w));
  const c = challenge(kind, context, [...bases, ...images, ...commitments]);
  return concat([scalarBytes(c), scalarBytes(mod(w + c * x))]);
}

function verifyDlog(
  bases: readonly Point[],
  images: readonly Point[],
  proof: Uint8Array,
  kind: string,
  context: string,
): boolean {
  if (!(proof instanceof Uint8Array) || proof.length !== 64) return false;
  const c = scalarOf(proof.subarray(0, 32));
  const s = scalarOf(proof.subarray(32));
  if (c >= L || s >= L) return false;
  const commitments = bases.map((base, i) => times(base, s).subtract(times(images[i]!, c)));
  return challenge(kind, context, [...bases, ...images, ...commitments]) === c;
}

// ---- key shares

/**
 * A key share derived from 32+ bytes of secret seed and a label (the researcher: from its study key; the gateway:
 * from its tally secret and the study id), so it never needs storing.
 */
export function deriveTallyKeyShare(seed: Uint8Array, label: string): TallyKeyShare {
  if (!(seed instanceof Uint8Array) || seed.length < 32)
    throw new InvalidArgumentError("seed must be at least 32 bytes of secret", { field: "seed" });
  checkContext(label);
  const x = ristretto255_hasher.hashToScalar(concat([encoder.encode(`share\0${label}\0`), seed]), { DST });
  if (x === 0n) throw new InvalidArgumentError("seed derives the zero scalar", { field: "seed" });
  return { secretKey: scalarBytes(x), publicKey: G.multiply(x).toBytes() };
}

/** A proof that the share's holder knows its secret, bound to `context` (the study). */
export function proveTallyShare(share: TallyKeyShare, context: string): Uint8Array {
  checkContext(context);
  return proveDlog(scalarFrom(share.secretKey, "share.secretKey"), [G], "share", context);
}

/** Whether `proof` shows knowledge of the secret of `publicKey` for `context`. */
export function verifyTallyShare(publicKey: Uint8Array, proof: Uint8Array, context: string): boolean {
  checkContext(context);
  let X: Point;
  try {
    X = pointFrom(publicKey, "publicKey");
  } catch {
    return false;
  }
  return !X.equals(Point.ZERO) && verifyDlog([G], [X], proof, "share", context);
}

/** The joint public key: the sum of the shares' public keys. */
export function combineTallyKeys(publicKeys: readonly Uint8Array[]): Uint8Array {
  if (publicKeys.length < 2)
    throw new InvalidArgumentError("a joint key needs two shares or more", { field: "publicKeys" });
  return publicKeys
    .map((key, i) => pointFrom(key, `publicKeys[${i}]`))
    .reduce((sum, p) => sum.add(p))
    .toBytes();
}

// ---- one-hot facts

function cellPoints(cell: Uint8Array, field: string): [Point, Point] {
  if (!(cell instanceof Uint8Array) || cell.length !== TALLY_CELL_BYTES)
    throw new InvalidArgumentError(`${field} must be ${TALLY_CELL_BYTES} bytes`, { field });
  return [pointFrom(cell.subarray(0, 32), field), pointFrom(cell.subarray(32), field)];
}

/**
 * Encrypts the one-hot vector of `category` among `cells` categories under the joint key, with its proofs bound to
 * `context` (name the study, the dimension and the patient: the verifier recomputes it).
 */
export function encryptFacts(jointKey: Uint8Array, cells: number, category: number, context: string): EncryptedFacts {
  checkContext(context);
  const Y = pointFrom(jointKey, "jointKey");
  if (!Number.isInteger(cells) || cells < 2 || cells > MAX_TALLY_CELLS)
    throw new InvalidArgumentError(`cells must be an integer from 2 to ${MAX_TALLY_CELLS}`, { field: "cells" });
  if (!Number.isInteger(category) || category < 0 || category >= cells)
    throw new InvalidArgumentError("category must index one of the cells", { field: "category" });
  const out: Uint8Array[] = [];
  const proofs: Uint8Array[] = [];
  let rSum = 0n;
  for (let j = 0; j < cells; j++) {
    const bit = j === category ? 1 : 0;
    const r = randomScalar();
    rSum = mod(rSum + r);
    const C1 = G.multiply(r);
    const C2 = Y.multiply(r).add(bit === 1 ? G : Point.ZERO);
    out.push(concat([C1.toBytes(), C2.toBytes()]));
    proofs.push(proveBit(Y, C1, C2, r, bit, `${context}\0${j}`));
  }
  // The cells sum to (R·G, G + R·Y) with R the sum of the r_j: proving one log R for (G, Y) shows the sum is 1.
  proofs.push(proveDlog(rSum, [G, Y], "one", context));
  return { cells: out, proof: concat(proofs) };
}

/** Whether `facts` is a well-formed one-hot vector of `cells` categories under `jointKey` for `context`. */
export function verifyFacts(jointKey: Uint8Array, cells: number, facts: EncryptedFacts, context: string): boolean {
  checkContext(context);
  try {
    const Y = pointFrom(jointKey, "jointKey");
    if (!Number.isInteger(cells) || cells < 2 || cells > MAX_TALLY_CELLS) return false;
    if (!Array.isArray(facts.cells) || facts.cells.length !== cells) return false;
    if (!(facts.proof instanceof Uint8Array) || facts.proof.length !== cells * 128 + 64) return false;
    for (let j = 0; j < cells; j++) {
      const [C1, C2] = cellPoints(facts.cells[j]!, `cells[${j}]`);
      if (!verifyBit(Y, C1, C2, facts.proof.subarray(j * 128, (j + 1) * 128), `${context}\0${j}`)) return false;
    }
    const [S1, S2] = sumPoints(facts.cells);
    return verifyDlog([G, Y], [S1, S2.subtract(G)], facts.proof.subarray(cells * 128), "one", context);
  } catch {
    return false;
  }
}

/** A disjunctive Chaum-Pedersen proof that (C1, C2) encrypts 0 or 1: (c0, c1, s0, s1), 128 bytes. */
function proveBit(Y: Point, C1: Point, C2: Point, r: bigint, bit: 0 | 1, context: string): Uint8Array {
  const fake = 1 - bit;
  const c = [0n, 0n];
  const s = [0n, 0n];
  const A: Point[] = [Point.ZERO, Point.ZERO];
  const B: Point[] = [Point.ZERO, Point.ZERO];
  // The branch not taken: pick its challenge and response, and solve for its commitments.
  c[fake] = randomScalar();
  s[fake] = randomScalar();
  const fakeTarget = fake === 1 ? C2.subtract(G) : C2;
  A[fake] = G.multiply(s[fake]!).subtract(C1.multiply(c[fake]!));
  B[fake] = Y.multiply(s[fake]!).subtract(times(fakeTarget, c[fake]!));
  // The branch taken: an honest commitment.
  const w = randomScalar();
  A[bit] = G.multiply(w);
  B[bit] = Y.multiply(w);
  const total = challenge("bit", context, [Y, C1, C2, A[0]!, B[0]!, A[1]!, B[1]!]);
  c[bit] = mod(total - c[fake]!);
  s[bit] = mod(w + c[bit]! * r);
  return concat([scalarBytes(c[0]!), scalarBytes(c[1]!), scalarBytes(s[0]!), scalarBytes(s[1]!)]);
}

function verifyBit(Y: Point, C1: Point, C2: Point, proof: Uint8Array, context: string): boolean {
  const [c0, c1, s0, s1] = [0, 1, 2, 3].map((i) => scalarOf(proof.subarray(i * 32, (i + 1) * 32))) as [
    bigint,
    bigint,
    bigint,
    bigint,
  ];
  if ([c0, c1, s0, s1].some((n) => n >= L)) return false;
  const A0 = times(G, s0).subtract(times(C1, c0));
  const B0 = times(Y, s0).subtract(times(C2, c0));
  const A1 = times(G, s1).subtract(times(C1, c1));
  const B1 = times(Y, s1).subtract(times(C2.subtract(G), c1));
  return mod(c0 + c1) === challenge("bit", context, [Y, C1, C2, A0, B0, A1, B1]);
}

function sumPoints(cells: readonly Uint8Array[]): [Point, Point] {
  let S1 = Point.ZERO;
  let S2 = Point.ZERO;
  cells.forEach((cell, j) => {
    const [C1, C2] = cellPoints(cell, `cells[${j}]`);
    S1 = S1.add(C1);
    S2 = S2.add(C2);
  });
  return [S1, S2];
}

// ---- sums and decryption

/** The homomorphic sum of encrypted cells (one category over many patients): an encryption of the count. */
export function addCells(cells: readonly Uint8Array[]): Uint8Array {
  if (cells.length === 0) return concat([Point.ZERO.toBytes(), Point.ZERO.toBytes()]);
  const [S1, S2] = sumPoints(cells);
  return concat([S1.toBytes(), S2.toBytes()]);
}

/** `total` minus each of `cells`: the encrypted sum without those contributors (a running sum's update). */
export function subtractCells(total: Uint8Array, cells: readonly Uint8Array[]): Uint8Array {
  let [S1, S2] = cellPoints(total, "total");
  cells.forEach((cell, j) => {
    const [C1, C2] = cellPoints(cell, `cells[${j}]`);
    S1 = S1.subtract(C1);
    S2 = S2.subtract(C2);
  });
  return concat([S1.toBytes(), S2.toBytes()]);
}

/** One share's partial decryption of an encrypted count: D = x·C1 (32 bytes) and a proof that x is the share's. */
export function partialDecrypt(
  share: TallyKeyShare,
  cell: Uint8Array,
  context: string,
): { partial: Uint8Array; proof: Uint8Array } {
  checkContext(context);
  const x = scalarFrom(share.secretKey, "share.secretKey");
  const [C1] = cellPoints(cell, "cell");
  return { partial: times(C1, x).toBytes(), proof: proveDlog(x, [G, C1], "partial", context) };
}

/** Whether `partial` is x·C1 for the x behind `publicKey`. */
export function verifyPartialDecryption(
  publicKey: Uint8Array,
  cell: Uint8Array,
  partial: Uint8Array,
  proof: Uint8Array,
  context: string,
): boolean {
  checkContext(context);
  try {
    const X = pointFrom(publicKey, "publicKey");
    const [C1] = cellPoints(cell, "cell");
    const D = pointFrom(partial, "partial");
    if (C1.equals(Point.ZERO)) return D.equals(Point.ZERO);
    return verifyDlog([G, C1], [X, D], proof, "partial", context);
  } catch {
    return false;
  }
}

/**
 * The count an encrypted sum holds, from every share's partial decryption (verified by the caller), by
 * baby-step giant-step up to `maxCount`. Throws TallyProofError when no count up to it matches (a wrong partial).
 */
export function decryptCount(cell: Uint8Array, partials: readonly Uint8Array[], maxCount: number): number {
  if (!Number.isInteger(maxCount) || maxCount < 0 || maxCount > MAX_TALLY_COUNT)
    throw new InvalidArgumentError(`maxCount must be an integer from 0 to ${MAX_TALLY_COUNT}`, { field: "maxCount" });
  const [, C2] = cellPoints(cell, "cell");
  const M = partials.reduce((m, d, i) => m.subtract(pointFrom(d, `partials[${i}]`)), C2);
  const step = Math.ceil(Math.sqrt(maxCount + 1));
  const baby = new Map<string, number>();
  let P = Point.ZERO;
  for (let j = 0; j < step; j++) {
    baby.set(P.toHex(), j);
    P = P.add(G);
  }
  const giant = times(G, BigInt(step)).negate();
  let Q = M;
  for (let i = 0; i * step <= maxCount; i++) {
    const j = baby.get(Q.toHex());
    if (j !== undefined && i * step + j <= maxCount) return i * step + j;
    Q = Q.add(giant);
  }
  throw new TallyProofError(`the decryption is not a count up to ${maxCount}: a partial decryption is wrong`);
}
