// #native: node:crypto in Node (src/native/node.ts), @noble in browsers (src/native/portable.ts). The two must give
// the same answers; both are imported directly here, in Node.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import * as node from "../src/native/node.ts";
import * as portable from "../src/native/portable.ts";

const ORDER = secp256k1.Point.CURVE().n;

describe("identity #native: node:crypto and the portable implementation agree", function () {
  it("hashes bytes and UTF-8 strings to the same SHA-256", function () {
    const inputs: (Uint8Array | string)[] = ["", "abc", "é ✓ 𝄞", "x".repeat(100_000), new Uint8Array(0)];
    for (let i = 0; i < 50; i++) inputs.push(randomBytes(i * 37));
    for (const input of inputs)
      expect(Buffer.from(portable.sha256(input)).toString("hex")).to.equal(
        Buffer.from(node.sha256(input)).toString("hex"),
      );
    // The FIPS 180-2 vector, so neither agrees with the other by being wrong the same way.
    expect(Buffer.from(portable.sha256("abc")).toString("hex")).to.equal(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });

  it("verifies ES256K the same way: valid, high-S twin, flipped bit, other key, other data, out-of-range values", function () {
    for (let round = 0; round < 20; round++) {
      const secret = secp256k1.utils.randomSecretKey();
      const publicKey = secp256k1.getPublicKey(secret, false);
      const otherKey = secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), false);
      const data = randomBytes(1 + round * 13);
      const signature = secp256k1.sign(node.sha256(data), secret, { prehash: false });
      const s = BigInt(`0x${Buffer.from(signature.subarray(32)).toString("hex")}`);
      const twin = Uint8Array.from([
        ...signature.subarray(0, 32),
        ...Buffer.from((ORDER - s).toString(16).padStart(64, "0"), "hex"),
      ]);
      const flipped = Uint8Array.from(signature);
      flipped[round % 64]! ^= 1 << (round % 8);
      const cases: [string, Uint8Array, Uint8Array, Uint8Array][] = [
        ["valid", publicKey, data, signature],
        ["high-S twin", publicKey, data, twin],
        ["flipped", publicKey, data, flipped],
        ["other key", otherKey, data, signature],
        ["other data", publicKey, Uint8Array.from([...data, 0]), signature],
        ["r = 0", publicKey, data, Uint8Array.from([...new Uint8Array(32), ...signature.subarray(32)])],
      ];
      for (const [name, key, message, sig] of cases) {
        const expected = name === "valid" || name === "high-S twin";
        expect(node.verifyPrepared(node.preparePublicKey(key), message, sig), `node: ${name}`).to.equal(expected);
        expect(portable.verifyPrepared(portable.preparePublicKey(key), message, sig), `portable: ${name}`).to.equal(
          expected,
        );
      }
    }
  });
});
