// Hostile input on the real stack: every refusal is a 4xx RFC 9457 problem (`urn:hygeia:problem:` type, no
// stack trace), never a 5xx. SIWE replays and look-alikes, dead or forged session tokens, oversized, malformed
// or mistyped bodies, traversal and odd characters in path parameters, CIDs that are not CIDs.
import { expect } from "chai";
import { createHmac, randomBytes } from "node:crypto";
import { Wallet } from "ethers";
import { generateDataKey, generateX25519KeyPair, wrapKey } from "@hygeia/crypto";
import { startTestStack, type TestStack } from "../support/stack.ts";
import { expectClientProblem } from "./support/problem.ts";
import { json, send } from "./support/http.ts";
import { fetchNonce, signedSiwe, signInWith, verifySiwe } from "./support/siwe.ts";

const SESSION_TTL_MS = 4_000;
const UPLOAD_LIMIT = 64 * 1024;

describe("security: hostile input gets a 4xx problem, never a 5xx", function () {
  let stack: TestStack;

  before(async function () {
    stack = await startTestStack({
      config: { sessions: { ttlMs: SESSION_TTL_MS }, limits: { uploadBytes: UPLOAD_LIMIT } },
    });
  });
  after(async function () {
    await stack?.close();
  });

  const session = async (token: string) => send(stack.url, { method: "GET", path: "/v1/auth/session", token });

  it("refuses a replayed SIWE nonce (a second message with a used nonce)", async function () {
    const wallet = stack.accounts.alice;
    const offer = await fetchNonce(stack.url);
    const first = await verifySiwe(stack.url, await signedSiwe(stack.url, wallet, { nonce: offer.nonce }));
    expect(first.status, first.text).to.equal(200);
    const again = await signedSiwe(stack.url, wallet, {
      nonce: offer.nonce,
      issuedAt: new Date(Date.now() + 1000).toISOString(),
    });
    expectClientProblem(await verifySiwe(stack.url, again), { status: 401 }, "replayed nonce");
  });

  it("refuses a replayed SIWE message and signature", async function () {
    const signed = await signedSiwe(stack.url, stack.accounts.bob);
    const first = await verifySiwe(stack.url, signed);
    expect(first.status, first.text).to.equal(200);
    expectClientProblem(await verifySiwe(stack.url, signed), { status: 401 }, "replayed message");
  });

  it("refuses SIWE messages for another domain, URI origin or chain, even when well signed", async function () {
    const wallet = stack.accounts.alice;
    const cases: Array<[string, Parameters<typeof signedSiwe>[2], string]> = [
      ["another domain", { domain: "evil.example" }, "SIWE_DOMAIN_MISMATCH"],
      ["another port", { domain: "127.0.0.1:1" }, "SIWE_DOMAIN_MISMATCH"],
      ["another URI origin", { uri: "https://evil.example/login" }, "SIWE_URI_MISMATCH"],
      ["another chain", { chainId: 1 }, "SIWE_CHAIN_MISMATCH"],
    ];
    for (const [what, fields, code] of cases) {
      const res = await verifySiwe(stack.url, await signedSiwe(stack.url, wallet, fields));
      expectClientProblem(res, { code }, what);
    }
  });

  it("refuses an expired, a stale and a not-yet-valid SIWE message", async function () {
    const wallet = stack.accounts.alice;
    const now = Date.now();
    const cases: Array<[string, Parameters<typeof signedSiwe>[2]]> = [
      [
        "expired",
        { issuedAt: new Date(now - 120_000).toISOString(), expirationTime: new Date(now - 60_000).toISOString() },
      ],
      ["issued long ago", { issuedAt: new Date(now - 30 * 86_400_000).toISOString() }],
      ["issued in the future", { issuedAt: new Date(now + 3_600_000).toISOString() }],
      ["not yet valid", { notBefore: new Date(now + 3_600_000).toISOString() }],
    ];
    for (const [what, fields] of cases) {
      expectClientProblem(await verifySiwe(stack.url, await signedSiwe(stack.url, wallet, fields)), {}, what);
    }
  });

  it("refuses a SIWE message signed by another key, and malformed SIWE bodies", async function () {
    const signed = await signedSiwe(stack.url, stack.accounts.alice);
    const forged = { message: signed.message, signature: await Wallet.createRandom().signMessage(signed.message) };
    expectClientProblem(await verifySiwe(stack.url, forged), { status: 401 }, "another key's signature");
    const bodies: unknown[] = [
      { message: "hello", signature: signed.signature },
      { message: signed.message, signature: "0x" },
      { message: signed.message, signature: "0x" + "00".repeat(65) },
      { message: signed.message.replace("Version: 1", "Version: 2"), signature: signed.signature },
      { message: signed.message },
      { message: "x".repeat(100_000), signature: signed.signature },
      [],
      "message",
    ];
    for (const body of bodies) {
      const res = await send(stack.url, { method: "POST", path: "/v1/auth/verify", ...json(body) });
      expectClientProblem(res, {}, `verify ${JSON.stringify(body).slice(0, 80)}`);
    }
  });

  it("refuses forged session tokens: a flipped MAC byte, another key's MAC, junk", async function () {
    const token = await signInWith(stack.url, stack.accounts.alice);
    expect((await session(token)).status).to.equal(200);
    const [prefix, payload, mac] = token.split(".") as [string, string, string];
    const flipped = Buffer.from(mac, "base64url");
    flipped[0] = flipped[0]! ^ 0x01;
    const otherKey = createHmac("sha256", randomBytes(32)).update(`${prefix}.${payload}`).digest("base64url");
    const payloadBytes = Buffer.from(payload, "base64url");
    payloadBytes[0] = payloadBytes[0]! ^ 0x80;
    const forgeries = [
      `${prefix}.${payload}.${flipped.toString("base64url")}`,
      `${prefix}.${payload}.${otherKey}`,
      `${prefix}.${payloadBytes.toString("base64url")}.${mac}`,
      `${prefix}.${payload}`,
      `hgs2.${payload}.${mac}`,
      token + "A",
      token.toLowerCase(),
      "x".repeat(5000),
    ];
    for (const forged of forgeries) {
      expectClientProblem(await session(forged), { status: 401 }, `forged ${forged.slice(0, 40)}`);
    }
    for (const header of ["Basic YWxpY2U6c2VjcmV0", `Bearer  ${token}`, `Token ${token}`, "Bearer"]) {
      const res = await send(stack.url, {
        method: "GET",
        path: "/v1/auth/session",
        headers: { authorization: header },
      });
      expectClientProblem(res, { status: 401 }, `authorization ${header.slice(0, 20)}`);
    }
  });

  it("refuses a session token after sign-out", async function () {
    const token = await signInWith(stack.url, stack.accounts.bob);
    expect((await session(token)).status).to.equal(200);
    const out = await send(stack.url, { method: "POST", path: "/v1/auth/logout", token });
    expect(out.status, out.text).to.be.within(200, 299);
    expectClientProblem(await session(token), { status: 401 }, "after logout");
  });

  it("refuses a session token once its lifetime has passed (automatic logoff)", async function () {
    this.timeout(30_000);
    const token = await signInWith(stack.url, stack.accounts.clinic);
    expect((await session(token)).status).to.equal(200);
    await new Promise((resolve) => setTimeout(resolve, SESSION_TTL_MS + 500));
    expectClientProblem(await session(token), { status: 401 }, "expired token");
  });

  it("ends a session when its SIWE message's expirationTime passes, even within the session lifetime", async function () {
    this.timeout(30_000);
    const messageExpiry = Date.now() + 2_000;
    const signed = await signedSiwe(stack.url, stack.accounts.researcher, {
      expirationTime: new Date(messageExpiry).toISOString(),
    });
    const res = await verifySiwe(stack.url, signed);
    expect(res.status, res.text).to.equal(200);
    const { token, expiresAt } = JSON.parse(res.text) as { token: string; expiresAt: number };
    expect(expiresAt, "the session's expiry").to.be.at.most(messageExpiry);
    expect((await session(token)).status).to.equal(200);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expectClientProblem(await session(token), { status: 401 }, "past the message's expirationTime");
  });

  it("refuses an oversized JSON body with 413", async function () {
    const big = JSON.stringify({ message: "x".repeat(stack.config.limits.bodyBytes + 1024), signature: "0x" });
    const res = await send(stack.url, {
      method: "POST",
      path: "/v1/auth/verify",
      headers: { "content-type": "application/json" },
      body: big,
    });
    expectClientProblem(res, { status: 413 }, "oversized JSON");
  });

  it("refuses an upload larger than the upload limit with 413", async function () {
    const token = await signInWith(stack.url, stack.accounts.alice);
    const res = await send(stack.url, {
      method: "PUT",
      path: "/v1/uploads",
      token,
      headers: { "content-type": "application/octet-stream" },
      body: randomBytes(UPLOAD_LIMIT + 1),
    });
    expectClientProblem(res, { status: 413 }, "oversized upload");
  });

  it("refuses malformed JSON with 400", async function () {
    for (const text of ["{", '{"message":}', "[1,", "\u0000", '{"__proto__":{"x":1}}', "nul"]) {
      const res = await send(stack.url, {
        method: "POST",
        path: "/v1/auth/verify",
        headers: { "content-type": "application/json" },
        body: text,
      });
      expectClientProblem(res, { status: 400 }, `malformed ${JSON.stringify(text)}`);
    }
  });

  it("refuses a content type the route does not take", async function () {
    const token = await signInWith(stack.url, stack.accounts.alice);
    const body = JSON.stringify({ message: "m", signature: "0x" });
    // Types no parser of this route takes: 415 (text/plain included: only the status-list routes take it, for JWTs).
    for (const type of [
      "application/xml",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "text/plain",
      "text/plain; charset=utf-8",
    ]) {
      const res = await send(stack.url, {
        method: "POST",
        path: "/v1/auth/verify",
        headers: { "content-type": type },
        body,
      });
      expectClientProblem(res, { status: 415 }, `verify as ${type}`);
    }
    // JSON where ciphertext bytes are expected, bytes where JSON is expected.
    const upload = await send(stack.url, { method: "PUT", path: "/v1/uploads", token, ...json({ a: 1 }) });
    expectClientProblem(upload, {}, "upload as JSON");
    const records = await send(stack.url, {
      method: "POST",
      path: "/v1/records",
      token,
      headers: { "content-type": "application/octet-stream" },
      body: randomBytes(64),
    });
    expectClientProblem(records, {}, "record as bytes");
  });

  it("refuses path traversal and odd characters in path parameters", async function () {
    const token = await signInWith(stack.url, stack.accounts.alice);
    const alice = stack.accounts.alice.address.toLowerCase();
    // (A bare ".." segment is resolved by the URL parser before sending; only encoded forms reach the server.)
    const odd = [
      "..%2f..%2f..%2fetc%2fpasswd",
      "%2e%2e%2f%2e%2e%2f",
      "..%5c..%5cwindows",
      "%00",
      "a%00b",
      "%0d%0aSet-Cookie:%20x=1",
      encodeURIComponent("é🙂\u202e"),
      "a".repeat(90),
      "__proto__",
      "constructor",
    ];
    const templates = [
      (p: string) => `/v1/records/${p}`,
      (p: string) => `/v1/patients/${p}/records`,
      (p: string) => `/v1/patients/${alice}/records/${p}/key`,
      (p: string) => `/v1/patients/${alice}/records/${p}/content`,
      (p: string) => `/v1/status-lists/${p}/list`,
      (p: string) => `/v1/status-lists/did:ethr:0x7a69:${alice}/${p}`,
      (p: string) => `/v1/checkins/${p}`,
    ];
    for (const template of templates) {
      for (const segment of odd) {
        const path = template(segment);
        const method = path.endsWith("/key") ? "POST" : "GET";
        const res = await send(stack.url, {
          method,
          path,
          token,
          ...(method === "POST" ? json({ purpose: "Treatment" }) : {}),
        });
        expectClientProblem(res, {}, `${method} ${path.slice(0, 80)}`);
      }
    }
  });

  it("answers undecodable and over-long path parameters with a problem too", async function () {
    const token = await signInWith(stack.url, stack.accounts.alice);
    const alice = stack.accounts.alice.address.toLowerCase();
    for (const segment of ["%ff%fe", "%", "%zz", "a".repeat(2000)]) {
      for (const path of [
        `/v1/records/${segment}`,
        `/v1/patients/${alice}/records/${segment}/content`,
        `/v1/status-lists/${segment}/list`,
      ]) {
        expectClientProblem(await send(stack.url, { method: "GET", path, token }), {}, `GET ${path.slice(0, 80)}`);
      }
    }
  });

  it("refuses webhook URLs that point inside the network or are not https (SSRF)", async function () {
    const token = await signInWith(stack.url, stack.accounts.alice);
    for (const url of [
      "http://169.254.169.254/latest/meta-data/",
      "https://169.254.169.254/latest/meta-data/",
      "https://10.0.0.1/hook",
      "https://192.168.1.10/hook",
      "https://[fd00::1]/hook",
      "https://[::ffff:10.0.0.1]/hook",
      "http://example.org/hook",
      "file:///etc/passwd",
      "gopher://127.0.0.1:25/_HELO",
      "ftp://example.org/x",
      "javascript:alert(1)",
      "https://user:secret@example.org/hook",
      "not a url",
      "",
    ]) {
      const res = await send(stack.url, { method: "PUT", path: "/v1/events/webhook", token, ...json({ url }) });
      expectClientProblem(res, {}, `webhook ${url}`);
    }
  });

  it("grants no cross-origin access by default: no CORS headers for another origin's preflight or request", async function () {
    const token = await signInWith(stack.url, stack.accounts.alice);
    const origin = "https://evil.example";
    const preflight = await send(stack.url, {
      method: "OPTIONS",
      path: "/v1/records",
      headers: { origin, "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
    });
    expect(preflight.status).to.be.within(400, 499);
    const read = await send(stack.url, { method: "GET", path: "/v1/records", token, headers: { origin } });
    for (const res of [preflight, read]) {
      expect(res.headers.get("access-control-allow-origin"), "Access-Control-Allow-Origin").to.equal(null);
      expect(res.headers.get("access-control-allow-credentials")).to.equal(null);
    }
  });

  it("refuses a CID that is not a CID with 400", async function () {
    const token = await signInWith(stack.url, stack.accounts.alice);
    const alice = stack.accounts.alice.address.toLowerCase();
    const scopeId = "0x" + randomBytes(32).toString("hex");
    const wrap = Buffer.from(wrapKey(generateDataKey(), generateX25519KeyPair().publicKey, "hygeia:record:x")).toString(
      "base64url",
    );
    const notCids = [
      "not-a-cid",
      "bafy" + "a".repeat(55),
      "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52z", // one character short
      "Qm0OIl" + "1".repeat(40), // not base58
      "BAFKREIGH2AKISCAILDCQABSYG3DFR6CHU3FGPREGIYMSCK7E7AQA4S52ZY",
      "0x" + "ab".repeat(32),
    ];
    for (const cid of notCids) {
      const one = await send(stack.url, { method: "GET", path: `/v1/records/${encodeURIComponent(cid)}`, token });
      expectClientProblem(one, { status: 400 }, `GET record ${cid}`);
      const register = await send(stack.url, {
        method: "POST",
        path: "/v1/records",
        token,
        ...json({ cid, scopeIds: { [alice]: [scopeId] }, wraps: [{ recipient: alice, wrap }] }),
      });
      expectClientProblem(register, { status: 400 }, `POST record ${cid}`);
    }
  });
});
