// Registry writes under concurrency: one agent's writes of a DID run one at a time with consecutive nonces, two
// agents holding the same DID (two devices) publishing at once end with exactly one current key, and a failed
// write says what really happened (nothing sent, or which transaction was sent and may still be mined).
import { expect } from "chai";
import { Wallet } from "ethers";
import { generateX25519KeyPair } from "@hygeia/crypto";
import { IdentityAgent, TransactionFailedError, type PublishEncryptionKeyResult } from "../src/index.ts";
import { fund, startTestChain, type TestChain } from "./helpers/chain.ts";
import { rejection } from "./helpers/settle.ts";

const hexOf = (key: Uint8Array) => Buffer.from(key).toString("hex");

describe("identity: registry writes under concurrency", function () {
  let testChain: TestChain;
  let agent: IdentityAgent;

  before(async function () {
    testChain = await startTestChain();
    agent = await IdentityAgent.create({ network: testChain.network });
  });
  after(async function () {
    await agent?.close();
    await testChain?.stop();
  });

  it("concurrent publishes of different keys in one agent all succeed; the key published last is the only one left", async function () {
    const patient = await agent.createDid();
    await fund(testChain, patient.ownerAddress!);
    const keys = [generateX25519KeyPair(), generateX25519KeyPair(), generateX25519KeyPair()];
    const results = await Promise.all(keys.map((key) => agent.publishEncryptionKey(patient.did, key.publicKey)));
    expect(results.map((r) => r.superseded)).to.deep.equal([false, false, false]);
    const listed = await agent.encryptionKeys(patient.did);
    expect(listed.map((k) => [hexOf(k.publicKey), k.current])).to.deep.equal([[hexOf(keys[2]!.publicKey), true]]);
  });

  /**
   * After two devices' publishEncryptionKey calls of the same DID have both returned: the DID lists exactly one
   * key, one of the two published; the call whose key it is did not report superseded, and a call that reported
   * superseded does not hold it. (The loser reports superseded unless the winner's publish was mined after the
   * loser's last read; agent.ts, settleOnlyKey, says why no call can know that.)
   */
  async function expectOneWinner(
    readers: readonly IdentityAgent[],
    did: string,
    outcome: ReadonlyArray<[PublishEncryptionKeyResult, Uint8Array]>,
    label: string,
  ): Promise<void> {
    for (const reader of readers) {
      const listed = await reader.encryptionKeys(did);
      expect(listed, label).to.have.length(1);
      const winner = hexOf(listed[0]!.publicKey);
      expect(
        outcome.map(([, key]) => hexOf(key)),
        label,
      ).to.include(winner);
      for (const [result, key] of outcome) {
        if (hexOf(key) === winner) expect(result.superseded, `${label}: the winner's call`).to.equal(false);
        if (result.superseded) expect(hexOf(key), `${label}: a superseded call`).not.to.equal(winner);
      }
    }
    expect(
      outcome.every(([result]) => result.superseded),
      `${label}: both superseded`,
    ).to.equal(false);
  }

  /** The phone publishes `phoneKey` and the laptop `laptopKey` at once; then expectOneWinner. */
  async function publishAtOnce(
    { phone, laptop, did }: { phone: IdentityAgent; laptop: IdentityAgent; did: string },
    phoneKey: Uint8Array,
    laptopKey: Uint8Array,
    label: string,
  ): Promise<void> {
    const [fromPhone, fromLaptop] = await Promise.all([
      phone.publishEncryptionKey(did, phoneKey),
      laptop.publishEncryptionKey(did, laptopKey),
    ]);
    const outcome: Array<[PublishEncryptionKeyResult, Uint8Array]> = [
      [fromPhone, phoneKey],
      [fromLaptop, laptopKey],
    ];
    await expectOneWinner([phone, laptop], did, outcome, label);
  }

  /** Two agents holding one funded DID (the wallet key imported on two devices). */
  async function twoDevices(): Promise<{ phone: IdentityAgent; laptop: IdentityAgent; did: string }> {
    const ownerKey = Wallet.createRandom().privateKey;
    const phone = await IdentityAgent.create({ network: testChain.network });
    const laptop = await IdentityAgent.create({ network: testChain.network });
    const did = (await phone.importEthrDid(ownerKey)).did;
    await laptop.importEthrDid(ownerKey);
    await fund(testChain, (await phone.getDid(did)).ownerAddress!);
    return { phone, laptop, did };
  }

  it("two agents holding the same DID (two devices) publishing different new keys at once leave exactly one of them", async function () {
    const { phone, laptop, did } = await twoDevices();
    try {
      for (let round = 0; round < 3; round++) {
        const phoneKey = generateX25519KeyPair().publicKey;
        const laptopKey = generateX25519KeyPair().publicKey;
        await publishAtOnce({ phone, laptop, did }, phoneKey, laptopKey, `round ${round}`);
      }
    } finally {
      await phone.close();
      await laptop.close();
    }
  });

  // ERC-1056 revokes by value: each device revoking the other's key as listed before its publish also removed the
  // other's fresh publish of that key, which left the DID with no key while both calls reported success.
  it("two devices promoting their own already-listed keys at once leave one of those keys, never none", async function () {
    const { phone, laptop, did } = await twoDevices();
    try {
      for (let round = 0; round < 4; round++) {
        const phoneKey = generateX25519KeyPair().publicKey;
        const laptopKey = generateX25519KeyPair().publicKey;
        await phone.addEncryptionKey(did, phoneKey);
        await laptop.addEncryptionKey(did, laptopKey);
        await phone.addEncryptionKey(did, generateX25519KeyPair().publicKey); // a third key, current
        const listed = (await phone.encryptionKeys(did)).map((key) => hexOf(key.publicKey));
        expect(listed).to.include.members([hexOf(phoneKey), hexOf(laptopKey)]);
        await publishAtOnce({ phone, laptop, did }, phoneKey, laptopKey, `round ${round}`);
      }
    } finally {
      await phone.close();
      await laptop.close();
    }
  });

  it("an owner without gas: the error says nothing was sent", async function () {
    const broke = await agent.createDid(); // never funded
    const error = await rejection(agent.publishEncryptionKey(broke.did, generateX25519KeyPair().publicKey));
    expect(error).to.be.instanceOf(TransactionFailedError);
    expect((error as TransactionFailedError).txHash).to.equal(undefined);
    expect((error as Error).message)
      .to.contain("nothing was sent")
      .and.to.contain("cannot pay for gas");
  });

  it("a write not mined within writeTimeoutMs names the transaction that was sent and says it may still be mined", async function () {
    const slow = await IdentityAgent.create({ network: testChain.network, writeTimeoutMs: 2_000 });
    const patient = await slow.createDid();
    await fund(testChain, patient.ownerAddress!);
    await testChain.provider.send("evm_setAutomine", [false]);
    let error: unknown;
    try {
      error = await rejection(slow.publishEncryptionKey(patient.did, generateX25519KeyPair().publicKey));
    } finally {
      await testChain.provider.send("evm_setAutomine", [true]);
      await testChain.provider.send("evm_mine", []);
    }
    try {
      expect(error).to.be.instanceOf(TransactionFailedError);
      const { txHash, message } = error as TransactionFailedError;
      expect(txHash).to.match(/^0x[0-9a-f]{64}$/);
      expect(message).to.contain(`transaction ${txHash} was signed and handed to the node but not mined within`);
      expect(message).to.contain("may still be mined");
      expect(message).not.to.contain("not sent");
      // True to what happened: the transaction was pending and is mined once blocks are produced again.
      const receipt = await testChain.provider.getTransactionReceipt(txHash!);
      expect(receipt?.status).to.equal(1);
    } finally {
      await slow.close();
    }
  });
});
