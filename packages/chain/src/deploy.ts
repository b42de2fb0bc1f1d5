import { readFile, writeFile, mkdir, rename } from "node:fs/promises";
import { dirname } from "node:path";
import {
  ContractFactory,
  Interface,
  getAddress,
  isAddress,
  type InterfaceAbi,
  type Provider,
  type Signer,
} from "ethers";
import { AuditAnchorClient } from "./clients/audit-anchor.ts";
import { DEFAULT_READ_TIMEOUT_MS } from "./clients/base.ts";
import * as node from "./clients/node-reads.ts";
import { TransactionSender, askNode } from "./clients/sender.ts";
import { HygeiaChainError, MAX_SAFE_CHAIN_ID, requireSafeChainId, requireTimeoutMs } from "./errors.ts";
import { AuditAnchorAbi, AuditAnchorBytecode } from "./generated/AuditAnchor.ts";
import { ConsentRegistryAbi, ConsentRegistryBytecode } from "./generated/ConsentRegistry.ts";
import { EthereumDIDRegistryAbi, EthereumDIDRegistryBytecode } from "./generated/EthereumDIDRegistry.ts";
import { TrustRegistryAbi, TrustRegistryBytecode } from "./generated/TrustRegistry.ts";
import { StudyRegistryAbi, StudyRegistryBytecode } from "./generated/StudyRegistry.ts";

export const CONTRACT_NAMES = ["EthereumDIDRegistry", "ConsentRegistry", "TrustRegistry", "AuditAnchor"] as const;
export type ContractName = (typeof CONTRACT_NAMES)[number];
/**
 * Contracts added after the first deployments: deployHygeia deploys them too, but a deployment file written before
 * them is still valid (upgradeDeployment adds them), so they are optional in HygeiaDeployment.
 */
export const ADDED_CONTRACT_NAMES = ["StudyRegistry"] as const;
export type AddedContractName = (typeof ADDED_CONTRACT_NAMES)[number];

/** What a deployment file holds: enough for any client to find the contracts and start indexing. */
export interface HygeiaDeployment {
  /** 1 .. 2^53 - 1, exact: deployHygeia and parseDeployment refuse a larger chain id (UnsupportedChainIdError). */
  chainId: number;
  /** The block of the first deployment transaction: where indexers start. */
  deployedAt: { block: number; blockHash: string };
  deployer: string;
  governance: string;
  contracts: Record<ContractName, string> & Partial<Record<AddedContractName, string>>;
}

export interface DeployOptions {
  /** Owner of TrustRegistry and AuditAnchor (Ownable2Step); defaults to the deployer. */
  governance?: string;
  /** Accounts allowed to anchor audit roots; set only when governance is the deployer. */
  gateways?: string[];
  /** Blocks to wait for each transaction (1 = mined). Use more on a real network. */
  confirmations?: number;
  onProgress?: (message: string) => void;
}

export class DeploymentError extends HygeiaChainError {
  override readonly code: string = "DEPLOYMENT_FAILED";
}

const ARTIFACTS: Record<ContractName | AddedContractName, { abi: InterfaceAbi; bytecode: string }> = {
  EthereumDIDRegistry: { abi: EthereumDIDRegistryAbi, bytecode: EthereumDIDRegistryBytecode },
  ConsentRegistry: { abi: ConsentRegistryAbi, bytecode: ConsentRegistryBytecode },
  TrustRegistry: { abi: TrustRegistryAbi, bytecode: TrustRegistryBytecode },
  AuditAnchor: { abi: AuditAnchorAbi, bytecode: AuditAnchorBytecode },
  StudyRegistry: { abi: StudyRegistryAbi, bytecode: StudyRegistryBytecode },
};

/**
 * Deploys ERC-1056, ConsentRegistry, TrustRegistry, AuditAnchor and StudyRegistry from `deployer`: a Signer (an
 * ethers NonceManager too) or a TransactionSender. Every transaction goes through a
 * TransactionSender (simulated first, one nonce at a time, bounded waits).
 */
export async function deployHygeia(
  deployer: Signer | TransactionSender,
  options: DeployOptions = {},
): Promise<HygeiaDeployment> {
  if (!(deployer instanceof TransactionSender)) requireProvider(deployer);
  const sender = TransactionSender.from(deployer);
  const provider = sender.provider;
  const progress = options.onProgress ?? (() => undefined);
  const confirmations = options.confirmations ?? 1;
  const deployerAddress = await sender.getAddress();
  const governance =
    options.governance === undefined ? deployerAddress : checkedAddress(options.governance, "governance");
  const gateways = (options.gateways ?? []).map((gateway) => checkedAddress(gateway, "gateway"));
  if (gateways.length > 0 && governance !== deployerAddress) {
    throw new DeploymentError("gateways can only be authorized at deploy time when governance is the deployer");
  }
  const network = await askNode(provider.getNetwork(), DEFAULT_READ_TIMEOUT_MS, "deployHygeia: chain id");
  // Before anything is sent: a chain id the deployment file cannot hold exactly is refused, not rounded.
  const chainId = requireSafeChainId(network.chainId, "chainId", "deployHygeia");

  const constructorArgs: Record<ContractName, unknown[]> = {
    EthereumDIDRegistry: [],
    ConsentRegistry: [],
    TrustRegistry: [governance],
    AuditAnchor: [governance],
  };
  const contracts = {} as HygeiaDeployment["contracts"];
  let deployedAt: HygeiaDeployment["deployedAt"] | undefined;
  for (const name of CONTRACT_NAMES) {
    const receipt = await deployContract(sender, name, constructorArgs[name], confirmations, progress);
    contracts[name] = receipt.address;
    deployedAt ??= { block: receipt.blockNumber, blockHash: receipt.blockHash };
  }
  // Added contracts come last, so the first four keep the addresses earlier deployments gave them.
  contracts.StudyRegistry = (
    await deployContract(sender, "StudyRegistry", [contracts.TrustRegistry], confirmations, progress)
  ).address;

  if (gateways.length > 0) {
    const auditAnchor = new AuditAnchorClient(contracts.AuditAnchor, sender);
    for (const gateway of gateways) {
      await auditAnchor.setGateway(gateway, true, { confirmations });
      progress(`authorized gateway ${gateway}`);
    }
  }

  return {
    chainId,
    deployedAt: deployedAt!,
    deployer: deployerAddress,
    governance,
    contracts,
  };
}

async function deployContract(
  sender: TransactionSender,
  name: ContractName | AddedContractName,
  args: unknown[],
  confirmations: number,
  progress: (message: string) => void,
): Promise<{ address: string; blockNumber: number; blockHash: string }> {
  const { abi, bytecode } = ARTIFACTS[name];
  const { data } = await new ContractFactory(abi, bytecode).getDeployTransaction(...args);
  const { receipt } = await sender.send(
    { data },
    { confirmations, operation: `deploy ${name}`, abi: new Interface(abi) },
  );
  if (!receipt.contractAddress) throw new DeploymentError(`${name} deployment created no contract`);
  const address = getAddress(receipt.contractAddress);
  progress(`deployed ${name} at ${address} (block ${receipt.blockNumber}, gas ${receipt.gasUsed})`);
  return { address, blockNumber: receipt.blockNumber, blockHash: receipt.blockHash };
}

/**
 * A deployment written before the contracts of ADDED_CONTRACT_NAMES, completed: deploys the ones it lacks (from
 * `deployer`, against its TrustRegistry) and returns the deployment with them. The others are left as they are.
 */
export async function upgradeDeployment(
  deployer: Signer | TransactionSender,
  deployment: HygeiaDeployment,
  options: Pick<DeployOptions, "confirmations" | "onProgress"> = {},
): Promise<HygeiaDeployment> {
  if (deployment.contracts.StudyRegistry !== undefined) return deployment;
  if (!(deployer instanceof TransactionSender)) requireProvider(deployer);
  const sender = TransactionSender.from(deployer);
  const { address } = await deployContract(
    sender,
    "StudyRegistry",
    [deployment.contracts.TrustRegistry],
    options.confirmations ?? 1,
    options.onProgress ?? (() => undefined),
  );
  return { ...deployment, contracts: { ...deployment.contracts, StudyRegistry: address } };
}

/**
 * True when every contract of the deployment has code on the provider's chain (e.g. after a
 * restart). Each request is bounded by `readTimeoutMs` (default 30 s): ChainUnavailableError.
 * Chain ids are compared exactly (a node on chain 2^53 + 1 is not a deployment's chain 2^53); a
 * deployment whose chainId is not an exact number is refused (UnsupportedChainIdError / DeploymentError).
 */
export async function isDeployed(
  provider: Provider,
  deployment: HygeiaDeployment,
  options: { readTimeoutMs?: number } = {},
): Promise<boolean> {
  const ms = requireTimeoutMs(options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS, "readTimeoutMs");
  const expected = deploymentChainId(deployment?.chainId, "deployment", "isDeployed");
  const { chainId } = await askNode(provider.getNetwork(), ms, "isDeployed: chain id");
  if (chainId !== BigInt(expected)) return false;
  for (const name of [...CONTRACT_NAMES, ...ADDED_CONTRACT_NAMES]) {
    const address = deployment.contracts[name];
    if (address === undefined) continue; // an added contract a deployment written before it does not have
    const code = await askNode(node.code(provider, address), ms, `isDeployed: ${name} code`);
    if (code === "0x") return false;
  }
  return true;
}

/** Writes the deployment file atomically (temp file + rename) so a crash never leaves half a file. */
export async function writeDeployment(path: string, deployment: HygeiaDeployment): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  await writeFile(temp, JSON.stringify(deployment, null, 2) + "\n");
  await rename(temp, path);
}

/** Reads and validates a deployment file. */
export async function readDeployment(path: string): Promise<HygeiaDeployment> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new DeploymentError(`cannot read deployment file ${path}: ${(error as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new DeploymentError(`deployment file ${path} is not valid JSON`);
  }
  return parseDeployment(json, path);
}

/** Validates an untrusted deployment object. */
export function parseDeployment(json: unknown, source = "deployment"): HygeiaDeployment {
  const fail = (why: string): never => {
    throw new DeploymentError(`${source}: ${why}`);
  };
  if (typeof json !== "object" || json === null) fail("not an object");
  const value = json as Record<string, unknown>;
  const chainId = deploymentChainId(value["chainId"], source, "parseDeployment");
  const at = value["deployedAt"] as Record<string, unknown> | undefined;
  if (typeof at !== "object" || at === null) fail("deployedAt missing");
  const block = at!["block"];
  const blockHash = at!["blockHash"];
  if (typeof block !== "number" || !Number.isSafeInteger(block) || block < 0)
    fail("deployedAt.block must be a block number");
  if (typeof blockHash !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(blockHash))
    fail("deployedAt.blockHash must be a 32-byte hex hash");
  const contractsValue = value["contracts"];
  if (typeof contractsValue !== "object" || contractsValue === null) fail("contracts missing");
  const contracts = {} as HygeiaDeployment["contracts"];
  for (const name of CONTRACT_NAMES) {
    contracts[name] = checkedAddress((contractsValue as Record<string, unknown>)[name], `contracts.${name}`, source);
  }
  for (const name of ADDED_CONTRACT_NAMES) {
    const value = (contractsValue as Record<string, unknown>)[name];
    if (value !== undefined) contracts[name] = checkedAddress(value, `contracts.${name}`, source);
  }
  return {
    chainId,
    deployedAt: { block: block as number, blockHash: blockHash as string },
    deployer: checkedAddress(value["deployer"], "deployer", source),
    governance: checkedAddress(value["governance"], "governance", source),
    contracts,
  };
}

/**
 * A deployment's chainId: a positive JS number up to 2^53 - 1. Above it (a number JSON.parse may
 * already have rounded, or a decimal string / bigint): UnsupportedChainIdError; anything else that
 * is not a positive integer: DeploymentError naming `source`.
 */
function deploymentChainId(value: unknown, source: string, operation: string): number {
  const above =
    (typeof value === "number" && Number.isInteger(value) && value > MAX_SAFE_CHAIN_ID) ||
    (typeof value === "bigint" && value > BigInt(MAX_SAFE_CHAIN_ID)) ||
    (typeof value === "string" && /^[1-9][0-9]*$/.test(value) && BigInt(value) > BigInt(MAX_SAFE_CHAIN_ID));
  if (above) return requireSafeChainId(value, "chainId", `${operation} (${source})`);
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value <= 0)
    throw new DeploymentError(`${source}: chainId must be a positive integer`);
  return value;
}

function checkedAddress(value: unknown, field: string, source = "deploy"): string {
  if (typeof value !== "string" || !isAddress(value))
    throw new DeploymentError(`${source}: ${field} must be an address`);
  return getAddress(value);
}

function requireProvider(signer: Signer): Provider {
  if (!signer.provider) throw new DeploymentError("the deployer signer has no provider");
  return signer.provider;
}
