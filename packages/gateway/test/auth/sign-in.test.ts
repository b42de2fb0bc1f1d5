// Sign-In with Ethereum and session tokens over real HTTP on the real stack (anvil, SQLite, Helia).
import { expect } from "chai";
import { Wallet } from "ethers";
import { SessionTokens } from "../../src/auth/tokens.ts";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { expectProblem, request } from "../support/http.ts";
import { getNonce, signIn, siweMessage } from "../support/auth.ts";

const minutes = (n: number) => n * 60_000;

describe("gateway auth: Sign-In with Ethereum", function () {
  let stack: TestStack;

  before(async function () {
    stack = await startTestStack();
  });
  after(async function () {
    await stack?.close();
  });

  it("signs a wallet in and serves its session to the token's bearer", async function () {
    const token = await signIn(stack, stack.accounts.alice);
    const res = await request(stack, "GET", "/v1/auth/session", { token });
    expect(res.status, res.text).to.equal(200);
    const body = res.json as { address: string; roles: string[]; expiresAt: number };
    expect(body.address).to.equal(stack.accounts.alice.address.toLowerCase());
    expect(body.roles).to.deep.equal([]);
    expect(body.expiresAt).to.be.greaterThan(Date.now());
    expect(body.expiresAt).to.be.at.most(Date.now() + stack.config.sessions.ttlMs);
  });

  it("hands out nonces naming this gateway's domain, URI and chain", async function () {
    const fields = await getNonce(stack);
    expect(fields.domain).to.equal(new URL(stack.url).host);
    expect(fields.uri).to.equal(stack.url);
    expect(fields.chainId).to.equal(stack.deployment.chainId);
    expect(fields.nonce).to.match(/^[A-Za-z0-9]{17,}$/);
    expect(fields.expiresAt).to.be.greaterThan(Date.now());
  });

  it("refuses a replayed SIWE message (the nonce is single use)", async function () {
    const wallet = Wallet.createRandom();
    const message = siweMessage(wallet.address, await getNonce(stack));
    const signature = await wallet.signMessage(message);
    const first = await request(stack, "POST", "/v1/auth/verify", { json: { message, signature } });
    expect(first.status, first.text).to.equal(200);
    const replay = await request(stack, "POST", "/v1/auth/verify", { json: { message, signature } });
    expectProblem(replay, 401, "SIWE_NONCE_INVALID");
  });

  it("lets exactly one of several concurrent submissions of one signed message sign in", async function () {
    const wallet = Wallet.createRandom();
    const message = siweMessage(wallet.address, await getNonce(stack));
    const signature = await wallet.signMessage(message);
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => request(stack, "POST", "/v1/auth/verify", { json: { message, signature } })),
    );
    expect(answers.filter((a) => a.status === 200)).to.have.length(1);
    for (const refused of answers.filter((a) => a.status !== 200)) expectProblem(refused, 401, "SIWE_NONCE_INVALID");
  });

  it("logs out: the token is refused as revoked from then on", async function () {
    const token = await signIn(stack, stack.accounts.bob);
    const out = await request(stack, "POST", "/v1/auth/logout", { token });
    expect(out.status, out.text).to.equal(200);
    expectProblem(await request(stack, "GET", "/v1/auth/session", { token }), 401, "SESSION_REVOKED");
  });
  /** Signs `overrides` of a fresh message with a fresh wallet and posts it. */
  async function verifyWith(overrides: Parameters<typeof siweMessage>[2], signer?: Wallet) {
    const wallet = Wallet.createRandom();
    const message = siweMessage(wallet.address, await getNonce(stack), overrides);
    const signature = await (signer ?? wallet).signMessage(message);
    return request(stack, "POST", "/v1/auth/verify", { json: { message, signature } });
  }

  it("refuses a SIWE message for another domain", async function () {
    expectProblem(await verifyWith({ domain: "evil.example" }), 401, "SIWE_DOMAIN_MISMATCH");
  });

  it("refuses a SIWE message whose URI is on another origin", async function () {
    expectProblem(await verifyWith({ uri: "https://evil.example/login" }), 401, "SIWE_URI_MISMATCH");
  });

  it("refuses a SIWE message for another chain", async function () {
    expectProblem(await verifyWith({ chainId: 1 }), 401, "SIWE_CHAIN_MISMATCH");
  });

  it("refuses an expired SIWE message", async function () {
    const res = await verifyWith({
      issuedAt: new Date(Date.now() - minutes(2)).toISOString(),
      expirationTime: new Date(Date.now() - minutes(1)).toISOString(),
    });
    expectProblem(res, 401, "SIWE_EXPIRED");
  });

  it("refuses a SIWE message issued in the future", async function () {
    expectProblem(
      await verifyWith({ issuedAt: new Date(Date.now() + minutes(10)).toISOString() }),
      401,
      "SIWE_ISSUED_IN_FUTURE",
    );
  });

  it("refuses a SIWE message issued longer ago than siwe.maxMessageAgeMs", async function () {
    const issuedAt = new Date(Date.now() - stack.config.siwe.maxMessageAgeMs - minutes(1)).toISOString();
    expectProblem(await verifyWith({ issuedAt }), 401, "SIWE_MESSAGE_TOO_OLD");
  });

  it("refuses a SIWE message not valid yet (notBefore in the future)", async function () {
    expectProblem(
      await verifyWith({ notBefore: new Date(Date.now() + minutes(10)).toISOString() }),
      401,
      "SIWE_NOT_YET_VALID",
    );
  });

  it("refuses a signature by another key, and does not burn the nonce doing so", async function () {
    const wallet = Wallet.createRandom();
    const message = siweMessage(wallet.address, await getNonce(stack));
    const forged = await Wallet.createRandom().signMessage(message);
    const res = await request(stack, "POST", "/v1/auth/verify", { json: { message, signature: forged } });
    expectProblem(res, 401, "SIWE_SIGNATURE_INVALID");
    const signature = await wallet.signMessage(message);
    const genuine = await request(stack, "POST", "/v1/auth/verify", { json: { message, signature } });
    expect(genuine.status, genuine.text).to.equal(200);
  });

  it("refuses a malformed SIWE message (400) and a signature that is not hex (400)", async function () {
    const malformed = await request(stack, "POST", "/v1/auth/verify", {
      json: { message: "sign me in please", signature: "0x" + "11".repeat(65) },
    });
    expectProblem(malformed, 400, "SIWE_MALFORMED");
    const wallet = Wallet.createRandom();
    const message = siweMessage(wallet.address, await getNonce(stack));
    const notHex = await request(stack, "POST", "/v1/auth/verify", { json: { message, signature: "zz" } });
    expectProblem(notHex, 400, "INVALID_REQUEST");
  });

  it("refuses a nonce this gateway never issued", async function () {
    expectProblem(await verifyWith({ nonce: "neverIssued1234567" }), 401, "SIWE_NONCE_INVALID");
  });

  it("refuses an expired nonce", async function () {
    const wallet = Wallet.createRandom();
    const fields = await getNonce(stack);
    const realNow = stack.services.now;
    const later = Date.now() + stack.config.siwe.nonceTtlMs + 1_000;
    stack.services.now = () => realNow() + stack.config.siwe.nonceTtlMs + 1_000;
    try {
      const message = siweMessage(wallet.address, fields, { issuedAt: new Date(later).toISOString() });
      const signature = await wallet.signMessage(message);
      const res = await request(stack, "POST", "/v1/auth/verify", { json: { message, signature } });
      expectProblem(res, 401, "SIWE_NONCE_INVALID");
    } finally {
      stack.services.now = realNow;
    }
  });

  it("never lets a session outlive the SIWE message's expirationTime", async function () {
    const wallet = Wallet.createRandom();
    const expirationTime = new Date(Date.now() + 90_000);
    const message = siweMessage(wallet.address, await getNonce(stack), {
      expirationTime: expirationTime.toISOString(),
    });
    const signature = await wallet.signMessage(message);
    const res = await request(stack, "POST", "/v1/auth/verify", { json: { message, signature } });
    expect(res.status, res.text).to.equal(200);
    expect((res.json as { expiresAt: number }).expiresAt).to.equal(expirationTime.getTime());
  });
});

describe("gateway auth: session tokens", function () {
  let stack: TestStack;
  let token: string;

  before(async function () {
    stack = await startTestStack();
    token = await signIn(stack, stack.accounts.alice);
  });
  after(async function () {
    await stack?.close();
  });

  it("refuses a forged token (one MAC byte flipped) as TOKEN_INVALID", async function () {
    const [prefix, payload, mac] = token.split(".") as [string, string, string];
    const flipped = (mac[0] === "A" ? "B" : "A") + mac.slice(1);
    const res = await request(stack, "GET", "/v1/auth/session", { token: `${prefix}.${payload}.${flipped}` });
    expectProblem(res, 401, "TOKEN_INVALID");
  });

  it("refuses a token minted under another gateway's key for the same session id", async function () {
    const payload = Buffer.from(token.split(".")[1]!, "base64url");
    const id = payload.subarray(0, 16).toString("hex");
    const foreign = new SessionTokens(new Uint8Array(32).fill(7)).issue(
      id,
      Date.now() + minutes(10),
      `0x${payload.subarray(24, 44).toString("hex")}`,
    );
    expectProblem(await request(stack, "GET", "/v1/auth/session", { token: foreign }), 401, "TOKEN_INVALID");
  });

  it("refuses a token whose expiry was extended (the MAC covers it)", async function () {
    const [prefix, payloadText, mac] = token.split(".") as [string, string, string];
    const payload = Buffer.from(payloadText, "base64url");
    payload.writeBigUInt64BE(BigInt(Date.now() + minutes(600)), 16);
    const res = await request(stack, "GET", "/v1/auth/session", {
      token: `${prefix}.${payload.toString("base64url")}.${mac}`,
    });
    expectProblem(res, 401, "TOKEN_INVALID");
  });

  it("refuses malformed Authorization headers as TOKEN_INVALID", async function () {
    for (const authorization of ["Bearer", "Bearer not-a-token", "Basic YWxpY2U6cHc=", `Bearer ${token}.x`]) {
      const res = await request(stack, "GET", "/v1/auth/session", { headers: { authorization } });
      expectProblem(res, 401, "TOKEN_INVALID");
    }
  });

  it("refuses an expired token as TOKEN_EXPIRED (automatic logoff)", async function () {
    const realNow = stack.services.now;
    stack.services.now = () => realNow() + stack.config.sessions.ttlMs + 1_000;
    try {
      expectProblem(await request(stack, "GET", "/v1/auth/session", { token }), 401, "TOKEN_EXPIRED");
    } finally {
      stack.services.now = realNow;
    }
    expect((await request(stack, "GET", "/v1/auth/session", { token })).status).to.equal(200);
  });

  it("refuses a dead token even on a route anyone may call", async function () {
    const other = await signIn(stack, stack.accounts.bob);
    await request(stack, "POST", "/v1/auth/logout", { token: other });
    expectProblem(await request(stack, "GET", "/v1/auth/nonce", { token: other }), 401, "SESSION_REVOKED");
    expect((await request(stack, "GET", "/v1/auth/nonce")).status).to.equal(200);
  });

  it("keeps the session bound to the address that signed in (the token names no address)", async function () {
    const res = await request(stack, "GET", "/v1/auth/session", {
      token,
      headers: { "x-hygeia-address": stack.accounts.bob.address },
    });
    expect((res.json as { address: string }).address).to.equal(stack.accounts.alice.address.toLowerCase());
  });
});
