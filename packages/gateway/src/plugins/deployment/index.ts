// GET /v1/deployment: the contracts this gateway believes (chain id, the deployment block, deployer, governance and
// the four contract addresses), so a wallet, the CLI or the web page finds them from the gateway's URL alone.
//
// Safety rules:
// - Public and read-only: the deployment is public on chain anyway; no session, nothing written.
// - It answers exactly the deployment the gateway's own services use (`services.chain.deployment`, read and
//   validated from the deployment file at start), never another file or a value from the request.
// - It says where the contracts are, not whom to trust: a client that already knows the deployment should pass it
//   itself, and one that reads it here checks that its chain node is on `chainId` (the SDK's connection does).
// - No operator detail leaks: the gateway's RPC URL (which can carry an API key) is not part of the answer.
import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type, type Static } from "typebox";
import { consentClearSigning } from "@hygeia/chain";
import { problemResponses } from "../../schemas.ts";

/** Clients may reuse the answer this long (seconds): it changes only when the operator redeploys. */
export const DEPLOYMENT_MAX_AGE_SECONDS = 300;

const EXAMPLE = {
  chainId: 31337,
  deployedAt: { block: 1, blockHash: "0x2f6c0e0b0a3d0c1f9d8e7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d" },
  deployer: "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
  governance: "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266",
  contracts: {
    EthereumDIDRegistry: "0x5fbdb2315678afecb367f032d93f642f64180aa3",
    ConsentRegistry: "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512",
    TrustRegistry: "0x9fe46736679d2d9a65f0992f2272de9f3c7fa6e0",
    AuditAnchor: "0xcf7ed3acca5a467e9e704c703e8d87f634fb0fc9",
    StudyRegistry: "0xdc64a140aa3e981100a9beca4e685f962f0cf6c9",
  },
};

/** An address field: 0x + 40 lowercase hex digits, with what it is. */
function address(options: { description: string }) {
  return Type.String({
    pattern: "^0x[0-9a-f]{40}$",
    description: `${options.description} Lowercase.`,
    examples: ["0x9fe46736679d2d9a65f0992f2272de9f3c7fa6e0"],
  });
}

export const DeploymentResponse = Type.Object(
  {
    chainId: Type.Integer({
      minimum: 1,
      maximum: Number.MAX_SAFE_INTEGER,
      description: "The chain the contracts live on (EIP-155 chain id); check that your node answers this id.",
      examples: [31337],
    }),
    deployedAt: Type.Object(
      {
        block: Type.Integer({
          minimum: 0,
          description: "The block of the first deployment transaction: where event scans start.",
          examples: [1],
        }),
        blockHash: Type.String({
          pattern: "^0x[0-9a-f]{64}$",
          description: "That block's hash (lowercase): a check that the chain has not been reset or reorganized since.",
          examples: [EXAMPLE.deployedAt.blockHash],
        }),
      },
      { additionalProperties: false },
    ),
    deployer: address({ description: "The account that deployed the contracts." }),
    governance: address({
      description:
        "The owner of TrustRegistry and AuditAnchor: the only account that may accredit or de-accredit issuers.",
    }),
    contracts: Type.Object(
      {
        EthereumDIDRegistry: address({
          description: "ERC-1056 DID registry (did:ethr documents, X25519 encryption keys).",
        }),
        ConsentRegistry: address({ description: "Patients' consents (grants, revokes)." }),
        TrustRegistry: address({ description: "Issuers accredited per role." }),
        AuditAnchor: address({ description: "Anchored audit log roots." }),
        StudyRegistry: Type.Optional(
          address({
            description: "Registered research studies (absent from deployments made before it existed).",
          }),
        ),
      },
      { additionalProperties: false },
    ),
  },
  {
    additionalProperties: false,
    description: "The Hygeia deployment this gateway uses.",
    examples: [EXAMPLE],
  },
);
export type DeploymentResponse = Static<typeof DeploymentResponse>;

/**
 * The ERC-7730 clear-signing descriptor (@hygeia/chain's consentClearSigning): a JSON document whose shape the ERC
 * defines, answered as built (its own test holds it to the messages the SDK signs), so only its top level is
 * described here.
 */
export const ClearSigningResponse = Type.Object(
  {
    $schema: Type.String({ description: "The ERC-7730 v1 JSON schema it follows." }),
    context: Type.Object(
      {},
      {
        additionalProperties: true,
        description: "eip712: the ConsentRegistry's deployment (chain, address), EIP-712 domain and message types.",
      },
    ),
    metadata: Type.Object(
      {},
      { additionalProperties: true, description: "Owner (this gateway's operator) and the purpose enumeration." },
    ),
    display: Type.Object(
      {},
      {
        additionalProperties: true,
        description: "formats: Grant, Revoke and ConsentBatch, each an intent and its fields' labels and formats.",
      },
    ),
  },
  {
    additionalProperties: false,
    description: "ERC-7730 clear-signing descriptor of the consent messages patients sign.",
    examples: [
      consentClearSigning(
        { chainId: 31337, contracts: EXAMPLE.contracts },
        { legalName: "Hygeia gateway", url: "http://127.0.0.1:8787" },
      ),
    ],
  },
);

export async function deploymentPlugin(root: FastifyInstance): Promise<void> {
  const app = root.withTypeProvider<TypeBoxTypeProvider>();
  const deployment = app.services.chain.deployment;
  // Built once: the services' deployment does not change while the gateway runs. Addresses lowercase, as every
  // other answer of the gateway writes them.
  const answer: DeploymentResponse = {
    chainId: deployment.chainId,
    deployedAt: { block: deployment.deployedAt.block, blockHash: deployment.deployedAt.blockHash.toLowerCase() },
    deployer: deployment.deployer.toLowerCase(),
    governance: deployment.governance.toLowerCase(),
    contracts: {
      EthereumDIDRegistry: deployment.contracts.EthereumDIDRegistry.toLowerCase(),
      ConsentRegistry: deployment.contracts.ConsentRegistry.toLowerCase(),
      TrustRegistry: deployment.contracts.TrustRegistry.toLowerCase(),
      AuditAnchor: deployment.contracts.AuditAnchor.toLowerCase(),
      ...(deployment.contracts.StudyRegistry === undefined
        ? {}
        : { StudyRegistry: deployment.contracts.StudyRegistry.toLowerCase() }),
    },
  };

  app.get(
    "/deployment",
    {
      schema: {
        tags: ["deployment"],
        summary: "The contracts this gateway uses",
        description:
          "The deployment the gateway runs on: chain id, deployment block, deployer, governance (the TrustRegistry's " +
          "owner) and the contract addresses. Public, no session. A client that reads it should check that its own " +
          "chain node answers this chainId before believing the addresses.",
        operationId: "getDeployment",
        response: { 200: DeploymentResponse, ...problemResponses(429) },
      },
    },
    async (_request, reply) =>
      reply.header("cache-control", `public, max-age=${DEPLOYMENT_MAX_AGE_SECONDS}`).send(answer),
  );

  const descriptor = consentClearSigning(deployment, { legalName: "Hygeia gateway", url: app.config.publicUrl });
  app.get(
    "/deployment/clear-signing",
    {
      schema: {
        tags: ["deployment"],
        summary: "ERC-7730 clear-signing descriptor of the consent messages",
        description:
          "How a wallet that reads ERC-7730 (hardware and mobile wallets) should show the EIP-712 consent messages " +
          "patients sign on this deployment's ConsentRegistry (Grant, Revoke, ConsentBatch) as sentences: who may " +
          "read, for which purpose, until when. The scope is a private keyed id, shown raw. Public, no session.",
        operationId: "getClearSigningDescriptor",
        response: { 200: ClearSigningResponse, ...problemResponses(429) },
      },
    },
    async (_request, reply) =>
      reply.header("cache-control", `public, max-age=${DEPLOYMENT_MAX_AGE_SECONDS}`).send(descriptor),
  );
}
