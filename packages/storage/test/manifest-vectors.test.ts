// The committed manifest vector (test/vectors/manifest-auth.json, from test/vectors/generate.ts) checked two ways:
// its tag recomputed from the documented formula with node:crypto alone (hkdfSync, createHmac), independently of
// src/manifest/manifest-seal.ts, and the implementation opening it (and refusing it changed).
import { createHmac, hkdfSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { x25519KeyPairFromSecretKey } from "@hygeia/crypto";
import { expect } from "chai";
import { InvalidManifestError, UnauthenticatedManifestError, manifestOwner, openManifest } from "../src/index.ts";
import { encodeManifestDocument } from "../src/manifest/manifest-format.ts";
import { manifestAuthTag } from "../src/manifest/manifest-seal.ts";
import { expectRejection } from "./helpers/expect.ts";

interface ManifestAuthVector {
  secretKey: string;
  publicKey: string;
  owner: string;
  salt: string;
  info: string;
  authKey: string;
  documentJson: string;
  sealed: string;
  tag: string;
  unauthenticatedV1: string;
}

const vector = JSON.parse(
  readFileSync(new URL("vectors/manifest-auth.json", import.meta.url), "utf8"),
) as ManifestAuthVector;
const bytes = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, "hex"));
const keyPair = x25519KeyPairFromSecretKey(bytes(vector.secretKey));
const sealed = bytes(vector.sealed);

describe("manifest vectors (manifest-auth.json)", () => {
  it("the tag is HMAC-SHA256(HKDF-SHA256(secretKey, salt, info, 32), every byte before it) by node:crypto, and by the implementation", () => {
    expect([vector.salt, vector.info]).to.deep.equal(["hygeia/key-derivation/v1", "hygeia/manifest-auth/v1"]);
    const authKey = Buffer.from(hkdfSync("sha256", bytes(vector.secretKey), vector.salt, vector.info, 32));
    expect(authKey.toString("hex")).to.equal(vector.authKey);
    expect(Buffer.from(sealed.subarray(0, 5)).toString("latin1")).to.equal("HYGM\x02");
    const body = sealed.subarray(0, sealed.length - 32);
    expect(createHmac("sha256", authKey).update(body).digest("hex")).to.equal(vector.tag);
    expect(Buffer.from(sealed.subarray(body.length)).toString("hex")).to.equal(vector.tag);
    expect(Buffer.from(manifestAuthTag(bytes(vector.secretKey), body)).toString("hex")).to.equal(vector.tag);
  });

  it("openManifest opens the vector with the fixed key pair to its document, and refuses it with its tag or body changed", async () => {
    expect(Buffer.from(keyPair.publicKey).toString("hex")).to.equal(vector.publicKey);
    expect(manifestOwner(keyPair.publicKey)).to.equal(vector.owner);
    const document = await openManifest(sealed, keyPair);
    expect(new TextDecoder().decode(encodeManifestDocument(document))).to.equal(vector.documentJson);
    for (const index of [5, 5 + 114, sealed.length - 33, sealed.length - 1]) {
      const changed = Uint8Array.from(sealed);
      changed[index]! ^= 0x80;
      await expectRejection(openManifest(changed, keyPair), InvalidManifestError);
    }
  });

  it("the version 1 seal of the same document is refused by default and opens with acceptUnauthenticated", async () => {
    const v1 = bytes(vector.unauthenticatedV1);
    expect(v1[4]).to.equal(1);
    await expectRejection(openManifest(v1, keyPair), UnauthenticatedManifestError);
    const document = await openManifest(v1, keyPair, { acceptUnauthenticated: true });
    expect(new TextDecoder().decode(encodeManifestDocument(document))).to.equal(vector.documentJson);
  });
});
