// Session token checks remember tokens whose MAC verified; the answers stay those of a full check.
import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { SessionTokens } from "../../src/auth/tokens.ts";

describe("session token check (verified tokens remembered)", function () {
  const address = `0x${"ab".repeat(20)}`;

  it("answers a remembered token as a full check would: ok, then expired once its time passed", function () {
    const tokens = new SessionTokens(randomBytes(32));
    const sessionId = SessionTokens.newSessionId();
    const token = tokens.issue(sessionId, 10_000, address);
    const first = tokens.check(token, 1_000);
    expect(first).to.deep.equal({ ok: true, sessionId, expiresAt: 10_000, address });
    expect(tokens.check(token, 9_999)).to.deep.equal(first);
    expect(tokens.check(token, 10_000)).to.deep.equal({ ok: false, reason: "expired", sessionId });
    // A fresh checker (nothing remembered) answers the same.
    const fresh = new SessionTokens(randomBytes(32));
    expect(fresh.check(token, 1_000)).to.deep.include({ ok: false, reason: "bad-mac" });
  });

  it("still refuses a token altered by one character after the genuine one was remembered", function () {
    const tokens = new SessionTokens(randomBytes(32));
    const token = tokens.issue(SessionTokens.newSessionId(), 10_000, address);
    expect(tokens.check(token, 1_000).ok).to.equal(true);
    const last = token.at(-1)!;
    const altered = token.slice(0, -1) + (last === "A" ? "B" : "A");
    expect(tokens.check(altered, 1_000).ok).to.equal(false);
    expect(tokens.check(`${token}x`, 1_000).ok).to.equal(false);
  });
});
