/**
 * Chain ids above 2^53 end to end (issue 14, finding 6): an anvil node on chain 2^53 + 1, the
 * ConsentRegistry deployed there, a grant signed through the node's eth_signTypedData_v4 from the
 * package's payload and relayed. A rounded chain id (2^53) would sign for another domain. Where
 * chain ids are JS numbers (deployHygeia and deployment files, the consent indexer), such a chain is
 * refused with UnsupportedChainIdError, never rounded (review finding F5).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { expect } from "chai";
import { ContractFactory, JsonRpcProvider, TypedDataEncoder } from "ethers";
import getPort from "get-port";
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  ConsentIndexer,
  ConsentRegistryAbi,
  ConsentRegistryBytecode,
  ConsentRegistryClient,
  ContractRevertError,
  LOCAL_MNEMONIC,
  anvilBinaryPath,
  IndexerStaleError,
  UnsupportedChainIdError,
  consentDomain,
  deployHygeia,
  isDeployed,
  parseDeployment,
  signGrant,
  type Eip1193Provider,
} from "../src/index.ts";
import { latestTimestamp, walletAt } from "./support/chain.ts";
import { sid } from "./support/scopes.ts";
import { rejection } from "./support/settle.ts";

const BIG_CHAIN_ID = 2n ** 53n + 1n; // 9007199254740993; Number() gives 9007199254740992

describe("a chain id above 2^53 (anvil on chain 9007199254740993)", function () {
  this.timeout(60_000);
  let anvil: ChildProcess | undefined;
  let provider: JsonRpcProvider;
  let registryAddress: string;

  before(async () => {
    const port = await getPort({ host: "127.0.0.1" });
    anvil = spawn(
      anvilBinaryPath(),
      ["--port", String(port), "--chain-id", BIG_CHAIN_ID.toString(), "--mnemonic", LOCAL_MNEMONIC, "--accounts", "10"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    await new Promise<void>((resolve, reject) => {
      let output = "";
      const timer = setTimeout(() => reject(new Error(`anvil did not listen: ${output}`)), 20_000);
      anvil!.stdout!.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes("Listening on")) {
          clearTimeout(timer);
          resolve();
        }
      });
      anvil!.once("exit", (code) => reject(new Error(`anvil exited (${code}): ${output}`)));
    });
    provider = new JsonRpcProvider(`http://127.0.0.1:${port}`, undefined, { cacheTimeout: -1 });
    const factory = new ContractFactory(ConsentRegistryAbi, ConsentRegistryBytecode, walletAt(0).connect(provider));
    const contract = await factory.deploy();
    await contract.waitForDeployment();
    registryAddress = await contract.getAddress();
  });
  after(async () => {
    provider?.destroy();
    if (anvil && anvil.exitCode === null) {
      const exited = new Promise((resolve) => anvil!.once("exit", resolve));
      anvil.kill("SIGTERM");
      await exited;
    }
  });

  it("the client's domain keeps the chain id exact and matches the contract's DOMAIN_SEPARATOR", async () => {
    const registry = new ConsentRegistryClient(registryAddress, provider);
    const domain = await registry.domain();
    expect(domain.chainId).to.equal(BIG_CHAIN_ID);
    const onChain = (await registry.contract.getFunction("DOMAIN_SEPARATOR")()) as string;
    expect(TypedDataEncoder.hashDomain(domain)).to.equal(onChain);
    expect(TypedDataEncoder.hashDomain({ ...domain, chainId: 2n ** 53n })).to.not.equal(onChain);
  });

  it("a grant signed through eth_signTypedData_v4 with the package's payload is accepted; one for the rounded id is not", async () => {
    const relayer = new ConsentRegistryClient(registryAddress, walletAt(9).connect(provider));
    const patient = walletAt(2).address;
    const clinic = walletAt(3).address;
    const now = await latestTimestamp(provider);
    const key = { patient, grantee: clinic, scope: sid(patient, "category:laboratory"), purpose: "Treatment" };
    const next = await relayer.nextGrantTypedData({ ...key, expiry: now + 3600, deadline: now + 600 });
    expect(next.typedData.domain.chainId).to.equal("9007199254740993");
    // anvil holds the dev keys: it is a real EIP-1193 wallet here, reading the JSON payload.
    const wallet: Eip1193Provider = { request: ({ method, params }) => provider.send(method, [...(params ?? [])]) };
    const rounded = await signGrant(walletAt(2), consentDomain(2n ** 53n, registryAddress), {
      ...next.message,
      patient,
    });
    const refused = await rejection(relayer.grantBySig(rounded));
    expect(refused).to.be.instanceOf(ContractRevertError).and.include({ errorName: "InvalidSignature" });

    const signed = await signGrant({ eip1193: wallet, account: patient }, next.domain, { ...next.message, patient });
    const granted = await relayer.grantBySig(signed);
    expect(granted.events[0]).to.include({ type: "ConsentGranted", patient, grantee: clinic, version: 1 });
    expect(await relayer.isAllowed(key)).to.equal(true);
  });

  it("deployHygeia refuses the chain before sending anything (UnsupportedChainIdError), never a rounded chainId (review F5)", async () => {
    const deployer = walletAt(4).connect(provider);
    const sent = await provider.getTransactionCount(deployer.address);
    const refused = await rejection(deployHygeia(deployer));
    expect(refused)
      .to.be.instanceOf(UnsupportedChainIdError)
      .and.include({ code: "UNSUPPORTED_CHAIN_ID", chainId: BIG_CHAIN_ID, operation: "deployHygeia" });
    expect((refused as Error).message).to.match(/chain id 9007199254740993 is above 2\^53 - 1/);
    expect(await provider.getTransactionCount(deployer.address), "nothing was sent").to.equal(sent);
  });

  it("a deployment file or object with a chain id above 2^53 - 1 is refused, and isDeployed compares chain ids exactly (review F5)", async () => {
    const deployment = {
      chainId: 31337,
      deployedAt: { block: 1, blockHash: `0x${"11".repeat(32)}` },
      deployer: walletAt(0).address,
      governance: walletAt(0).address,
      contracts: {
        EthereumDIDRegistry: registryAddress,
        ConsentRegistry: registryAddress,
        TrustRegistry: registryAddress,
        AuditAnchor: registryAddress,
      },
    };
    // The JSON text holds the exact id; JSON.parse rounds it to 2^53, which is refused, not kept.
    const text = JSON.stringify(deployment).replace('"chainId":31337', `"chainId":${BIG_CHAIN_ID}`);
    expect(() => parseDeployment(JSON.parse(text)))
      .to.throw(UnsupportedChainIdError, /possibly rounded already/)
      .with.property("chainId", 2n ** 53n);
    expect(() => parseDeployment({ ...deployment, chainId: BIG_CHAIN_ID.toString() }))
      .to.throw(UnsupportedChainIdError)
      .with.property("chainId", BIG_CHAIN_ID);
    expect(parseDeployment({ ...deployment, chainId: Number.MAX_SAFE_INTEGER }).chainId).to.equal(2 ** 53 - 1);

    // Every contract address has code here, so only the chain id decides.
    expect(await isDeployed(provider, { ...deployment, chainId: Number.MAX_SAFE_INTEGER })).to.equal(false);
    const rounded = await rejection(isDeployed(provider, { ...deployment, chainId: Number(BIG_CHAIN_ID) }));
    expect(rounded).to.be.instanceOf(UnsupportedChainIdError);
  });

  it("the consent indexer refuses the chain (option, node, checkpoint) with UnsupportedChainIdError and stays stale (review F5)", async () => {
    expect(() => new ConsentIndexer({ provider, address: registryAddress, chainId: Number(BIG_CHAIN_ID) })).to.throw(
      UnsupportedChainIdError,
    );
    const indexer = new ConsentIndexer({ provider, address: registryAddress, pollIntervalMs: 100 });
    try {
      const refused = await rejection(indexer.start());
      expect(refused).to.be.instanceOf(UnsupportedChainIdError).and.include({ chainId: BIG_CHAIN_ID });
      expect(indexer.status()).to.include({ chainId: null, stale: true });
      expect(indexer.status().staleReason).to.match(/9007199254740993 is above 2\^53 - 1/);
      expect(() =>
        indexer.isAllowed(walletAt(2).address, walletAt(3).address, sid(walletAt(2), "category:laboratory"), 1),
      ).to.throw(IndexerStaleError);
    } finally {
      await indexer.stop();
    }
    const checkpoint = {
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      chainId: BIG_CHAIN_ID.toString(),
      contract: registryAddress,
      startBlock: 0,
      block: { number: 1, hash: `0x${"11".repeat(32)}` },
      entries: [],
    };
    expect(() => ConsentIndexer.restore(checkpoint, { provider, address: registryAddress }))
      .to.throw(UnsupportedChainIdError)
      .with.property("chainId", BIG_CHAIN_ID);
  });
});
