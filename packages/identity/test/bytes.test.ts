// bytes.ts decodes base64url with Node's Buffer where it exists and with @scure/base in browsers: both must accept
// and refuse exactly the same text, and give the same bytes.
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { fromBase64url, fromBase64urlPortable, isCanonicalBase64url, toBase64url } from "../src/bytes.ts";

function outcome(decode: (text: string) => Uint8Array, text: string): string {
  try {
    return `ok:${Buffer.from(decode(text)).toString("hex")}`;
  } catch {
    return "refused";
  }
}

describe("identity bytes: base64url, Node's path and the browser's agree", function () {
  it("round-trips every length from 0 to 200 bytes on both paths", function () {
    for (let length = 0; length <= 200; length++) {
      const bytes = randomBytes(length);
      const text = toBase64url(bytes);
      expect(text).to.equal(bytes.toString("base64url"));
      expect(Buffer.from(fromBase64url(text)).equals(bytes), `length ${length}`).to.equal(true);
      expect(Buffer.from(fromBase64urlPortable(text)).equals(bytes), `length ${length}`).to.equal(true);
    }
  });

  it("refuses the same non-canonical text on both paths (padding, other alphabets, trailing bits, lone chars)", function () {
    const samples = ["", "A", "AA", "AB", "AAA", "AAB", "AAAA", "QQ==", "QQ", "QR", "Q+", "Q/", "Q Q", "QQ\n", "ÿÿ"];
    // Mutations of valid text: every one-character change at the end, and appended characters.
    const base = toBase64url(randomBytes(10)); // 14 characters: the last carries 2 bits of padding
    for (const char of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/. ")
      samples.push(base.slice(0, -1) + char, base + char, char + base);
    for (const text of samples) {
      const node = outcome(fromBase64url, text);
      expect(node, JSON.stringify(text)).to.equal(outcome(fromBase64urlPortable, text));
      expect(node !== "refused", JSON.stringify(text)).to.equal(isCanonicalBase64url(text));
    }
  });
});
