// Encrypted tallies: the 2-of-2 threshold exponential ElGamal a study's aggregates run on. Round trips, and every
// way a party could cheat refused by a proof.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { ristretto255 } from "@noble/curves/ed25519.js";
import {
  TallyProofError,
  addCells,
  combineTallyKeys,
  decryptCount,
  deriveTallyKeyShare,
  encryptFacts,
  partialDecrypt,
  proveTallyShare,
  subtractCells,
  verifyFacts,
  verifyPartialDecryption,
  verifyTallyShare,
  type EncryptedFacts,
} from "../src/index.ts";

const seed = () => new Uint8Array(randomBytes(32));
const researcher = deriveTallyKeyShare(seed(), "study:0x01");
const gateway = deriveTallyKeyShare(seed(), "study:0x01");
const joint = combineTallyKeys([researcher.publicKey, gateway.publicKey]);
const ctx = (patient: number) => `study:0x01/sex/patient-${patient}`;

/** Tallies categories over patients and decrypts each sum with both shares' partials (all verified). */
function tally(categories: number[], cells: number): number[] {
  const facts = categories.map((category, i) => encryptFacts(joint, cells, category, ctx(i)));
  for (const [i, f] of facts.entries()) expect(verifyFacts(joint, cells, f, ctx(i))).to.equal(true);
  return Array.from({ length: cells }, (_, j) => {
    const sum = addCells(facts.map((f) => f.cells[j]!));
    const partials = [researcher, gateway].map((share) => {
      const { partial, proof } = partialDecrypt(share, sum, `sum-${j}`);
      expect(verifyPartialDecryption(share.publicKey, sum, partial, proof, `sum-${j}`)).to.equal(true);
      return partial;
    });
    return decryptCount(sum, partials, categories.length);
  });
}

describe("crypto: encrypted tallies", function () {
  it("counts patients per category through encryption, sums and two partial decryptions", function () {
    expect(tally([0, 2, 2, 1, 2, 0, 2], 3)).to.deep.equal([2, 1, 4]);
    expect(tally([1], 4)).to.deep.equal([0, 1, 0, 0]);
  });

  it("keeps a running sum: adding then subtracting a contributor's cells leaves the sum without them", function () {
    const facts = [0, 1, 1].map((c, i) => encryptFacts(joint, 2, c, ctx(i)));
    const all = addCells(facts.map((f) => f.cells[1]!));
    const without = subtractCells(all, [facts[2]!.cells[1]!]);
    const partials = (cell: Uint8Array) => [researcher, gateway].map((s) => partialDecrypt(s, cell, "q").partial);
    expect(decryptCount(all, partials(all), 3)).to.equal(2);
    expect(decryptCount(without, partials(without), 3)).to.equal(1);
    expect(subtractCells(all, [])).to.deep.equal(all);
  });

  it("derives the same share from the same seed and label, another from another label", function () {
    const s = seed();
    expect(deriveTallyKeyShare(s, "a").publicKey).to.deep.equal(deriveTallyKeyShare(s, "a").publicKey);
    expect(deriveTallyKeyShare(s, "a").publicKey).not.to.deep.equal(deriveTallyKeyShare(s, "b").publicKey);
  });

  it("proves knowledge of a share; refuses a rogue key (the joint key minus the other share) and a replayed proof", function () {
    const proof = proveTallyShare(researcher, "study:0x01");
    expect(verifyTallyShare(researcher.publicKey, proof, "study:0x01")).to.equal(true);
    expect(verifyTallyShare(researcher.publicKey, proof, "study:0x02")).to.equal(false);
    // A rogue share X' = T − X_g (T a key the attacker holds) would make the joint key T: no proof exists for it.
    const rogue = ristretto255.Point.BASE.multiply(12345n)
      .subtract(ristretto255.Point.fromBytes(gateway.publicKey))
      .toBytes();
    expect(verifyTallyShare(rogue, proof, "study:0x01")).to.equal(false);
    expect(verifyTallyShare(new Uint8Array(32), proof, "study:0x01")).to.equal(false);
  });

  it("refuses facts worth more than one, a cell of 2, a swapped cell, and facts replayed under another patient", function () {
    const honest = encryptFacts(joint, 3, 1, ctx(1));
    expect(verifyFacts(joint, 3, honest, ctx(2))).to.equal(false);
    // Two one-hot vectors' cells mixed: cell 0 from a vector voting 0, the rest from one voting 1 (sum 2).
    const other = encryptFacts(joint, 3, 0, ctx(1));
    const mixed: EncryptedFacts = { cells: [other.cells[0]!, ...honest.cells.slice(1)], proof: honest.proof };
    expect(verifyFacts(joint, 3, mixed, ctx(1))).to.equal(false);
    // A cell doubled (C1, C2) -> (2·C1, 2·C2) encrypts 2 (or 0): its 0-or-1 proof fails.
    const [c1, c2] = [honest.cells[1]!.subarray(0, 32), honest.cells[1]!.subarray(32)].map((b) =>
      ristretto255.Point.fromBytes(b).multiply(2n).toBytes(),
    );
    const doubled: EncryptedFacts = {
      cells: [honest.cells[0]!, new Uint8Array([...c1!, ...c2!]), honest.cells[2]!],
      proof: honest.proof,
    };
    expect(verifyFacts(joint, 3, doubled, ctx(1))).to.equal(false);
    const flipped = honest.proof.slice();
    flipped[5]! ^= 1;
    expect(verifyFacts(joint, 3, { cells: honest.cells, proof: flipped }, ctx(1))).to.equal(false);
    expect(verifyFacts(joint, 4, honest, ctx(1))).to.equal(false);
  });

  it("refuses a partial decryption shifted to move a count (the proof fails, and the count does not decode)", function () {
    const facts = [0, 0, 1].map((c, i) => encryptFacts(joint, 2, c, ctx(i)));
    const sum = addCells(facts.map((f) => f.cells[0]!));
    const { partial, proof } = partialDecrypt(researcher, sum, "q");
    // Shifting D by −5·G would make the gateway read count + 5: a small cell passed off as large.
    const shifted = ristretto255.Point.fromBytes(partial).subtract(ristretto255.Point.BASE.multiply(5n)).toBytes();
    expect(verifyPartialDecryption(researcher.publicKey, sum, shifted, proof, "q")).to.equal(false);
    expect(verifyPartialDecryption(gateway.publicKey, sum, partial, proof, "q")).to.equal(false);
    const own = partialDecrypt(gateway, sum, "q").partial;
    expect(decryptCount(sum, [partial, own], 3)).to.equal(2);
    expect(() => decryptCount(sum, [own], 3)).to.throw(TallyProofError);
  });

  it("refuses malformed input with typed errors naming the field", function () {
    expect(() => encryptFacts(joint, 1, 0, "c")).to.throw(/cells/);
    expect(() => encryptFacts(joint, 3, 3, "c")).to.throw(/category/);
    expect(() => encryptFacts(new Uint8Array(32).fill(0xff), 3, 0, "c")).to.throw(/jointKey/);
    expect(() => deriveTallyKeyShare(new Uint8Array(8), "l")).to.throw(/seed/);
    expect(() => combineTallyKeys([joint])).to.throw(/two shares/);
    expect(verifyFacts(joint, 3, { cells: [], proof: new Uint8Array() }, "c")).to.equal(false);
  });
});
