// The pure parts of authentication, tested directly: session tokens, the session decision, the SIWE rules, the
// session key file. And what a token check costs next to the secp256k1 recovery it replaces.
import { expect } from "chai";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet, verifyMessage } from "ethers";
import { SiweMessage } from "siwe";
import { SessionTokens, loadSessionKey, MAX_TOKEN_LENGTH } from "../../src/auth/tokens.ts";
import { bearerToken, decideSession } from "../../src/auth/authenticate.ts";
import { SIWE_CLOCK_SKEW_MS, parseSiweMessage, siweRefusal, type SiweExpectations } from "../../src/auth/siwe.ts";
import type { SessionRow } from "../../src/store/types.ts";

const NOW = 1_800_000_000_000;
const KEY = new Uint8Array(32).fill(1);

function row(overrides: Partial<SessionRow> = {}): SessionRow {
  return {
    id: "00112233445566778899aabbccddeeff",
    address: "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
    chainId: 31337,
    issuedAt: NOW - 1_000,
    expiresAt: NOW + 60_000,
    revokedAt: null,
    ...overrides,
  };
}

describe("gateway auth: session tokens (unit)", function () {
  const tokens = new SessionTokens(KEY);
  const id = row().id;

  it("accepts its own token until its expiry and reads back the session id", function () {
    const token = tokens.issue(id, NOW + 60_000, row().address);
    expect(token).to.match(/^hgs1\.[A-Za-z0-9_-]{59}\.[A-Za-z0-9_-]{43}$/);
    expect(token.length).to.be.at.most(MAX_TOKEN_LENGTH);
    expect(tokens.check(token, NOW)).to.deep.equal({
      ok: true,
      sessionId: id,
      expiresAt: NOW + 60_000,
      address: row().address,
    });
    expect(tokens.check(token, NOW + 60_000)).to.include({ ok: false, reason: "expired" });
  });

  it("refuses every single-character change of the MAC or the payload", function () {
    const token = tokens.issue(id, NOW + 60_000, row().address);
    const start = token.indexOf(".") + 1;
    for (let i = start; i < token.length; i++) {
      if (token[i] === ".") continue;
      const altered = token.slice(0, i) + (token[i] === "A" ? "B" : "A") + token.slice(i + 1);
      const check = tokens.check(altered, NOW);
      expect(check.ok, `position ${i}`).to.equal(false);
    }
  });

  it("refuses a token of another key with bad-mac, before reading its expiry", function () {
    const foreign = new SessionTokens(new Uint8Array(32).fill(2)).issue(id, NOW - 1, row().address);
    expect(tokens.check(foreign, NOW)).to.deep.equal({ ok: false, reason: "bad-mac" });
  });

  it("refuses malformed tokens without computing a MAC", function () {
    const token = tokens.issue(id, NOW + 60_000, row().address);
    for (const bad of [
      "",
      "hgs1",
      "hgs2" + token.slice(4),
      token + ".x",
      token + "=",
      token.replace(".", ".."),
      "x".repeat(500),
    ])
      expect(tokens.check(bad, NOW)).to.deep.equal({ ok: false, reason: "malformed" });
  });

  it("parses only `Bearer <token>` headers", function () {
    expect(bearerToken(undefined)).to.equal(null);
    expect(bearerToken("Bearer abc.def")).to.equal("abc.def");
    expect(bearerToken("bearer abc")).to.equal("abc");
    expect(bearerToken("Basic abc")).to.equal(undefined);
    expect(bearerToken("Bearer")).to.equal(undefined);
    expect(bearerToken("Bearer a b")).to.equal(undefined);
    expect(bearerToken(["Bearer a", "Bearer b"])).to.equal(undefined);
  });

  it("decides a session from the token check and its row: unknown, revoked, expired, live", function () {
    const check = tokens.check(tokens.issue(id, NOW + 60_000, row().address), NOW);
    const code = (d: ReturnType<typeof decideSession>) => (d.ok ? "ok" : d.error.code);
    expect(code(decideSession(check, undefined, NOW))).to.equal("TOKEN_INVALID");
    expect(code(decideSession(check, row({ id: "ff".repeat(16) }), NOW))).to.equal("TOKEN_INVALID");
    expect(code(decideSession(check, row({ revokedAt: NOW - 1 }), NOW))).to.equal("SESSION_REVOKED");
    // A row whose address is not the token's (altered in the database): refused, never served as that address.
    expect(code(decideSession(check, row({ address: `0x${"3c".repeat(20)}` }), NOW))).to.equal("TOKEN_INVALID");
    expect(code(decideSession(check, row({ expiresAt: NOW }), NOW))).to.equal("TOKEN_EXPIRED");
    expect(code(decideSession({ ok: false, reason: "expired" }, row(), NOW))).to.equal("TOKEN_EXPIRED");
    expect(code(decideSession({ ok: false, reason: "bad-mac" }, row(), NOW))).to.equal("TOKEN_INVALID");
    const live = decideSession(check, row({ expiresAt: NOW + 30_000 }), NOW);
    expect(live).to.deep.equal({ ok: true, sessionId: id, address: row().address, expiresAt: NOW + 30_000 });
  });

  it("keeps the MAC key in <dataDir>/session.key (0600), the same across restarts; a secret overrides it", async function () {
    const dir = await mkdtemp(join(tmpdir(), "hygeia-session-key-"));
    try {
      const first = await loadSessionKey(join(dir, "data"));
      expect(first.length).to.equal(32);
      expect((await stat(join(dir, "data", "session.key"))).mode & 0o777).to.equal(0o600);
      expect((await loadSessionKey(join(dir, "data"))).equals(first)).to.equal(true);
      const fromSecret = await loadSessionKey(join(dir, "data"), "s".repeat(32));
      expect(fromSecret.equals(first)).to.equal(false);
      expect((await loadSessionKey(dir, "s".repeat(32))).equals(fromSecret)).to.equal(true);
      let refused: unknown;
      await loadSessionKey(dir, "short").catch((error: unknown) => (refused = error));
      expect(refused).to.be.instanceOf(RangeError);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("checks tokens far faster than one secp256k1 recovery (prints both rates)", async function () {
    const token = tokens.issue(id, NOW + 60_000, row().address);
    const rounds = 10_000;
    let start = performance.now();
    for (let i = 0; i < rounds; i++) if (!tokens.check(token, NOW).ok) throw new Error("token refused");
    const hmacPerSecond = rounds / ((performance.now() - start) / 1000);
    const wallet = Wallet.createRandom();
    const message = "hygeia sign-in";
    const signature = await wallet.signMessage(message);
    const recoveries = 300;
    start = performance.now();
    for (let i = 0; i < recoveries; i++) if (verifyMessage(message, signature) !== wallet.address) throw new Error();
    const recoverPerSecond = recoveries / ((performance.now() - start) / 1000);
    console.log(
      `      token checks: ${Math.round(hmacPerSecond)}/s, secp256k1 recoveries: ${Math.round(recoverPerSecond)}/s`,
    );
    expect(hmacPerSecond).to.be.greaterThan(10 * recoverPerSecond);
  });
});

describe("gateway auth: SIWE rules (unit)", function () {
  const expected: SiweExpectations = {
    publicUrl: "https://gw.example:8443",
    chainId: 31337,
    now: NOW,
    maxMessageAgeMs: 600_000,
  };
  const wallet = Wallet.createRandom();
  const message = (overrides: Partial<SiweMessage> = {}) =>
    new SiweMessage({
      domain: "gw.example:8443",
      address: wallet.address,
      uri: "https://gw.example:8443/login",
      version: "1",
      chainId: 31337,
      nonce: "abcdefgh12345678",
      issuedAt: new Date(NOW - 1_000).toISOString(),
      ...overrides,
    });
  const refusal = (overrides: Partial<SiweMessage> = {}) =>
    siweRefusal(parseSiweMessage(message(overrides).prepareMessage()), expected)?.code ?? null;

  it("accepts a message naming this gateway, in time", function () {
    expect(refusal()).to.equal(null);
    expect(refusal({ scheme: "https" })).to.equal(null);
    expect(refusal({ issuedAt: new Date(NOW + SIWE_CLOCK_SKEW_MS).toISOString() })).to.equal(null);
  });

  it("names what is wrong with a message for another site, chain or time", function () {
    expect(refusal({ domain: "gw.example" })).to.equal("SIWE_DOMAIN_MISMATCH");
    expect(refusal({ scheme: "http" })).to.equal("SIWE_SCHEME_MISMATCH");
    expect(refusal({ uri: "https://gw.example/login" })).to.equal("SIWE_URI_MISMATCH");
    expect(refusal({ chainId: 1 })).to.equal("SIWE_CHAIN_MISMATCH");
    expect(refusal({ issuedAt: new Date(NOW + SIWE_CLOCK_SKEW_MS + 1).toISOString() })).to.equal(
      "SIWE_ISSUED_IN_FUTURE",
    );
    expect(refusal({ issuedAt: new Date(NOW - 600_001).toISOString() })).to.equal("SIWE_MESSAGE_TOO_OLD");
    expect(refusal({ expirationTime: new Date(NOW).toISOString() })).to.equal("SIWE_EXPIRED");
    expect(refusal({ notBefore: new Date(NOW + SIWE_CLOCK_SKEW_MS + 1).toISOString() })).to.equal("SIWE_NOT_YET_VALID");
  });

  it("refuses text that is not an EIP-4361 message with SIWE_MALFORMED", function () {
    for (const text of ["", "hello", message().prepareMessage().replace("Version: 1", "Version: 2")]) {
      let code: unknown;
      try {
        parseSiweMessage(text);
      } catch (error) {
        code = (error as { code?: unknown }).code;
      }
      expect(code, JSON.stringify(text.slice(0, 40))).to.equal("SIWE_MALFORMED");
    }
  });
});
