// Messages a newcomer met (issue 9 trial): a union of literals names its accepted values; a SIWE message with
// a lowercase address says it must be checksummed.
import { expect } from "chai";
import Fastify from "fastify";
import { TypeBoxValidatorCompiler } from "@fastify/type-provider-typebox";
import { toProblem } from "../../src/problems.ts";
import { BadRequestError } from "../../src/errors.ts";
import { parseSiweMessage } from "../../src/auth/siwe.ts";
import { KeyRequest } from "../../src/plugins/records/schemas.ts";

describe("validation problems for a union of literals", () => {
  const app = Fastify();
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  app.setErrorHandler((error, request, reply) => reply.code(400).send(toProblem(error, request.id)));
  app.post("/key", { schema: { body: KeyRequest } }, () => ({ ok: true }));
  after(() => app.close());

  const detailFor = async (purpose: unknown) =>
    (await app.inject({ method: "POST", url: "/key", payload: { purpose } })).json<{ detail: string; code: string }>();

  it("names the accepted purposes for a wrongly cased name", async () => {
    const problem = await detailFor("treatment");
    expect(problem.code).to.equal("INVALID_REQUEST");
    expect(problem.detail).to.equal(
      'body.purpose must be one of "Treatment", "Research", "Emergency", "Payment", "PublicHealth"',
    );
  });

  it("says a number is not a purpose name and names the first accepted ones (the validator's list is cut at 8 issues)", async () => {
    const problem = await detailFor(1);
    expect(problem.code).to.equal("INVALID_REQUEST");
    expect(problem.detail).to.match(/^body\.purpose must be a string, one of "Treatment", "Research", .*…$/);
  });

  it("keeps the validator's message for other failures (a missing field)", async () => {
    const problem = (await app.inject({ method: "POST", url: "/key", payload: {} })).json<{ detail: string }>();
    expect(problem.detail).to.equal("body.purpose is required");
  });
});

describe("SIWE_MALFORMED for a message with a lowercase address", () => {
  const lines = (address: string) =>
    [
      "127.0.0.1:8787 wants you to sign in with your Ethereum account:",
      address,
      "",
      "Sign in to Hygeia",
      "",
      "URI: http://127.0.0.1:8787",
      "Version: 1",
      "Chain ID: 31337",
      "Nonce: z1nHxmXIDlAtlAA3u",
      `Issued At: ${new Date(0).toISOString()}`,
    ].join("\n");
  const checksummed = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

  it("says the address must be EIP-55 checksummed when it is lowercase", () => {
    expect(() => parseSiweMessage(lines(checksummed.toLowerCase())))
      .to.throw(BadRequestError, "(the address must be EIP-55 checksummed)")
      .with.property("code", "SIWE_MALFORMED");
  });

  it("parses the same message with the checksummed address, and gives no hint for another malformation", () => {
    expect(parseSiweMessage(lines(checksummed)).address).to.equal(checksummed);
    expect(() => parseSiweMessage(lines(checksummed).replace("Version: 1", "Version: 9")))
      .to.throw(BadRequestError)
      .with.property("message")
      .that.does.not.include("checksummed");
  });
});
