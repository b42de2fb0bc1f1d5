// An agent whose network settings do not match the node (another chain id, a registry address without code or
// with another contract there) is told so in a typed error at the first call that needs the chain, instead of
// reading another chain's registry or failing with ethers' text.
import { expect } from "chai";
import { generateX25519KeyPair } from "@hygeia/crypto";
import {
  CredentialType,
  IdentityAgent,
  RegistryNotFoundError,
  WrongChainError,
  createAgentVerifier,
  issueCredential,
  type EthrNetwork,
} from "../src/index.ts";
import { fund, startTestChain, type TestChain } from "./helpers/chain.ts";
import { rejection } from "./helpers/settle.ts";

describe("identity: the node must be the network's", function () {
  let testChain: TestChain;

  before(async function () {
    testChain = await startTestChain();
  });
  after(async function () {
    await testChain?.stop();
  });

  async function withAgent(network: EthrNetwork, body: (agent: IdentityAgent) => Promise<void>): Promise<void> {
    const agent = await IdentityAgent.create({ network, watchRegistry: false });
    try {
      await body(agent);
    } finally {
      await agent.close();
    }
  }

  it("an agent whose network says chain 1 against a chain-31337 node: resolve and writes throw WrongChainError, nothing is sent", async function () {
    await withAgent({ ...testChain.network, chainId: 1 }, async (agent) => {
      // create works offline, so it cannot know; DIDs are made for the configured chain.
      const patient = await agent.createDid();
      expect(patient.did).to.match(/^did:ethr:0x1:/);
      const resolved = await rejection(agent.resolve(patient.did));
      expect(resolved).to.be.instanceOf(WrongChainError);
      const error = resolved as WrongChainError;
      expect(error.code).to.equal("WRONG_CHAIN");
      expect(error.field).to.equal("network.chainId");
      expect([error.actualChainId, error.expectedChainId]).to.deep.equal([31337, 1]);
      expect(error.message).to.contain(`the node at ${testChain.network.rpcUrl} is on chain 31337, the network says 1`);

      await fund(testChain, patient.ownerAddress!);
      const published = await rejection(agent.publishEncryptionKey(patient.did, generateX25519KeyPair().publicKey));
      expect(published).to.be.instanceOf(WrongChainError);
      expect(await rejection(agent.encryptionKeys(patient.did))).to.be.instanceOf(WrongChainError);
      expect(await testChain.provider.getTransactionCount(patient.ownerAddress!)).to.equal(0);

      // A verifier over this agent fails the signature check with the same explanation, not a document from
      // another chain.
      const issuer = await agent.createDid();
      const vc = await issueCredential(agent, {
        issuer: issuer.did,
        type: CredentialType.PatientIdentity,
        subject: { id: patient.did, givenName: "Ada", familyName: "Lovelace", birthDate: "1985-12-10" },
      });
      const verifier = createAgentVerifier(agent, { trustRegistry: testChain.deployment.contracts.TrustRegistry });
      const result = await verifier.verifyCredential(vc);
      expect(result.ok).to.equal(false);
      expect(result.checks.find((c) => c.name === "signature")?.reason).to.contain("is on chain 31337");
    });
  });

  it("a registry address without a contract: RegistryNotFoundError 'no ERC-1056 registry at … on chain 31337', no ethers text", async function () {
    const registry = `0x${"12".repeat(20)}`;
    await withAgent({ ...testChain.network, registry }, async (agent) => {
      const patient = await agent.createDid();
      const resolved = await rejection(agent.resolve(patient.did));
      expect(resolved).to.be.instanceOf(RegistryNotFoundError);
      const error = resolved as RegistryNotFoundError;
      expect(error.code).to.equal("REGISTRY_NOT_FOUND");
      expect(error.field).to.equal("network.registry");
      expect(error.message).to.contain(`no ERC-1056 registry at ${registry} on chain 31337`);
      expect(error.message).to.not.match(/code=|version=|could not decode/);

      await fund(testChain, patient.ownerAddress!);
      const published = await rejection(agent.publishEncryptionKey(patient.did, generateX25519KeyPair().publicKey));
      expect(published).to.be.instanceOf(RegistryNotFoundError);
      expect(await testChain.provider.getTransactionCount(patient.ownerAddress!)).to.equal(0);
    });
  });

  it("a registry address holding another contract (the ConsentRegistry): RegistryNotFoundError saying it is not an ERC-1056 registry, nothing is sent", async function () {
    const registry = testChain.deployment.contracts.ConsentRegistry;
    expect(await testChain.provider.getCode(registry)).to.not.equal("0x");
    await withAgent({ ...testChain.network, registry }, async (agent) => {
      const patient = await agent.createDid();
      const resolved = await rejection(agent.resolve(patient.did));
      expect(resolved).to.be.instanceOf(RegistryNotFoundError);
      const error = resolved as RegistryNotFoundError;
      expect(error.code).to.equal("REGISTRY_NOT_FOUND");
      expect(error.field).to.equal("network.registry");
      expect(error.message).to.contain(`no ERC-1056 registry at ${registry} on chain 31337`);
      expect(error.message).to.contain("does not answer identityOwner(address) as an ERC-1056 registry does");
      expect(error.message).to.not.match(/execution reverted|code=|version=/);

      await fund(testChain, patient.ownerAddress!);
      const published = await rejection(agent.publishEncryptionKey(patient.did, generateX25519KeyPair().publicKey));
      expect(published).to.be.instanceOf(RegistryNotFoundError);
      expect(await rejection(agent.encryptionKeys(patient.did))).to.be.instanceOf(RegistryNotFoundError);
      expect(await testChain.provider.getTransactionCount(patient.ownerAddress!)).to.equal(0);
    });
  });

  it("the right network passes the check once and keeps working; did:key needs no chain at all", async function () {
    await withAgent(testChain.network, async (agent) => {
      const patient = await agent.createDid();
      expect((await agent.resolve(patient.did)).id.toLowerCase()).to.equal(patient.did.toLowerCase());
      expect(await agent.encryptionKeys(patient.did)).to.deep.equal([]);
    });
    await withAgent({ ...testChain.network, rpcUrl: "http://127.0.0.1:9" }, async (agent) => {
      const keyDid = await agent.createDid({ method: "key" });
      expect((await agent.resolve(keyDid.did)).id).to.equal(keyDid.did);
    });
  });
});
