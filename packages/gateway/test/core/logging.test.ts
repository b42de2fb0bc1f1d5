// The logs carry no token, signature, SIWE message, wrap, credential or key, and no URL that pairs a patient
// with a record; a 500 is logged with its stack for the operator while the client gets a bare problem.
import { PassThrough } from "node:stream";
import { expect } from "chai";
import type { FastifyInstance } from "fastify";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { expectProblem, request } from "../support/http.ts";
import { getNonce, siweMessage, signIn } from "../support/auth.ts";

/** Values no log line may contain. */
const WRAP = "hygeia-wrap-v1.c2VjcmV0LXdyYXAtYnl0ZXMtdGhhdC1tdXN0LW5vdC1sZWFr";
const PRESENTATION = "eyJhbGciOiJFUzI1NksifQ.eyJ2cCI6InByZXNlbnRhdGlvbi1ub3QtaW4tbG9ncyJ9.c2lnbmF0dXJl";
const CID = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy";
const PATIENT = "0x1234567890abcdef1234567890abcdef12345678";
const SCOPE_ID = "0x" + "ab".repeat(32);

async function boomPlugin(app: FastifyInstance): Promise<void> {
  app.get("/test/boom", { schema: { hide: true } }, async () => {
    throw new Error("kaboom: an internal failure with a detail for the operator only");
  });
}

describe("logging", function () {
  let stack: TestStack;
  let logs = "";
  before(async function () {
    const stream = new PassThrough();
    stream.on("data", (chunk: Buffer) => (logs += chunk.toString("utf8")));
    stack = await startTestStack({ logStream: stream, config: { logLevel: "debug" }, plugins: [boomPlugin] });
  });
  after(async function () {
    await stack?.close();
  });

  it("never logs tokens, signatures, SIWE messages, wraps, credentials, keys or patient-record URLs", async function () {
    const token = await signIn(stack, stack.accounts.alice);
    // A second sign-in whose message and signature we know, sent as the client sends it.
    const fields = await getNonce(stack);
    const message = siweMessage(stack.accounts.bob.address, fields);
    const signature = await stack.accounts.bob.signMessage(message);
    const verified = await request(stack, "POST", "/v1/auth/verify", { json: { message, signature } });
    expect(verified.status, verified.text).to.equal(200);
    const bobToken = (verified.json as { token: string }).token;

    await request(stack, "GET", "/v1/auth/session", { token });
    await request(stack, "GET", "/v1/auth/session", { token: bobToken });
    await request(stack, "POST", "/v1/records", {
      token,
      json: {
        cid: CID,
        scopeIds: { [stack.accounts.alice.address.toLowerCase()]: [SCOPE_ID] },
        wraps: [{ recipient: stack.accounts.alice.address, wrap: WRAP }],
      },
    });
    await request(stack, "POST", "/v1/auth/roles", { token, json: { role: "clinic", presentation: PRESENTATION } });
    await request(stack, "POST", `/v1/patients/${PATIENT}/records/${CID}/key`, {
      token,
      json: { purpose: "treatment" },
    });
    await request(stack, "GET", `/v1/patients/${PATIENT}/records/${CID}/content?token=${token}`, { token });
    await request(stack, "POST", "/v1/auth/verify", { json: { message: message + "tampered", signature } });
    // A malformed token in the header is refused; it must not be echoed in a log line either.
    await request(stack, "GET", "/v1/auth/session", { headers: { authorization: `Bearer ${token}x` } });

    // The requests were logged (the capture works), by route pattern.
    expect(logs).to.match(/"route":"\/v1\/patients\/:patient\/records\/:cid\/key"/);
    expect(logs).to.match(/incoming request/);
    const secrets: Record<string, string> = {
      "alice's token": token,
      "bob's token": bobToken,
      "the SIWE signature": signature,
      "the SIWE message": message,
      "the SIWE nonce": fields.nonce,
      "a wrap": WRAP,
      "a presentation": PRESENTATION,
      "a record CID": CID,
      "a patient address in a URL": PATIENT,
      "a scope id": SCOPE_ID,
      "the relayer key": stack.config.chain.relayerKey!.slice(2),
    };
    const leaked = Object.entries(secrets)
      .filter(([, value]) => logs.toLowerCase().includes(value.toLowerCase()))
      .map(([name]) => name);
    expect(leaked, `leaked into the logs: ${leaked.join(", ")}`).to.deep.equal([]);
    // Token fragments too: a token split into its parts must not appear either.
    for (const part of token.split(".").filter((p) => p.length >= 16))
      expect(logs.includes(part), "a part of a token").to.equal(false);
  });

  it("logs a 500 with its stack and request id while the response carries neither stack nor detail", async function () {
    const res = await request(stack, "GET", "/test/boom");
    const problem = expectProblem(res, 500, "INTERNAL");
    expect(res.text).not.to.include("kaboom");
    const requestId = problem.instance!.replace("urn:hygeia:request:", "");
    const line = logs.split("\n").find((l) => l.includes("kaboom"));
    expect(line, "the error is logged").to.be.a("string");
    const entry = JSON.parse(line!) as { reqId?: string; err?: { stack?: string }; level: number };
    expect(entry.reqId).to.equal(requestId);
    expect(entry.level).to.equal(50);
    expect(entry.err?.stack).to.match(/logging\.test\.ts/);
  });
});
