// A did:key document's JWK may carry a coordinate without its leading zero bytes (Veramo's did:key resolver drops
// them: about 1 key in 128). The verifier must still find the key, or that holder's valid signatures are refused.
import { createHash, randomBytes } from "node:crypto";
import { expect } from "chai";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import type { DIDDocument } from "did-resolver";
import { Es256kVerifier } from "../src/verify/es256k.ts";

/** A key whose uncompressed x coordinate starts with a zero byte. */
function keyWithLeadingZeroX(): { secret: Uint8Array; x: Uint8Array; y: Uint8Array } {
  for (;;) {
    const secret = new Uint8Array(randomBytes(32));
    const point = secp256k1.getPublicKey(secret, false);
    if (point[1] === 0) return { secret, x: point.subarray(1, 33), y: point.subarray(33, 65) };
  }
}

function documentWithJwk(x: Uint8Array, y: Uint8Array): DIDDocument {
  const id = "did:key:zTest";
  return {
    id,
    verificationMethod: [
      {
        id: `${id}#key-1`,
        type: "JsonWebKey2020",
        controller: id,
        publicKeyJwk: {
          kty: "EC",
          crv: "secp256k1",
          x: Buffer.from(x).toString("base64url"),
          y: Buffer.from(y).toString("base64url"),
        },
      },
    ],
    authentication: [`${id}#key-1`],
  };
}

describe("ES256K verification against did:key JWKs", () => {
  it("verifies a signature whose key's JWK x coordinate lost its leading zero byte, as Veramo's did:key resolver writes it", () => {
    const key = keyWithLeadingZeroX();
    const signingInput = "header.payload";
    const digest = createHash("sha256").update(signingInput).digest();
    const signature = secp256k1.sign(digest, key.secret, { prehash: false });
    const stripped = key.x.subarray(1); // 31 bytes, as the resolver publishes it
    expect(new Es256kVerifier().verify(documentWithJwk(stripped, key.y), "authentication", signingInput, signature)).to
      .be.true;
    expect(new Es256kVerifier().verify(documentWithJwk(key.x, key.y), "authentication", signingInput, signature)).to.be
      .true;
    const other = keyWithLeadingZeroX();
    expect(
      new Es256kVerifier().verify(
        documentWithJwk(other.x.subarray(1), other.y),
        "authentication",
        signingInput,
        signature,
      ),
    ).to.be.false;
  });
});
