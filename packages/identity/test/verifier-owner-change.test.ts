// Issue 16 item 6: after DIDOwnerChanged, a warm verifier refuses the old owner key, also for a DID in
// public-key form (did:ethr:<chain>:0x02…), whose cached document is keyed by the key, not by the address the
// registry event names.
import { expect } from "chai";
import { Contract, NonceManager, SigningKey, Wallet } from "ethers";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { EthereumDIDRegistryAbi, TrustRole } from "@hygeia/chain";
import { CredentialType, IdentityAgent, ethrIdentityAddress } from "../src/index.ts";
import { localWallet, startTestChain, type TestChain } from "./helpers/chain.ts";
import { subjects } from "./helpers/fixtures.ts";
import { verifierWith } from "./helpers/verifier.ts";

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** An ES256K JWT VC signed with a raw private key (the agent cannot hold a public-key-form did:ethr). */
function signVc(privateKey: string, issuer: string, subject: { id: string }): string {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: "ES256K", typ: "JWT" })}.${b64({
    iss: issuer,
    sub: subject.id,
    nbf: now - 10,
    vc: {
      "@context": ["https://www.w3.org/2018/credentials/v1"],
      type: ["VerifiableCredential", CredentialType.HealthInsurance],
      credentialSubject: { ...subject, id: undefined },
    },
  })}`;
  const signature = secp256k1.sign(sha256(Buffer.from(input)), Buffer.from(privateKey.slice(2), "hex"), {
    prehash: false,
  });
  return `${input}.${Buffer.from(signature).toString("base64url")}`;
}

describe("identity: resolver cache and owner changes", function () {
  let testChain: TestChain;
  let agent: IdentityAgent;

  before(async function () {
    testChain = await startTestChain();
    agent = await IdentityAgent.create({ network: testChain.network }); // watches the registry (250 ms)
  });
  after(async function () {
    await agent?.close();
    await testChain?.stop();
  });

  it("names the identity of every did:ethr form by its address", function () {
    const wallet = localWallet(7);
    const compressed = SigningKey.computePublicKey(wallet.publicKey, true);
    const prefix = "did:ethr:0x7a69";
    expect(ethrIdentityAddress(`${prefix}:${compressed}`)).to.equal(wallet.address.toLowerCase());
    expect(ethrIdentityAddress(`${prefix}:${wallet.address}#controller`)).to.equal(wallet.address.toLowerCase());
    expect(ethrIdentityAddress(wallet.address)).to.equal(wallet.address.toLowerCase());
    expect(ethrIdentityAddress("did:key:z6Mk")).to.equal(undefined);
  });

  it("a warm verifier refuses the old owner key of a public-key-form DID once its owner changed", async function () {
    const owner = localWallet(7).connect(testChain.provider); // a funded anvil account
    const compressed = SigningKey.computePublicKey(owner.publicKey, true);
    const did = `did:ethr:0x7a69:${compressed}`;
    const now = Math.floor(Date.now() / 1000);
    await testChain.trust.accredit({
      issuer: owner.address,
      role: TrustRole.Insurer,
      validFrom: now - 3600,
      validUntil: now + 86_400,
    });
    const patient = await agent.createDid();
    const subject = subjects(patient.did, patient.did, patient.did).HealthInsuranceCredential;
    const { verifier } = verifierWith(testChain, agent);
    const before = await verifier.verifyCredential(signVc(owner.privateKey, did, subject));
    expect(before.ok, JSON.stringify(before.checks)).to.equal(true); // the document is now cached

    const registry = new Contract(
      testChain.deployment.contracts.EthereumDIDRegistry,
      EthereumDIDRegistryAbi,
      new NonceManager(owner),
    );
    const newOwner = Wallet.createRandom();
    await (await registry.getFunction("changeOwner")(owner.address, newOwner.address)).wait();

    // The registry watcher polls every 250 ms; the resolver TTL is 60 s. Give the watcher a few polls.
    const deadline = Date.now() + 5_000;
    let after = await verifier.verifyCredential(signVc(owner.privateKey, did, subject));
    while (after.ok && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      after = await verifier.verifyCredential(signVc(owner.privateKey, did, subject));
    }
    expect(after.ok).to.equal(false);
    expect(after.checks.find((c) => c.name === "signature")).to.include({
      pass: false,
      reason: "signature does not verify for the issuer",
    });
  });
});
