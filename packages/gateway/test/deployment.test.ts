// GET /v1/deployment tells a client (wallet, CLI, web page) which contracts the gateway uses, from the gateway's URL
// alone: exactly the stack's deployment, public, cacheable, documented in /openapi.json with its schema and example.
import { expect } from "chai";
import { consentClearSigning, isDeployed, type Erc7730Descriptor } from "@hygeia/chain";
import { startTestStack, type TestStack } from "./support/stack.ts";
import { expectProblem, request } from "./support/http.ts";

interface DeploymentAnswer {
  chainId: number;
  deployedAt: { block: number; blockHash: string };
  deployer: string;
  governance: string;
  contracts: Record<"EthereumDIDRegistry" | "ConsentRegistry" | "TrustRegistry" | "AuditAnchor", string> & {
    StudyRegistry?: string;
  };
}

interface JsonSchema {
  required?: string[];
  properties?: Record<string, JsonSchema>;
}

interface OpenApiOperation {
  operationId?: string;
  security?: unknown;
  responses?: Record<string, { content?: Record<string, { schema?: JsonSchema; example?: DeploymentAnswer }> }>;
}

describe("GET /v1/deployment", function () {
  let stack: TestStack;
  before(async function () {
    stack = await startTestStack();
  });
  after(async function () {
    await stack?.close();
  });

  it("answers the deployment the gateway uses, without a session, with lowercase addresses", async function () {
    const res = await request(stack, "GET", "/v1/deployment");
    expect(res.status, res.text).to.equal(200);
    expect(res.headers.get("content-type")).to.match(/^application\/json/);
    const answer = res.json as DeploymentAnswer;
    const d = stack.deployment;
    expect(answer).to.deep.equal({
      chainId: d.chainId,
      deployedAt: { block: d.deployedAt.block, blockHash: d.deployedAt.blockHash.toLowerCase() },
      deployer: d.deployer.toLowerCase(),
      governance: d.governance.toLowerCase(),
      contracts: {
        EthereumDIDRegistry: d.contracts.EthereumDIDRegistry.toLowerCase(),
        ConsentRegistry: d.contracts.ConsentRegistry.toLowerCase(),
        TrustRegistry: d.contracts.TrustRegistry.toLowerCase(),
        AuditAnchor: d.contracts.AuditAnchor.toLowerCase(),
        StudyRegistry: d.contracts.StudyRegistry!.toLowerCase(),
      },
    });
    // What a client does with it: the contracts are really there on the chain it names.
    expect(await isDeployed(stack.provider, answer)).to.equal(true);
    // It names the governance that accredits issuers; the gateway's RPC URL is not part of the answer.
    expect(answer.governance).to.equal(stack.accounts.governance.address.toLowerCase());
    expect(res.text).not.to.include(stack.config.chain.rpcUrl);
  });

  it("lets clients cache it for a few minutes, and refuses a dead token like every route", async function () {
    const res = await request(stack, "GET", "/v1/deployment", { token: "not-a-token" });
    // A present but dead token is refused on every route (the auth hook's rule), so a client sends none here.
    expectProblem(res, 401);
    const plain = await request(stack, "GET", "/v1/deployment");
    expect(plain.headers.get("cache-control")).to.equal("public, max-age=300");
  });

  it("is documented in /openapi.json with its response schema and an example", async function () {
    const res = await request(stack, "GET", "/openapi.json");
    expect(res.status).to.equal(200);
    const doc = res.json as {
      paths: Record<string, Record<string, OpenApiOperation>>;
    };
    const operation = doc.paths["/v1/deployment"]?.get;
    expect(operation?.operationId).to.equal("getDeployment");
    expect(operation?.security, "public: no bearer security").to.equal(undefined);
    const content = operation?.responses?.["200"]?.content?.["application/json"];
    const schema = content?.schema;
    expect(schema?.required).to.have.members(["chainId", "deployedAt", "deployer", "governance", "contracts"]);
    expect(schema?.properties?.contracts?.required).to.have.members([
      "EthereumDIDRegistry",
      "ConsentRegistry",
      "TrustRegistry",
      "AuditAnchor",
    ]);
    expect(content?.example?.chainId).to.equal(31337);
    expect(schema?.properties?.contracts?.properties).to.have.property("StudyRegistry");
    expect(content?.example?.contracts).to.have.property("TrustRegistry");
    expect(Object.keys(operation?.responses ?? {})).to.include("429");
  });

  it("serves the ERC-7730 clear-signing descriptor of this deployment's consent messages", async function () {
    const res = await request(stack, "GET", "/v1/deployment/clear-signing");
    expect(res.status, res.text).to.equal(200);
    const descriptor = res.json as Erc7730Descriptor;
    // The whole descriptor, as @hygeia/chain builds it for this deployment (nothing lost to the response schema).
    expect(descriptor).to.deep.equal(
      JSON.parse(
        JSON.stringify(
          consentClearSigning(stack.deployment, { legalName: "Hygeia gateway", url: stack.config.publicUrl }),
        ),
      ),
    );
    expect(descriptor.context.eip712.deployments).to.deep.equal([
      { chainId: stack.deployment.chainId, address: stack.deployment.contracts.ConsentRegistry.toLowerCase() },
    ]);
    expect(Object.keys(descriptor.display.formats).sort()).to.deep.equal(["ConsentBatch", "Grant", "Revoke"]);
  });
});
