// The record-list anchor on ERC-1056: a derived identity signs, a relayer sends, a reader finds the newest value with
// one call and one log query. On a real anvil chain with the deployed registry.
import { expect } from "chai";
import { SigningKey, computeAddress, getBytes, hexlify, randomBytes } from "ethers";
import {
  InvalidInputError,
  MAX_ANCHOR_VALUE_BYTES,
  SignatureError,
  TransactionSender,
  manifestAnchorIdentity,
  manifestAnchorNonce,
  parseSignedManifestAnchor,
  readManifestAnchor,
  sendManifestAnchor,
  signManifestAnchor,
} from "../src/index.ts";
import { startTestChain, type TestChain } from "./support/chain.ts";
import { rejection } from "./support/settle.ts";

describe("manifest anchor (ERC-1056 setAttributeSigned)", function () {
  this.timeout(60_000);
  let t: TestChain;
  let registry: string;
  let relayer: TransactionSender;
  const key = randomBytes(32);
  const identity = computeAddress(new SigningKey(key));

  before(async () => {
    t = await startTestChain();
    registry = t.deployment.contracts.EthereumDIDRegistry;
    relayer = TransactionSender.from(t.signer(9));
  });
  after(async () => t?.stop());

  it("reads nothing for an identity that never anchored", async () => {
    expect(await readManifestAnchor(t.provider, registry, identity)).to.equal(undefined);
    expect(await manifestAnchorNonce(t.provider, registry, identity)).to.equal(0);
  });

  it("anchors through a relayer and reads the newest value back, across several writes in one block or many", async () => {
    expect(manifestAnchorIdentity(key)).to.equal(identity);
    const values = [randomBytes(77), randomBytes(80), randomBytes(90)];
    for (const value of values) {
      const nonce = await manifestAnchorNonce(t.provider, registry, identity);
      const signed = signManifestAnchor(key, registry, nonce, value);
      // The relay's own check, as the gateway runs it on the JSON it receives.
      const parsed = parseSignedManifestAnchor(registry, JSON.parse(JSON.stringify(signed)));
      await sendManifestAnchor(relayer, registry, parsed);
    }
    const read = await readManifestAnchor(t.provider, registry, identity);
    expect(hexlify(read!.value)).to.equal(hexlify(values[2]!));
    expect(await manifestAnchorNonce(t.provider, registry, identity)).to.equal(3);
  });

  it("a signature for a used nonce is refused before anything is sent (compare-and-swap between devices)", async () => {
    const nonce = await manifestAnchorNonce(t.provider, registry, identity);
    const first = signManifestAnchor(key, registry, nonce, randomBytes(40));
    const second = signManifestAnchor(key, registry, nonce, randomBytes(40));
    const before = await t.provider.getTransactionCount(await relayer.getAddress());
    await sendManifestAnchor(relayer, registry, first);
    const error = await rejection(sendManifestAnchor(relayer, registry, second));
    expect(String(error)).to.match(/bad_signature|revert/i);
    expect(await t.provider.getTransactionCount(await relayer.getAddress())).to.equal(before + 1);
    expect(hexlify((await readManifestAnchor(t.provider, registry, identity))!.value)).to.equal(first.value);
  });

  it("another identity's anchors do not show up, and its key cannot write this identity's", async () => {
    const other = randomBytes(32);
    const otherIdentity = computeAddress(new SigningKey(other));
    const signed = signManifestAnchor(other, registry, 0, randomBytes(33));
    await sendManifestAnchor(relayer, registry, signed);
    expect(hexlify((await readManifestAnchor(t.provider, registry, otherIdentity))!.value)).to.equal(signed.value);
    const forged = { ...signed, identity };
    expect(() => parseSignedManifestAnchor(registry, forged)).to.throw(SignatureError);
  });

  it("the relay's parser refuses malformed input by field, and oversized values", () => {
    const good = signManifestAnchor(key, registry, 0, randomBytes(40));
    const cases: [Record<string, unknown>, string][] = [
      [{ ...good, identity: "0x123" }, "identity"],
      [{ ...good, value: "zz" }, "value"],
      [{ ...good, value: "0x" + "00".repeat(MAX_ANCHOR_VALUE_BYTES + 1) }, "value"],
      [{ ...good, nonce: -1 }, "nonce"],
      [{ ...good, nonce: 1.5 }, "nonce"],
      [{ ...good, signature: "0x00" }, "signature"],
    ];
    for (const [input, field] of cases)
      expect(() => parseSignedManifestAnchor(registry, input), field)
        .to.throw(InvalidInputError)
        .with.property("field", field);
    expect(() =>
      parseSignedManifestAnchor(registry, { ...good, value: hexlify(getBytes(good.value).reverse()) }),
    ).to.throw(SignatureError);
    expect(() => signManifestAnchor(key, registry, 0, new Uint8Array(MAX_ANCHOR_VALUE_BYTES + 1))).to.throw(
      InvalidInputError,
    );
  });
});
