// The manifest anchor keys and sealed pointer: the account key checked against a reference derivation written with
// node:crypto (hkdfSync) and BigInt arithmetic, which shares no code with ours; the seal round-trips, binds the
// account, and refuses every altered byte.
import { hkdfSync } from "node:crypto";
import { expect } from "chai";
import { computeAddress, getBytes } from "ethers";
import {
  IntegrityError,
  InvalidArgumentError,
  InvalidKeyError,
  KEY_DERIVATION_SALT,
  MANIFEST_ANCHOR_ACCOUNT_INFO,
  MANIFEST_ANCHOR_POINTER_INFO,
  MAX_SEALED_MANIFEST_POINTER_BYTES,
  deriveConsentSecretFromKeystoreSecret,
  deriveManifestAnchorKeys,
  deriveScopeKey,
  openManifestPointer,
  sealManifestPointer,
} from "../src/index.ts";
import { fromHex, hex } from "./helpers.ts";

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const consentSecret = deriveConsentSecretFromKeystoreSecret(
  fromHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
);
const CID = fromHex("01551220" + "ab".repeat(32));

function referenceAnchorKeys(secret: Uint8Array) {
  const wide = new Uint8Array(hkdfSync("sha256", secret, KEY_DERIVATION_SALT, MANIFEST_ANCHOR_ACCOUNT_INFO, 48));
  const scalar = (BigInt("0x" + hex(wide)) % (SECP256K1_N - 1n)) + 1n;
  const pointerKey = new Uint8Array(hkdfSync("sha256", secret, KEY_DERIVATION_SALT, MANIFEST_ANCHOR_POINTER_INFO, 32));
  return { accountKey: scalar.toString(16).padStart(64, "0"), pointerKey: hex(pointerKey) };
}

function accountOf(accountKey: Uint8Array): Uint8Array {
  return getBytes(computeAddress("0x" + hex(accountKey)));
}

describe("manifest anchor keys", () => {
  it("match a reference derivation (HKDF, then reduction modulo n - 1, plus 1)", () => {
    const keys = deriveManifestAnchorKeys(consentSecret);
    const reference = referenceAnchorKeys(consentSecret);
    expect(hex(keys.accountKey)).to.equal(reference.accountKey);
    expect(hex(keys.pointerKey)).to.equal(reference.pointerKey);
    expect(keys.pointerKey).to.not.deep.equal(keys.accountKey);
  });

  it("are stable for one secret and differ for another", () => {
    const other = deriveConsentSecretFromKeystoreSecret(new Uint8Array(32).fill(7));
    expect(deriveManifestAnchorKeys(consentSecret)).to.deep.equal(deriveManifestAnchorKeys(consentSecret));
    expect(hex(deriveManifestAnchorKeys(other).accountKey)).to.not.equal(
      hex(deriveManifestAnchorKeys(consentSecret).accountKey),
    );
  });

  it("refuse the scope key and anything that is not a 32-byte consent secret", () => {
    expect(() => deriveManifestAnchorKeys(deriveScopeKey(consentSecret))).to.throw(InvalidKeyError, /scope key/);
    expect(() => deriveManifestAnchorKeys(new Uint8Array(31))).to.throw(InvalidKeyError, /32 bytes/);
  });
});

describe("sealed manifest pointer", () => {
  const { accountKey, pointerKey } = deriveManifestAnchorKeys(consentSecret);
  const account = accountOf(accountKey);

  it("round-trips the version and CID, with a fresh nonce each time", () => {
    const a = sealManifestPointer(pointerKey, account, { version: 7, cid: CID });
    const b = sealManifestPointer(pointerKey, account, { version: 7, cid: CID });
    expect(hex(a)).to.not.equal(hex(b));
    expect(a.length).to.be.at.most(MAX_SEALED_MANIFEST_POINTER_BYTES);
    const opened = openManifestPointer(pointerKey, account, a);
    expect(opened.version).to.equal(7);
    expect(hex(opened.cid)).to.equal(hex(CID));
  });

  it("holds no CID in clear", () => {
    const sealed = hex(sealManifestPointer(pointerKey, account, { version: 1, cid: CID }));
    expect(sealed).to.not.include("ab".repeat(8));
  });

  it("refuses every flipped byte, another account and another key", () => {
    const sealed = sealManifestPointer(pointerKey, account, { version: 2, cid: CID });
    for (let i = 0; i < sealed.length; i++) {
      const altered = sealed.slice();
      altered[i] = altered[i]! ^ 0x01;
      expect(() => openManifestPointer(pointerKey, account, altered), `byte ${i}`).to.throw(IntegrityError);
    }
    const otherAccount = account.slice();
    otherAccount[0] = otherAccount[0]! ^ 1;
    expect(() => openManifestPointer(pointerKey, otherAccount, sealed)).to.throw(IntegrityError, /does not open/);
    expect(() => openManifestPointer(new Uint8Array(32), account, sealed)).to.throw(IntegrityError, /does not open/);
    expect(() => openManifestPointer(pointerKey, account, sealed.subarray(0, 20))).to.throw(IntegrityError, /length/);
  });

  it("refuses bad arguments by field", () => {
    expect(() => sealManifestPointer(pointerKey, account, { version: 0, cid: CID }))
      .to.throw(InvalidArgumentError)
      .with.property("field", "pointer.version");
    expect(() => sealManifestPointer(pointerKey, account, { version: 1, cid: new Uint8Array(0) }))
      .to.throw(InvalidArgumentError)
      .with.property("field", "pointer.cid");
    expect(() => sealManifestPointer(pointerKey, new Uint8Array(19), { version: 1, cid: CID }))
      .to.throw(InvalidArgumentError)
      .with.property("field", "account");
    expect(() => sealManifestPointer(new Uint8Array(16), account, { version: 1, cid: CID }))
      .to.throw(InvalidArgumentError)
      .with.property("field", "pointerKey");
  });
});
