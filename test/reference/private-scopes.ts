// The private-scopes scheme (docs/private-scopes.md) written again from its spec with node:crypto and bigint
// arithmetic only, sharing no code with @hygeia/crypto (@noble) or @hygeia/chain (ethers). The packages' tests
// check their derivations and the published test vectors against it.
import { createHmac, hkdfSync } from "node:crypto";

/** HKDF-SHA256 with the scheme's salt "hygeia/key-derivation/v1"; lowercase hex without 0x. */
export function referenceHkdf(ikm: Uint8Array, info: string, length: number): string {
  return Buffer.from(hkdfSync("sha256", ikm, "hygeia/key-derivation/v1", info, length)).toString("hex");
}

/** HMAC-SHA256(scopeKey, "hygeia/scope-id/v1" || 0x00 || address20 || 0x00 || utf8(canonical)), 0x-hex. */
export function referenceScopeId(scopeKeyHex: string, address: string, canonical: string): string {
  const input = Buffer.concat([
    Buffer.from("hygeia/scope-id/v1", "utf8"),
    Buffer.of(0),
    Buffer.from(address.slice(2), "hex"),
    Buffer.of(0),
    Buffer.from(canonical, "utf8"),
  ]);
  return (
    "0x" +
    createHmac("sha256", Buffer.from(scopeKeyHex.replace(/^0x/, ""), "hex"))
      .update(input)
      .digest("hex")
  );
}

const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/**
 * BIP-32 private-key derivation along hardened indexes: master = HMAC-SHA512("Bitcoin seed", seed); child i' =
 * (IL + k) mod n with I = HMAC-SHA512(chain code, 0x00 || ser256(k) || ser32(i + 2^31)). 0x-hex private key.
 */
export function referenceHardenedKey(seed: Uint8Array, path: readonly number[]): string {
  const toKey = (bytes: Buffer) => BigInt(`0x${bytes.toString("hex")}`);
  const ser256 = (k: bigint) => Buffer.from(k.toString(16).padStart(64, "0"), "hex");
  let i = createHmac("sha512", "Bitcoin seed").update(seed).digest();
  let key = toKey(i.subarray(0, 32));
  let chainCode = i.subarray(32);
  for (const index of path) {
    const ser32 = Buffer.alloc(4);
    ser32.writeUInt32BE(index + 0x80000000);
    i = createHmac("sha512", chainCode)
      .update(Buffer.concat([Buffer.from([0]), ser256(key), ser32]))
      .digest();
    key = (toKey(i.subarray(0, 32)) + key) % CURVE_ORDER;
    chainCode = i.subarray(32);
  }
  return `0x${ser256(key).toString("hex")}`;
}
