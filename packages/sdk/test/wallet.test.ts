// The wallet module: create, import, and the encrypted keystore round trip, with the typed refusals a user meets
// (a wrong password, a file that is not a keystore, a secret that is neither a phrase nor a key). No network.
import { expect } from "chai";
import { HDNodeWallet, Wallet } from "ethers";
import { HygeiaSdkError } from "../src/errors.ts";
import {
  DEFAULT_SCRYPT_N,
  WalletError,
  createWallet,
  decryptKeystore,
  encryptKeystore,
  importWallet,
  isKeystore,
} from "../src/wallet.ts";
import { rejection } from "./support/settle.ts";

// anvil's public test mnemonic (account 0): never a real secret.
const TEST_PHRASE = "test test test test test test test test test test test junk";
const TEST_ADDRESS_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const TEST_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

function thrown(run: () => unknown): HygeiaSdkError {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(HygeiaSdkError);
    return error as HygeiaSdkError;
  }
  throw new Error("expected an error");
}

describe("sdk wallet and keystore", function () {
  it("creates a random HD wallet with a 12-word phrase, and two wallets differ", function () {
    const one = createWallet();
    const two = createWallet();
    expect(one.mnemonic?.phrase.split(" ")).to.have.length(12);
    expect(one.address).to.not.equal(two.address);
  });

  it("imports a recovery phrase (spacing and case forgiven) and a private key with or without 0x", function () {
    const fromPhrase = importWallet(`  ${TEST_PHRASE.toUpperCase().replaceAll(" ", "   ")}\n`);
    expect(fromPhrase.address).to.equal(TEST_ADDRESS_0);
    expect(fromPhrase).to.be.instanceOf(HDNodeWallet);
    expect(importWallet(TEST_KEY_0).address).to.equal(TEST_ADDRESS_0);
    expect(importWallet(TEST_KEY_0.slice(2)).address).to.equal(TEST_ADDRESS_0);
  });

  it("refuses a secret that is neither a phrase nor a key as a usage error that does not repeat it", function () {
    for (const secret of ["", "hello world", TEST_PHRASE.replace("junk", "junks"), "0x1234", `${TEST_KEY_0}00`]) {
      const error = thrown(() => importWallet(secret));
      expect(error.code).to.equal("INVALID_SECRET");
      expect(error.kind).to.equal("usage");
      expect(error.hint).to.be.a("string").and.not.empty;
      if (secret.length > 8) expect(error.message).to.not.include(secret);
    }
  });

  it("round-trips an HD wallet through the keystore with its phrase, reporting scrypt progress", async function () {
    const wallet = importWallet(TEST_PHRASE);
    const written: number[] = [];
    const json = await encryptKeystore(wallet, "correct horse", { scryptN: 1024, onProgress: (f) => written.push(f) });
    expect(isKeystore(json)).to.equal(true);
    expect(json).to.not.include(wallet.privateKey.slice(2));
    const read: number[] = [];
    const opened = await decryptKeystore(json, "correct horse", { onProgress: (f) => read.push(f) });
    expect(opened.address).to.equal(TEST_ADDRESS_0);
    expect(opened.privateKey).to.equal(TEST_KEY_0);
    expect(opened).to.be.instanceOf(HDNodeWallet);
    expect((opened as HDNodeWallet).mnemonic?.phrase).to.equal(TEST_PHRASE);
    expect(written.at(-1)).to.equal(1);
    expect(read.at(-1)).to.equal(1);
  });

  it("writes keystores at ethers' default scrypt cost, which ethers itself opens", async function () {
    this.timeout(60_000);
    const wallet = new Wallet(TEST_KEY_0);
    const json = await encryptKeystore(wallet, "pw");
    expect((JSON.parse(json) as { Crypto: { kdfparams: { n: number } } }).Crypto.kdfparams.n).to.equal(
      DEFAULT_SCRYPT_N,
    );
    expect((await Wallet.fromEncryptedJson(json, "pw")).address).to.equal(TEST_ADDRESS_0);
  });

  it("refuses a wrong password with WRONG_PASSWORD (kind auth) and a hint", async function () {
    const json = await encryptKeystore(createWallet(), "right", { scryptN: 1024 });
    const error = await rejection(decryptKeystore(json, "wrong"));
    expect(error).to.be.instanceOf(WalletError);
    expect(error.code).to.equal("WRONG_PASSWORD");
    expect(error.kind).to.equal("auth");
    expect(error.field).to.equal("password");
    expect(error.hint).to.match(/password/i);
  });

  it("refuses a file that is not a keystore, and a damaged one, as usage errors", async function () {
    for (const text of ["", "{}", '{"resourceType":"Observation"}', "not json at all"]) {
      const error = await rejection(decryptKeystore(text, "pw"));
      expect(error.code).to.equal("NOT_A_KEYSTORE");
      expect(error.kind).to.equal("usage");
    }
    const json = JSON.parse(await encryptKeystore(createWallet(), "pw", { scryptN: 1024 })) as {
      Crypto: { kdfparams: { n: number } };
    };
    json.Crypto.kdfparams.n = 1000; // not a power of two
    const error = await rejection(decryptKeystore(JSON.stringify(json), "pw"));
    expect(error.code).to.equal("NOT_A_KEYSTORE");
    expect(error.kind).to.equal("usage");
  });

  it("refuses an empty password when encrypting", async function () {
    const error = await rejection(encryptKeystore(createWallet(), ""));
    expect(error.kind).to.equal("usage");
    expect(error.field).to.equal("password");
  });
});
